/* sim_live.c -- sessions, active rooms and HLS live streams of the 100ms
 * API simulator (docs/100ms-api.md sections 2.3 to 2.5), per room id in
 * a->sessions and a->streams, newest last. Sessions only exist through the
 * test hook sim_api_open_session(): in 100ms they start when the first
 * peer joins. A stream goes from starting to running lazily, when it is
 * next served (stream_view). Handlers run with a->mu held. */
#define LOGMOD "sim_live"
#include "sim_api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void new_uuid(struct sim_api *a, char out[37])
{
    uint64_t hi = sim_rand(a), lo = sim_rand(a);

    snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(hi >> 32),
             (unsigned)(hi >> 16) & 0xffffu, (unsigned)hi & 0xfffu,
             (unsigned)(0x8000 | (lo >> 48 & 0x3fff)),
             (unsigned long long)(lo & 0xffffffffffffULL));
}

static json_t *list_of(json_t *map, const char *room_id)
{
    json_t *list = json_object_get(map, room_id);

    if (list == NULL) {
        list = json_array();
        json_object_set_new(map, room_id, list);
    }
    return list;
}

static json_t *new_peers(struct sim_api *a, const json_t *peers,
                         const char *session_id, int64_t now_ms)
{
    json_t *map = json_object(), *p;
    size_t i;

    json_array_foreach(peers, i, p)
    {
        char id[37];

        new_uuid(a, id);
        json_object_set_new(map, id,
                            json_pack("{s:s, s:s, s:O?, s:O?, s:O?, s:o}", "id",
                                      id, "session_id", session_id, "name",
                                      json_object_get(p, "name"), "role",
                                      json_object_get(p, "role"), "user_id",
                                      json_object_get(p, "user_id"),
                                      "joined_at", sim_time(now_ms, 3)));
    }
    return map;
}

void sim_api_open_session(struct sim_api *a, const char *room_id,
                          const json_t *peers, int64_t now_ms,
                          struct sim_resp *resp)
{
    char id[25];
    json_t *room, *s;

    memset(resp, 0, sizeof(*resp));
    pthread_mutex_lock(&a->mu);
    room = sim_room_get(a, room_id);
    if (room == NULL) {
        sim_resp_error(resp, 404, "Room not found", NULL);
    } else if (sim_active_session(a, room_id) != NULL) {
        sim_resp_error(resp, 409, "Session already active", NULL);
    } else {
        sim_new_id(a, id);
        s = json_pack("{s:s, s:s, s:s, s:b, s:o, s:o, s:o}", "id", id,
                      "room_id", room_id, "customer_id", a->cf->customer_id,
                      "active", 1, "peers", new_peers(a, peers, id, now_ms),
                      "created_at", sim_time(now_ms, 3), "updated_at",
                      sim_time(now_ms, 3));
        json_array_append_new(list_of(a->sessions, room_id), s);
        sim_reply(resp, 200, json_deep_copy(s));
    }
    pthread_mutex_unlock(&a->mu);
}

static json_t *keys_of(json_t *o)
{
    json_t *keys = json_array(), *v;
    const char *k;

    json_object_foreach(o, k, v)
    {
        json_array_append_new(keys, json_string(k));
    }
    return keys;
}

/* GET /v2/active-rooms/{id} */
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
                        keys_of(json_object_get(s, "peers"))));
}

static bool stream_live(const json_t *st)
{
    const char *s = json_string_value(json_object_get(st, "status"));

    return strcmp(s, "starting") == 0 || strcmp(s, "running") == 0;
}

/* Moves every live stream of a room to status (stopping or completed). */
static json_t *stop_streams(struct sim_api *a, const char *room_id,
                            const char *status, int64_t now_ms)
{
    json_t *stopped = json_array(), *st;
    size_t i;

    json_array_foreach(list_of(a->streams, room_id), i, st)
    {
        if (stream_live(st)) {
            json_object_set_new(st, "status", json_string(status));
            json_object_set_new(st, "stopped_at", sim_time(now_ms, 9));
            json_object_set_new(st, "updated_at", sim_time(now_ms, 9));
            json_array_append(stopped, st);
        }
    }
    return stopped;
}

/* POST /v2/active-rooms/{id}/end-room {"reason", "lock"}. 100ms documents
 * no error table; with no active session this answers 404 "session not
 * found" (the room.end.failure webhook sample) and changes nothing. */
void sim_h_end_room(struct sim_api *a, const struct sim_ctx *c,
                    struct sim_resp *r)
{
    static const char *const keys[] = {"reason", "lock", NULL};
    const json_t *reason = json_object_get(c->body, "reason");
    const json_t *lock = json_object_get(c->body, "lock");
    const char *bad = NULL;
    json_t *room = sim_room_get(a, c->call->id), *s;

    if (!sim_only_keys(c->body, keys, &bad) ||
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
    json_object_set_new(s, "active", json_false());
    json_object_set_new(s, "updated_at", sim_time(c->req->now_ms, 3));
    json_decref(stop_streams(a, c->call->id, "completed", c->req->now_ms));
    if (json_is_true(lock)) {
        json_object_set_new(room, "enabled", json_false());
        json_object_set_new(room, "updated_at", sim_time(c->req->now_ms, 3));
    }
    sim_reply(r, 200, json_pack("{s:s}", "message", "session is ending"));
}

/* A served copy of a stream: status advanced from starting to running
 * once hls_running_after_ms passed; the internal "_t" dropped. */
static json_t *stream_view(struct sim_api *a, json_t *st, int64_t now_ms)
{
    json_t *v;

    if (strcmp(json_string_value(json_object_get(st, "status")), "starting") ==
            0 &&
        now_ms >= json_integer_value(json_object_get(st, "_t")) +
                      a->cf->hls_running_after_ms) {
        json_object_set_new(st, "status", json_string("running"));
        json_object_set_new(st, "started_at", sim_time(now_ms, 9));
    }
    v = json_deep_copy(st);
    json_object_del(v, "_t");
    return v;
}

static const char *hls_precondition(struct sim_api *a, const struct sim_ctx *c,
                                    json_t *room)
{
    json_t *st;
    size_t i;

    if (json_object_get(c->body, "meeting_url") == NULL &&
        sim_room_template(a, room)->subdomain == NULL) {
        return "meeting_url is required: the template has no subdomain";
    }
    if (a->cf->hls_needs_session &&
        sim_active_session(a, c->call->id) == NULL) {
        return "no active session in room";
    }
    json_array_foreach(list_of(a->streams, c->call->id), i, st)
    {
        if (stream_live(st)) {
            return "live stream already running"; /* undocumented: strict */
        }
    }
    return NULL;
}

/* POST /v2/live-streams/room/{id}/start */
void sim_h_hls_start(struct sim_api *a, const struct sim_ctx *c,
                     struct sim_resp *r)
{
    static const char *const keys[] = {"meeting_url", "recording",
                                       "destination", "transcription", NULL};
    const char *bad = NULL, *why;
    json_t *room = sim_room_get(a, c->call->id), *s, *st, *rec;
    const json_t *url = json_object_get(c->body, "meeting_url");
    char id[25];
    int64_t now = c->req->now_ms;

    if (!sim_only_keys(c->body, keys, &bad) ||
        (url != NULL && !json_is_string(url))) {
        sim_resp_error(r, 400, "Invalid body param",
                       bad != NULL ? bad : "meeting_url: string");
    } else if (room == NULL) {
        sim_resp_error(r, 404, "Room not found", NULL);
    } else if (!sim_room_enabled(room)) {
        sim_resp_error(r, 403, "Room is disabled", NULL);
    } else if ((why = hls_precondition(a, c, room)) != NULL) {
        sim_resp_error(r, 400, why, NULL);
    } else {
        sim_new_id(a, id);
        s = sim_active_session(a, c->call->id);
        rec = json_object_get(c->body, "recording");
        rec = rec != NULL ? json_incref(rec)
                          : json_pack("{s:b, s:b}", "hls_vod", 0,
                                      "single_file_per_layer", 0);
        st = json_pack(
            "{s:s, s:s, s:O?, s:s, s:s?, s:{s:o}, s:o, s:s, s:o, s:n, s:o,"
            " s:s, s:n, s:s, s:n, s:I}",
            "id", id, "room_id", c->call->id, "session_id",
            json_object_get(s, "id"), "status", "starting", "meeting_url",
            json_string_value(url), "playback", "url",
            json_sprintf("https://hls.sim.invalid/%s/%s/master.m3u8",
                         c->call->id, id),
            "recording", rec, "destination", "", "created_at", sim_time(now, 9),
            "started_at", "updated_at", sim_time(now, 9), "started_by", "",
            "stopped_at", "stopped_by", "", "recording_assets", "_t",
            (json_int_t)now);
        json_array_append_new(list_of(a->streams, c->call->id), st);
        sim_reply(r, 200, stream_view(a, st, now));
    }
}

/* POST /v2/live-streams/room/{id}/stop: stops every live stream; 404 when
 * none runs (undocumented). */
void sim_h_hls_stop(struct sim_api *a, const struct sim_ctx *c,
                    struct sim_resp *r)
{
    json_t *stopped, *data, *st;
    size_t i;

    if (sim_room_get(a, c->call->id) == NULL) {
        sim_resp_error(r, 404, "Room not found", NULL);
        return;
    }
    stopped = stop_streams(a, c->call->id, "stopping", c->req->now_ms);
    if (json_array_size(stopped) == 0) {
        json_decref(stopped);
        sim_resp_error(r, 404, "No live stream running", NULL);
        return;
    }
    data = json_array();
    json_array_foreach(stopped, i, st)
    {
        json_array_append_new(data, stream_view(a, st, c->req->now_ms));
    }
    json_decref(stopped);
    sim_reply(r, 200,
              json_pack("{s:s, s:o, s:i, s:s}", "error", "", "data", data,
                        "limit", 10, "last", ""));
}

static bool field_is(const json_t *o, const char *key, const char *want)
{
    return want == NULL ||
           (json_is_string(json_object_get(o, key)) &&
            strcmp(json_string_value(json_object_get(o, key)), want) == 0);
}

/* GET /v2/live-streams?room_id=&session_id=&status= */
void sim_h_hls_list(struct sim_api *a, const struct sim_ctx *c,
                    struct sim_resp *r)
{
    json_t *items = json_array(), *list, *st;
    const char *room_id;
    size_t i;

    json_object_foreach(a->streams, room_id, list)
    {
        if (!field_is(json_object_get(a->rooms, room_id), "id",
                      sim_query(c, "room_id"))) {
            continue;
        }
        json_array_foreach(list, i, st)
        {
            json_t *v = stream_view(a, st, c->req->now_ms);

            if (field_is(v, "session_id", sim_query(c, "session_id")) &&
                field_is(v, "status", sim_query(c, "status"))) {
                json_array_append_new(items, v);
            } else {
                json_decref(v);
            }
        }
    }
    sim_reply(r, 200, sim_page(c, items, "id"));
}

/* GET /v2/sessions?room_id=&active= (active defaults to true). */
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
