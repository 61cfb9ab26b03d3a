/* cache.c -- Redis key schema, pipelined MULTI/EXEC writes. See cache.h. */
#define LOGMOD "cache"
#include "cache.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis.h>

struct cache {
    const struct conf_redis *cf; /* borrowed: the config outlives us */
    struct timeval timeout;
    redisContext *ctx;
    char err[256];
};

/* ---- a batch of commands, sent as one pipeline ---------------------- */

struct cmd {
    int argc;
    char **argv;
    size_t *lens;
};

struct batch {
    struct cmd *cmds;
    size_t n;
};

static void batch_cmd(struct batch *b, const char *name)
{
    b->cmds = xrealloc(b->cmds, (b->n + 1) * sizeof(*b->cmds));
    b->cmds[b->n++] = (struct cmd){0, NULL, NULL};
    if (name != NULL) {
        struct cmd *c = &b->cmds[b->n - 1];

        c->argv = xmalloc(sizeof(char *));
        c->lens = xmalloc(sizeof(size_t));
        c->argv[0] = xstrdup(name);
        c->lens[0] = strlen(name);
        c->argc = 1;
    }
}

/* Appends one argument to the last command; takes ownership of s. */
static void batch_own(struct batch *b, char *s)
{
    struct cmd *c = &b->cmds[b->n - 1];

    c->argv = xrealloc(c->argv, (size_t)(c->argc + 1) * sizeof(char *));
    c->lens = xrealloc(c->lens, (size_t)(c->argc + 1) * sizeof(size_t));
    c->argv[c->argc] = s;
    c->lens[c->argc++] = strlen(s);
}

static void batch_arg(struct batch *b, const char *s)
{
    batch_own(b, xstrdup(s));
}

static void batch_argf(struct batch *b, const char *fmt, ...) HW_PRINTF(2, 3);

static void batch_argf(struct batch *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    batch_own(b, xvasprintf(fmt, ap));
    va_end(ap);
}

static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        for (int a = 0; a < b->cmds[i].argc; a++) {
            free(b->cmds[i].argv[a]);
        }
        free(b->cmds[i].argv);
        free(b->cmds[i].lens);
    }
    free(b->cmds);
    b->cmds = NULL;
    b->n = 0;
}

/* ---- the connection ------------------------------------------------- */

static enum hw_rc drop(struct cache *c, const char *what)
{
    snprintf(c->err, sizeof(c->err), "%s: %s", what,
             c->ctx != NULL && c->ctx->errstr[0] != '\0' ? c->ctx->errstr
                                                         : "no connection");
    redisFree(c->ctx);
    c->ctx = NULL;
    return HW_ERR_UNAVAILABLE;
}

static enum hw_rc login(struct cache *c)
{
    size_t len;
    const char *pw = secret_reveal(&c->cf->password, &len);
    redisReply *r = NULL;
    enum hw_rc rc = HW_OK;

    if (len > 0) {
        r = c->cf->user != NULL
                ? redisCommand(c->ctx, "AUTH %s %b", c->cf->user, pw, len)
                : redisCommand(c->ctx, "AUTH %b", pw, len);
        if (r == NULL) {
            return drop(c, "AUTH");
        }
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(c->err, sizeof(c->err), "AUTH refused");
            rc = HW_ERR_AUTH;
        }
        freeReplyObject(r);
    }
    if (rc == HW_OK && c->cf->db != 0) {
        r = redisCommand(c->ctx, "SELECT %d", c->cf->db);
        if (r == NULL) {
            return drop(c, "SELECT");
        }
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(c->err, sizeof(c->err), "SELECT %d: %s", c->cf->db,
                     r->str);
            rc = HW_ERR_CONFIG;
        }
        freeReplyObject(r);
    }
    if (rc != HW_OK) {
        redisFree(c->ctx);
        c->ctx = NULL;
    }
    return rc;
}

static enum hw_rc connect_lazily(struct cache *c)
{
    if (c->ctx != NULL) {
        return HW_OK;
    }
    c->ctx = redisConnectWithTimeout(c->cf->host, c->cf->port, c->timeout);
    if (c->ctx == NULL || c->ctx->err != 0) {
        return drop(c, "connect");
    }
    if (redisSetTimeout(c->ctx, c->timeout) != REDIS_OK) {
        return drop(c, "set timeout");
    }
    return login(c);
}

struct cache *cache_create(const struct conf_redis *cf, int timeout_ms)
{
    struct cache *c = xcalloc(1, sizeof(*c));

    c->cf = cf;
    c->timeout.tv_sec = timeout_ms / 1000;
    c->timeout.tv_usec = (timeout_ms % 1000) * 1000;
    return c;
}

void cache_destroy(struct cache *c)
{
    if (c != NULL) {
        redisFree(c->ctx);
        free(c);
    }
}

const char *cache_errstr(const struct cache *c)
{
    return c->err;
}

/* Sends the batch in one round trip. *last gets the final reply (the
 * caller frees it) when every reply is free of errors. */
static enum hw_rc run(struct cache *c, struct batch *b, redisReply **last)
{
    enum hw_rc rc = connect_lazily(c);
    redisReply *r = NULL;
    bool failed = false;

    *last = NULL;
    for (size_t i = 0; rc == HW_OK && i < b->n; i++) {
        if (redisAppendCommandArgv(c->ctx, b->cmds[i].argc,
                                   (const char **)(void *)b->cmds[i].argv,
                                   b->cmds[i].lens) != REDIS_OK) {
            rc = drop(c, "append");
        }
    }
    /* Read every reply, even after an error one: the stream stays in step. */
    for (size_t i = 0; rc == HW_OK && i < b->n; i++) {
        if (redisGetReply(c->ctx, (void **)&r) != REDIS_OK || r == NULL) {
            rc = drop(c, b->cmds[i].argv[0]);
            break;
        }
        if (r->type == REDIS_REPLY_ERROR && !failed) {
            snprintf(c->err, sizeof(c->err), "%s: %.200s", b->cmds[i].argv[0],
                     r->str);
            failed = true;
        }
        if (i + 1 == b->n && !failed) {
            *last = r;
        } else {
            freeReplyObject(r);
        }
    }
    batch_free(b);
    return rc == HW_OK && failed ? HW_ERR_UNAVAILABLE : rc;
}

/* EXEC's reply: an array with no error inside. */
static enum hw_rc check_exec(struct cache *c, redisReply *r)
{
    enum hw_rc rc =
        r != NULL && r->type == REDIS_REPLY_ARRAY ? HW_OK : HW_ERR_UNAVAILABLE;

    for (size_t i = 0; rc == HW_OK && i < r->elements; i++) {
        if (r->element[i]->type == REDIS_REPLY_ERROR) {
            snprintf(c->err, sizeof(c->err), "in EXEC: %.200s",
                     r->element[i]->str);
            rc = HW_ERR_UNAVAILABLE;
        }
    }
    freeReplyObject(r);
    return rc;
}

/* ---- keys ----------------------------------------------------------- */

char *cache_key_subject(enum subject_kind kind, const char *id)
{
    return xasprintf("hms:%s:%s", kind == SUBJECT_STREAM ? "stream" : "booking",
                     id);
}

char *cache_key_token(const char *room_id, const char *user_id)
{
    return xasprintf("hms:token:%s:%s", room_id, user_id);
}

char *cache_key_event(const char *event_id)
{
    return xasprintf("hms:event:%s", event_id);
}

/* ---- operations ----------------------------------------------------- */

enum hw_rc cache_get_subject(struct cache *c, enum subject_kind kind,
                             const char *id, json_t **out)
{
    struct batch b = {0};
    redisReply *r = NULL;
    enum hw_rc rc;

    *out = NULL;
    batch_cmd(&b, "HGETALL");
    batch_own(&b, cache_key_subject(kind, id));
    rc = run(c, &b, &r);
    if (rc != HW_OK) {
        return rc;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        freeReplyObject(r);
        snprintf(c->err, sizeof(c->err), "HGETALL: unexpected reply");
        return HW_ERR_UNAVAILABLE;
    }
    if (r->elements > 0) {
        *out = json_object();
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            json_object_set_new(*out, r->element[i]->str,
                                json_stringn_nocheck(r->element[i + 1]->str,
                                                     r->element[i + 1]->len));
        }
    }
    freeReplyObject(r);
    return HW_OK;
}

enum hw_rc cache_exists(struct cache *c, const char *key, bool *exists)
{
    struct batch b = {0};
    redisReply *r = NULL;
    enum hw_rc rc;

    batch_cmd(&b, "EXISTS");
    batch_arg(&b, key);
    rc = run(c, &b, &r);
    if (rc == HW_OK) {
        *exists = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
        freeReplyObject(r);
    }
    return rc;
}

enum hw_rc cache_marker_exists(struct cache *c, const char *event_id,
                               bool *exists)
{
    char *key = cache_key_event(event_id);
    enum hw_rc rc = cache_exists(c, key, exists);

    free(key);
    return rc;
}

enum hw_rc cache_mark_applied(struct cache *c, const char *event_id)
{
    struct batch b = {0};
    redisReply *r = NULL;
    enum hw_rc rc;

    batch_cmd(&b, "SET");
    batch_own(&b, cache_key_event(event_id));
    batch_arg(&b, "1");
    batch_arg(&b, "EX");
    batch_argf(&b, "%d", CACHE_MARKER_TTL_S);
    rc = run(c, &b, &r);
    freeReplyObject(r);
    return rc;
}

enum hw_rc cache_write_ready(struct cache *c, const struct cache_ready *r)
{
    struct batch b = {0};
    redisReply *last = NULL;
    char *key = cache_key_subject(r->kind, r->subject_id);
    enum hw_rc rc;

    batch_cmd(&b, "MULTI");
    batch_cmd(&b, "DEL");
    batch_arg(&b, key);
    batch_cmd(&b, "HSET");
    batch_arg(&b, key);
    batch_arg(&b, "status");
    batch_arg(&b, "ready");
    batch_arg(&b, "room_id");
    batch_arg(&b, r->room_id);
    batch_arg(&b, "room_name");
    batch_arg(&b, r->room_name);
    batch_arg(&b, "event_id");
    batch_arg(&b, r->event_id);
    batch_arg(&b, "updated_at");
    batch_argf(&b, "%lld", (long long)r->now_ms);
    for (size_t i = 0; i < r->n_codes; i++) {
        batch_argf(&b, "code:%s", r->codes[i].role);
        batch_arg(&b, r->codes[i].code);
        if (r->codes[i].join_url != NULL) {
            batch_argf(&b, "link:%s", r->codes[i].role);
            batch_arg(&b, r->codes[i].join_url);
        }
    }
    for (size_t i = 0; i < r->n_tokens; i++) {
        batch_argf(&b, "role:%s", r->tokens[i].user_id);
        batch_arg(&b, r->tokens[i].role);
    }
    if (r->hls_url != NULL) {
        batch_arg(&b, "hls_url");
        batch_arg(&b, r->hls_url);
    }
    batch_cmd(&b, "EXPIREAT");
    batch_arg(&b, key);
    batch_argf(&b, "%lld", (long long)r->expire_at_s);
    for (size_t i = 0; i < r->n_tokens; i++) {
        int64_t ttl = r->tokens[i].exp_s - 60 - r->now_ms / 1000;

        batch_cmd(&b, "SET");
        batch_own(&b, cache_key_token(r->room_id, r->tokens[i].user_id));
        batch_arg(&b, r->tokens[i].jwt);
        batch_arg(&b, "EX");
        batch_argf(&b, "%lld", (long long)(ttl > 0 ? ttl : 1));
    }
    for (size_t i = 0; i < r->n_stale; i++) {
        batch_cmd(&b, "DEL");
        batch_own(&b, cache_key_token(r->room_id, r->stale_users[i]));
    }
    batch_cmd(&b, "EXEC");
    free(key);
    rc = run(c, &b, &last);
    return rc == HW_OK ? check_exec(c, last) : rc;
}

enum hw_rc cache_write_ended(struct cache *c, const struct cache_ended *e)
{
    struct batch b = {0};
    redisReply *last = NULL;
    char *key = cache_key_subject(e->kind, e->subject_id);
    enum hw_rc rc;

    batch_cmd(&b, "MULTI");
    if (e->tombstone) {
        batch_cmd(&b, "DEL");
        batch_arg(&b, key);
    }
    for (size_t i = 0; e->lock && i < e->n_users; i++) {
        batch_cmd(&b, "DEL");
        batch_own(&b, cache_key_token(e->room_id, e->users[i]));
    }
    if (e->lock && e->n_fields > 0) {
        batch_cmd(&b, "HDEL");
        batch_arg(&b, key);
        for (size_t i = 0; i < e->n_fields; i++) {
            batch_arg(&b, e->fields[i]);
        }
    }
    batch_cmd(&b, "HSET");
    batch_arg(&b, key);
    batch_arg(&b, "status");
    batch_arg(&b, "ended");
    batch_arg(&b, "ended_at");
    batch_argf(&b, "%lld", (long long)e->now_ms);
    batch_arg(&b, "event_id");
    batch_arg(&b, e->event_id);
    batch_arg(&b, "updated_at");
    batch_argf(&b, "%lld", (long long)e->now_ms);
    batch_cmd(&b, "EXPIRE");
    batch_arg(&b, key);
    batch_argf(&b, "%lld", (long long)e->ttl_s);
    batch_cmd(&b, "EXEC");
    free(key);
    rc = run(c, &b, &last);
    return rc == HW_OK ? check_exec(c, last) : rc;
}
