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
 * State (rooms, codes, sessions, live streams) lives in memory as jansson
 * objects, keyed by id, behind one mutex: every function is thread-safe.
 * Behaviour follows docs/100ms-api.md; where 100ms documents
 * nothing, the choice is noted at the handler.
 */
#ifndef SIM_API_H
#define SIM_API_H

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
void sim_api_destroy(struct sim_api *a);

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

/* Forgets every room, code, session and stream. */
void sim_api_reset(struct sim_api *a);

/* Fills resp with status and body serialised; steals body. */
void sim_reply(struct sim_resp *resp, int status, json_t *body);

/* Fills resp with {"code": status, "message": msg[, "details": [detail]]}.
 * Also used by the HTTP glue for injected errors. */
void sim_resp_error(struct sim_resp *resp, int status, const char *msg,
                    const char *detail);

#endif
