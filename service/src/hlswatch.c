/* hlswatch.c -- the streams whose hls_url the handler published, read back
 * until they stop (hlswatch.h has why). A watch is in the heap while it
 * waits for its next check, and out of it while a check (the GET, then
 * perhaps the Redis script) is on its way; w->all holds every watch, for
 * destroy. A check that fails (100ms or Redis not answering) is tried
 * again at the next interval: a watch ends only when the stream is known
 * to be over and the URL is gone. */
#define LOGMOD "hlswatch"
#include "hlswatch.h"

#include <stdio.h>
#include <stdlib.h>

#include "heap.h"
#include "hms_reply.h"
#include "log.h"
#include "metrics.h"

struct watch {
    struct hlswatch *w;
    enum subject_kind kind;
    char *subject_id, *stream_id, *url;
    struct watch *prev, *next; /* w->all */
};

struct hlswatch {
    const struct conf *cf;
    struct hms_client *hc;
    struct cache *cache;
    struct heap due; /* next check -> struct watch */
    struct watch *all;
};

struct hlswatch *hlswatch_create(const struct conf *cf, struct hms_client *hc,
                                 struct cache *cache)
{
    struct hlswatch *w = xcalloc(1, sizeof(*w));

    w->cf = cf;
    w->hc = hc;
    w->cache = cache;
    return w;
}

static void watch_free(struct watch *x)
{
    free(x->subject_id);
    free(x->stream_id);
    free(x->url);
    free(x);
}

void hlswatch_destroy(struct hlswatch *w)
{
    if (w == NULL) {
        return;
    }
    while (w->all != NULL) {
        struct watch *x = w->all;

        w->all = x->next;
        watch_free(x);
    }
    heap_deinit(&w->due);
    free(w);
}

static void later(struct watch *x)
{
    heap_push(&x->w->due, hw_mono_ms() + x->w->cf->hms_hls_check_ms, x);
}

void hlswatch_add(struct hlswatch *w, enum subject_kind kind,
                  const char *subject_id, const char *stream_id,
                  const char *url)
{
    struct watch *x = xcalloc(1, sizeof(*x));

    x->w = w;
    x->kind = kind;
    x->subject_id = xstrdup(subject_id);
    x->stream_id = xstrdup(stream_id);
    x->url = xstrdup(url);
    x->next = w->all;
    if (w->all != NULL) {
        w->all->prev = x;
    }
    w->all = x;
    later(x);
}

static void watch_end(struct watch *x)
{
    struct hlswatch *w = x->w;

    if (x->prev != NULL) {
        x->prev->next = x->next;
    } else {
        w->all = x->next;
    }
    if (x->next != NULL) {
        x->next->prev = x->prev;
    }
    watch_free(x);
}

static void on_cleared(void *arg, enum hw_rc rc, struct cache_reply *r)
{
    struct watch *x = arg;

    (void)r;
    if (rc != HW_OK) { /* Redis is down or refusing: try again later */
        later(x);
        return;
    }
    metrics_add(M_HLS_CLEARED, 1);
    log_info("msg=\"HLS stream stopped, hls_url removed\" subject=%s:%s "
             "stream_id=%s",
             x->kind == SUBJECT_STREAM ? "stream" : "booking", x->subject_id,
             x->stream_id);
    watch_end(x);
}

static void on_stream(void *arg, const struct hms_result *r)
{
    struct watch *x = arg;

    /* over: any status but starting or running (documented: stopping,
     * post_processing, completed, failed), or a stream 100ms no longer
     * knows; anything else says nothing and is asked again later */
    if ((r->rc == HW_OK && hms_reply_stream_status(r->body) != HLS_RUNNING &&
         hms_reply_stream_status(r->body) != HLS_STARTING) ||
        r->rc == HW_ERR_NOT_FOUND) {
        cache_clear_hls(x->w->cache, x->kind, x->subject_id, x->url, on_cleared,
                        x);
    } else {
        later(x);
    }
}

int64_t hlswatch_tick(struct hlswatch *w)
{
    int64_t now = hw_mono_ms();

    while (heap_next_due(&w->due) <= now) {
        struct watch *x = heap_pop(&w->due).item;
        char path[128];

        snprintf(path, sizeof(path), "/live-streams/%s", x->stream_id);
        hms_client_call(w->hc, "GET", path, NULL, now,
                        now + w->cf->hms_timeout_ms, on_stream, x);
    }
    return heap_next_due(&w->due);
}
