/* sim_events.c -- the webhook events of the 100ms API simulator: what
 * each documented event carries, built from the simulator's state when it
 * happens, and handed to the delivery (sim_webhook.c). Handlers and the
 * ticker call these with a->mu held; nothing is built, and no id drawn,
 * when the room has no destination, so a simulator without webhooks
 * behaves (and numbers its ids) as before.
 *
 * documented: the envelope {"version": "2.0", "id", "app_id",
 * "account_id", "template_id", "timestamp", "type", "data"} and each
 * type's data fields (configure-webhooks/webhook.md; docs/100ms-api.md
 * section 4). The samples stamp "timestamp" to the second and the data's
 * times to the nanosecond; so does the simulator. Fields the simulator
 * has nothing for are sent empty ("" or 0), never left out; deprecated
 * fields (location, URL, error_code, recording_hls_vod_playlist_location)
 * are left out. docs/hms-sim.md tables each choice. */
#define LOGMOD "sim_events"
#include "sim_api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_webhook.h"

/* documented: example values of max_width and max_height (webhook.md);
 * the simulator composes nothing, so they are fixed */
#define HLS_WIDTH 1280
#define HLS_HEIGHT 720
/* A fake recording size: 2 Mbit/s of the duration. */
#define FAKE_BYTES_PER_S 250000
#define REC_BUCKET "s3://hms-sim-recordings"
#define REC_HTTPS "https://recordings.sim.invalid"

/* A stored timestamp (3 or 9 digits) again with 9, as the samples show
 * data times; "" for none. New reference. */
static json_t *ns_time(const json_t *stored)
{
    int64_t ms = hw_rfc3339_ms(json_string_value(stored));

    return ms < 0 ? json_string("") : sim_time(ms, 9);
}

/* Whole seconds from the stored time `from` to to_ms (0 if unknown). */
static json_int_t secs_since(const json_t *from, int64_t to_ms)
{
    int64_t ms = hw_rfc3339_ms(json_string_value(from));

    return ms < 0 || to_ms < ms ? 0 : (json_int_t)((to_ms - ms) / 1000);
}

/* ---- envelope and emission ------------------------------------------ */

json_t *sim_ev_envelope(const char *id, const char *app_id,
                        const char *account_id, const char *template_id,
                        int64_t ts_ms, const char *type, const char *version,
                        json_t *data)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o}", "version",
                     version, "id", id, "app_id", app_id, "account_id",
                     account_id, "template_id",
                     template_id != NULL ? template_id : "", "timestamp",
                     sim_time(ts_ms, 0), "type", type, "data", data);
}

/* Whether an event of room_id would go anywhere. */
static bool wanted(struct sim_api *a, const char *room_id)
{
    return a->wh != NULL &&
           sim_webhook_wanted(
               a->wh, json_object_get(sim_room_get(a, room_id), "webhook"));
}

/* Wraps data (stolen) in the envelope and queues it. */
static void emit(struct sim_api *a, const char *room_id, const char *type,
                 const char *version, json_t *data, int64_t at_ms)
{
    json_t *room = sim_room_get(a, room_id), *env;
    struct sim_wh_event ev;
    char id[37];
    char *body;

    sim_new_uuid(a, id);
    env =
        sim_ev_envelope(id, a->cf->app_id, a->cf->customer_id,
                        json_string_value(json_object_get(room, "template_id")),
                        at_ms, type, version, data);
    body = json_dumps(env, JSON_COMPACT);
    if (body == NULL) {
        abort(); /* jansson only fails here on OOM */
    }
    ev = (struct sim_wh_event){id, type, room_id, body,
                               json_object_get(room, "webhook")};
    sim_webhook_enqueue(a->wh, &ev);
    free(body);
    json_decref(env);
}

/* {room_id, room_name, template_id} of room_id: every event has them. */
static json_t *room_fields(struct sim_api *a, const char *room_id)
{
    json_t *room = sim_room_get(a, room_id);
    const char *name = json_string_value(json_object_get(room, "name"));
    const char *tpl = json_string_value(json_object_get(room, "template_id"));

    return json_pack("{s:s, s:s, s:s}", "room_id", room_id, "room_name",
                     name != NULL ? name : "", "template_id",
                     tpl != NULL ? tpl : "");
}

static const char *sroom(const json_t *s)
{
    return json_string_value(json_object_get(s, "room_id"));
}

static json_t *str_or_empty(const json_t *v)
{
    return json_string(json_is_string(v) ? json_string_value(v) : "");
}

/* ---- sessions and peers ------------------------------------------------ */

void sim_ev_session_open(struct sim_api *a, const json_t *s)
{
    json_t *d;

    if (!wanted(a, sroom(s))) {
        return;
    }
    d = room_fields(a, sroom(s));
    json_object_set(d, "session_id", json_object_get(s, "id"));
    json_object_set_new(d, "session_started_at",
                        ns_time(json_object_get(s, "created_at")));
    emit(a, sroom(s), "session.open.success", "2.0", d,
         hw_rfc3339_ms(json_string_value(json_object_get(s, "created_at"))));
}

/* documented: SFU recording (the room's recording_info.enabled,
 * Rooms/create-via-api.mdx) ends in recording.success, whose samples carry
 * "version": "1.0" (webhook.md); sent when the session closes (inferred:
 * 100ms sends it once the file is uploaded). */
static void sfu_recording(struct sim_api *a, const json_t *s, int64_t at_ms)
{
    const char *room_id = sroom(s), *sid;
    json_int_t secs;
    json_t *d;

    if (!json_is_true(json_object_get(
            json_object_get(sim_room_get(a, room_id), "recording_info"),
            "enabled"))) {
        return;
    }
    sid = json_string_value(json_object_get(s, "id"));
    secs = secs_since(json_object_get(s, "created_at"), at_ms);
    d = room_fields(a, room_id);
    json_object_update_missing_new(
        d,
        json_pack("{s:s, s:I, s:o, s:o, s:I, s:o, s:o}", "session_id", sid,
                  "duration", secs, "recording_path",
                  json_sprintf(REC_BUCKET "/%s/%s/recording.mp4", room_id, sid),
                  "recording_presigned_url",
                  json_sprintf(REC_HTTPS "/%s/%s/recording.mp4", room_id, sid),
                  "size", secs * FAKE_BYTES_PER_S, "session_started_at",
                  ns_time(json_object_get(s, "created_at")),
                  "session_stopped_at", sim_time(at_ms, 9)));
    emit(a, room_id, "recording.success", "1.0", d, at_ms);
}

void sim_ev_session_close(struct sim_api *a, const json_t *s, int64_t at_ms)
{
    json_t *d;

    if (!wanted(a, sroom(s))) {
        return;
    }
    d = room_fields(a, sroom(s));
    json_object_update_missing_new(
        d, json_pack("{s:O, s:I, s:o, s:o}", "session_id",
                     json_object_get(s, "id"), "session_duration",
                     secs_since(json_object_get(s, "created_at"), at_ms),
                     "session_started_at",
                     ns_time(json_object_get(s, "created_at")),
                     "session_stopped_at", sim_time(at_ms, 9)));
    emit(a, sroom(s), "session.close.success", "2.0", d, at_ms);
    sfu_recording(a, s, at_ms);
}

/* The fields peer.join.success and peer.leave.success share. type is in
 * docs/100ms-api.md section 4 (regular | sip), not in every webhook.md
 * version: the simulator's peers are all "regular". */
static json_t *peer_fields(struct sim_api *a, const json_t *s, const json_t *p)
{
    json_t *d = room_fields(a, sroom(s));

    json_object_update_missing_new(
        d,
        json_pack(
            "{s:O, s:O, s:o, s:o, s:s, s:o, s:o, s:o, s:s}", "session_id",
            json_object_get(s, "id"), "peer_id", json_object_get(p, "id"),
            "user_id", str_or_empty(json_object_get(p, "user_id")), "user_name",
            str_or_empty(json_object_get(p, "name")), "user_data", "", "role",
            str_or_empty(json_object_get(p, "role")), "joined_at",
            ns_time(json_object_get(p, "joined_at")), "session_started_at",
            ns_time(json_object_get(s, "created_at")), "type", "regular"));
    return d;
}

void sim_ev_peer_join(struct sim_api *a, const json_t *s, const json_t *p)
{
    if (wanted(a, sroom(s))) {
        emit(a, sroom(s), "peer.join.success", "2.0", peer_fields(a, s, p),
             hw_rfc3339_ms(json_string_value(json_object_get(p, "joined_at"))));
    }
}

void sim_ev_peer_leave(struct sim_api *a, const json_t *s, const json_t *p,
                       const char *reason, int64_t at_ms)
{
    json_t *d;

    if (!wanted(a, sroom(s))) {
        return;
    }
    d = peer_fields(a, s, p);
    json_object_update_missing_new(
        d, json_pack("{s:o, s:I, s:s, s:s}", "left_at", sim_time(at_ms, 9),
                     "duration",
                     secs_since(json_object_get(p, "joined_at"), at_ms),
                     "reason", reason, "message", ""));
    emit(a, sroom(s), "peer.leave.success", "2.0", d, at_ms);
}

/* documented fields (webhook.md, room.end.success). The peer fields name
 * whoever ended the room: nobody, through the REST API, so they are empty.
 * unverified: "source" for an end-room call ("peer" in the sample, which
 * a client ended). */
void sim_ev_room_end(struct sim_api *a, const json_t *s, const char *reason,
                     bool lock, int64_t at_ms)
{
    json_t *d;

    if (!wanted(a, sroom(s))) {
        return;
    }
    d = room_fields(a, sroom(s));
    json_object_update_missing_new(
        d, json_pack("{s:O, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:o}",
                     "session_id", json_object_get(s, "id"), "peer_id", "",
                     "user_id", "", "user_name", "", "role", "", "lock_room",
                     lock, "reason", reason != NULL ? reason : "", "source",
                     "api", "session_started_at",
                     ns_time(json_object_get(s, "created_at"))));
    emit(a, sroom(s), "room.end.success", "2.0", d, at_ms);
}

/* ---- HLS ------------------------------------------------------------------
 */

/* The session of room_id with id sid, or NULL. */
static json_t *session_by_id(struct sim_api *a, const char *room_id,
                             const char *sid)
{
    json_t *s;
    size_t i;

    json_array_foreach(json_object_get(a->sessions, room_id), i, s)
    {
        if (sid != NULL &&
            strcmp(json_string_value(json_object_get(s, "id")), sid) == 0) {
            return s;
        }
    }
    return NULL;
}

/* The composer's job and peer ids, drawn the first time an event needs
 * them and kept internal ('_') in the stream. */
static void composer_ids(struct sim_api *a, json_t *st)
{
    char job[25], peer[37];

    if (json_object_get(st, "_job") == NULL) {
        sim_new_id(a, job);
        sim_new_uuid(a, peer);
        json_object_set_new(st, "_job", json_string(job));
        json_object_set_new(st, "_peer", json_string(peer));
    }
}

/* What every HLS event carries (webhook.md, HLS streaming events).
 * inferred: beam_id is the live stream's id. */
static json_t *hls_fields(struct sim_api *a, const char *room_id, json_t *st,
                          int64_t at_ms)
{
    const json_t *rec = json_object_get(st, "recording");
    json_t *s = session_by_id(
        a, room_id, json_string_value(json_object_get(st, "session_id")));
    json_t *d =
        json_pack("{s:O, s:O, s:O, s:s}", "beam_id", json_object_get(st, "id"),
                  "job_id", json_object_get(st, "_job"), "peer_id",
                  json_object_get(st, "_peer"), "room_id", room_id);
    char meta[37];

    sim_new_uuid(a, meta);
    json_object_update_missing_new(
        d,
        json_pack(
            "{s:o, s:o, s:o, s:s, s:o, s:i, s:i, s:b, s:b, s:o}", "session_id",
            str_or_empty(json_object_get(st, "session_id")), "template_id",
            str_or_empty(
                json_object_get(sim_room_get(a, room_id), "template_id")),
            "meeting_url", str_or_empty(json_object_get(st, "meeting_url")),
            "metadata_id", meta, "metadata_timestamp", sim_time(at_ms, 9),
            "max_width", HLS_WIDTH, "max_height", HLS_HEIGHT,
            "recording_single_file_per_layer_enabled",
            json_is_true(json_object_get(rec, "single_file_per_layer")),
            "recording_vod_playlist_enabled",
            json_is_true(json_object_get(rec, "hls_vod")), "session_started_at",
            s != NULL ? ns_time(json_object_get(s, "created_at"))
                      : json_string("")));
    return d;
}

static const char *st_room(const json_t *st)
{
    return json_string_value(json_object_get(st, "room_id"));
}

static json_t *playback_url(const json_t *st)
{
    return str_or_empty(
        json_object_get(json_object_get(st, "playback"), "url"));
}

/* The fields every hls.* event of st has, or NULL when nobody wants its
 * room's webhooks. */
static json_t *hls_event(struct sim_api *a, json_t *st, int64_t at_ms)
{
    if (!wanted(a, st_room(st))) {
        return NULL;
    }
    composer_ids(a, st);
    return hls_fields(a, st_room(st), st, at_ms);
}

void sim_ev_hls_started(struct sim_api *a, json_t *st, int64_t at_ms)
{
    json_t *d = hls_event(a, st, at_ms);

    if (d == NULL) {
        return;
    }
    json_object_update_missing_new(
        d, json_pack("{s:o, s:o, s:I, s:s, s:o}", "url", playback_url(st),
                     "started_at", sim_time(at_ms, 9), "start_delay",
                     secs_since(json_object_get(st, "created_at"), at_ms),
                     "state_name", "HLSStarted", "state_timestamp",
                     sim_time(at_ms, 9)));
    emit(a, st_room(st), "hls.started.success", "2.0", d, at_ms);
}

/* documented: HLS recording (recording.hls_vod on the start call) ends in
 * hls.recording.success (webhook.md; the replay API's "HLS recording
 * completed"), not beam.recording.success, which is browser recording.
 * Sent right after the stream stops (inferred: 100ms sends it once the
 * files are uploaded). Only a stream that ran records anything. */
static void hls_recording(struct sim_api *a, json_t *st, int64_t at_ms)
{
    const char *room_id = st_room(st);
    const char *id = json_string_value(json_object_get(st, "id"));
    json_int_t secs = secs_since(json_object_get(st, "started_at"), at_ms);
    json_t *d;

    if (!json_is_true(
            json_object_get(json_object_get(st, "recording"), "hls_vod")) ||
        !json_is_string(json_object_get(st, "started_at"))) {
        return;
    }
    d = hls_fields(a, room_id, st, at_ms);
    json_object_del(d, "job_id"); /* not among its documented fields */
    json_object_del(d, "peer_id");
    json_object_del(d, "recording_single_file_per_layer_enabled");
    json_object_del(d, "recording_vod_playlist_enabled");
    json_object_update_missing_new(
        d, json_pack("{s:I, s:o, s:o, s:I, s:o, s:o, s:o, s:[], s:[]}",
                     "duration", secs, "hls_vod_recording_path",
                     json_sprintf(REC_BUCKET "/%s/%s/hls-vod.zip", room_id, id),
                     "hls_vod_recording_presigned_url",
                     json_sprintf(REC_HTTPS "/%s/%s/hls-vod.zip", room_id, id),
                     "hls_vod_recording_size", secs * FAKE_BYTES_PER_S,
                     "recording_created_at", sim_time(at_ms, 9), "started_at",
                     ns_time(json_object_get(st, "started_at")), "stopped_at",
                     sim_time(at_ms, 9), "recording_single_files",
                     "recording_thumbnails"));
    emit(a, room_id, "hls.recording.success", "2.0", d, at_ms);
}

void sim_ev_hls_stopped(struct sim_api *a, json_t *st, const char *reason,
                        int64_t at_ms)
{
    const json_t *started = json_object_get(st, "started_at");
    json_t *d = hls_event(a, st, at_ms);

    if (d == NULL) {
        return;
    }
    json_object_update_missing_new(
        d, json_pack("{s:o, s:I, s:o, s:o, s:s, s:s, s:o}", "url",
                     playback_url(st), "duration", secs_since(started, at_ms),
                     "started_at", ns_time(started), "stopped_at",
                     sim_time(at_ms, 9), "reason", reason, "state_name",
                     "HLSStopped", "state_timestamp", sim_time(at_ms, 9)));
    emit(a, st_room(st), "hls.stopped.success", "2.0", d, at_ms);
    hls_recording(a, st, at_ms);
}

/* documented error types and messages (webhook.md, hls.failure);
 * <max_count> of MAX_RETRIES_REACHED is not documented. */
static const char *failure_message(const char *type)
{
    return strcmp(type, "MAX_RETRIES_REACHED") == 0
               ? "Beam couldn't connect to Meeting URL after 3 retries. "
                 "Check if meeting URL is correct."
           : strcmp(type, "BEAM_STOPPED") == 0 ? "Beam stopped too early"
                                               : "Internal error";
}

void sim_ev_hls_failure(struct sim_api *a, json_t *st, const char *error_type,
                        int64_t at_ms)
{
    json_t *d = hls_event(a, st, at_ms);

    if (d == NULL) {
        return;
    }
    json_object_update_missing_new(d, json_pack("{s:s, s:s, s:i}", "error_type",
                                                error_type, "error_message",
                                                failure_message(error_type),
                                                "duration", 0));
    emit(a, st_room(st), "hls.failure", "2.0", d, at_ms);
}
