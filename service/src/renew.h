/* renew.h -- tokens that follow the room: while a subject's session is
 * live, the app tokens of its listed users are minted again before they
 * run out (docs/contract.md section 5).
 *
 * DESIGN
 * ------
 * A token's key lives until its exp - 60 s, so a stream that runs for days
 * would lose its tokens mid-stream. What is due lives in Redis, not here:
 * the sorted set hms:renew (CACHE_KEY_RENEW) holds "booking:{id}" /
 * "stream:{id}" scored by when (Unix ms) it is next checked. The handler
 * puts a subject in when session.open.success makes it live and takes it
 * out on session.close.success and when the subject ends, in the same
 * MULTI/EXEC as the hash. So a restarted worker goes on where the last one
 * stopped, and replicas share the work.
 *
 * Every HMS_TOKEN_RENEW_CHECK_MS one script claims up to RENEW_BATCH due
 * subjects, moving each to now + the interval (another replica does not
 * take it meanwhile; a check that fails is simply tried at that time).
 * Per subject one script reads the hash and how long each listed user's
 * token key has left (PTTL); the tokens below the margin (renew_margin_ms)
 * or gone are minted as write_ready mints them (same claims, exp = now +
 * the role's TTL) and written by one more script, which first checks that
 * the hash is still ready and live, each user still listed with that role
 * and each token still below its margin: a subject that ended, was locked
 * (its role:* fields and tokens gone) or got fresher tokens meanwhile
 * gets nothing. A subject that is not live any more leaves hms:renew --
 * in that same checking script, so a session that opened again stays.
 * Failures (Redis, minting) are warnings and counted; never fatal.
 *
 * The engine's thread only (its struct cache); renew_tick() from its turn.
 */
#ifndef RENEW_H
#define RENEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cache.h"
#include "conf.h"

#define RENEW_BATCH 100 /* subjects claimed per script */

struct renew *renew_create(const struct conf *cf, struct cache *cache);
/* Frees the checks in flight: call after cache_destroy() (no callback
 * runs after that). */
void renew_destroy(struct renew *r);

/* Claims the due subjects when it is time; the next due time
 * (hw_mono_ms() clock). */
int64_t renew_tick(struct renew *r);

/* ---- the rules (pure; tests/unit/test_renew.c) ------------------------ */

/* How much life (ms) a token's key may have left before it is minted
 * again: the larger of two checks and 10 % of the role's TTL, at most
 * half the TTL (a fresh token, TTL - 60 s >= 240 s, is never due). */
int64_t renew_margin_ms(int64_t check_ms, int64_t ttl_s);

/* Whether hash (field -> string) is a ready subject with a live session. */
bool renew_live(const json_t *hash);

struct renew_user {
    const char *user_id, *role; /* borrowed from the hash */
    int64_t margin_ms;
};

/* The listed users (role:{user} fields of hash) whose token is due: its
 * key's life in left (user -> ms, PTTL: negative when the key is gone or
 * missing from left) is below the role's margin. out holds room for
 * json_object_size(hash) users; returns how many. */
size_t renew_due_users(const struct conf *cf, const json_t *hash,
                       const json_t *left, struct renew_user *out);

#endif
