/* kstats.c -- lag, Kafka readiness and stuck partitions, from the
 * statistics JSON librdkafka hands the consumer thread every 5 s (inside
 * its poll). One struct progress per partition ever seen keeps the
 * committed offset and since when it has not moved. The results go to
 * process-wide state only: the lag gauges (cleared and rebuilt each time,
 * so revoked partitions vanish), health's Kafka flag and stuck text. */
#define LOGMOD "kstats"
#include "kstats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "health.h"
#include "hw.h"
#include "log.h"
#include "metrics.h"

/* Per partition: the committed offset and since when it has not moved
 * while there was lag and no pause. */
struct progress {
    char *topic;
    int partition;
    long long committed;
    int64_t since; /* 0: progressing */
    bool seen;     /* in the latest document */
};

struct kstats {
    int64_t stuck_ms;
    struct progress *p;
    size_t n;
};

struct kstats *kstats_create(int64_t stuck_ms)
{
    struct kstats *ks = xcalloc(1, sizeof(*ks));

    ks->stuck_ms = stuck_ms;
    return ks;
}

void kstats_destroy(struct kstats *ks)
{
    if (ks == NULL) {
        return;
    }
    for (size_t i = 0; i < ks->n; i++) {
        free(ks->p[i].topic);
    }
    free(ks->p);
    free(ks);
}

static struct progress *progress_of(struct kstats *ks, const char *topic,
                                    int partition)
{
    for (size_t i = 0; i < ks->n; i++) {
        if (ks->p[i].partition == partition &&
            strcmp(ks->p[i].topic, topic) == 0) {
            return &ks->p[i];
        }
    }
    ks->p = xrealloc(ks->p, (ks->n + 1) * sizeof(*ks->p));
    ks->p[ks->n] = (struct progress){xstrdup(topic), partition, -1, 0, false};
    return &ks->p[ks->n++];
}

static bool kafka_usable(const json_t *root)
{
    const char *name;
    const json_t *b;
    const char *cgrp = json_string_value(
        json_object_get(json_object_get(root, "cgrp"), "state"));
    bool broker_up = false;

    json_object_foreach((json_t *)(uintptr_t)json_object_get(root, "brokers"),
                        name, b)
    {
        const char *state = json_string_value(json_object_get(b, "state"));

        if (json_integer_value(json_object_get(b, "nodeid")) >= 0 &&
            state != NULL && strcmp(state, "UP") == 0) {
            broker_up = true;
        }
    }
    return broker_up && cgrp != NULL && strcmp(cgrp, "up") == 0;
}

/* One assigned partition: lag metric and the stuck check. Returns true
 * when it is stuck (what says which). */
static bool partition(struct kstats *ks, const char *topic, const char *id,
                      const json_t *p, bool paused, int64_t now, char *what,
                      size_t n)
{
    long long lag = json_integer_value(json_object_get(p, "consumer_lag"));
    long long committed =
        json_integer_value(json_object_get(p, "committed_offset"));
    struct progress *pr = progress_of(ks, topic, (int)strtol(id, NULL, 10));

    pr->seen = true;
    metrics_set(M_CONSUMER_LAG, (double)(lag > 0 ? lag : 0), topic, id);
    if (paused || lag <= 0 || committed != pr->committed) {
        pr->committed = committed;
        pr->since = 0;
        return false;
    }
    if (pr->since == 0) {
        pr->since = now;
    }
    if (now - pr->since < ks->stuck_ms) {
        return false;
    }
    snprintf(what, n, "%s[%s] has lag %lld and committed nothing for %lld s",
             topic, id, lag, (long long)((now - pr->since) / 1000));
    return true;
}

void kstats_update(struct kstats *ks, const char *json, bool paused,
                   int64_t now_ms)
{
    json_t *root = json_loads(json, 0, NULL);
    const char *topic, *id;
    const json_t *t, *p;
    char what[256] = "";
    bool stuck = false;

    if (root == NULL) {
        log_warn("msg=\"unreadable librdkafka statistics\"");
        return;
    }
    health_set_up(HEALTH_KAFKA, kafka_usable(root));
    for (size_t i = 0; i < ks->n; i++) {
        ks->p[i].seen = false;
    }
    metrics_clear(M_CONSUMER_LAG); /* revoked partitions disappear */
    json_object_foreach(json_object_get(root, "topics"), topic, t)
    {
        json_object_foreach(json_object_get(t, "partitions"), id, p)
        {
            if (strtol(id, NULL, 10) >= 0 &&
                json_is_true(json_object_get(p, "desired")) &&
                partition(ks, topic, id, p, paused, now_ms, what,
                          sizeof(what))) {
                stuck = true;
            }
        }
    }
    for (size_t i = 0; i < ks->n; i++) {
        if (!ks->p[i].seen) {
            ks->p[i].since = 0; /* not ours now */
        }
    }
    health_set_stuck(stuck ? what : NULL);
    json_decref(root);
}
