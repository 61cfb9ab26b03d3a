/* hms_reply.h -- what hms-worker takes from 100ms replies.
 *
 * DESIGN
 * ------
 * Pure functions over parsed JSON, so the handler trusts nothing it did
 * not check and a fuzzer can reach them directly. A reply is untrusted
 * input: a room id becomes part of URLs and Redis keys, codes part of
 * links, so each value must have the shape 100ms documents, else it is
 * treated as absent. Returned strings are borrowed from the JSON. The
 * same shapes check what the worker reads back from Redis (rules.h).
 */
#ifndef HMS_REPLY_H
#define HMS_REPLY_H

#include <stdbool.h>

#include <jansson.h>

/* The "id" of a room object: [A-Za-z0-9_-]{1,64}, or NULL. */
const char *hms_reply_room_id(const json_t *room);

/* The shapes the readers here keep, for a value of another source: the
 * worker's Redis hash, which frontends share (rules_hash_tampered). A room
 * (or stream) id: [A-Za-z0-9_-]{1,64}; a room code: [a-z0-9-]{1,64}; a
 * role: 1-256 bytes. NULL has none. */
bool hms_reply_is_room_id(const char *s);
bool hms_reply_is_code(const char *s);
bool hms_reply_is_role(const char *s);

/* The enabled codes of a codes reply ({"data": [...]}) whose code is
 * [a-z0-9-]{1,64} and whose role is 1-256 bytes: a new array (caller
 * decrefs), possibly empty. */
json_t *hms_reply_enabled_codes(const json_t *reply);

/* Whether codes (from hms_reply_enabled_codes) include role. */
bool hms_reply_has_role(const json_t *codes, const char *role);

/* Whether an error reply's "message" says the room (or code) is disabled,
 * case-insensitively: the one 403 that is a room's state, not a missing
 * permission (docs/100ms-api.md section 1.5). */
bool hms_reply_says_disabled(const json_t *reply);

/* A live stream's "playback.url" when it is an http(s) URL of at most
 * 2048 bytes, or NULL. */
const char *hms_reply_hls_url(const json_t *stream);

/* A live stream's "id" (the room id's shape), or NULL. */
const char *hms_reply_stream_id(const json_t *stream);

/* A live stream's "status" as 100ms documents it (docs/100ms-api.md
 * section 2.4): starting, running, stopping, post_processing, completed,
 * failed. Anything else is HLS_UNKNOWN: not running, and not worth
 * waiting for. */
enum hms_hls_status {
    HLS_UNKNOWN = 0,
    HLS_STARTING,
    HLS_RUNNING,
    HLS_STOPPED /* stopping, post_processing, completed, failed */
};
enum hms_hls_status hms_reply_stream_status(const json_t *stream);

/* The wait a 429's "message" asks for ("rate limit exceeded, retry after
 * 45 seconds": the only 429 100ms documents carries it in the text, not
 * in Retry-After, docs/100ms-api.md section 3), in seconds; -1 when the
 * text names none. */
long hms_reply_retry_after_s(const json_t *reply);

#endif
