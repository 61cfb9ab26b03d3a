/* cache_stubs.c -- cache.h as the handler uses it, recording batches for
 * the test to answer. See stubs.h. */
#include <stdio.h>
#include <string.h>

#include "stubs.h"

struct stub_op stub_ops[STUB_MAX];
size_t stub_n_ops;
int64_t stub_last_ok;
bool stub_cache_down;

static struct stub_op *record(enum stub_op_kind kind, cache_done_fn *fn,
                              void *arg)
{
    struct stub_op *o = &stub_ops[stub_n_ops++ % STUB_MAX];

    memset(o, 0, sizeof(*o));
    o->kind = kind;
    o->fn = fn;
    o->arg = arg;
    return o;
}

void cache_load(struct cache *c, const char *event_id, enum subject_kind kind,
                const char *id, cache_done_fn *fn, void *arg)
{
    (void)c;
    (void)event_id;
    (void)kind;
    (void)id;
    record(OP_LOAD, fn, arg);
}

void cache_mark(struct cache *c, const char *event_id, cache_done_fn *fn,
                void *arg)
{
    (void)c;
    (void)event_id;
    record(OP_MARK, fn, arg);
}

void cache_put_ready(struct cache *c, const struct cache_ready *r,
                     cache_done_fn *fn, void *arg)
{
    struct stub_op *o = record(OP_READY, fn, arg);

    (void)c;
    snprintf(o->room_id, sizeof(o->room_id), "%s", r->room_id);
    snprintf(o->url, sizeof(o->url), "%s",
             r->hls_url != NULL ? r->hls_url : "");
    o->n_tokens = r->n_tokens;
    o->n_stale = r->n_stale;
    o->expire_at_s = r->expire_at_s;
}

void cache_put_ended(struct cache *c, const struct cache_ended *e,
                     cache_done_fn *fn, void *arg)
{
    struct stub_op *o = record(OP_ENDED, fn, arg);

    (void)c;
    snprintf(o->room_id, sizeof(o->room_id), "%s",
             e->room_id != NULL ? e->room_id : "");
    o->n_users = e->n_users;
    o->n_fields = e->n_fields;
    o->lock = e->lock;
    o->tombstone = e->tombstone;
}

void cache_resolve_room(struct cache *c, const char *room_id, cache_done_fn *fn,
                        void *arg)
{
    struct stub_op *o = record(OP_RESOLVE, fn, arg);

    (void)c;
    snprintf(o->room_id, sizeof(o->room_id), "%s", room_id);
}

void cache_put_hook(struct cache *c, const struct cache_hook *h,
                    cache_done_fn *fn, void *arg)
{
    struct stub_op *o = record(OP_HOOK, fn, arg);
    size_t at = 0;

    (void)c;
    for (size_t i = 0; i < h->n_set && at < sizeof(o->fields); i++) {
        at += (size_t)snprintf(o->fields + at, sizeof(o->fields) - at, "%s=%s;",
                               h->set[2 * i], h->set[2 * i + 1]);
    }
    at = 0;
    for (size_t i = 0; i < h->n_del && at < sizeof(o->dels); i++) {
        at += (size_t)snprintf(o->dels + at, sizeof(o->dels) - at, "%s;",
                               h->del[i]);
    }
    snprintf(o->url, sizeof(o->url), "%s", h->message);
    o->renew = h->renew;
    if (h->hls_op != NULL) {
        snprintf(o->hls, sizeof(o->hls), "%s %s %s %lld", h->hls_op,
                 h->hls_stream_id, h->hls_url != NULL ? h->hls_url : "-",
                 (long long)h->hls_at);
    }
    snprintf(o->room_id, sizeof(o->room_id), "%s:%s",
             h->kind == SUBJECT_STREAM ? "stream" : "booking", h->subject_id);
}

void cache_clear_hls(struct cache *c, enum subject_kind kind, const char *id,
                     const char *url, cache_done_fn *fn, void *arg)
{
    struct stub_op *o = record(OP_CLEAR_HLS, fn, arg);

    (void)c;
    (void)kind;
    (void)id;
    snprintf(o->url, sizeof(o->url), "%s", url);
}

const char *cache_errstr(const struct cache *c)
{
    (void)c;
    return "stub error";
}

int64_t cache_last_ok(const struct cache *c)
{
    (void)c;
    return stub_last_ok;
}

bool cache_down(const struct cache *c)
{
    (void)c;
    return stub_cache_down;
}

char *cache_key_subject(enum subject_kind kind, const char *id)
{
    return xasprintf("hms:%s:%s", kind == SUBJECT_STREAM ? "stream" : "booking",
                     id);
}

char *cache_key_room(const char *room_id)
{
    return xasprintf("hms:room:%s", room_id);
}

void stub_redis_answer(size_t i, enum hw_rc rc, bool exists, const char *hash)
{
    struct stub_op *o = &stub_ops[i % STUB_MAX];
    struct cache_reply r = {exists, NULL, NULL, NULL};

    if (o->kind == OP_RESOLVE) {
        r.value = hash != NULL ? xstrdup(hash) : NULL;
    } else if (hash != NULL) {
        r.hash = json_loads(hash, 0, NULL);
    }
    o->answered = true;
    o->fn(o->arg, rc, &r);
    json_decref(r.hash); /* NULL when the callback took it */
    free(r.value);
}

void stubs_reset(void)
{
    for (size_t i = 0; i < STUB_MAX; i++) {
        json_decref(stub_calls[i].body);
    }
    memset(stub_calls, 0, sizeof(stub_calls));
    memset(stub_ops, 0, sizeof(stub_ops));
    stub_n_calls = stub_n_ops = 0;
    stub_last_answer = stub_last_ok = stub_clock_ahead_s = 0;
    stub_cache_down = false;
}
