/* sim_api_int.h -- internals shared by sim_api.c, sim_rooms.c and
 * sim_live.c. Handlers run with a->mu held, so they never lock. */
#ifndef SIM_API_INT_H
#define SIM_API_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "sim_api.h"

struct sim_api {
    const struct sim_conf *cf;
    pthread_mutex_t mu;
    json_t *rooms;      /* id -> room object, as served */
    json_t *names;      /* lower-cased name -> id */
    json_t *order;      /* room ids in creation order */
    json_t *codes;      /* code -> code object */
    json_t *room_codes; /* room id -> [code, ...] in creation order */
    json_t *sessions;   /* room id -> [session, ...], newest last */
    json_t *streams;    /* room id -> [live stream, ...], newest last */
    uint64_t rng;
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
uint64_t sim_rand(struct sim_api *a);
const char *sim_query(const struct sim_ctx *c, const char *key);
/* Parses a boolean query argument; def when absent; false on junk. */
bool sim_query_bool(const struct sim_ctx *c, const char *key, bool def,
                    bool *ok);
/* Pages items (an array of objects identified by their member key) by the
 * "limit" and "start" query arguments into the list envelope
 * {limit, data, last}; steals items. */
json_t *sim_page(const struct sim_ctx *c, json_t *items, const char *key);
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

/* sessions, active rooms and live streams (sim_live.c) */
sim_handler_fn sim_h_active_get, sim_h_end_room, sim_h_hls_start,
    sim_h_hls_stop, sim_h_hls_list, sim_h_sessions_list;

#endif
