/* event.c -- event names, validation, cleanup. event_validate() is one
 * switch over the input kinds with the contract's bounds (ids 1-256 bytes,
 * event ids 1-128, free text 1 KiB, times from 2000 to now + 5 years, a
 * booking's room options within what 100ms accepts, at most
 * EVENT_PARTICIPANTS_MAX participants); duplicate participants are found
 * with an smap (seeded), and the cap, checked first, bounds that work
 * even if its hash were made to collide. event_clear() frees through a list of
 * every string field: a new one goes there too. Validation runs on the consumer
 * thread. */
#include "event.h"

#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smap.h"

#define ID_MAX 256
#define EVENT_ID_MAX 128
#define TEXT_MAX 1024 /* free text sent to 100ms and into outputs */

/* What POST /rooms accepts (docs/100ms-api.md section 2.1 and section 9
 * point 9): region eu, in, us or auto; size 0-2500 (more needs large_room,
 * which the worker does not send); max_duration_seconds 120-43200. Beyond
 * them 100ms answers 400: checked first, so the event is `validation`
 * before any call. Regions as 100ms spells them: no case folding. */
#define ROOM_SIZE_MAX 2500
#define ROOM_DURATION_MIN_S 120
#define ROOM_DURATION_MAX_S 43200

const char *event_kind_name(enum event_kind kind)
{
    static const char *const names[] = {
        "BookingCreated", "StreamStarted", "SessionEnded", "VideoReady",
        "VideoEnded",     "VideoSession",  "Webhook"};

    return kind < EVENT_KIND_COUNT ? names[kind] : "?";
}

const char *event_session_type_name(enum session_type t)
{
    static const char *const names[VS_TYPE_COUNT] = {
        "SESSION_STARTED", "SESSION_ENDED", "PEER_JOINED", "PEER_LEFT",
        "HLS_STARTED",     "HLS_STOPPED",   "HLS_FAILED",  "RECORDING_READY"};

    return t < VS_TYPE_COUNT ? names[t] : NULL;
}

enum subject_kind event_subject_kind(const struct event *ev)
{
    return ev->kind == EVENT_BOOKING_CREATED  ? SUBJECT_BOOKING
           : ev->kind == EVENT_STREAM_STARTED ? SUBJECT_STREAM
                                              : ev->subject_kind;
}

const char *event_subject_id(const struct event *ev)
{
    return ev->kind == EVENT_BOOKING_CREATED  ? ev->booking_id
           : ev->kind == EVENT_STREAM_STARTED ? ev->stream_id
                                              : ev->subject_id;
}

static bool id_ok(const char *s, size_t max)
{
    return s != NULL && s[0] != '\0' && strlen(s) <= max;
}

static enum hw_rc invalid(char *errstr, size_t n, const char *field,
                          const char *why)
{
    snprintf(errstr, n, "%s %s", field, why);
    return HW_ERR_INVALID;
}

static enum hw_rc validate_participants(const struct event *ev, char *errstr,
                                        size_t n)
{
    struct smap *seen; /* linear, whatever the count */
    enum hw_rc rc = HW_OK;

    if (!ev->physical && ev->n_participants == 0) {
        return invalid(errstr, n, "participants",
                       "is empty for a VIRTUAL booking");
    }
    if (ev->n_participants > EVENT_PARTICIPANTS_MAX) {
        snprintf(errstr, n, "participants has %zu entries, more than %d",
                 ev->n_participants, EVENT_PARTICIPANTS_MAX);
        return HW_ERR_INVALID;
    }
    seen = smap_create();
    for (size_t i = 0; i < ev->n_participants && rc == HW_OK; i++) {
        const struct participant *p = &ev->participants[i];

        if (!id_ok(p->user_id, ID_MAX) || !id_ok(p->role, ID_MAX)) {
            rc = invalid(errstr, n, "participants[].user_id/role",
                         "must be 1-256 bytes");
        } else if (smap_get(seen, p->user_id) != NULL) {
            rc = invalid(errstr, n, "participants[].user_id", "is duplicated");
        } else {
            smap_put(seen, p->user_id, (void *)(uintptr_t)p);
        }
    }
    smap_destroy(seen);
    return rc;
}

static enum hw_rc validate_room_options(const struct event *ev, char *errstr,
                                        size_t n)
{
    static const char *const regions[] = {"in", "us", "eu", "auto"};
    bool region_ok = ev->region == NULL;

    for (size_t i = 0; i < HW_ARRAY_LEN(regions) && !region_ok; i++) {
        region_ok = strcmp(ev->region, regions[i]) == 0;
    }
    if (!region_ok) {
        return invalid(errstr, n, "region", "is not one of in, us, eu, auto");
    }
    if (ev->size.set && (ev->size.v < 0 || ev->size.v > ROOM_SIZE_MAX)) {
        return invalid(errstr, n, "size", "is outside 0-2500");
    }
    if (ev->max_duration_seconds.set &&
        (ev->max_duration_seconds.v < ROOM_DURATION_MIN_S ||
         ev->max_duration_seconds.v > ROOM_DURATION_MAX_S)) {
        return invalid(errstr, n, "max_duration_seconds",
                       "is outside 120-43200");
    }
    return HW_OK;
}

static bool time_ok(int64_t t, int64_t now_ms)
{
    return t >= EVENT_TIME_MIN_MS && t - now_ms <= EVENT_TIME_AHEAD_MS;
}

enum hw_rc event_validate(const struct event *ev, int64_t now_ms, char *errstr,
                          size_t n)
{
    if (!id_ok(ev->event_id, EVENT_ID_MAX)) {
        return invalid(errstr, n, "event_id", "must be 1-128 bytes");
    }
    switch (ev->kind) {
    case EVENT_BOOKING_CREATED:
        if (!id_ok(ev->booking_id, ID_MAX)) {
            return invalid(errstr, n, "booking_id", "must be 1-256 bytes");
        }
        if (!time_ok(ev->starts_at, now_ms)) {
            return invalid(errstr, n, "starts_at",
                           "is outside [2000-01-01, now + 5 years] (ms)");
        }
        if (ev->ends_at != EVENT_NO_TIME && !time_ok(ev->ends_at, now_ms)) {
            return invalid(errstr, n, "ends_at",
                           "is outside [2000-01-01, now + 5 years] (ms)");
        }
        if (ev->ends_at != EVENT_NO_TIME && ev->ends_at < ev->starts_at) {
            return invalid(errstr, n, "ends_at", "is before starts_at");
        }
        if (validate_room_options(ev, errstr, n) != HW_OK) {
            return HW_ERR_INVALID;
        }
        return validate_participants(ev, errstr, n);
    case EVENT_STREAM_STARTED:
        if (!id_ok(ev->stream_id, ID_MAX) || !id_ok(ev->host_user_id, ID_MAX) ||
            !id_ok(ev->host_role, ID_MAX)) {
            return invalid(errstr, n, "stream_id/host_user_id/host_role",
                           "must be 1-256 bytes");
        }
        return ev->title == NULL || strlen(ev->title) <= TEXT_MAX
                   ? HW_OK
                   : invalid(errstr, n, "title", "is over 1024 bytes");
    case EVENT_SESSION_ENDED:
        if (!id_ok(ev->subject_id, ID_MAX)) {
            return invalid(errstr, n, "subject_id", "must be 1-256 bytes");
        }
        return ev->reason == NULL || strlen(ev->reason) <= TEXT_MAX
                   ? HW_OK
                   : invalid(errstr, n, "reason", "is over 1024 bytes");
    case EVENT_WEBHOOK: /* checked as it is read (hookev_decode) */
        return HW_OK;
    case EVENT_VIDEO_READY:
    case EVENT_VIDEO_ENDED:
    case EVENT_VIDEO_SESSION:
    case EVENT_KIND_COUNT:
        break;
    }
    return invalid(errstr, n, "record", "is not an input event");
}

void event_clear(struct event *ev)
{
    char **strs[] = {&ev->event_id,  &ev->booking_id,   &ev->template_id,
                     &ev->stream_id, &ev->host_user_id, &ev->host_display_name,
                     &ev->host_role, &ev->title,        &ev->subject_id,
                     &ev->reason,    &ev->causation_id, &ev->room_id,
                     &ev->room_name, &ev->cache_key,    &ev->hls_url,
                     &ev->region,    &ev->session_id,   &ev->user_id,
                     &ev->role,      &ev->url};

    for (size_t i = 0; i < HW_ARRAY_LEN(strs); i++) {
        free(*strs[i]);
    }
    for (size_t i = 0; i < ev->n_participants; i++) {
        free(ev->participants[i].user_id);
        free(ev->participants[i].display_name);
        free(ev->participants[i].role);
    }
    for (size_t i = 0; i < ev->n_codes; i++) {
        free(ev->codes[i].role);
        free(ev->codes[i].code);
        free(ev->codes[i].join_url);
    }
    free(ev->participants);
    free(ev->codes);
    json_decref(ev->hook);
    memset(ev, 0, sizeof(*ev));
}
