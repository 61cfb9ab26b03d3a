/* floor.c -- bench-floor: the benchmark's floor, what Kafka alone allows.
 *
 * DESIGN
 * ------
 * Consumes booking-created like hms-worker does (same configuration, same
 * group settings, the same codec), and for each booking produces a
 * video-ready with the same idempotent producer settings, without any
 * HTTP or Redis: no room, no codes, no tokens. The offset is stored after
 * the delivery report, as in the worker. One thread; runs until
 * SIGTERM/SIGINT. The gap between this and hms-worker is the cost of the
 * 100ms calls, Redis and the bookkeeping around them.
 */
#define LOGMOD "floor"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "buf.h"
#include "codec.h"
#include "conf.h"
#include "kafka.h"
#include "log.h"

extern char **environ;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

struct floor {
    rd_kafka_t *cons, *prod;
    struct codec *codec;
    const struct conf *cf;
    long long done, failed;
};

/* The input's offset travels as the message opaque: store it once the
 * output is durable. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
    struct floor *f = opaque;
    rd_kafka_topic_partition_list_t *l;
    const rd_kafka_message_t *in = m->_private;

    (void)rk;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        f->failed++;
    } else {
        l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(in->rkt),
                                          in->partition)
            ->offset = in->offset + 1;
        if (rd_kafka_offsets_store(f->cons, l) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            f->done++;
        }
        rd_kafka_topic_partition_list_destroy(l);
    }
    rd_kafka_message_destroy((rd_kafka_message_t *)(uintptr_t)in);
}

/* video-ready for a decoded booking: the fields the worker fills, with
 * placeholder room values. */
static bool reproduce(struct floor *f, rd_kafka_message_t *in)
{
    struct event ev = {0}, out = {0};
    struct room_code codes[1] = {
        {(char *)(uintptr_t) "host", (char *)(uintptr_t) "aaa-bbbb-ccc", NULL}};
    struct buf b = {0};
    char err[256];
    bool ok = false;

    if (codec_decode(f->codec, EVENT_BOOKING_CREATED, in->payload, in->len, &ev,
                     err, sizeof(err)) != HW_OK) {
        goto out;
    }
    out.kind = EVENT_VIDEO_READY;
    out.event_id = ev.event_id;
    out.causation_id = ev.event_id;
    out.occurred_at = ev.occurred_at;
    out.subject_kind = SUBJECT_BOOKING;
    out.subject_id = ev.booking_id;
    out.room_id = out.room_name = out.cache_key = ev.booking_id;
    out.codes = codes;
    out.n_codes = 1;
    out.expires_at = ev.ends_at;
    if (codec_encode(f->codec, &out, NULL, &b, err, sizeof(err)) != HW_OK) {
        goto out;
    }
    ok = rd_kafka_producev(f->prod, RD_KAFKA_V_TOPIC(f->cf->topic_video_ready),
                           RD_KAFKA_V_KEY(ev.booking_id, strlen(ev.booking_id)),
                           RD_KAFKA_V_VALUE(b.p, b.len),
                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                           RD_KAFKA_V_OPAQUE(in),
                           RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR;
out:
    buf_deinit(&b);
    event_clear(&ev);
    return ok;
}

static int run(struct floor *f)
{
    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new(1);

    rd_kafka_topic_partition_list_add(topics, f->cf->topic_booking_created,
                                      RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(f->cons, topics) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(topics);
        return 1;
    }
    rd_kafka_topic_partition_list_destroy(topics);
    while (!stop_flag) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(f->cons, 10);

        if (m != NULL && m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (!reproduce(f, m)) {
                f->failed++;
                rd_kafka_message_destroy(m);
            }
        } else if (m != NULL) {
            rd_kafka_message_destroy(m);
        }
        rd_kafka_poll(f->prod, 0);
    }
    rd_kafka_flush(f->prod, 10000);
    rd_kafka_consumer_close(f->cons);
    log_info("msg=\"stopped\" done=%lld failed=%lld", f->done, f->failed);
    return 0;
}

int main(void)
{
    static const char *const pextra[] = {"enable.idempotence", "true",
                                         "linger.ms", "5", NULL};
    struct conf cf = {0};
    struct floor f = {0};
    char err[512] = "";
    rd_kafka_conf_t *kc;
    int rc = 2;

    hw_on_stop_signals(on_signal);
    if (conf_load(&cf, (const char *const *)environ) != HW_OK) {
        return 2;
    }
    log_min_level = cf.log_level;
    const char *const cextra[] = {
        "group.id", cf.kafka_group_id,   "enable.auto.offset.store",
        "false",    "auto.offset.reset", "earliest",
        NULL};
    f.cf = &cf;
    f.codec = codec_create(err, sizeof(err));
    if (f.codec == NULL) {
        goto out;
    }
    kc = kafka_conf_new(&cf, "producer", pextra, err, sizeof(err));
    if (kc == NULL) {
        goto out;
    }
    rd_kafka_conf_set_opaque(kc, &f);
    rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
    f.prod = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
    if (f.prod == NULL) {
        rd_kafka_conf_destroy(kc); /* still ours on failure */
        goto out;
    }
    kc = kafka_conf_new(&cf, "consumer", cextra, err, sizeof(err));
    f.cons = kc != NULL ? rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err))
                        : NULL;
    if (f.cons == NULL) {
        if (kc != NULL) {
            rd_kafka_conf_destroy(kc);
        }
        goto out;
    }
    rd_kafka_poll_set_consumer(f.cons);
    log_info("msg=\"started\"");
    rc = run(&f);
out:
    if (rc == 2) {
        log_error("msg=\"cannot start\" err=\"%s\"", err);
    }
    if (f.cons != NULL) {
        rd_kafka_destroy(f.cons);
    }
    if (f.prod != NULL) {
        rd_kafka_destroy(f.prod);
    }
    codec_destroy(f.codec);
    conf_deinit(&cf);
    return rc;
}
