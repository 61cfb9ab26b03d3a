/* metrics.c -- the registry and its text rendering. families[], indexed
 * by enum metric_id, is the one place a metric is described (name, help,
 * type, labels). Each family keeps its series in an array searched by
 * label values under one mutex (tens of series at most); histograms share
 * one set of bounds, 1 ms to 120 s. metrics_render() runs under the same
 * lock, on the admin listener's thread. */
#define LOGMOD "metrics"
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hw.h"

#define MAX_LABELS 3

enum metric_type { T_COUNTER, T_GAUGE, T_HISTOGRAM };

struct family {
    const char *name, *help;
    enum metric_type type;
    const char *labels[MAX_LABELS + 1]; /* NULL-terminated */
};

static const struct family families[M_COUNT] = {
    [M_EVENTS_CONSUMED] = {"hms_worker_events_consumed_total",
                           "Input messages read from Kafka.",
                           T_COUNTER,
                           {"topic", NULL}},
    [M_EVENTS_DONE] = {"hms_worker_events_done_total",
                       "Input messages finished, by outcome (succeeded, "
                       "skipped, duplicate, dlq) and DLQ error class.",
                       T_COUNTER,
                       {"topic", "outcome", "class", NULL}},
    [M_EVENT_SECONDS] = {"hms_worker_event_seconds",
                         "Time from reading an input to storing its offset.",
                         T_HISTOGRAM,
                         {"topic", NULL}},
    [M_HMS_REQUESTS] = {"hms_worker_hms_requests_total",
                        "100ms API attempts by route and HTTP status (0: no "
                        "reply).",
                        T_COUNTER,
                        {"route", "status", NULL}},
    [M_HMS_SECONDS] = {"hms_worker_hms_request_seconds",
                       "100ms API attempt latency by route.",
                       T_HISTOGRAM,
                       {"route", NULL}},
    [M_HMS_RETRIES] = {"hms_worker_hms_retries_total",
                       "100ms API calls scheduled for another attempt.",
                       T_COUNTER,
                       {"route", NULL}},
    [M_HMS_IN_FLIGHT] = {"hms_worker_hms_in_flight",
                         "100ms API transfers running now.",
                         T_GAUGE,
                         {NULL}},
    [M_TOKEN_MINTS] = {"hms_worker_management_token_mints_total",
                       "Management tokens minted (start, expiry, 401, 403).",
                       T_COUNTER,
                       {"reason", NULL}},
    [M_REDIS_SECONDS] = {"hms_worker_redis_seconds",
                         "Redis round trip per batch.",
                         T_HISTOGRAM,
                         {NULL}},
    [M_REDIS_ERRORS] = {"hms_worker_redis_errors_total",
                        "Redis batches that failed (connection, timeout, "
                        "error reply).",
                        T_COUNTER,
                        {NULL}},
    [M_REDIS_CONNECTS] = {"hms_worker_redis_connects_total",
                          "Redis connection attempts: while Redis is down, "
                          "one per backoff step (100 ms doubling to 2 s).",
                          T_COUNTER,
                          {NULL}},
    [M_JOBS] = {"hms_worker_events_in_flight",
                "Input messages held by the worker (back-pressure at 4 x "
                "HMS_MAX_IN_FLIGHT).",
                T_GAUGE,
                {NULL}},
    [M_HELD_BYTES] = {"hms_worker_held_bytes",
                      "Bytes of the input messages held (key and value; "
                      "back-pressure at MAX_HELD_MB).",
                      T_GAUGE,
                      {NULL}},
    [M_PAUSED] = {"hms_worker_paused_partitions",
                  "Assigned partitions paused by back-pressure or a "
                  "dependency being down.",
                  T_GAUGE,
                  {NULL}},
    [M_ASSIGNED] = {"hms_worker_assigned_partitions",
                    "Partitions assigned to this worker.",
                    T_GAUGE,
                    {NULL}},
    [M_CONSUMER_LAG] = {"hms_worker_consumer_lag",
                        "Messages behind the partition end (librdkafka "
                        "statistics).",
                        T_GAUGE,
                        {"topic", "partition", NULL}},
    [M_HLS_FAILURES] = {"hms_worker_hls_start_failures_total",
                        "HLS streams that did not run (start refused, "
                        "failed, or not running within HMS_HLS_WAIT_MS); "
                        "video-ready went out without hls_url.",
                        T_COUNTER,
                        {NULL}},
    [M_JOBS_AT] = {"hms_worker_events_at",
                   "Input messages held by the worker, by where they are: "
                   "held (schema registry down), waiting (behind their "
                   "subject), engine, to_send (produce to retry), "
                   "producing.",
                   T_GAUGE,
                   {"place", NULL}},
    [M_JOBS_STATE] = {"hms_worker_engine_events",
                      "Events in the engine, by the state of their "
                      "handler (load, create_room, codes, ..., mark).",
                      T_GAUGE,
                      {"state", NULL}},
    [M_HALTED] = {"hms_worker_halted",
                  "1 while intake is stopped until a setting is fixed "
                  "(/readyz says which).",
                  T_GAUGE,
                  {NULL}},
    [M_DLQ_DROPPED] = {"hms_worker_dlq_dropped_total",
                       "Messages the broker refused even as a bare dead "
                       "letter: logged and skipped.",
                       T_COUNTER,
                       {"topic", NULL}},
    [M_HLS_SKIPPED] = {"hms_worker_hls_skipped_total",
                       "HLS streams not started because HMS_SUBDOMAIN is "
                       "unset (100ms requires a meeting_url).",
                       T_COUNTER,
                       {NULL}},
    [M_HLS_CLEARED] = {"hms_worker_hls_cleared_total",
                       "Published HLS streams found stopped (alone in the "
                       "room, maximum duration, failure, ended): their "
                       "hls_url removed from Redis if still there.",
                       T_COUNTER,
                       {NULL}},
    [M_CLOCK_SKEW] = {"hms_worker_clock_skew_seconds",
                      "This host's clock minus 100ms's (the Date header of "
                      "the latest reply); above 60 tokens are refused.",
                      T_GAUGE,
                      {NULL}},
    [M_CLOCK_REFUSALS] = {"hms_worker_clock_skew_refusals_total",
                          "401s from 100ms while this host's clock was more "
                          "than the tokens' 60 s back-dating ahead.",
                          T_COUNTER,
                          {NULL}},
    [M_HOOKS_FOREIGN] = {"hms_worker_webhooks_foreign_total",
                         "Webhooks of rooms this worker did not provision "
                         "(no hms:room key): skipped.",
                         T_COUNTER,
                         {NULL}},
    [M_HOOKS_UNTRACKED] = {"hms_worker_webhooks_untracked_peers_total",
                           "Peer webhooks not recorded: the subject keeps "
                           "1000 users, or the peer has no id.",
                           T_COUNTER,
                           {NULL}},
    [M_CLEANUPS] = {"hms_worker_cleanups_total",
                    "Bookings ended (CLEANUP_ON_CLOSE) because their session "
                    "closed after the booking's window.",
                    T_COUNTER,
                    {NULL}},
    [M_WEBHOOKS] = {"hms_worker_webhooks_total",
                    "Webhook requests answered, by outcome: stored (200), "
                    "kafka_failed and kafka_timeout (503), unauthorized "
                    "(401), forbidden (403), malformed (400), too_large "
                    "(413), not_found (404), bad_method (405).",
                    T_COUNTER,
                    {"outcome", NULL}},
    [M_WEBHOOK_SECONDS] = {"hms_worker_webhook_seconds",
                           "Time from a webhook's headers to its 200: the "
                           "body read, checked, produced and confirmed.",
                           T_HISTOGRAM,
                           {NULL}},
    [M_TOKENS_RENEWED] = {"hms_worker_tokens_renewed_total",
                          "App tokens of live sessions minted again before "
                          "they ran out (hms:renew).",
                          T_COUNTER,
                          {NULL}},
    [M_TOKEN_RENEW_FAILURES] = {"hms_worker_token_renew_failures_total",
                                "Token renewal checks that failed (Redis, "
                                "minting): tried again at the next check.",
                                T_COUNTER,
                                {NULL}},
    [M_UP] = {"hms_worker_dependency_up",
              "1 when the dependency is usable (kafka, redis, hms_api).",
              T_GAUGE,
              {"dependency", NULL}},
};

static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                0.05,  0.1,    0.25,  0.5,  1,
                                2.5,   5,      10,    30,   120};
#define N_BOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct series {
    char *values[MAX_LABELS];
    double v, sum;
    uint64_t count, buckets[N_BOUNDS];
};

static struct {
    pthread_mutex_t lock;
    struct series *s[M_COUNT];
    size_t n[M_COUNT];
} reg = {PTHREAD_MUTEX_INITIALIZER, {0}, {0}};

static size_t n_labels(enum metric_id id)
{
    size_t n = 0;

    while (families[id].labels[n] != NULL) {
        n++;
    }
    return n;
}

/* The series of these label values, created if new. Lock held. */
static struct series *series_of(enum metric_id id, va_list ap)
{
    const char *vals[MAX_LABELS];
    size_t nl = n_labels(id);

    for (size_t i = 0; i < nl; i++) {
        vals[i] = va_arg(ap, const char *);
        vals[i] = vals[i] != NULL ? vals[i] : "";
    }
    for (size_t i = 0; i < reg.n[id]; i++) {
        struct series *s = &reg.s[id][i];
        size_t k = 0;

        while (k < nl && strcmp(s->values[k], vals[k]) == 0) {
            k++;
        }
        if (k == nl) {
            return s;
        }
    }
    reg.s[id] = xrealloc(reg.s[id], (reg.n[id] + 1) * sizeof(struct series));
    struct series *s = &reg.s[id][reg.n[id]++];
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < nl; i++) {
        s->values[i] = xstrdup(vals[i]);
    }
    return s;
}

void metrics_add(enum metric_id id, double v, ...)
{
    va_list ap;

    va_start(ap, v);
    pthread_mutex_lock(&reg.lock);
    series_of(id, ap)->v += v;
    pthread_mutex_unlock(&reg.lock);
    va_end(ap);
}

void metrics_set(enum metric_id id, double v, ...)
{
    va_list ap;

    va_start(ap, v);
    pthread_mutex_lock(&reg.lock);
    series_of(id, ap)->v = v;
    pthread_mutex_unlock(&reg.lock);
    va_end(ap);
}

void metrics_observe(enum metric_id id, double v, ...)
{
    va_list ap;
    struct series *s;

    va_start(ap, v);
    pthread_mutex_lock(&reg.lock);
    s = series_of(id, ap);
    for (size_t i = 0; i < N_BOUNDS; i++) {
        s->buckets[i] += v <= bounds[i];
    }
    s->sum += v;
    s->count++;
    pthread_mutex_unlock(&reg.lock);
    va_end(ap);
}

void metrics_clear(enum metric_id id)
{
    pthread_mutex_lock(&reg.lock);
    for (size_t i = 0; i < reg.n[id]; i++) {
        for (size_t k = 0; k < MAX_LABELS; k++) {
            free(reg.s[id][i].values[k]);
        }
    }
    free(reg.s[id]);
    reg.s[id] = NULL;
    reg.n[id] = 0;
    pthread_mutex_unlock(&reg.lock);
}

/* ---- rendering ------------------------------------------------------ */

static void put_escaped(struct buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"') {
            buf_printf(b, "\\%c", *s);
        } else if (*s == '\n') {
            buf_puts(b, "\\n");
        } else {
            buf_append(b, s, 1);
        }
    }
}

/* {a="x",b="y"[,le="..."]}, or nothing without labels. */
static void put_labels(struct buf *b, enum metric_id id, const struct series *s,
                       const char *le)
{
    size_t nl = n_labels(id);

    if (nl == 0 && le == NULL) {
        return;
    }
    buf_puts(b, "{");
    for (size_t i = 0; i < nl; i++) {
        buf_printf(b, "%s%s=\"", i > 0 ? "," : "", families[id].labels[i]);
        put_escaped(b, s->values[i]);
        buf_puts(b, "\"");
    }
    if (le != NULL) {
        buf_printf(b, "%sle=\"%s\"", nl > 0 ? "," : "", le);
    }
    buf_puts(b, "}");
}

static void put_histogram(struct buf *b, enum metric_id id,
                          const struct series *s)
{
    const char *name = families[id].name;

    for (size_t i = 0; i < N_BOUNDS; i++) {
        char le[32];

        snprintf(le, sizeof(le), "%g", bounds[i]);
        buf_printf(b, "%s_bucket", name);
        put_labels(b, id, s, le);
        buf_printf(b, " %llu\n", (unsigned long long)s->buckets[i]);
    }
    buf_printf(b, "%s_bucket", name);
    put_labels(b, id, s, "+Inf");
    buf_printf(b, " %llu\n%s_sum", (unsigned long long)s->count, name);
    put_labels(b, id, s, NULL);
    buf_printf(b, " %.6f\n%s_count", s->sum, name);
    put_labels(b, id, s, NULL);
    buf_printf(b, " %llu\n", (unsigned long long)s->count);
}

char *metrics_render(void)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    struct buf b = {0};

    pthread_mutex_lock(&reg.lock);
    for (int id = 0; id < M_COUNT; id++) {
        const struct family *f = &families[id];

        buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help,
                   f->name, types[f->type]);
        for (size_t i = 0; i < reg.n[id]; i++) {
            const struct series *s = &reg.s[id][i];

            if (f->type == T_HISTOGRAM) {
                put_histogram(&b, (enum metric_id)id, s);
                continue;
            }
            buf_puts(&b, f->name);
            put_labels(&b, (enum metric_id)id, s, NULL);
            buf_printf(&b, " %.17g\n", s->v);
        }
    }
    pthread_mutex_unlock(&reg.lock);
    return buf_take(&b);
}
