/* renew.c -- live sessions' tokens minted again before they run out
 * (renew.h has why and how). One claim at a time; each claimed subject is
 * a struct subj in r->all while its two scripts (read, then the checked
 * write) are on their way. The scripts hold the checks that must happen
 * with the write, on the server, in one step. A hash read back is checked
 * as the handler checks it (rules_hash_tampered): a value the worker did
 * not write mints nothing (a failure: warned, counted, tried again at the
 * next check). */
#define LOGMOD "renew"
#include "renew.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"
#include "log.h"
#include "metrics.h"
#include "rules.h"

struct renew {
    const struct conf *cf;
    struct cache *cache;
    int64_t next_ms; /* mono: the next claim */
    bool claiming;
    struct subj *all; /* checks in flight, for destroy */
};

struct subj {
    struct renew *r;
    char *member; /* "booking:{id}" / "stream:{id}" */
    char *key;    /* its hash */
    struct subj *prev, *next;
};

/* KEYS[1] hms:renew; ARGV: now (Unix ms), now + interval, limit. */
static const char claim_script[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], "
    "'LIMIT', 0, tonumber(ARGV[3])) "
    "for _, m in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], m) end "
    "return due";

/* KEYS[1] the hash; ARGV[1] "hms:token:" (cache_key_token(room, user) is
 * ARGV[1] .. room .. ':' .. user). Returns {HGETALL, {user, PTTL, ...}}. */
static const char read_script[] =
    "local h = redis.call('HGETALL', KEYS[1]) local room local left = {} "
    "for i = 1, #h, 2 do if h[i] == 'room_id' then room = h[i + 1] end end "
    "if room then for i = 1, #h, 2 do "
    "if string.sub(h[i], 1, 5) == 'role:' then "
    "local u = string.sub(h[i], 6) left[#left + 1] = u "
    "left[#left + 1] = redis.call('PTTL', ARGV[1] .. room .. ':' .. u) "
    "end end end return {h, left}";

/* KEYS[1] the hash, KEYS[2] hms:renew, KEYS[3..] token keys; ARGV[1] the
 * member, ARGV[2] room_id, then per token: user, role, margin ms, jwt,
 * EX seconds. Not ready and live: leaves hms:renew, -1. Else sets each
 * token whose user still has that role and whose key is still below its
 * margin; returns how many. */
static const char write_script[] =
    "local h = KEYS[1] "
    "if redis.call('HGET', h, 'status') ~= 'ready' or "
    "redis.call('HGET', h, 'session_status') ~= 'live' then "
    "redis.call('ZREM', KEYS[2], ARGV[1]) return -1 end "
    "if redis.call('HGET', h, 'room_id') ~= ARGV[2] then return 0 end "
    "local n = 0 for i = 3, #KEYS do local a = 3 + (i - 3) * 5 "
    "if redis.call('HGET', h, 'role:' .. ARGV[a]) == ARGV[a + 1] and "
    "redis.call('PTTL', KEYS[i]) < tonumber(ARGV[a + 2]) then "
    "redis.call('SET', KEYS[i], ARGV[a + 3], 'EX', ARGV[a + 4]) n = n + 1 "
    "end end return n";

/* ---- the rules ---------------------------------------------------------- */

int64_t renew_margin_ms(int64_t check_ms, int64_t ttl_s)
{
    int64_t ttl_ms = ttl_s * 1000, m = 2 * check_ms;

    if (ttl_ms / 10 > m) {
        m = ttl_ms / 10;
    }
    return m < ttl_ms / 2 ? m : ttl_ms / 2;
}

bool renew_live(const json_t *hash)
{
    return rules_hash_is(hash, "status", "ready") &&
           rules_hash_is(hash, "session_status", "live") &&
           json_string_value(json_object_get(hash, "room_id")) != NULL;
}

size_t renew_due_users(const struct conf *cf, const json_t *hash,
                       const json_t *left, struct renew_user *out)
{
    const char *field;
    json_t *v;
    size_t n = 0;

    json_object_foreach((json_t *)(uintptr_t)hash, field, v)
    {
        const char *user = field + 5, *role = json_string_value(v);
        json_t *ms = json_object_get(left, user);
        int64_t margin;

        if (strncmp(field, "role:", 5) != 0 || *user == '\0' || role == NULL) {
            continue;
        }
        margin = renew_margin_ms(cf->hms_token_renew_check_ms,
                                 conf_app_token_ttl(cf, role));
        if (!json_is_integer(ms) || json_integer_value(ms) < margin) {
            out[n++] = (struct renew_user){user, role, margin};
        }
    }
    return n;
}

/* ---- one subject: read, mint, write ------------------------------------ */

static void subj_end(struct subj *s)
{
    struct renew *r = s->r;

    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else {
        r->all = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    free(s->member);
    free(s->key);
    free(s);
}

/* Counted and logged; the subject is due again at the next check (the
 * claim moved it there). */
static void fail(struct subj *s, const char *what, const char *err)
{
    metrics_add(M_TOKEN_RENEW_FAILURES, 1);
    log_warn("msg=\"token renewal failed, tried again at the next check\" "
             "subject=%s what=\"%s\" err=\"%s\"",
             s->member, what, err);
    subj_end(s);
}

static void on_written(void *arg, enum hw_rc rc, struct cache_reply *cr)
{
    struct subj *s = arg;
    json_int_t n = json_integer_value(cr->json);

    if (rc != HW_OK || !json_is_integer(cr->json)) {
        fail(s, "write", rc != HW_OK ? cache_errstr(s->r->cache) : "odd reply");
        return;
    }
    if (n > 0) {
        metrics_add(M_TOKENS_RENEWED, (double)n);
        log_info("msg=\"tokens renewed\" subject=%s tokens=%lld", s->member,
                 (long long)n);
    } else if (n < 0) {
        log_info("msg=\"session not live, tokens no longer renewed\" "
                 "subject=%s",
                 s->member);
    }
    subj_end(s);
}

/* The checked write of toks (n of them; none: only the liveness check,
 * which takes a subject that is not live out of hms:renew). */
static void write_tokens(struct subj *s, const char *room_id,
                         const struct renew_user *due, char *const *jwts,
                         size_t n, int64_t now_s)
{
    const char **keys = xcalloc(n + 2, sizeof(char *));
    const char **args = xcalloc(5 * n + 2, sizeof(char *));
    char **own = xcalloc(3 * n + 1, sizeof(char *)); /* to free */
    size_t n_own = 0;

    keys[0] = s->key;
    keys[1] = CACHE_KEY_RENEW;
    args[0] = s->member;
    args[1] = room_id;
    for (size_t i = 0; i < n; i++) {
        int64_t exp = now_s + conf_app_token_ttl(s->r->cf, due[i].role);

        keys[2 + i] = own[n_own++] = cache_key_token(room_id, due[i].user_id);
        args[2 + 5 * i] = due[i].user_id;
        args[3 + 5 * i] = due[i].role;
        args[4 + 5 * i] = own[n_own++] =
            xasprintf("%lld", (long long)due[i].margin_ms);
        args[5 + 5 * i] = jwts[i];
        /* as write_ready: the key lives until exp - 60 s */
        args[6 + 5 * i] = own[n_own++] =
            xasprintf("%lld", (long long)(exp - 60 - now_s));
    }
    cache_script(s->r->cache, write_script, keys, n + 2, args, 5 * n + 2,
                 on_written, s);
    for (size_t i = 0; i < n_own; i++) {
        free(own[i]);
    }
    free(own);
    free(keys);
    free(args);
}

/* Mints the due users' tokens (the claims of write_ready; exp = now + the
 * role's TTL, which conf bounds to 90 days as rules_token_exp caps) and
 * writes them. */
static void renew_due(struct subj *s, const json_t *hash, const json_t *left)
{
    const struct conf *cf = s->r->cf;
    const char *room = json_string_value(json_object_get(hash, "room_id"));
    struct renew_user *due = xcalloc(json_object_size(hash) + 1, sizeof(*due));
    size_t n = renew_due_users(cf, hash, left, due);
    char **jwts = xcalloc(n + 1, sizeof(char *));
    int64_t now_s = hw_now_ms() / 1000;
    enum hw_rc rc = HW_OK;

    for (size_t i = 0; i < n && rc == HW_OK; i++) {
        rc =
            jwt_mint_app(&cf->hms_app_secret, cf->hms_access_key, room,
                         due[i].user_id, due[i].role, now_s,
                         now_s + conf_app_token_ttl(cf, due[i].role), &jwts[i]);
    }
    if (rc != HW_OK) {
        fail(s, "mint", hw_rc_str(rc));
    } else if (n == 0) {
        subj_end(s); /* every token has life enough */
    } else {
        write_tokens(s, room, due, jwts, n, now_s);
    }
    for (size_t i = 0; i < n; i++) {
        jwt_token_free(jwts[i]);
    }
    free(jwts);
    free(due);
}

/* {HGETALL, {user, PTTL...}} as two objects; false when it is not that. */
static bool read_pairs(const json_t *flat, json_t *into)
{
    if (!json_is_array(flat) || json_array_size(flat) % 2 != 0) {
        return false;
    }
    for (size_t i = 0; i + 1 < json_array_size(flat); i += 2) {
        const char *k = json_string_value(json_array_get(flat, i));

        if (k == NULL) {
            return false;
        }
        json_object_set(into, k, json_array_get(flat, i + 1));
    }
    return true;
}

/* Whether the hash holds a value the worker did not write
 * (rules_hash_tampered); if so, s failed. */
static bool tampered(struct subj *s, const json_t *hash)
{
    const char *bad = rules_hash_tampered(hash);
    char f[80], err[160];

    if (bad == NULL) {
        return false;
    }
    snprintf(err, sizeof(err), "a hash value the worker did not write: %s",
             log_safe(f, sizeof(f), bad));
    fail(s, "read", err);
    return true;
}

static void on_read(void *arg, enum hw_rc rc, struct cache_reply *cr)
{
    struct subj *s = arg;
    json_t *hash = json_object(), *left = json_object();

    if (rc != HW_OK) {
        fail(s, "read", cache_errstr(s->r->cache));
    } else if (!read_pairs(json_array_get(cr->json, 0), hash) ||
               !read_pairs(json_array_get(cr->json, 1), left)) {
        fail(s, "read", "odd reply");
    } else if (tampered(s, hash)) {
        /* failed: room_id and role:* would go into tokens and keys */
    } else if (!renew_live(hash)) {
        write_tokens(s, "", NULL, NULL, 0, 0); /* out, if still not live */
    } else {
        renew_due(s, hash, left);
    }
    json_decref(hash);
    json_decref(left);
}

static void check(struct renew *r, const char *member)
{
    struct subj *s;
    const char *args[] = {"hms:token:"};
    enum subject_kind kind;
    const char *id;

    if (!rules_subject_parse(member, &kind, &id)) {
        log_warn("msg=\"not a subject in hms:renew, ignored\"");
        return;
    }
    s = xcalloc(1, sizeof(*s));
    s->r = r;
    s->member = xstrdup(member);
    s->key = cache_key_subject(kind, id);
    s->next = r->all;
    if (r->all != NULL) {
        r->all->prev = s;
    }
    r->all = s;
    cache_script(r->cache, read_script, (const char *const[]){s->key}, 1, args,
                 1, on_read, s);
}

/* ---- the claim ---------------------------------------------------------- */

static void on_claimed(void *arg, enum hw_rc rc, struct cache_reply *cr)
{
    struct renew *r = arg;
    size_t i;
    json_t *m;

    r->claiming = false;
    if (rc != HW_OK || !json_is_array(cr->json)) {
        metrics_add(M_TOKEN_RENEW_FAILURES, 1);
        log_warn("msg=\"cannot claim the subjects whose tokens are due\" "
                 "err=\"%s\"",
                 rc != HW_OK ? cache_errstr(r->cache) : "odd reply");
        return;
    }
    json_array_foreach(cr->json, i, m)
    {
        if (json_is_string(m)) {
            check(r, json_string_value(m));
        }
    }
    if (json_array_size(cr->json) >= RENEW_BATCH) {
        r->next_ms = hw_mono_ms(); /* more are due: at once */
    }
}

struct renew *renew_create(const struct conf *cf, struct cache *cache)
{
    struct renew *r = xcalloc(1, sizeof(*r));

    r->cf = cf;
    r->cache = cache;
    return r;
}

void renew_destroy(struct renew *r)
{
    if (r == NULL) {
        return;
    }
    while (r->all != NULL) {
        subj_end(r->all);
    }
    free(r);
}

int64_t renew_tick(struct renew *r)
{
    int64_t now = hw_mono_ms(), wall = hw_now_ms();
    char *args[3];

    if (r->claiming || now < r->next_ms) {
        return r->claiming ? INT64_MAX : r->next_ms;
    }
    r->claiming = true;
    r->next_ms = now + r->cf->hms_token_renew_check_ms;
    args[0] = xasprintf("%lld", (long long)wall);
    args[1] =
        xasprintf("%lld", (long long)(wall + r->cf->hms_token_renew_check_ms));
    args[2] = xasprintf("%d", RENEW_BATCH);
    cache_script(r->cache, claim_script, (const char *const[]){CACHE_KEY_RENEW},
                 1, (const char *const *)args, 3, on_claimed, r);
    for (size_t i = 0; i < 3; i++) {
        free(args[i]);
    }
    return r->next_ms;
}
