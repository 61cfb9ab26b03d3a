/* producer.c -- outputs and dead letters: one rd_kafka_t whose main queue
 * rings the owner's bell (hw.h), so the consumer thread wakes for delivery
 * reports; on_dr_msg() hands each on, classified by
 * producer_classify(), the one table from librdkafka's errors to hw_rc.
 * on_error() keeps a fatal error's text for producer_fatal(). Destroy
 * flushes, purges, then polls once for the purged messages' reports. */
#define LOGMOD "producer"
#include "producer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"

#define DLQ_MESSAGE_MAX 1024
#define WARM_MS 3000 /* looking the output topics up at start, at most */

struct producer {
    const struct conf *cf;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    producer_dr_fn *dr;
    void *arg;
    const char *err; /* the last immediate error's name (static) */
    char fatal[512];
    rd_kafka_topic_t *topics[4]; /* looked up at start (kafka_warm_topics) */
    size_t n_topics;
};

static void on_dr_msg(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct producer *p = opaque;

    (void)rk;
    p->dr(p->arg, m->_private, producer_classify(m->err),
          m->err != RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_err2name(m->err)
                                               : "");
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct producer *p = opaque;
    char safe[256];

    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[256];

        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        snprintf(p->fatal, sizeof(p->fatal), "%s", buf);
    }
    log_warn("msg=\"kafka producer error\" err=%s reason=\"%s\"",
             rd_kafka_err2name(err), log_text(safe, sizeof(safe), reason));
}

/* The outputs' topics, looked up before the first event (kafka.h). */
static void warm(struct producer *p)
{
    const char *topics[] = {p->cf->topic_video_ready, p->cf->topic_video_ended,
                            p->cf->topic_dlq, p->cf->topic_video_session};

    p->n_topics = p->cf->webhook_events ? 4 : 3; /* video-session: webhooks */
    kafka_warm_topics(p->rk, topics, p->n_topics, p->topics, WARM_MS);
}

struct producer *producer_create(const struct conf *cf, int bell,
                                 producer_dr_fn *dr, void *arg, char *errstr,
                                 size_t errstr_size)
{
    static const char *const extra[] = {"enable.idempotence", "true",
                                        "linger.ms", "5", NULL};
    struct producer *p = xcalloc(1, sizeof(*p));
    rd_kafka_conf_t *kc =
        kafka_conf_new(cf, "producer", extra, errstr, errstr_size);

    p->cf = cf;
    p->dr = dr;
    p->arg = arg;
    if (kc == NULL) {
        goto err;
    }
    rd_kafka_conf_set_opaque(kc, p);
    rd_kafka_conf_set_dr_msg_cb(kc, on_dr_msg);
    rd_kafka_conf_set_error_cb(kc, on_error);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
    if (p->rk == NULL) {
        rd_kafka_conf_destroy(kc); /* still ours on failure */
        goto err;
    }
    p->q = rd_kafka_queue_get_main(p->rk);
    rd_kafka_queue_io_event_enable(p->q, bell, &HW_BELL_PAYLOAD,
                                   sizeof(HW_BELL_PAYLOAD));
    warm(p);
    return p;
err:
    producer_destroy(p, 0);
    return NULL;
}

void producer_destroy(struct producer *p, int flush_ms)
{
    if (p == NULL) {
        return;
    }
    if (p->rk != NULL) {
        if (rd_kafka_flush(p->rk, flush_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_warn("msg=\"undelivered messages dropped at exit\" count=%d",
                     rd_kafka_outq_len(p->rk));
        }
        rd_kafka_purge(p->rk,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(p->rk, 0); /* reports of purged messages */
        kafka_topics_free(p->topics, p->n_topics);
        if (p->q != NULL) {
            rd_kafka_queue_destroy(p->q);
        }
        rd_kafka_destroy(p->rk);
    }
    free(p);
}

enum hw_rc producer_classify(rd_kafka_resp_err_t err)
{
    switch ((int)err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return HW_OK;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
        return HW_ERR_UNAVAILABLE;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
        return HW_ERR_INVALID;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
        return HW_ERR_AUTH;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return HW_ERR_CONFIG;
    case RD_KAFKA_RESP_ERR__FATAL:
        return HW_ERR_FATAL;
    default:
        return HW_ERR_REFUSED;
    }
}

enum hw_rc producer_output(struct producer *p, struct job *j, const void *value,
                           size_t len)
{
    const char *key = j->out.subject_id;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(kafka_output_topic(p->cf, j->out.kind)),
        RD_KAFKA_V_KEY((void *)(uintptr_t)key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)(uintptr_t)value, len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(j),
        RD_KAFKA_V_END);

    p->err = rd_kafka_err2name(err);
    return producer_classify(err);
}

static void add_be(rd_kafka_headers_t *h, const char *name, int64_t v,
                   int bytes)
{
    unsigned char b[8];

    for (int i = 0; i < bytes; i++) {
        b[i] = (unsigned char)((uint64_t)v >> (8 * (bytes - 1 - i)));
    }
    rd_kafka_header_add(h, name, -1, b, bytes);
}

static void add_count(rd_kafka_headers_t *h, const char *name, size_t n)
{
    char v[24];

    snprintf(v, sizeof(v), "%zu", n);
    rd_kafka_header_add(h, name, -1, v, -1);
}

static rd_kafka_headers_t *dlq_headers(const struct producer *p,
                                       const struct job *j)
{
    const rd_kafka_message_t *m = j->msg;
    rd_kafka_headers_t *orig = NULL, *h;
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    bool has = rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR;
    char attempts[16];

    h = has && j->dlq_form != DLQ_BARE ? rd_kafka_headers_copy(orig)
                                       : rd_kafka_headers_new(12);
    if (j->dlq_form != DLQ_FULL) {
        add_count(h, "hms-value-dropped", m->len);
    }
    if (j->dlq_form == DLQ_BARE) {
        add_count(h, "hms-key-dropped", m->key_len);
        add_count(h, "hms-headers-dropped",
                  has ? rd_kafka_header_cnt(orig) : 0);
    }
    rd_kafka_header_add(h, "kafka_dlt-original-topic", -1,
                        rd_kafka_topic_name(m->rkt), -1);
    add_be(h, "kafka_dlt-original-partition", m->partition, 4);
    add_be(h, "kafka_dlt-original-offset", m->offset, 8);
    add_be(h, "kafka_dlt-original-timestamp", ts, 8);
    rd_kafka_header_add(h, "kafka_dlt-original-timestamp-type", -1,
                        tt == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME
                            ? "LogAppendTime"
                            : "CreateTime",
                        -1);
    rd_kafka_header_add(h, "kafka_dlt-original-consumer-group", -1,
                        p->cf->kafka_group_id, -1);
    rd_kafka_header_add(h, "kafka_dlt-exception-message", -1, j->err,
                        (ssize_t)strnlen(j->err, DLQ_MESSAGE_MAX));
    rd_kafka_header_add(h, "hms-error-class", -1, j->err_class, -1);
    snprintf(attempts, sizeof(attempts), "%d",
             j->attempts > 0 ? j->attempts : 1);
    rd_kafka_header_add(h, "hms-attempts", -1, attempts, -1);
    return h;
}

enum hw_rc producer_dlq(struct producer *p, struct job *j)
{
    rd_kafka_headers_t *h = dlq_headers(p, j);
    bool key = j->dlq_form != DLQ_BARE, value = j->dlq_form == DLQ_FULL;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(p->cf->topic_dlq),
        RD_KAFKA_V_KEY(key ? j->msg->key : NULL, key ? j->msg->key_len : 0),
        RD_KAFKA_V_VALUE(value ? j->msg->payload : NULL,
                         value ? j->msg->len : 0),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_OPAQUE(j), RD_KAFKA_V_END);

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(h); /* ours unless produce succeeded */
    }
    p->err = rd_kafka_err2name(err);
    return producer_classify(err);
}

void producer_poll(struct producer *p)
{
    rd_kafka_poll(p->rk, 0);
}

const char *producer_errstr(const struct producer *p)
{
    return p->err != NULL ? p->err : "";
}

const char *producer_fatal(struct producer *p)
{
    return p->fatal[0] != '\0' ? p->fatal : NULL;
}
