/* sim_peers.c -- sessions, peers and active rooms of the 100ms API
 * simulator (docs/100ms-api.md sections 2.3 and 2.5). Sessions are kept
 * per room id in a->sessions, newest last; a session's peers are an object
 * keyed by peer id, as 100ms serves them, and a peer that left keeps its
 * entry with left_at set. a->peer_rooms finds a peer's room for a leave;
 * a->alone_since remembers when each room's last peer left, for the HLS
 * composer's "alone for 5 minutes" rule (sim_live.c).
 *
 * documented: a session starts when the first peer joins and ends when the
 * last one leaves; a disabled room lets its current session finish but
 * nobody can join afterwards (Rooms/disable-or-enable.mdx). Peers come and
 * go through test hooks (/__sim/join, /__sim/leave, and
 * /__sim/rooms/{id}/session, which opens a session with given peers):
 * joining in 100ms goes through the client SDKs, not the REST API. Every
 * change first brings the room's streams up to date (sim_streams_advance),
 * since their status depends on who is in the room. Handlers run with
 * a->mu held; the sim_api_* hooks take it.
 *
 * Each change is also a webhook event (sim_events.c), in the order it
 * happens: session.open.success before the first peer.join.success,
 * peer.leave.success before session.close.success; end-room ends the
 * streams (hls.stopped.success), removes the peers still in, closes the
 * session, then sends room.end.success. */
#define LOGMOD "sim_peers"
#include "sim_api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

/* Adds a peer to session s and to a->peer_rooms; returns it (borrowed). */
static json_t *add_peer(struct sim_api *a, json_t *s, const json_t *name,
                        const json_t *role, const json_t *user_id,
                        int64_t now_ms)
{
    char id[37];
    json_t *p;

    sim_new_uuid(a, id);
    p = json_pack("{s:s, s:O, s:O?, s:O?, s:O?, s:o}", "id", id, "session_id",
                  json_object_get(s, "id"), "name", name, "role", role,
                  "user_id", user_id, "joined_at", sim_time(now_ms, 3));
    json_object_set_new(json_object_get(s, "peers"), id, p);
    json_object_set(a->peer_rooms, id, json_object_get(s, "room_id"));
    json_object_set_new(s, "updated_at", sim_time(now_ms, 3));
    sim_ev_peer_join(a, s, p);
    return p;
}

/* How many peers of a session's peers map have not left. */
static size_t present_peers(json_t *peers)
{
    const char *id;
    json_t *p;
    size_t n = 0;

    json_object_foreach(peers, id, p)
    {
        n += json_object_get(p, "left_at") == NULL;
    }
    return n;
}

bool sim_room_alone(struct sim_api *a, const char *room_id, int64_t *since)
{
    json_t *s = sim_active_session(a, room_id);

    *since = json_integer_value(json_object_get(a->alone_since, room_id));
    return s == NULL || present_peers(json_object_get(s, "peers")) == 0;
}

/* Opens a session in room_id (borrowed). */
static json_t *open_session(struct sim_api *a, const char *room_id,
                            int64_t now_ms)
{
    char id[25];
    json_t *s;

    sim_new_id(a, id);
    s = json_pack("{s:s, s:s, s:s, s:b, s:{}, s:o, s:o}", "id", id, "room_id",
                  room_id, "customer_id", a->cf->customer_id, "active", 1,
                  "peers", "created_at", sim_time(now_ms, 3), "updated_at",
                  sim_time(now_ms, 3));
    json_array_append_new(sim_list_of(a->sessions, room_id), s);
    sim_ev_session_open(a, s);
    return s;
}

/* Closes session s: every peer still in it leaves, for `reason` (a
 * documented peer.leave.success reason); the room is alone. */
static void close_session(struct sim_api *a, json_t *s, const char *reason,
                          int64_t now_ms)
{
    const char *id;
    json_t *p;

    json_object_foreach(json_object_get(s, "peers"), id, p)
    {
        if (json_object_get(p, "left_at") == NULL) {
            json_object_set_new(p, "left_at", sim_time(now_ms, 3));
            sim_ev_peer_leave(a, s, p, reason, now_ms);
        }
    }
    json_object_set_new(s, "active", json_false());
    json_object_set_new(s, "updated_at", sim_time(now_ms, 3));
    json_object_set_new(a->alone_since,
                        json_string_value(json_object_get(s, "room_id")),
                        json_integer(now_ms));
    sim_ev_session_close(a, s, now_ms);
}

void sim_api_open_session(struct sim_api *a, const char *room_id,
                          const json_t *peers, int64_t now_ms,
                          struct sim_resp *resp)
{
    json_t *s, *p;
    size_t i;

    memset(resp, 0, sizeof(*resp));
    pthread_mutex_lock(&a->mu);
    if (sim_room_get(a, room_id) == NULL) {
        sim_resp_error(resp, 404, "Room not found", NULL);
    } else if (sim_active_session(a, room_id) != NULL) {
        sim_resp_error(resp, 409, "Session already active", NULL);
    } else {
        sim_streams_advance(a, room_id, now_ms);
        s = open_session(a, room_id, now_ms);
        json_array_foreach(peers, i, p)
        {
            add_peer(a, s, json_object_get(p, "name"),
                     json_object_get(p, "role"), json_object_get(p, "user_id"),
                     now_ms);
        }
        sim_reply(resp, 200, json_deep_copy(s));
    }
    pthread_mutex_unlock(&a->mu);
}

/* Checks an app token as 100ms does before a client may join; NULL and
 * *claims (caller decrefs) when valid, else why not. documented: HS256
 * with the app secret, type "app", version 2, access_key, room_id, a role
 * of the room's template, exp; nbf/iat in the future refused as for
 * management tokens (security-and-tokens.mdx; docs/100ms-api.md 1.1). */
static const char *check_app_token(struct sim_api *a, const char *token,
                                   int64_t now_ms, json_t **claims,
                                   char *errstr, size_t errstr_size)
{
    const char *type, *ak, *room_id, *role;
    json_t *room;

    if (jwt_verify(&a->cf->secret, token, now_ms / 1000, a->cf->leeway_s,
                   claims, errstr, errstr_size) != HW_OK) {
        return errstr;
    }
    type = json_string_value(json_object_get(*claims, "type"));
    ak = json_string_value(json_object_get(*claims, "access_key"));
    room_id = json_string_value(json_object_get(*claims, "room_id"));
    role = json_string_value(json_object_get(*claims, "role"));
    room = sim_room_get(a, room_id);
    if (type == NULL || strcmp(type, "app") != 0) {
        return "token type is not app";
    }
    if (json_integer_value(json_object_get(*claims, "version")) != 2) {
        return "version is not 2";
    }
    if (ak == NULL ||
        (a->cf->access_key != NULL && strcmp(ak, a->cf->access_key) != 0)) {
        return "unknown access_key";
    }
    if (room == NULL) {
        return "room_id is not a room";
    }
    if (role == NULL ||
        !sim_template_has_role(sim_room_template(a, room), role)) {
        return "role is not a role of the room's template";
    }
    return NULL;
}

/* Joins with claims checked; answers the join. */
static void join(struct sim_api *a, const json_t *claims, const json_t *name,
                 int64_t now_ms, struct sim_resp *r)
{
    const char *room_id = json_string_value(json_object_get(claims, "room_id"));
    json_t *s, *p;

    sim_streams_advance(a, room_id, now_ms);
    s = sim_active_session(a, room_id);
    if (s == NULL) {
        s = open_session(a, room_id, now_ms); /* documented: the first peer */
    }
    p = add_peer(a, s, name, json_object_get(claims, "role"),
                 json_object_get(claims, "user_id"), now_ms);
    sim_reply(r, 200,
              json_pack("{s:O, s:O, s:s, s:O, s:O?}", "peer_id",
                        json_object_get(p, "id"), "session_id",
                        json_object_get(s, "id"), "room_id", room_id, "role",
                        json_object_get(p, "role"), "user_id",
                        json_object_get(p, "user_id")));
}

void sim_api_join(struct sim_api *a, const json_t *body, int64_t now_ms,
                  struct sim_resp *resp)
{
    const json_t *token = json_object_get(body, "token");
    const json_t *name = json_object_get(body, "name");
    char errstr[128];
    json_t *claims = NULL;
    const char *why;

    memset(resp, 0, sizeof(*resp));
    if (!json_is_string(token) || (name != NULL && !json_is_string(name))) {
        sim_resp_error(resp, 400, "Invalid body",
                       "expected {\"token\": string, \"name\": string}");
        return;
    }
    pthread_mutex_lock(&a->mu);
    why = check_app_token(a, json_string_value(token), now_ms, &claims, errstr,
                          sizeof(errstr));
    if (why != NULL) {
        /* the status is unverified: joins go through the client SDKs */
        sim_resp_error(resp, 401, "Token validation error", why);
    } else if (!sim_room_enabled(sim_room_get(
                   a, json_string_value(json_object_get(claims, "room_id"))))) {
        /* documented: nobody can join a disabled room
         * (Rooms/disable-or-enable.mdx); the 403 and its text are
         * unverified (the room-code calls' "Room is disabled") */
        sim_resp_error(resp, 403, "Room is disabled", NULL);
    } else {
        join(a, claims, name, now_ms, resp);
    }
    pthread_mutex_unlock(&a->mu);
    json_decref(claims);
}

void sim_api_leave(struct sim_api *a, const json_t *body, int64_t now_ms,
                   struct sim_resp *resp)
{
    const char *peer_id = json_string_value(json_object_get(body, "peer_id"));
    const char *room_id;
    json_t *s, *p;

    memset(resp, 0, sizeof(*resp));
    if (peer_id == NULL) {
        sim_resp_error(resp, 400, "Invalid body",
                       "expected {\"peer_id\": string}");
        return;
    }
    pthread_mutex_lock(&a->mu);
    room_id = json_string_value(json_object_get(a->peer_rooms, peer_id));
    s = room_id != NULL ? sim_active_session(a, room_id) : NULL;
    p = json_object_get(json_object_get(s, "peers"), peer_id);
    if (p == NULL || json_object_get(p, "left_at") != NULL) {
        sim_resp_error(resp, 404, "Peer not found", "not in an active session");
    } else {
        sim_streams_advance(a, room_id, now_ms);
        json_object_set_new(p, "left_at", sim_time(now_ms, 3));
        json_object_set_new(s, "updated_at", sim_time(now_ms, 3));
        /* documented: "client request", the peer left by itself
         * (webhook.md, peer leave reasons) */
        sim_ev_peer_leave(a, s, p, "client request", now_ms);
        if (present_peers(json_object_get(s, "peers")) == 0) {
            /* documented: the last one left */
            close_session(a, s, "client request", now_ms);
        }
        sim_reply(resp, 200, json_deep_copy(s));
    }
    pthread_mutex_unlock(&a->mu);
}

/* The ids of the peers still in session s. */
static json_t *present_ids(const json_t *s)
{
    json_t *ids = json_array(), *p;
    const char *id;

    json_object_foreach(json_object_get(s, "peers"), id, p)
    {
        if (json_object_get(p, "left_at") == NULL) {
            json_array_append_new(ids, json_string(id));
        }
    }
    return ids;
}

/* GET /v2/active-rooms/{id}. documented: {id, name, customer_id,
 * session{id, created_at, peers[]}}; a room is active while a peer is in
 * it (active-rooms API reference). inferred: a room that is not active is
 * a 404, as an unknown one is. */
void sim_h_active_get(struct sim_api *a, const struct sim_ctx *c,
                      struct sim_resp *r)
{
    json_t *room = sim_room_get(a, c->call->id);
    json_t *s = sim_active_session(a, c->call->id);

    if (room == NULL || s == NULL) {
        sim_resp_error(r, 404,
                       room == NULL ? "Room not found" : "Room is not active",
                       NULL);
        return;
    }
    sim_reply(r, 200,
              json_pack("{s:s, s:O, s:s, s:{s:O, s:O, s:o}}", "id", c->call->id,
                        "name", json_object_get(room, "name"), "customer_id",
                        a->cf->customer_id, "session", "id",
                        json_object_get(s, "id"), "created_at",
                        json_object_get(s, "created_at"), "peers",
                        present_ids(s)));
}

/* POST /v2/active-rooms/{id}/end-room {"reason", "lock"}. documented: ends
 * the active session, answers 200 {"message": "session is ending"};
 * lock: true also disables the room (end-active-room.mdx); the HLS
 * composer stops with the session (configure-webhooks/webhook.md).
 * inferred: with no active session, 404 "session not found" (the
 * room.end.failure webhook sample) and nothing changes, so lock disables
 * nothing (docs/100ms-api.md section 9, point 5). */
void sim_h_end_room(struct sim_api *a, const struct sim_ctx *c,
                    struct sim_resp *r)
{
    static const char *const keys[] = {"reason", "lock", NULL};
    const json_t *reason = json_object_get(c->body, "reason");
    const json_t *lock = json_object_get(c->body, "lock");
    const char *bad = NULL;
    json_t *room = sim_room_get(a, c->call->id), *s;

    /* inferred: documented fields of the wrong type are a 400. Unknown
     * fields: stricter than documented (ignored without strict) */
    if ((a->tune.strict && !sim_only_keys(c->body, keys, &bad)) ||
        (reason != NULL && !json_is_string(reason)) ||
        (lock != NULL && !json_is_boolean(lock))) {
        sim_resp_error(r, 400, "Invalid body param",
                       bad != NULL ? bad : "reason: string, lock: boolean");
        return;
    }
    if (room == NULL) {
        sim_resp_error(r, 404, "Room not found", NULL);
        return;
    }
    s = sim_active_session(a, c->call->id);
    if (s == NULL) {
        sim_resp_error(r, 404, "session not found", NULL);
        return;
    }
    sim_streams_end(a, c->call->id, c->req->now_ms);
    /* unverified: which reason 100ms gives the peers end-room removes;
     * "server removed peer" says the server removed them (webhook.md) */
    close_session(a, s, "server removed peer", c->req->now_ms);
    if (json_is_true(lock)) {
        json_object_set_new(room, "enabled", json_false());
        json_object_set_new(room, "updated_at", sim_time(c->req->now_ms, 3));
    }
    /* documented: room.end.success with lock_room and reason (webhook.md) */
    sim_ev_room_end(a, s, json_string_value(reason), json_is_true(lock),
                    c->req->now_ms);
    sim_reply(r, 200, json_pack("{s:s}", "message", "session is ending"));
}

/* GET /v2/sessions?room_id=&active=. documented: active defaults to true;
 * peers is an object keyed by peer id (Sessions API reference). inferred:
 * a non-boolean active is a 400. */
void sim_h_sessions_list(struct sim_api *a, const struct sim_ctx *c,
                         struct sim_resp *r)
{
    bool ok = true;
    bool active = sim_query_bool(c, "active", true, &ok);
    const char *want = sim_query(c, "room_id"), *room_id;
    json_t *items = json_array(), *list, *s;
    size_t i;

    if (!ok) {
        json_decref(items);
        sim_resp_error(r, 400, "Invalid query parameter", "active");
        return;
    }
    json_object_foreach(a->sessions, room_id, list)
    {
        if (want != NULL && strcmp(want, room_id) != 0) {
            continue;
        }
        json_array_foreach(list, i, s)
        {
            if (json_is_true(json_object_get(s, "active")) == active) {
                json_array_append_new(items, json_deep_copy(s));
            }
        }
    }
    sim_reply(r, 200, sim_page(c, items, "id"));
}
