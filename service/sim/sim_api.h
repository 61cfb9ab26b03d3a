/* sim_api.h -- the 100ms REST API v2 state machine of hms-sim.
 *
 * DESIGN
 * ------
 * No HTTP here: a request is a struct sim_req (method, path, decoded query
 * arguments, Authorization header, body), a reply a struct sim_resp
 * (status, JSON body), so handlers are unit-tested directly and the HTTP
 * glue (sim_http.c) stays thin. Serving is two steps so that fault
 * injection can sit in between: sim_api_route() finds the route and the
 * room the request concerns (for per-room fault patterns) without changing
 * anything; sim_api_apply() checks the management token and applies it.
 * State (rooms, codes, sessions and peers, live streams) lives in memory
 * as jansson objects, keyed by id, behind one mutex: every function is
 * thread-safe. The run-time settings (struct sim_tune: strict, time scale,
 * clock offset) live here too, under the same mutex.
 *
 * Webhooks: with a delivery attached (sim_api_set_webhooks()), every
 * session, peer, room-end and HLS transition becomes the documented event
 * when it happens (sim_events.c). HLS transitions are due at set times;
 * a ticker thread (sim_api_start_ticker()) brings streams up to date every
 * few ms, so their events go out without anyone asking, while every read
 * still evaluates the status lazily, stamped with when it happened.
 *
 * Behaviour follows docs/100ms-api.md. Every rule a handler enforces says
 * where it comes from in a comment: "documented: <source>", "inferred:
 * <why>", or "stricter than documented" (no source: only with strict on).
 * docs/hms-sim.md tables them all.
 */
#ifndef SIM_API_H
#define SIM_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hw.h"
#include "sim_conf.h"

struct sim_req {
    const char *method;
    const char *path;    /* without the query string */
    const json_t *query; /* object of decoded query arguments, or NULL */
    const char *auth;    /* Authorization header, or NULL */
    const char *body;
    size_t body_len;
    int64_t now_ms;
};

struct sim_resp {
    int status;
    char *body; /* malloc'd JSON text; the caller frees it */
};

#define SIM_ROOM_NAME_MAX 128
#define SIM_PARAM_MAX 256

/* A routed request. route < 0: no such route (answered 404). */
struct sim_call {
    int route;
    char id[SIM_PARAM_MAX];       /* {room_id} path parameter, or "" */
    char role[SIM_PARAM_MAX];     /* {role} path parameter, or "" */
    char room[SIM_ROOM_NAME_MAX]; /* name of the room concerned, or "" */
};

struct sim_api *sim_api_create(const struct sim_conf *cf);
/* Stops the ticker, frees everything. */
void sim_api_destroy(struct sim_api *a);

struct sim_webhook;
/* Attaches the webhook delivery (borrowed; it must outlive the ticker and
 * every request). Call before serving. */
void sim_api_set_webhooks(struct sim_api *a, struct sim_webhook *wh);

/* Brings every live stream up to now_ms, emitting the events due. */
void sim_api_tick(struct sim_api *a, int64_t now_ms);
/* A thread calling sim_api_tick() every interval_ms with the simulator's
 * clock; stopped by sim_api_stop_ticker() (idempotent) or destroy. */
enum hw_rc sim_api_start_ticker(struct sim_api *a,
                                int64_t interval_ms) HW_MUSTCHECK;
void sim_api_stop_ticker(struct sim_api *a);

/* Routes req and finds the room it concerns; changes nothing. */
void sim_api_route(struct sim_api *a, const struct sim_req *req,
                   struct sim_call *call);

/* "POST /v2/rooms/{id}" for a routed call, "unknown" otherwise. Static. */
const char *sim_api_route_name(const struct sim_call *call);

/* Authenticates and applies a routed call; always fills *resp. */
void sim_api_apply(struct sim_api *a, const struct sim_req *req,
                   const struct sim_call *call, struct sim_resp *resp);

/* Test hook: opens a session in room_id with peers [{"user_id", "role",
 * "name"}...] (may be NULL). 200 with the session, 404, 409 if one is
 * already active. */
void sim_api_open_session(struct sim_api *a, const char *room_id,
                          const json_t *peers, int64_t now_ms,
                          struct sim_resp *resp);

/* Test hook: a client joins with body {"token": app token, "name"}. The
 * token is checked as 100ms would; 200 {"peer_id", "session_id",
 * "room_id", "role", "user_id"}, the peer in the room's active session
 * (opened if none). 400 bad body, 401 bad token, 403 disabled room. */
void sim_api_join(struct sim_api *a, const json_t *body, int64_t now_ms,
                  struct sim_resp *resp);

/* Test hook: body {"peer_id"} leaves; 200 with the session (closed when
 * its last peer left), 404 for a peer not in an active session. */
void sim_api_leave(struct sim_api *a, const json_t *body, int64_t now_ms,
                   struct sim_resp *resp);

/* The simulator's clock: real time plus the clock offset, in ms. */
int64_t sim_api_now_ms(struct sim_api *a);

/* Whether the stricter-than-documented rules are on. */
bool sim_api_strict(struct sim_api *a);

/* Test hook: changes the run-time settings from body (any subset of
 * sim_tune_to_json()'s keys, and with webhooks attached the webhook ones
 * of sim_wh_conf_to_json(); NULL reads them); 200 with the settings now
 * in force, 400 (nothing changed) on a bad key or value. */
void sim_api_config(struct sim_api *a, json_t *body, int64_t now_ms,
                    struct sim_resp *resp);

/* Restores the start-up settings (cf->tune, cf->webhook). */
void sim_api_config_reset(struct sim_api *a, int64_t now_ms);

/* Forgets every room, code, session, peer and stream. */
void sim_api_reset(struct sim_api *a);

/* Fills resp with status and body serialised; steals body. */
void sim_reply(struct sim_resp *resp, int status, json_t *body);

/* Fills resp with {"code": status, "message": msg[, "details": [detail]]}.
 * Also used by the HTTP glue for injected errors. */
void sim_resp_error(struct sim_resp *resp, int status, const char *msg,
                    const char *detail);

#endif
