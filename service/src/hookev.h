/* hookev.h -- 100ms webhooks as input events.
 *
 * DESIGN
 * ------
 * The webhook listener stores each webhook's body in TOPIC_WEBHOOKS as
 * 100ms sent it: the envelope {"version", "id", "app_id", "account_id",
 * "template_id", "timestamp", "type", "data": {...}} (docs/100ms-api.md
 * section 4). hookev_decode() checks the parts the worker relies on and
 * keeps the parsed envelope in the event (ev->hook); the readers below
 * take a field of "data" only when it has a safe shape, so nothing from a
 * webhook reaches a Redis key or a log unchecked, as hms_reply.h does for
 * REST replies. The envelope "id" is the event id: the applied marker
 * de-duplicates retries and replays (which keep their id).
 */
#ifndef HOOKEV_H
#define HOOKEV_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "hw.h"

/* The webhook types the worker applies; every other is HOOK_OTHER. */
enum hook_type {
    HOOK_OTHER = 0,
    HOOK_SESSION_OPEN,  /* session.open.success */
    HOOK_SESSION_CLOSE, /* session.close.success */
    HOOK_PEER_JOIN,     /* peer.join.success */
    HOOK_PEER_LEAVE,    /* peer.leave.success */
    HOOK_RECORDING,     /* recording.success: a room's composed recording */
    HOOK_HLS_STARTED,   /* hls.started.success: the stream runs */
    HOOK_HLS_STOPPED,   /* hls.stopped.success */
    HOOK_HLS_FAILURE,   /* hls.failure: the composer could not stream */
    HOOK_BEAM_RECORDING /* beam.recording.success: a browser recording */
};

/* Fills ev (kind EVENT_WEBHOOK, event_id = the envelope's id) from a
 * webhook body: HW_OK, or HW_ERR_DECODE with errstr (not JSON, no string
 * id of 1-128 bytes, no type, no data object, no room_id of the shape of
 * a 100ms id). */
enum hw_rc hookev_decode(const void *buf, size_t len, struct event *ev,
                         char *errstr, size_t errstr_size);

enum hook_type hookev_type(const struct event *ev);
/* The "type" as sent (checked: [a-z._]{1,64}), for logs and metrics. */
const char *hookev_type_name(const struct event *ev);

/* data.field when it is a string of 1-256 bytes without control
 * characters, else NULL. */
const char *hookev_str(const struct event *ev, const char *field);

/* data.field when it is an https:// URL of at most 2048 bytes without
 * spaces or control characters (a presigned URL is long), else NULL. */
const char *hookev_url(const struct event *ev, const char *field);

/* data.field when it is a string of 1-1024 bytes without control
 * characters (a storage path), else NULL. */
const char *hookev_path(const struct event *ev, const char *field);

/* data.field when it is a JSON integer >= 0, else -1. */
int64_t hookev_count(const struct event *ev, const char *field);

/* data.field (NULL: the envelope's "timestamp") as Unix epoch ms when it
 * is an RFC 3339 UTC time (100ms writes "...Z", with or without a
 * fraction), else INT64_MIN. */
int64_t hookev_time_ms(const struct event *ev, const char *field);

/* The ordering key of the webhook's room: its lower-cased room_name, which
 * is the same key the subject's own events have (rules_room_name()), so
 * they run in one order; "room:{room_id}" without a name. Malloc'd. */
char *hookev_order_key(const struct event *ev);

#endif
