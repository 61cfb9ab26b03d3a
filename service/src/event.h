/* event.h -- the events hms-worker consumes and produces, as C values.
 *
 * DESIGN
 * ------
 * One flat struct for all six record types (docs/contract.md section 2): the
 * codec fills the fields its record has and leaves the others zero/NULL.
 * Nullable longs use EVENT_NO_TIME, nullable ints a struct event_opt_int
 * (zeroed: null, so an event built by hand sends no room option). Every
 * string is owned by the event; event_clear() frees them all.
 * event_validate() applies the contract's validation rules (class
 * `validation`) to a decoded input event.
 */
#ifndef EVENT_H
#define EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hw.h"

#define EVENT_NO_TIME INT64_MIN

/* The accepted range of starts_at and ends_at (docs/contract.md section
 * 2): from 2000-01-01T00:00:00Z to five years after the event is read.
 * Outside it a time is a producer's bug (seconds for milliseconds, a
 * "never" such as Long.MAX_VALUE) and the event is invalid; inside it no
 * expiry computed from a time can overflow. */
#define EVENT_TIME_MIN_MS 946684800000LL
#define EVENT_TIME_AHEAD_MS (5LL * 365 * 86400 * 1000)

/* At most this many participants in a booking (docs/contract.md section
 * 2): each is a token minted and a Redis field written on the engine
 * thread, and the duplicate check runs on the consumer thread; more is
 * invalid (dead-letter validation), never a slow event. */
#define EVENT_PARTICIPANTS_MAX 1000

enum event_kind {
    EVENT_BOOKING_CREATED = 0,
    EVENT_STREAM_STARTED,
    EVENT_SESSION_ENDED,
    EVENT_VIDEO_READY,
    EVENT_VIDEO_ENDED,
    EVENT_VIDEO_SESSION, /* what 100ms reported, as the worker applied it */
    EVENT_WEBHOOK,       /* a 100ms webhook, JSON (hookev.h), not Avro */
    EVENT_KIND_COUNT
};
#define EVENT_AVRO_COUNT EVENT_WEBHOOK /* the kinds with an Avro record */

enum subject_kind { SUBJECT_BOOKING = 0, SUBJECT_STREAM };

/* VideoSession.type, in the schema's symbol order (VS_: the record). */
enum session_type {
    VS_SESSION_STARTED = 0,
    VS_SESSION_ENDED,
    VS_PEER_JOINED,
    VS_PEER_LEFT,
    VS_HLS_STARTED,
    VS_HLS_STOPPED,
    VS_HLS_FAILED,
    VS_RECORDING_READY,
    VS_TYPE_COUNT
};

/* An Avro ["null", "int"]: set false is null. */
struct event_opt_int {
    bool set;
    int32_t v;
};

struct participant {
    char *user_id, *display_name, *role;
};

struct room_code {
    char *role, *code, *join_url;
};

struct event {
    enum event_kind kind;
    char *event_id;
    int64_t occurred_at;
    /* BookingCreated */
    char *booking_id;
    bool physical; /* mode PHYSICAL */
    int64_t starts_at, ends_at;
    char *template_id; /* also StreamStarted */
    struct participant *participants;
    /* Webhook: the envelope as 100ms sent it (hookev.h reads it) */
    json_t *hook;
    size_t n_participants;
    /* room options (BookingCreated v3), sent to POST /rooms only when set
     * (docs/contract.md section 3): NULL / !set is not sent */
    char *region;
    struct event_opt_int size, max_duration_seconds;
    /* StreamStarted */
    char *stream_id, *host_user_id, *host_display_name, *host_role, *title;
    bool hls;
    /* SessionEnded, VideoReady, VideoEnded, VideoSession */
    enum subject_kind subject_kind;
    char *subject_id, *reason;
    bool lock;
    /* VideoReady, VideoEnded, VideoSession */
    char *causation_id, *room_id, *room_name, *cache_key, *hls_url;
    struct room_code *codes;
    size_t n_codes;
    int64_t expires_at;
    /* VideoSession: nullable longs are EVENT_NO_TIME when null */
    enum session_type session_type;
    char *session_id, *user_id, *role, *url;
    int64_t at, duration_s;
};

/* The record name of a kind, e.g. "BookingCreated". Static. */
const char *event_kind_name(enum event_kind kind);

/* The VideoSessionType symbol of t, e.g. "PEER_JOINED"; NULL out of
 * range. Static. */
const char *event_session_type_name(enum session_type t);

/* The subject an input event concerns: booking or stream (for
 * session-ended, its subject_kind), and its id. */
enum subject_kind event_subject_kind(const struct event *ev);
const char *event_subject_id(const struct event *ev);

/* Contract section 2 validation of an input event read at now_ms (Unix
 * ms); HW_ERR_INVALID with the reason (no payload bytes beyond field
 * names) in errstr. Role membership in the template is checked later,
 * once codes are known. */
enum hw_rc event_validate(const struct event *ev, int64_t now_ms, char *errstr,
                          size_t errstr_size) HW_MUSTCHECK;

void event_clear(struct event *ev);

#endif
