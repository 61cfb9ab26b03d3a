/* test_kstats.c -- librdkafka statistics to lag, Kafka readiness and the
 * stuck-partition liveness check; the metrics text they render; /healthz's
 * poll-loop staleness. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "kstats.h"
#include "metrics.h"
#include "testhelp.h"

#define STUCK_MS 60000

/* A statistics document: one broker, the group, one topic with
 * partition 0 (assigned) and the internal -1. */
static char *doc(const char *broker_state, const char *cgrp_state,
                 long long lag, long long committed)
{
    static char buf[1024];

    snprintf(
        buf, sizeof(buf),
        "{\"brokers\":{\"127.0.0.1:9092/1\":{\"nodeid\":1,\"state\":\"%s\"},"
        "\":0/internal\":{\"nodeid\":-1,\"state\":\"INIT\"}},"
        "\"cgrp\":{\"state\":\"%s\"},"
        "\"topics\":{\"booking-created\":{\"partitions\":{"
        "\"0\":{\"desired\":true,\"consumer_lag\":%lld,"
        "\"committed_offset\":%lld},"
        "\"1\":{\"desired\":false,\"consumer_lag\":99,"
        "\"committed_offset\":1},"
        "\"-1\":{\"desired\":false,\"consumer_lag\":-1}}}}}",
        broker_state, cgrp_state, lag, committed);
    return buf;
}

static bool live(int64_t now)
{
    char why[256];

    return health_live(now, why, sizeof(why));
}

static void test_readiness(void)
{
    struct kstats *ks = kstats_create(STUCK_MS);
    char why[256];

    health_set_up(HEALTH_REDIS, true);
    health_set_up(HEALTH_HMS_API, true);
    kstats_update(ks, doc("DOWN", "up", 0, 5), false, 1000);
    CHECK(!health_ready(why, sizeof(why)));
    CHECK_STR(why, "kafka down");
    kstats_update(ks, doc("UP", "init", 0, 5), false, 2000);
    CHECK(!health_ready(why, sizeof(why)));
    kstats_update(ks, doc("UP", "up", 0, 5), false, 3000);
    CHECK(health_ready(why, sizeof(why)));
    health_set_up(HEALTH_REDIS, false);
    health_set_up(HEALTH_HMS_API, false);
    CHECK(!health_ready(why, sizeof(why)));
    CHECK_STR(why, "redis down, hms_api down");
    health_set_up(HEALTH_REDIS, true);
    health_set_up(HEALTH_HMS_API, true);
    kstats_update(ks, "not json", false, 4000); /* ignored, logged */
    CHECK(health_ready(why, sizeof(why)));
    kstats_destroy(ks);
}

static void test_stuck_partition(void)
{
    struct kstats *ks = kstats_create(STUCK_MS);
    int64_t t = 100000;

    health_loop_turned(t);
    kstats_update(ks, doc("UP", "up", 10, 5), false, t);
    CHECK(live(t));
    /* lag, no progress, but paused on purpose: not stuck */
    kstats_update(ks, doc("UP", "up", 10, 5), true, t + 2 * STUCK_MS);
    health_loop_turned(t + 2 * STUCK_MS);
    CHECK(live(t + 2 * STUCK_MS));
    t += 2 * STUCK_MS;
    kstats_update(ks, doc("UP", "up", 10, 5), false, t);
    kstats_update(ks, doc("UP", "up", 10, 5), false, t + STUCK_MS - 1);
    health_loop_turned(t + STUCK_MS - 1);
    CHECK(live(t + STUCK_MS - 1));
    kstats_update(ks, doc("UP", "up", 10, 5), false, t + STUCK_MS);
    health_loop_turned(t + STUCK_MS);
    CHECK(!live(t + STUCK_MS));
    /* progress clears it */
    kstats_update(ks, doc("UP", "up", 10, 6), false, t + STUCK_MS + 1);
    CHECK(live(t + STUCK_MS + 1));
    /* no lag: nothing to do, never stuck */
    kstats_update(ks, doc("UP", "up", 0, 6), false, t + 10 * STUCK_MS);
    health_loop_turned(t + 10 * STUCK_MS);
    CHECK(live(t + 10 * STUCK_MS));
    kstats_destroy(ks);
}

static void test_loop_staleness(void)
{
    health_loop_turned(500000);
    CHECK(live(500000 + HEALTH_LOOP_STALE_MS));
    CHECK(!live(500000 + HEALTH_LOOP_STALE_MS + 1));
}

static void test_render(void)
{
    struct kstats *ks = kstats_create(STUCK_MS);
    char *text;

    kstats_update(ks, doc("UP", "up", 42, 5), false, 1000);
    metrics_add(M_EVENTS_DONE, 1, "booking-created", "dlq", "decode");
    metrics_add(M_EVENTS_DONE, 2, "booking-created", "dlq", "decode");
    metrics_observe(M_HMS_SECONDS, 0.003, "POST /rooms");
    metrics_observe(M_HMS_SECONDS, 7, "POST /rooms");
    metrics_add(M_TOKEN_MINTS, 1, "a\"b\\c\nd");
    text = metrics_render();
    CHECK(strstr(text, "# TYPE hms_worker_consumer_lag gauge\n") != NULL);
    CHECK(strstr(text, "hms_worker_consumer_lag{topic=\"booking-created\","
                       "partition=\"0\"} 42\n") != NULL);
    CHECK(strstr(text, "partition=\"1\"") == NULL); /* not assigned */
    CHECK(strstr(text,
                 "hms_worker_events_done_total{topic=\"booking-"
                 "created\",outcome=\"dlq\",class=\"decode\"} 3\n") != NULL);
    CHECK(strstr(text, "hms_worker_hms_request_seconds_bucket{route=\"POST "
                       "/rooms\",le=\"0.005\"} 1\n") != NULL);
    CHECK(strstr(text, "hms_worker_hms_request_seconds_bucket{route=\"POST "
                       "/rooms\",le=\"+Inf\"} 2\n") != NULL);
    CHECK(strstr(text, "hms_worker_hms_request_seconds_count{route=\"POST "
                       "/rooms\"} 2\n") != NULL);
    CHECK(strstr(text, "reason=\"a\\\"b\\\\c\\nd\"") != NULL);
    CHECK(strstr(text, "hms_worker_dependency_up{dependency=\"kafka\"} 1\n") !=
          NULL);
    free(text);
    kstats_destroy(ks);
}

int main(void)
{
    test_readiness();
    test_stuck_partition();
    test_loop_staleness();
    test_render();
    return TEST_REPORT();
}
