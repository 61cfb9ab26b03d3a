/* sim_api_int.h -- internals shared by sim_api.c, sim_rooms.c, sim_peers.c,
 * sim_live.c and sim_events.c. Handlers run with a->mu held, so they never
 * lock it; they may call into the webhook delivery (a->wh), whose mutex
 * comes after a->mu. */
#ifndef SIM_API_INT_H
#define SIM_API_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "sim_api.h"

struct sim_api {
    const struct sim_conf *cf;
    pthread_mutex_t mu;
    struct sim_tune tune; /* live settings; cf->tune the start-up ones */
    json_t *rooms;        /* id -> room object, as served */
    json_t *names;        /* lower-cased name -> id */
    json_t *order;        /* room ids in creation order */
    json_t *codes;        /* code -> code object */
    json_t *room_codes;   /* room id -> [code, ...] in creation order */
    json_t *sessions;     /* room id -> [session, ...], newest last */
    json_t *streams;      /* room id -> [live stream, ...], newest last */
    json_t *stream_rooms; /* stream id -> room id */
    json_t *peer_rooms;   /* peer id -> room id */
    json_t *alone_since;  /* room id -> ms its last peer left (integer) */
    uint64_t rng;
    struct sim_webhook *wh; /* borrowed; NULL: no webhooks */
    /* the ticker: brings streams up to date so their events go out */
    pthread_t ticker;
    pthread_cond_t tick_cv;
    bool ticking, tick_stop;
    int64_t tick_ms;
};

/* What a handler gets. */
struct sim_ctx {
    const struct sim_req *req;
    const struct sim_call *call;
    json_t *body; /* parsed JSON body ({} when empty); NULL for GET */
};

typedef void sim_handler_fn(struct sim_api *a, const struct sim_ctx *c,
                            struct sim_resp *r);

/* helpers (sim_api.c) */
json_t *sim_time(int64_t ms, int digits); /* RFC 3339 UTC, 0/3/9 digits */
void sim_new_id(struct sim_api *a, char out[25]);
void sim_new_uuid(struct sim_api *a, char out[37]);
uint64_t sim_rand(struct sim_api *a);
/* A documented duration of `seconds`, in ms, divided by the time scale. */
int64_t sim_scaled_ms(const struct sim_api *a, int64_t seconds);
const char *sim_query(const struct sim_ctx *c, const char *key);
/* Parses a boolean query argument; def when absent; false on junk. */
bool sim_query_bool(const struct sim_ctx *c, const char *key, bool def,
                    bool *ok);
/* Pages items (an array of objects identified by their member key) by the
 * "limit" and "start" query arguments into the list envelope
 * {limit, data, last}; steals items. */
json_t *sim_page(const struct sim_ctx *c, json_t *items, const char *key);
/* map[key], an array created empty when missing. Borrowed. */
json_t *sim_list_of(json_t *map, const char *key);
json_t *sim_room_get(struct sim_api *a, const char *id);
const struct sim_template *sim_room_template(struct sim_api *a,
                                             const json_t *room);
bool sim_room_enabled(const json_t *room);
/* The active session of a room, or NULL. Borrowed. */
json_t *sim_active_session(struct sim_api *a, const char *room_id);
/* Checks the object has only the given keys (NULL-terminated list). */
bool sim_only_keys(json_t *o, const char *const *keys, const char **bad);

/* rooms and codes (sim_rooms.c) */
sim_handler_fn sim_h_room_create, sim_h_room_list, sim_h_room_get,
    sim_h_room_update, sim_h_codes_create, sim_h_code_create_role,
    sim_h_codes_list, sim_h_code_update;

/* sessions, peers and active rooms (sim_peers.c) */
sim_handler_fn sim_h_active_get, sim_h_end_room, sim_h_sessions_list;
/* Whether no peer is in the room (no active session, or one whose peers
 * all left); *since = when its last peer left, 0 if none ever did. */
bool sim_room_alone(struct sim_api *a, const char *room_id, int64_t *since);

/* live streams (sim_live.c) */
sim_handler_fn sim_h_hls_start, sim_h_hls_stop, sim_h_hls_list, sim_h_hls_get;
/* Brings the room's streams up to now_ms under the room's present state
 * (status is evaluated lazily). Call it before anything that changes what
 * a stream depends on (peers, enabled, template, settings). */
void sim_streams_advance(struct sim_api *a, const char *room_id,
                         int64_t now_ms);
/* Advances every room's streams (before a settings change). */
void sim_streams_advance_all(struct sim_api *a, int64_t now_ms);
/* Ends the room's live streams as end-room does: completed at now_ms. */
void sim_streams_end(struct sim_api *a, const char *room_id, int64_t now_ms);

/* webhook events (sim_events.c): each builds one documented event from
 * the state and queues it on a->wh; nothing happens (no id is drawn) when
 * the room's events have no destination. at_ms: when it happened. */
void sim_ev_session_open(struct sim_api *a, const json_t *s);
void sim_ev_session_close(struct sim_api *a, const json_t *s, int64_t at_ms);
void sim_ev_peer_join(struct sim_api *a, const json_t *s, const json_t *p);
void sim_ev_peer_leave(struct sim_api *a, const json_t *s, const json_t *p,
                       const char *reason, int64_t at_ms);
void sim_ev_room_end(struct sim_api *a, const json_t *s, const char *reason,
                     bool lock, int64_t at_ms);
void sim_ev_hls_started(struct sim_api *a, json_t *st, int64_t at_ms);
/* hls.stopped.success, then hls.recording.success if it recorded. */
void sim_ev_hls_stopped(struct sim_api *a, json_t *st, const char *reason,
                        int64_t at_ms);
void sim_ev_hls_failure(struct sim_api *a, json_t *st, const char *error_type,
                        int64_t at_ms);
/* The documented envelope around data (stolen); pure. New reference. */
json_t *sim_ev_envelope(const char *id, const char *app_id,
                        const char *account_id, const char *template_id,
                        int64_t ts_ms, const char *type, const char *version,
                        json_t *data);
/* A timestamp as sim_time() writes it (0 to 9 fraction digits) in ms,
 * or -1 if s is not one. */

#endif
