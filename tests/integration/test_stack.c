/* test_stack.c -- the local stack is real: a produce/consume round trip
 * through the Kafka 3.9 broker with Debian's librdkafka (idempotent
 * producer, consumer group, committed offsets), and redis-server through
 * hiredis (PING, SET with TTL, MULTI/EXEC).
 *
 *   KAFKA_BROKERS=... REDIS_URL=... IT_TOPIC=... test_stack
 * IT_TOPIC names a topic with 3 partitions (tests/run.sh creates it).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "hw.h"
#include "testhelp.h"

#define N_MSGS 300
#define N_KEYS 10
#define DEADLINE_MS 60000

static int delivered_ok, delivered_err;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        delivered_ok++;
    } else {
        delivered_err++;
        fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
    }
}

static rd_kafka_conf_t *conf_new(const char *brokers, const char *const *kv)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];

    CHECK(rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err,
                            sizeof(err)) == RD_KAFKA_CONF_OK);
    for (; kv[0] != NULL; kv += 2) {
        if (rd_kafka_conf_set(conf, kv[0], kv[1], err, sizeof(err)) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "%s: %s\n", kv[0], err);
            CHECK(0);
        }
    }
    return conf;
}

static void produce(const char *brokers, const char *topic)
{
    static const char *const kv[] = {
        "enable.idempotence", "true", "acks", "all", "linger.ms", "5", NULL};
    rd_kafka_conf_t *conf = conf_new(brokers, kv);
    char err[256], key[16], val[32];
    rd_kafka_t *rk;

    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    CHECK(rk != NULL);
    if (rk == NULL) {
        return;
    }
    for (int i = 0; i < N_MSGS; i++) {
        snprintf(key, sizeof(key), "k%d", i % N_KEYS);
        snprintf(val, sizeof(val), "%d", i);
        CHECK(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                RD_KAFKA_V_KEY(key, strlen(key)),
                                RD_KAFKA_V_VALUE(val, strlen(val)),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    CHECK(rd_kafka_flush(rk, DEADLINE_MS) == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK_INT(delivered_ok, N_MSGS);
    CHECK_INT(delivered_err, 0);
    rd_kafka_destroy(rk);
}

/* Consumes everything back; checks count and per-key order. */
static void consume(const char *brokers, const char *topic)
{
    char group[64], err[256];
    const char *kv[] = {"group.id",
                        group,
                        "auto.offset.reset",
                        "earliest",
                        "enable.auto.commit",
                        "false",
                        NULL};
    int last[N_KEYS], got = 0, in_order = 1;
    int64_t deadline = hw_mono_ms() + DEADLINE_MS, total = 0;
    rd_kafka_topic_partition_list_t *subs, *parts;
    rd_kafka_t *rk;

    snprintf(group, sizeof(group), "it-group-%d-%ld", (int)getpid(),
             (long)time(NULL));
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf_new(brokers, kv), err,
                      sizeof(err));
    CHECK(rk != NULL);
    if (rk == NULL) {
        return;
    }
    rd_kafka_poll_set_consumer(rk);
    subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    CHECK(rd_kafka_subscribe(rk, subs) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(subs);
    for (int i = 0; i < N_KEYS; i++) {
        last[i] = -1;
    }
    while (got < N_MSGS && hw_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        int k, v;

        if (m == NULL) {
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            k = (int)strtol((const char *)m->key + 1, NULL, 10);
            v = (int)strtol((const char *)m->payload, NULL, 10);
            in_order &= v > last[k];
            last[k] = v;
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    CHECK_INT(got, N_MSGS);
    CHECK(in_order);
    CHECK(rd_kafka_commit(rk, NULL, 0) == RD_KAFKA_RESP_ERR_NO_ERROR);
    parts = rd_kafka_topic_partition_list_new(3);
    for (int p = 0; p < 3; p++) {
        rd_kafka_topic_partition_list_add(parts, topic, p);
    }
    CHECK(rd_kafka_committed(rk, parts, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int p = 0; p < parts->cnt; p++) {
        total += parts->elems[p].offset > 0 ? parts->elems[p].offset : 0;
    }
    CHECK_INT(total, N_MSGS); /* the group committed past every message */
    rd_kafka_topic_partition_list_destroy(parts);
    CHECK(rd_kafka_consumer_close(rk) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
}

static redisReply *cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    void *r;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    CHECK(r != NULL);
    return r;
}

static void redis_checks(const char *url)
{
    char host[64];
    int port = 0;
    const char *hp = strstr(url, "://");
    const char *colon = hp != NULL ? strrchr(hp + 3, ':') : NULL;
    redisContext *c;
    redisReply *r;

    CHECK(colon != NULL);
    if (colon == NULL) {
        return;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - hp - 3), hp + 3);
    port = (int)strtol(colon + 1, NULL, 10);
    c = redisConnectWithTimeout(host, port, (struct timeval){5, 0});
    CHECK(c != NULL && c->err == 0);
    if (c == NULL || c->err != 0) {
        redisFree(c);
        return;
    }
    r = cmd(c, "PING");
    CHECK(r != NULL && r->type == REDIS_REPLY_STATUS &&
          strcmp(r->str, "PONG") == 0);
    freeReplyObject(r);
    r = cmd(c, "SET %s %b EX %d", "it:key", "v\0x", (size_t)3, 60);
    freeReplyObject(r);
    r = cmd(c, "GET %s", "it:key");
    CHECK(r != NULL && r->type == REDIS_REPLY_STRING && r->len == 3 &&
          memcmp(r->str, "v\0x", 3) == 0);
    freeReplyObject(r);
    r = cmd(c, "TTL %s", "it:key");
    CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer > 0 &&
          r->integer <= 60);
    freeReplyObject(r);
    freeReplyObject(cmd(c, "MULTI"));
    freeReplyObject(cmd(c, "HSET %s %s %s", "it:hash", "status", "ready"));
    freeReplyObject(cmd(c, "EXPIRE %s %d", "it:hash", 60));
    r = cmd(c, "EXEC");
    CHECK(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    freeReplyObject(r);
    r = cmd(c, "HGET %s %s", "it:hash", "status");
    CHECK(r != NULL && r->type == REDIS_REPLY_STRING &&
          strcmp(r->str, "ready") == 0);
    freeReplyObject(r);
    freeReplyObject(cmd(c, "DEL %s %s", "it:key", "it:hash"));
    redisFree(c);
}

int main(void)
{
    const char *brokers = getenv("KAFKA_BROKERS");
    const char *redis = getenv("REDIS_URL");
    const char *topic = getenv("IT_TOPIC");

    if (brokers == NULL || redis == NULL || topic == NULL) {
        fprintf(stderr, "usage: KAFKA_BROKERS=.. REDIS_URL=.. IT_TOPIC=.. "
                        "test_stack\n");
        return 2;
    }
    produce(brokers, topic);
    consume(brokers, topic);
    redis_checks(redis);
    return TEST_REPORT();
}
