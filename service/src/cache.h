/* cache.h -- the Redis key schema of docs/contract.md section 4 (hiredis).
 *
 * DESIGN
 * ------
 * Frontends read these keys directly, so every write for one event is a
 * single MULTI/EXEC, sent as one pipelined round trip: a reader sees the
 * old state or the new one, never a mix. Keys come from one helper per
 * kind. Every write carries a TTL (tokens: their exp - 60 s; markers: 7
 * days), but for CACHE_KEY_RENEW, a set whose members leave on their own
 * (renew.h).
 *
 * One asynchronous hiredis connection, driven by the owner's poll loop
 * (cache_poll_fd, cache_handle, cache_tick): the engine never
 * waits for Redis, and every command queued during one loop turn leaves
 * in one write, so thousands of events share round trips. A batch's
 * callback runs once all its replies are in, with the first failure of
 * the batch. No reply within the timeout, or any connection error: the
 * connection is dropped and the callbacks get HW_ERR_UNAVAILABLE. The
 * next call makes it again, with one backoff for all (100 ms doubling to
 * 2 s while Redis gives no good reply): calls made meanwhile wait for the
 * next attempt and share its outcome, so a down Redis sees one connection
 * attempt (and at most one DNS lookup of its host) per step. See
 * cache_down(). Error replies are classified by their first
 * word (docs/contract.md section 7): READONLY, MASTERDOWN (reconnect),
 * LOADING, BUSY, TRYAGAIN, OOM: HW_ERR_UNAVAILABLE; NOAUTH, WRONGPASS,
 * NOPERM or AUTH refused: HW_ERR_AUTH; MOVED, ASK, CROSSSLOT, CLUSTERDOWN
 * (Redis Cluster) or SELECT refused: HW_ERR_CONFIG; WRONGTYPE:
 * HW_ERR_INVALID (the event's own key); anything else: HW_ERR_REFUSED. A
 * command that fails inside EXEC fails the batch the same way, although
 * Redis applied the others. The synchronous calls (tools, tests) are the
 * same batches run to completion by a private poll loop. Not thread-safe:
 * one struct cache per thread; after cache_destroy() no callback runs.
 */
#ifndef CACHE_H
#define CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "conf.h"
#include "event.h"
#include "hw.h"

#define CACHE_MARKER_TTL_S (7 * 86400)
/* Sorted set: "booking:{id}" / "stream:{id}" -> when (Unix ms) the
 * subject's tokens are next checked, while its session is live (renew.h). */
#define CACHE_KEY_RENEW "hms:renew"

struct cache_token {
    const char *user_id, *role, *jwt;
    int64_t exp_s;
};

/* A ready room: the fields a ready room has are replaced (old_fields go:
 * the previous provisioning's codes, links, roles; what webhooks wrote
 * stays), tokens set, stale ones gone. */
struct cache_ready {
    enum subject_kind kind;
    const char *subject_id, *room_id, *room_name, *event_id, *hls_url;
    const struct room_code *codes; /* join_url: the link, or NULL */
    size_t n_codes;
    const struct cache_token *tokens;
    size_t n_tokens;
    const char *const *stale_users; /* tokens to delete */
    size_t n_stale;
    int64_t now_ms, expire_at_s;
    const char *const *old_fields; /* the hash fields to replace */
    size_t n_old;
    const char *hls_stream_id; /* with hls_url: the stream's id, or NULL */
    bool hls_requested;        /* a stream that wants HLS (hls_requested=1) */
    int64_t ends_at_ms;        /* a booking's ends_at, or 0 */
};

/* An ended subject (its tokens are renewed no more): hls_url goes. lock: tokens
 * and code:/link: fields go too. tombstone: no hash existed; write {status,
 * ended_at, event_id} only. */
struct cache_ended {
    enum subject_kind kind;
    const char *subject_id, *room_id, *event_id;
    bool lock, tombstone;
    const char *const *users; /* token holders, when lock */
    size_t n_users;
    const char *const *fields; /* code:* and link:* fields, when lock */
    size_t n_fields;
    int64_t now_ms, ttl_s;
};

/* Returns a new cache that connects lazily (first call). */
struct cache *cache_create(const struct conf_redis *cf, int timeout_ms);
void cache_destroy(struct cache *c);

/* ---- asynchronous: the engine's calls --------------------------------- */

/* What a batch read. The callback may take hash (set it to NULL). */
struct cache_reply {
    bool exists;  /* cache_load: the applied marker exists */
    json_t *hash; /* cache_load: the subject's hash, NULL when none */
    char *value;  /* cache_resolve_room: the subject, NULL when none */
    json_t *json; /* cache_script: the reply; may be taken as hash */
};
typedef void cache_done_fn(void *arg, enum hw_rc rc, struct cache_reply *r);

/* The fd to poll and its events, or -1 when there is nothing to wait for;
 * after poll(), cache_handle() with the revents. */
int cache_poll_fd(const struct cache *c, short *events);
void cache_handle(struct cache *c, short revents);
/* Writes what is queued now, before the owner waits: a connected socket
 * is almost always writable, so waiting for POLLOUT first would cost a
 * turn of the owner's loop per command (hiredis keeps what the socket
 * does not take, and want_write, for the poll). */
void cache_flush(struct cache *c);
/* Timeouts and calls that could not be sent; returns when it is next due
 * (hw_mono_ms() clock), INT64_MAX when nothing is outstanding. */
int64_t cache_tick(struct cache *c);

/* The applied marker of event_id and the subject's hash, in one trip. */
void cache_load(struct cache *c, const char *event_id, enum subject_kind kind,
                const char *id, cache_done_fn *fn, void *arg);
void cache_mark(struct cache *c, const char *event_id, cache_done_fn *fn,
                void *arg);
/* Redis answers at all (readiness while no event needs it). */
void cache_ping(struct cache *c, cache_done_fn *fn, void *arg);
/* When a write last succeeded (hw_mono_ms(), 0 never): whether Redis
 * takes others' writes while one event's are refused. */
int64_t cache_last_ok(const struct cache *c);
/* The batch is built before they return: r and e may go at once. */
void cache_put_ready(struct cache *c, const struct cache_ready *r,
                     cache_done_fn *fn, void *arg);
void cache_put_ended(struct cache *c, const struct cache_ended *e,
                     cache_done_fn *fn, void *arg);
/* What a webhook changes in its subject's hash (hookev.h): set holds
 * n_set field/value pairs; the message is PUBLISHed on
 * hms:events:{booking|stream}:{id}, in the same MULTI/EXEC, and so is
 * renew: START puts the subject in CACHE_KEY_RENEW, due at now_ms (a
 * session opened), STOP takes it out. The applied marker is not written
 * here: it comes once the webhook's video-session output is delivered
 * (cache_mark), as for every output. */
enum cache_renew { CACHE_RENEW_KEEP = 0, CACHE_RENEW_START, CACHE_RENEW_STOP };
struct cache_hook {
    enum subject_kind kind;
    const char *subject_id, *event_id, *message;
    const char *const *set; /* field, value, field, value... */
    size_t n_set;
    const char *const *del;
    size_t n_del;
    int64_t now_ms;
    enum cache_renew renew;
    /* an hls.* webhook's change, decided in Redis by comparison (these
     * webhooks carry no room name, so they are not ordered with the
     * subject's events): NULL, "start" or "stop" the stream with this id
     * and playback URL, at this time (ms) */
    const char *hls_op, *hls_url, *hls_stream_id;
    int64_t hls_at;
};

/* The subject of a 100ms room ("booking:{id}"), from hms:room:{room_id}. */
void cache_resolve_room(struct cache *c, const char *room_id, cache_done_fn *fn,
                        void *arg);
void cache_put_hook(struct cache *c, const struct cache_hook *h,
                    cache_done_fn *fn, void *arg);

/* Removes the subject's hls_url while it is still url (its stream
 * stopped; hlswatch.h). */
void cache_clear_hls(struct cache *c, enum subject_kind kind, const char *id,
                     const char *url, cache_done_fn *fn, void *arg);

/* Runs a Lua script (EVAL) over keys and args, in one step on the
 * server; r->json is its reply: integers, strings, arrays (nested at most
 * 4 deep), null for nil. For the modules whose Redis work needs a check
 * and a write together (renew.c); their keys come from the helpers below
 * or are documented in docs/contract.md section 4. */
void cache_script(struct cache *c, const char *script, const char *const *keys,
                  size_t n_keys, const char *const *args, size_t n_args,
                  cache_done_fn *fn, void *arg);

/* ---- synchronous: tools and tests -------------------------------------- */

/* The subject's hash as a JSON object (field -> value), or *out = NULL
 * when there is none. */
enum hw_rc cache_get_subject(struct cache *c, enum subject_kind kind,
                             const char *id, json_t **out) HW_MUSTCHECK;

/* Whether key exists (for tools; the worker uses the helpers below). */
enum hw_rc cache_exists(struct cache *c, const char *key,
                        bool *exists) HW_MUSTCHECK;

/* Whether the applied marker of event_id exists. */
enum hw_rc cache_marker_exists(struct cache *c, const char *event_id,
                               bool *exists) HW_MUSTCHECK;
enum hw_rc cache_mark_applied(struct cache *c,
                              const char *event_id) HW_MUSTCHECK;

enum hw_rc cache_write_ready(struct cache *c,
                             const struct cache_ready *r) HW_MUSTCHECK;
enum hw_rc cache_write_hook(struct cache *c,
                            const struct cache_hook *h) HW_MUSTCHECK;
enum hw_rc cache_write_ended(struct cache *c,
                             const struct cache_ended *e) HW_MUSTCHECK;

/* "hms:booking:{id}" / "hms:stream:{id}", "hms:token:{room}:{user}",
 * "hms:event:{id}": malloc'd, caller frees. */
char *cache_key_subject(enum subject_kind kind, const char *id);
char *cache_key_token(const char *room_id, const char *user_id);
char *cache_key_event(const char *event_id);
/* "hms:room:{room_id}" = "booking:{id}" / "stream:{id}": which subject a
 * 100ms room (a webhook's room_id) belongs to. */
char *cache_key_room(const char *room_id);

/* The last error text (for logs), "" when none. */
const char *cache_errstr(const struct cache *c);

/* Whether the connection failed or went and Redis has not answered since:
 * a call made now waits in the cache for the next connection attempt (the
 * backoff), so a caller whose call failed HW_ERR_UNAVAILABLE may call
 * again at once instead of waiting on a timer of its own. False while
 * Redis answers, errors (LOADING, OOM, READONLY) included: then the
 * caller waits. */
bool cache_down(const struct cache *c);

#endif
