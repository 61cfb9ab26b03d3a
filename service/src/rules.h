/* rules.h -- the contract's rules that need no I/O (docs/contract.md
 * sections 3 to 5): a subject's room name, when a token and a hash
 * expire, who holds a token, whose tokens go when a booking changes,
 * which role a template lacks, which room options a create sends, whether
 * what the worker reads back from Redis has the shapes it writes.
 *
 * DESIGN
 * ------
 * Pure functions of an event, the configuration and replies already
 * checked by hms_reply.h, so the handler's state machine (handler.c)
 * holds only the order of things and the rules are table-tested
 * (tests/unit/test_rules.c). Any thread.
 */
#ifndef RULES_H
#define RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "conf.h"
#include "event.h"

/* "bk-<id>" / "ls-<id>" when id matches ^[a-z0-9._:-]{1,64}$ and does
 * not start with "x-", else "bk-x-" / "ls-x-" and the first 16 bytes of
 * SHA-256(id) in hex: distinct ids never share a room, though 100ms
 * compares names case-insensitively. malloc'd. */
char *rules_room_name(enum subject_kind kind, const char *id);

/* The exp (Unix s) of an app token for role, minted at now_s: a booking's
 * tokens must still work when it happens, never longer than 90 days. */
int64_t rules_token_exp(const struct conf *cf, const struct event *ev,
                        const char *role, int64_t now_s);

/* When the subject's hash expires (Unix s). */
int64_t rules_hash_expiry(const struct conf *cf, const struct event *ev,
                          int64_t now_s);

/* The participants that get a token: everyone, or a stream's host (built
 * in *host, which *list then points to). Returns how many. */
size_t rules_holders(const struct event *in, struct participant *host,
                     const struct participant **list);

/* The first field of a subject's hash, read back from Redis, whose value
 * lacks the shape the worker writes there, or NULL when all have it:
 * room_id a room id, code:{role} a room code, role:{user} a role, each
 * role and user 1-256 bytes (hms_reply.h; event.h's ids), no NUL inside.
 * Frontends share that Redis, and these values go into 100ms paths and
 * bodies sent with the management token, into app tokens and into keys;
 * the caller reacts to a tampered hash (docs/contract.md section 7). The
 * name is borrowed from hash. */
const char *rules_hash_tampered(const json_t *hash);

/* "booking:{id}" / "stream:{id}" with an id of 1-256 bytes (what
 * hms:room:* and hms:renew hold): its kind and id (borrowed from s), and
 * true; else false. */
bool rules_subject_parse(const char *s, enum subject_kind *kind,
                         const char **id);

/* Whether the subject's hash (field -> value) has field set to value. */
bool rules_hash_is(const json_t *hash, const char *field, const char *value);

/* The users holding a token in hash (role:<user> fields) for room_id who
 * are not among ps: their tokens go. *out is a malloc'd array of
 * strings borrowed from hash; none when hash is another room's. */
size_t rules_stale_users(const json_t *hash, const char *room_id,
                         const struct participant *ps, size_t n,
                         const char ***out);

/* A role of in (a participant's, or a stream's host) that codes (from
 * hms_reply_enabled_codes) lack, or NULL when the template has them all. */
const char *rules_missing_role(const struct event *in, const json_t *codes);

/* Adds to body (a POST /rooms body) the room options in sets: region,
 * size, max_duration_seconds, each only when set (validated already:
 * event_validate). Unset, 100ms keeps its own default. */
void rules_room_options(const struct event *in, json_t *body);

#endif
