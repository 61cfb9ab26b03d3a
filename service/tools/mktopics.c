/* mktopics.c -- creates Kafka topics, idempotently, replication factor 1.
 *
 *   mktopics BOOTSTRAP NAME[:PARTITIONS]...
 *
 * Used by deploy/local/stack.sh and the tests: the broker has auto-creation
 * off (as in production), so every topic is created with a known partition
 * count. It returns once the broker's metadata shows every topic with a
 * leader for each partition, so a consumer started next does not see
 * "unknown topic" for a topic created a moment ago. Exit 0 when every
 * topic exists afterwards, 1 on a broker error, 2 on bad arguments. It
 * stands apart from the worker's configuration (the bootstrap address is
 * an argument, no KAFKA_PROP_* apply) and takes only hw and log from
 * libhmsworker.a.
 */
#define LOGMOD "mktopics"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "hw.h"
#include "log.h"

#define TIMEOUT_MS 20000

static rd_kafka_NewTopic_t *parse_topic(const char *arg)
{
    char name[256], err[256];
    char *colon, *end;
    long parts = 1;
    rd_kafka_NewTopic_t *nt;

    snprintf(name, sizeof(name), "%s", arg);
    colon = strchr(name, ':');
    if (colon != NULL) {
        *colon = '\0';
        errno = 0;
        parts = strtol(colon + 1, &end, 10);
        if (errno != 0 || *end != '\0' || parts < 1 || parts > 1000) {
            log_error("msg=\"bad partition count\" topic=%s", name);
            return NULL;
        }
    }
    nt = rd_kafka_NewTopic_new(name, (int)parts, 1, err, sizeof(err));
    if (nt == NULL) {
        log_error("msg=\"bad topic\" topic=%s err=\"%s\"", name, err);
    }
    return nt;
}

static int check_results(rd_kafka_event_t *ev)
{
    size_t cnt;
    const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(
        rd_kafka_event_CreateTopics_result(ev), &cnt);
    int rc = 0;

    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);

        if (e == RD_KAFKA_RESP_ERR_NO_ERROR ||
            e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            log_info("msg=\"topic ready\" topic=%s",
                     rd_kafka_topic_result_name(res[i]));
        } else {
            log_error("msg=\"create failed\" topic=%s err=\"%s\"",
                      rd_kafka_topic_result_name(res[i]),
                      rd_kafka_topic_result_error_string(res[i]));
            rc = 1;
        }
    }
    return rc;
}

/* Whether the broker's metadata shows topic with a leader everywhere. */
static bool visible(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    bool ok = false;

    if (rkt != NULL &&
        rd_kafka_metadata(rk, 0, rkt, &md, 2000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topics[0].partition_cnt > 0) {
        ok = true;
        for (int p = 0; p < md->topics[0].partition_cnt; p++) {
            ok &= md->topics[0].partitions[p].leader >= 0;
        }
    }
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    if (rkt != NULL) {
        rd_kafka_topic_destroy(rkt);
    }
    return ok;
}

/* args: NAME[:PARTITIONS], as given. */
static int wait_visible(rd_kafka_t *rk, char **args, int n)
{
    int64_t until = hw_mono_ms() + TIMEOUT_MS;
    const struct timespec pause = {0, 50 * 1000 * 1000};

    for (int i = 0; i < n; i++) {
        char name[256];

        snprintf(name, sizeof(name), "%.*s", (int)strcspn(args[i], ":"),
                 args[i]);
        while (!visible(rk, name)) {
            if (hw_mono_ms() >= until) {
                log_error("msg=\"topic not in the metadata\" topic=%s", name);
                return 1;
            }
            nanosleep(&pause, NULL);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    char err[512];
    int n = argc - 2, rc = 2;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = NULL;
    rd_kafka_NewTopic_t **nt = NULL;
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;

    if (n < 1 || rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err,
                                   sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "usage: mktopics BOOTSTRAP NAME[:PARTITIONS]...\n");
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (rk == NULL) {
        log_error("msg=\"rd_kafka_new failed\" err=\"%s\"", err);
        rd_kafka_conf_destroy(conf); /* still ours on failure */
        return 2;
    }
    nt = xcalloc((size_t)n, sizeof(*nt));
    for (int i = 0; i < n; i++) {
        nt[i] = parse_topic(argv[i + 2]);
        if (nt[i] == NULL) {
            goto out;
        }
    }
    opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, TIMEOUT_MS, err,
                                                sizeof(err));
    q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, nt, (size_t)n, opts, q);
    ev = rd_kafka_queue_poll(q, TIMEOUT_MS + 5000);
    if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_error("msg=\"CreateTopics failed\" err=\"%s\"",
                  ev != NULL ? rd_kafka_event_error_string(ev) : "timed out");
        rc = 1;
        goto out;
    }
    rc = check_results(ev);
    if (rc == 0) {
        rc = wait_visible(rk, argv + 2, n);
    }
out:
    if (ev != NULL) {
        rd_kafka_event_destroy(ev);
    }
    if (q != NULL) {
        rd_kafka_queue_destroy(q);
    }
    if (opts != NULL) {
        rd_kafka_AdminOptions_destroy(opts);
    }
    for (int i = 0; nt != NULL && i < n; i++) {
        if (nt[i] != NULL) {
            rd_kafka_NewTopic_destroy(nt[i]);
        }
    }
    free(nt);
    rd_kafka_destroy(rk);
    return rc;
}
