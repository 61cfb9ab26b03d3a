/* kafka.c -- rd_kafka_conf_t from struct conf, shared by the worker's
 * consumer and producer and by hmsctl: client.id is
 * "hms-worker-<role>-<host>-<pid>", so a broker's logs name the process,
 * and librdkafka's syslog levels map onto ours in on_log(), which runs on
 * librdkafka's own threads. kafka_setup_refused() tells a refused login
 * or TLS handshake from an outage. Also the topic <-> event kind maps and the
 * wake pipe that lets a poll() loop sleep on librdkafka's queues. */
#define LOGMOD "kafka"
#include "kafka.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static void on_log(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
    char safe[512];

    (void)rk;
    log_at(level <= 3   ? LL_ERROR
           : level <= 4 ? LL_WARN
           : level <= 6 ? LL_INFO
                        : LL_DEBUG,
           "msg=\"librdkafka\" facility=%s text=\"%s\"", fac,
           log_text(safe, sizeof(safe), buf));
}

static bool set(rd_kafka_conf_t *kc, const char *name, const char *value,
                char *errstr, size_t errstr_size)
{
    char err[256];

    if (rd_kafka_conf_set(kc, name, value, err, sizeof(err)) !=
        RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "%s: %s", name, err);
        return false;
    }
    return true;
}

rd_kafka_conf_t *kafka_conf_new(const struct conf *cf, const char *role,
                                const char *const *extra, char *errstr,
                                size_t errstr_size)
{
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    char client_id[128], host[64] = "host";
    bool ok;

    gethostname(host, sizeof(host) - 1);
    snprintf(client_id, sizeof(client_id), "hms-worker-%s-%s-%d", role, host,
             (int)getpid());
    rd_kafka_conf_set_log_cb(kc, on_log);
    ok = set(kc, "bootstrap.servers", cf->kafka_brokers, errstr, errstr_size) &&
         set(kc, "client.id", client_id, errstr, errstr_size);
    for (size_t i = 0; ok && i < cf->n_kafka_props; i++) {
        ok = set(kc, cf->kafka_props[i].name, cf->kafka_props[i].value, errstr,
                 errstr_size);
    }
    for (; ok && extra != NULL && extra[0] != NULL; extra += 2) {
        ok = set(kc, extra[0], extra[1], errstr, errstr_size);
    }
    if (!ok) {
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    return kc;
}

bool kafka_setup_refused(int err)
{
    return err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
           err == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED ||
           err == RD_KAFKA_RESP_ERR__SSL;
}

bool kafka_topic_kind(const struct conf *cf, const char *topic,
                      enum event_kind *kind)
{
    const char *topics[] = {cf->topic_booking_created, cf->topic_stream_started,
                            cf->topic_session_ended};

    for (int k = 0; k < 3; k++) {
        if (strcmp(topic, topics[k]) == 0) {
            *kind = (enum event_kind)k;
            return true;
        }
    }
    if (cf->webhook_events && strcmp(topic, cf->topic_webhooks) == 0) {
        *kind = EVENT_WEBHOOK;
        return true;
    }
    return false;
}

void kafka_warm_topics(rd_kafka_t *rk, const char *const *topics, size_t n,
                       rd_kafka_topic_t **rkts, int timeout_ms)
{
    int64_t deadline = hw_mono_ms() + timeout_ms;

    for (size_t i = 0; i < n; i++) {
        const struct rd_kafka_metadata *md = NULL;
        int64_t left = deadline - hw_mono_ms();
        rd_kafka_resp_err_t err;

        rkts[i] = rd_kafka_topic_new(rk, topics[i], NULL);
        err = rkts[i] == NULL ? rd_kafka_last_error()
              : left <= 0     ? RD_KAFKA_RESP_ERR__TIMED_OUT
                          : rd_kafka_metadata(rk, 0, rkts[i], &md, (int)left);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1) {
            err = md->topics[0].err;
        }
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_warn("msg=\"topic not looked up at start: its first "
                     "messages wait until it is found\" topic=%s err=%s",
                     topics[i], rd_kafka_err2name(err));
        }
        if (md != NULL) {
            rd_kafka_metadata_destroy(md);
        }
    }
}

void kafka_topics_free(rd_kafka_topic_t **rkts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (rkts[i] != NULL) {
            rd_kafka_topic_destroy(rkts[i]);
            rkts[i] = NULL;
        }
    }
}

const char *kafka_output_topic(const struct conf *cf, enum event_kind kind)
{
    return kind == EVENT_VIDEO_READY     ? cf->topic_video_ready
           : kind == EVENT_VIDEO_SESSION ? cf->topic_video_session
                                         : cf->topic_video_ended;
}
