/* sim_live.c -- HLS live streams of the 100ms API simulator
 * (docs/100ms-api.md section 2.4), per room id in a->streams, newest last;
 * a->stream_rooms finds a stream's room from its id.
 *
 * A stream's status is evaluated lazily, with no timer: advance() moves it
 * on when it is next served, and sim_streams_advance() runs before
 * anything it depends on changes (peers, the room's enabled flag or
 * template, the settings), so an evaluation always sees the state that
 * held since the last change. A live stream (starting or running) goes
 *   starting -> running   hls_running_after_ms after the start, if the
 *                         composer can join the meeting_url;
 *   starting -> failed    at that moment if it cannot;
 *   -> completed          once the composer has been alone in the room for
 *                         5 minutes (no peer but itself), counted from the
 *                         later of the start and the moment the last peer
 *                         left, or at the template's maximum duration; both
 *                         durations divided by the time scale; stopped_at
 *                         says when it happened, not when it was seen;
 *   -> stopping           by the stop call; -> completed by end-room.
 * Members whose name starts with '_' are internal and never served
 * (view()). The composer is no peer of the session. Handlers run with
 * a->mu held.
 *
 * Each transition is also its documented webhook event (sim_events.c),
 * stamped with when it happened: -> running hls.started.success;
 * -> failed hls.failure (MAX_RETRIES_REACHED) and hls.stopped.success
 * ("failure: MAX_RETRIES_REACHED"); -> completed hls.stopped.success
 * ("last peer left" or "max duration reached"); the stop call and
 * end-room hls.stopped.success ("client request"), after hls.failure
 * (BEAM_STOPPED) for a stream that had not started yet. The ticker
 * (sim_api_tick()) makes the timed ones go out on time. */
#define LOGMOD "sim_live"
#include "sim_api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* documented: the composer stops after 5 minutes alone
 * (configure-webhooks/webhook.md, HLS stop reasons) */
#define ALONE_S 300
/* documented: the composer role of every meeting_url example
 * (start-live-stream-for-room.mdx, common/meeting-url.md) */
#define COMPOSER_ROLE "__internal_recorder"

static bool status_is(const json_t *st, const char *status)
{
    return strcmp(json_string_value(json_object_get(st, "status")), status) ==
           0;
}

static bool stream_live(const json_t *st)
{
    return status_is(st, "starting") || status_is(st, "running");
}

/* Sets status; stamps at_key (may be NULL) and updated_at with at_ms. */
static void set_status(json_t *st, const char *status, const char *at_key,
                       int64_t at_ms)
{
    json_object_set_new(st, "status", json_string(status));
    if (at_key != NULL) {
        json_object_set_new(st, at_key, sim_time(at_ms, 9));
    }
    json_object_set_new(st, "updated_at", sim_time(at_ms, 9));
}

/* Whether the query string q (after '?', up to '#') has param exactly. */
static bool has_param(const char *q, const char *param)
{
    size_t n = strlen(param);

    while (*q != '\0' && *q != '#') {
        size_t len = strcspn(q, "&#");

        if (len == n && strncmp(q, param, n) == 0) {
            return true;
        }
        q += len;
        if (*q == '&') {
            q++;
        }
    }
    return false;
}

/* Whether the composer can join url, the page it opens. documented: the
 * form https://<subdomain>.app.100ms.live/preview/<room_id>/<role>
 * ?skip_preview=true, more query parameters allowed (common/meeting-url.md),
 * role COMPOSER_ROLE; nobody joins a disabled room
 * (Rooms/disable-or-enable.mdx). inferred: <subdomain> is the room's
 * template's (a Prebuilt subdomain belongs to a template, room-links.mdx),
 * so a template without one has no page the composer could open. */
static bool composer_can_join(struct sim_api *a, const json_t *room,
                              const char *url)
{
    const struct sim_template *t = sim_room_template(a, room);
    char *host, *path;
    bool ok;

    if (url == NULL || t->subdomain == NULL || !sim_room_enabled(room)) {
        return false;
    }
    host = xasprintf("https://%s.app.100ms.live", t->subdomain);
    path = xasprintf("/preview/%s/%s?",
                     json_string_value(json_object_get(room, "id")),
                     COMPOSER_ROLE);
    ok = strncasecmp(url, host, strlen(host)) == 0 &&
         strncmp(url + strlen(host), path, strlen(path)) == 0 &&
         has_param(url + strlen(host) + strlen(path), "skip_preview=true");
    free(host);
    free(path);
    return ok;
}

/* When the composer stops by itself (alone, or the maximum duration),
 * for a stream started at t0, given who is in the room now; *why is the
 * documented stop reason (webhook.md, HLS stop reasons). */
static int64_t stop_due(struct sim_api *a, const char *room_id,
                        const json_t *room, int64_t t0, const char **why)
{
    int64_t due = hw_sat_add(
        t0, sim_scaled_ms(a, sim_room_template(a, room)->hls_max_duration_s));
    int64_t since, alone_end;

    *why = "max duration reached";
    if (sim_room_alone(a, room_id, &since)) {
        alone_end =
            hw_sat_add(since > t0 ? since : t0, sim_scaled_ms(a, ALONE_S));
        if (alone_end < due) {
            due = alone_end;
            *why = "last peer left";
        }
    }
    return due;
}

/* Brings one stream of room_id up to now_ms (see the top comment). */
static void advance(struct sim_api *a, const char *room_id, json_t *st,
                    int64_t now_ms)
{
    const json_t *room = sim_room_get(a, room_id);
    int64_t t0 = json_integer_value(json_object_get(st, "_t"));
    int64_t run_at = hw_sat_add(t0, a->tune.hls_running_after_ms);
    const char *why;
    int64_t due;

    if (!stream_live(st)) {
        return;
    }
    due = stop_due(a, room_id, room, t0, &why);
    if (status_is(st, "starting") && now_ms >= run_at && due > run_at) {
        /* documented: the start call succeeded; a composer that cannot
         * join fails later, as the hls.failure webhook
         * (MAX_RETRIES_REACHED) says, and stops with the reason
         * "failure: MAX_RETRIES_REACHED" (configure-webhooks/webhook.md) */
        if (!composer_can_join(
                a, room,
                json_string_value(json_object_get(st, "meeting_url")))) {
            log_info("msg=\"HLS composer cannot join: stream failed\" "
                     "room=%s stream=%s",
                     room_id, json_string_value(json_object_get(st, "id")));
            set_status(st, "failed", NULL, run_at);
            sim_ev_hls_failure(a, st, "MAX_RETRIES_REACHED", run_at);
            sim_ev_hls_stopped(a, st, "failure: MAX_RETRIES_REACHED", run_at);
            return;
        }
        set_status(st, "running", "started_at", run_at);
        sim_ev_hls_started(a, st, run_at);
    }
    if (now_ms >= due) {
        set_status(st, "completed", "stopped_at", due);
        sim_ev_hls_stopped(a, st, why, due);
    }
}

void sim_streams_advance(struct sim_api *a, const char *room_id, int64_t now_ms)
{
    json_t *st;
    size_t i;

    json_array_foreach(json_object_get(a->streams, room_id), i, st)
    {
        advance(a, room_id, st, now_ms);
    }
}

void sim_streams_advance_all(struct sim_api *a, int64_t now_ms)
{
    const char *room_id;
    json_t *list;

    json_object_foreach(a->streams, room_id, list)
    {
        sim_streams_advance(a, room_id, now_ms);
    }
}

/* A served copy of a stream, brought up to now_ms; no internal members. */
static json_t *view(struct sim_api *a, const char *room_id, json_t *st,
                    int64_t now_ms)
{
    json_t *v, *m;
    const char *key;
    void *tmp;

    advance(a, room_id, st, now_ms);
    v = json_deep_copy(st);
    json_object_foreach_safe(v, tmp, key, m)
    {
        if (key[0] == '_') {
            json_object_del(v, key);
        }
    }
    return v;
}

/* Moves every live stream of a room to status (stopping or completed);
 * returns them (new reference). */
static json_t *stop_streams(struct sim_api *a, const char *room_id,
                            const char *status, int64_t now_ms)
{
    json_t *stopped = json_array(), *st;
    size_t i;

    sim_streams_advance(a, room_id, now_ms);
    json_array_foreach(json_object_get(a->streams, room_id), i, st)
    {
        if (stream_live(st)) {
            bool ran = status_is(st, "running");

            set_status(st, status, "stopped_at", now_ms);
            /* documented (webhook.md): a stop request before the composer
             * started is the hls.failure BEAM_STOPPED; a stop request,
             * from the API or end-room's, is the reason "client request" */
            if (!ran) {
                sim_ev_hls_failure(a, st, "BEAM_STOPPED", now_ms);
            }
            sim_ev_hls_stopped(a, st, "client request", now_ms);
            json_array_append(stopped, st);
        }
    }
    return stopped;
}

void sim_streams_end(struct sim_api *a, const char *room_id, int64_t now_ms)
{
    json_decref(stop_streams(a, room_id, "completed", now_ms));
}

static json_t *first_live(struct sim_api *a, const char *room_id)
{
    json_t *st;
    size_t i;

    json_array_foreach(json_object_get(a->streams, room_id), i, st)
    {
        if (stream_live(st)) {
            return st;
        }
    }
    return NULL;
}

/* Creates a stream in room_id, status starting; borrowed. */
static json_t *new_stream(struct sim_api *a, const struct sim_ctx *c,
                          int64_t now)
{
    const char *room_id = c->call->id;
    json_t *s = sim_active_session(a, room_id), *st;
    json_t *rec = json_object_get(c->body, "recording");
    char id[25];

    sim_new_id(a, id);
    rec = rec != NULL ? json_incref(rec)
                      : json_pack("{s:b, s:b}", "hls_vod", 0,
                                  "single_file_per_layer", 0);
    st = json_pack(
        "{s:s, s:s, s:O?, s:s, s:O, s:{s:o}, s:o, s:s, s:o, s:n, s:o,"
        " s:s, s:n, s:s, s:n, s:I}",
        "id", id, "room_id", room_id, "session_id", json_object_get(s, "id"),
        "status", "starting", "meeting_url",
        json_object_get(c->body, "meeting_url"), "playback", "url",
        json_sprintf("https://hls.sim.invalid/%s/%s/master.m3u8", room_id, id),
        "recording", rec, "destination", "", "created_at", sim_time(now, 9),
        "started_at", "updated_at", sim_time(now, 9), "started_by", "",
        "stopped_at", "stopped_by", "", "recording_assets", "_t",
        (json_int_t)now);
    json_array_append_new(sim_list_of(a->streams, room_id), st);
    json_object_set_new(a->stream_rooms, id, json_string(room_id));
    return st;
}

/* The 400/403/404 of a start, or 0 when it may go on. */
static int start_refused(struct sim_api *a, const struct sim_ctx *c,
                         struct sim_resp *r)
{
    static const char *const keys[] = {"meeting_url", "recording",
                                       "destination", "transcription", NULL};
    const char *bad = NULL;
    const json_t *room = sim_room_get(a, c->call->id);
    const json_t *url = json_object_get(c->body, "meeting_url");

    /* inferred: a documented field of the wrong type is a 400. Unknown
     * fields: stricter than documented (ignored without strict) */
    if ((a->tune.strict && !sim_only_keys(c->body, keys, &bad)) ||
        (url != NULL && !json_is_string(url))) {
        sim_resp_error(r, 400, "Invalid body param",
                       bad != NULL ? bad : "meeting_url: string");
    } else if (room == NULL) {
        sim_resp_error(r, 404, "Room not found", NULL);
    } else if (url == NULL) {
        /* documented: meeting_url is "Required: Yes"
         * (start-live-stream-for-room.mdx); the 400 is unverified */
        sim_resp_error(r, 400, "Invalid body param", "meeting_url is required");
    } else if (a->tune.strict && !sim_room_enabled(room)) {
        /* stricter than documented: without strict the start succeeds and
         * the composer, who cannot join a disabled room, fails later */
        sim_resp_error(r, 403, "Room is disabled", NULL);
    } else if (a->cf->hls_needs_session &&
               sim_active_session(a, c->call->id) == NULL) {
        /* inferred, opt-in (--hls-needs-session): an active session is
         * needed (the reply has session_id; the server SDK's CI puts peers
         * in first); the 400 is unverified */
        sim_resp_error(r, 400, "no active session in room", NULL);
    } else {
        return 0;
    }
    return r->status;
}

/* POST /v2/live-streams/room/{id}/start. documented: 200 with the stream,
 * status "starting", playback.url (start-live-stream-for-room.mdx), also
 * when the composer will not be able to join (it fails later). */
void sim_h_hls_start(struct sim_api *a, const struct sim_ctx *c,
                     struct sim_resp *r)
{
    int64_t now = c->req->now_ms;
    json_t *live;

    if (start_refused(a, c, r) != 0) {
        return;
    }
    sim_streams_advance(a, c->call->id, now);
    live = first_live(a, c->call->id);
    if (live != NULL && a->tune.strict) {
        /* stricter than documented */
        sim_resp_error(r, 400, "Invalid request",
                       "live stream already running");
    } else if (live != NULL) {
        /* unverified: 100ms does not say what a second start does while
         * one is live; the simulator answers 200 with the live stream */
        sim_reply(r, 200, view(a, c->call->id, live, now));
    } else {
        sim_reply(r, 200, view(a, c->call->id, new_stream(a, c, now), now));
    }
}

/* POST /v2/live-streams/room/{id}/stop. documented: stops every live
 * stream of the room and answers the paginated {"error", "data", "limit",
 * "last"} (stop-live-stream-for-room.mdx). unverified: with nothing live,
 * the same shape with empty data; stricter than documented: 404 then. */
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
    if (json_array_size(stopped) == 0 && a->tune.strict) {
        json_decref(stopped);
        sim_resp_error(r, 404, "No live stream running", NULL);
        return;
    }
    data = json_array();
    json_array_foreach(stopped, i, st)
    {
        json_array_append_new(data, view(a, c->call->id, st, c->req->now_ms));
    }
    json_decref(stopped);
    sim_reply(r, 200,
              json_pack("{s:s, s:o, s:i, s:s}", "error", "", "data", data,
                        "limit", 10, "last", ""));
}

/* GET /v2/live-streams/{id}. documented (live-streams API reference); the
 * 404 for an unknown id is the general status table's, its message text
 * is unverified. */
void sim_h_hls_get(struct sim_api *a, const struct sim_ctx *c,
                   struct sim_resp *r)
{
    const char *room_id =
        json_string_value(json_object_get(a->stream_rooms, c->call->id));
    json_t *st;
    size_t i;

    json_array_foreach(
        room_id != NULL ? json_object_get(a->streams, room_id) : NULL, i, st)
    {
        if (strcmp(json_string_value(json_object_get(st, "id")), c->call->id) ==
            0) {
            sim_reply(r, 200, view(a, room_id, st, c->req->now_ms));
            return;
        }
    }
    sim_resp_error(r, 404, "Live stream not found", NULL);
}

static bool field_is(const json_t *o, const char *key, const char *want)
{
    return want == NULL ||
           (json_is_string(json_object_get(o, key)) &&
            strcmp(json_string_value(json_object_get(o, key)), want) == 0);
}

/* GET /v2/live-streams?room_id=&session_id=&status=. documented filters
 * (live-streams API reference), applied to the status as of now. */
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
            json_t *v = view(a, room_id, st, c->req->now_ms);

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
