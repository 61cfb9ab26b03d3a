/* test_worker_assign.c -- review B15: an assignment librdkafka refuses is
 * a halt with the reason on /readyz and the same assignment made again
 * after HALT_RETRY_MS, not a log line and partitions nobody consumes.
 * rd_kafka_assign is wrapped at link time (-Wl,--wrap, Makefile: this
 * binary only): the first assignment is refused, the retry goes through
 * and stops the worker. A real worker against the local stack (its
 * KAFKA_BROKERS, REDIS_URL, HMS_*), consuming IT_TOPIC in a group of its
 * own; SIGALRM ends a worker that never retries. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "health.h"
#include "hw.h"
#include "testhelp.h"
#include "worker.h"

#define HALT_RETRY_MS 1000

extern char **environ;

/* The linker's --wrap names: worker.c's calls land here. */
rd_kafka_resp_err_t
__real_rd_kafka_assign(rd_kafka_t *rk,
                       const rd_kafka_topic_partition_list_t *parts);
rd_kafka_resp_err_t
__wrap_rd_kafka_assign(rd_kafka_t *rk,
                       const rd_kafka_topic_partition_list_t *parts);

static volatile sig_atomic_t stop;
static int n_assigns;
static int64_t refused_at, retried_at;
static bool ready_at_retry = true;
static char why_at_retry[512];

rd_kafka_resp_err_t
__wrap_rd_kafka_assign(rd_kafka_t *rk,
                       const rd_kafka_topic_partition_list_t *parts)
{
    if (parts != NULL && ++n_assigns == 1) {
        refused_at = hw_mono_ms();
        return RD_KAFKA_RESP_ERR__CONFLICT;
    }
    if (parts != NULL && n_assigns == 2) {
        retried_at = hw_mono_ms();
        ready_at_retry = health_ready(why_at_retry, sizeof(why_at_retry));
        stop = 1;
    }
    return __real_rd_kafka_assign(rk, parts);
}

static void on_alarm(int sig)
{
    (void)sig;
    stop = 1;
}

int main(void)
{
    struct sigaction sa = {0};
    struct conf cf = {0};
    struct worker *w;
    char errstr[512], group[64];
    const char *topic = getenv("IT_TOPIC");

    snprintf(group, sizeof(group), "it-assign-%ld", (long)getpid());
    setenv("KAFKA_GROUP_ID", group, 1);
    setenv("HALT_RETRY_MS", "1000", 1);
    setenv("ADMIN_ADDR", "off", 1);
    setenv("TOPIC_BOOKING_CREATED", topic != NULL ? topic : "it-roundtrip", 1);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (conf_load(&cf, (const char *const *)environ) != HW_OK) {
        return 2;
    }
    w = worker_create(&cf, errstr, sizeof(errstr));
    CHECK(w != NULL);
    if (w != NULL) {
        alarm(60);
        CHECK_INT(worker_run(w, &stop), 0);
        alarm(0);
        worker_destroy(w);
    }
    CHECK_INT(n_assigns, 2);
    CHECK(retried_at - refused_at >= HALT_RETRY_MS);
    /* halted meanwhile, saying what */
    CHECK(!ready_at_retry);
    CHECK(strstr(why_at_retry, "kafka refused the partition assignment") !=
          NULL);
    conf_deinit(&cf);
    curl_global_cleanup();
    return TEST_REPORT();
}
