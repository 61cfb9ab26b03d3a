/* test_pipeline.c -- the pipeline's places and reactions (pipeline.c):
 * messages in, the engine's outcomes and every produce result and
 * delivery report as the contract's table says (docs/contract.md section
 * 7), offsets stored only when contiguous. The engine and the producer
 * are link-time stubs (stubs.h); messages are made here, and
 * rd_kafka_message_destroy() is this file's, so no broker is involved. */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "kafka.h"
#include "pipeline.h"
#include "stubs.h"
#include "testhelp.h"

#define TOPIC "booking-created"
#define HALT_MS 30000

static struct conf cf;
static struct codec *cd;
static struct pipeline *p;
static int64_t stored[3]; /* the last offset stored per partition */
static int n_stored;

/* Messages here are the test's: calloc'd, with a copy of their bytes. */
void rd_kafka_message_destroy(rd_kafka_message_t *m)
{
    free(m->payload);
    free(m);
}

static void on_store(void *arg, const char *topic, int32_t partition,
                     int64_t offset)
{
    (void)arg;
    CHECK_STR(topic, TOPIC);
    stored[partition] = offset;
    n_stored++;
}

static rd_kafka_message_t *message(int32_t partition, int64_t offset,
                                   const void *bytes, size_t len)
{
    rd_kafka_message_t *m = xcalloc(1, sizeof(*m));

    m->partition = partition;
    m->offset = offset;
    m->payload = xmalloc(len);
    memcpy(m->payload, bytes, len);
    m->len = len;
    return m;
}

/* A BookingCreated of subject id at partition/offset, into the pipeline;
 * ends_at: a time (ms) or EVENT_NO_TIME. */
static void take_booking(const char *id, int32_t partition, int64_t offset,
                         int64_t ends_at)
{
    struct participant people[] = {{"alice", NULL, "host"}};
    struct event ev = {0};
    struct buf b = {0};
    char errstr[256];

    ev.kind = EVENT_BOOKING_CREATED;
    ev.event_id = "0b7c7a2e-5d1b-4d5e-9c1e-000000000001";
    ev.booking_id = (char *)(uintptr_t)id;
    ev.starts_at = hw_now_ms() + 3600000;
    ev.ends_at = ends_at;
    ev.participants = people;
    ev.n_participants = 1;
    CHECK(codec_encode(cd, &ev, NULL, &b, errstr, sizeof(errstr)) == HW_OK);
    pipeline_take(p, message(partition, offset, b.p, b.len), TOPIC,
                  EVENT_BOOKING_CREATED);
    buf_deinit(&b);
}

/* What the engine gives a booking back with: a complete video-ready. */
static void ready(struct job *j)
{
    struct event *o = &j->out;

    o->kind = EVENT_VIDEO_READY;
    o->event_id = xstrdup("0b7c7a2e-5d1b-4d5e-9c1e-000000000002");
    o->causation_id = xstrdup(j->in.event_id);
    o->occurred_at = hw_now_ms();
    o->subject_kind = SUBJECT_BOOKING;
    o->subject_id = xstrdup(j->in.booking_id);
    o->room_id = xstrdup("r1");
    o->room_name = xstrdup("bk-b1");
    o->cache_key = xstrdup("hms:booking:b1");
    o->expires_at = hw_now_ms();
}

/* The newest job the engine was handed, which must ask for req. */
static struct job *in_engine(enum job_request req)
{
    struct job *j = stub_engine_jobs[(stub_engine_n - 1) % STUB_MAX];

    CHECK(stub_engine_n > 0 && j->req == req && j->place == JOB_ENGINE);
    return j;
}

static void finish(struct job *j, enum job_outcome o)
{
    stub_engine_finish(j, o);
    pipeline_serve(p);
}

static void reset(void)
{
    stub_producer_reset();
    stub_engine_degraded = false;
    memset(stored, 0, sizeof(stored));
    n_stored = 0;
}

/* new -> engine -> producing -> engine (the marker) -> gone, offset 1. */
static void test_booking(void)
{
    struct job *j;

    take_booking("b1", 0, 0, EVENT_NO_TIME);
    j = in_engine(JOB_RUN);
    CHECK(pipeline_live(p) == 1);
    ready(j);
    finish(j, JOB_OUTPUT);
    CHECK(stub_n_sends == 1 && !stub_sends[0].dlq);
    CHECK(j->place == JOB_PRODUCING && n_stored == 0);
    stub_deliver(0, HW_OK); /* the marker only after delivery */
    CHECK(in_engine(JOB_MARK) == j && n_stored == 0);
    finish(j, JOB_MARKED);
    CHECK(n_stored == 1 && stored[0] == 1 && pipeline_live(p) == 0);
}

/* A job with two outputs: the second is produced once the first is
 * delivered, the marker only after both. */
static void test_two_outputs(void)
{
    struct job *j;

    take_booking("b11", 0, 1, EVENT_NO_TIME);
    j = in_engine(JOB_RUN);
    ready(j);
    j->then = xcalloc(1, sizeof(*j->then));
    *j->then = (struct event){
        .kind = EVENT_VIDEO_ENDED,
        .event_id = xstrdup("0b7c7a2e-5d1b-4d5e-9c1e-000000000003"),
        .causation_id = xstrdup(j->in.event_id),
        .occurred_at = hw_now_ms(),
        .subject_kind = SUBJECT_BOOKING,
        .subject_id = xstrdup(j->in.booking_id)};
    finish(j, JOB_OUTPUT);
    CHECK(stub_n_sends == 1 && stub_sends[0].kind == EVENT_VIDEO_READY);
    stub_deliver(0, HW_OK);
    CHECK(stub_n_sends == 2 && stub_sends[1].kind == EVENT_VIDEO_ENDED);
    CHECK(j->place == JOB_PRODUCING && j->then == NULL);
    stub_deliver(1, HW_OK);
    CHECK(in_engine(JOB_MARK) == j && n_stored == 0);
    finish(j, JOB_MARKED);
    CHECK(n_stored == 1 && stored[0] == 2 && pipeline_live(p) == 0);
}

/* A subject's events run one at a time, in order; offsets are stored
 * only once contiguous. */
static void test_order_and_offsets(void)
{
    struct job *first, *second, *other;

    take_booking("b2", 0, 10, EVENT_NO_TIME);
    first = in_engine(JOB_RUN);
    take_booking("b2", 0, 11, EVENT_NO_TIME);
    CHECK(stub_engine_jobs[(stub_engine_n - 1) % STUB_MAX] == first);
    take_booking("b3", 0, 12, EVENT_NO_TIME);
    other = in_engine(JOB_RUN);
    finish(other, JOB_SKIPPED); /* 12 done, 10 and 11 not: nothing yet */
    CHECK(n_stored == 0);
    finish(first, JOB_DUPLICATE);
    second = in_engine(JOB_RUN); /* now the subject's next one */
    CHECK(second != first && second->offset == 11);
    CHECK(n_stored == 1 && stored[0] == 11);
    finish(second, JOB_SKIPPED);
    CHECK(stored[0] == 13 && pipeline_live(p) == 0);
}

/* Bad input goes to the DLQ; a dead letter the broker refuses is sent
 * smaller, then skipped -- the offset moves on either way. */
static void test_dead_letters(void)
{
    static const char junk[] = "\x13\x37 not avro";

    pipeline_take(p, message(1, 0, junk, sizeof(junk)), TOPIC,
                  EVENT_BOOKING_CREATED);
    CHECK(stub_n_sends == 1 && stub_sends[0].dlq);
    CHECK(stub_sends[0].form == DLQ_FULL);
    CHECK(strcmp(stub_sends[0].j->err_class, "decode") == 0);
    stub_deliver(0, HW_OK);
    CHECK(stored[1] == 1);
    take_booking("b4", 1, 1, INT64_MAX); /* invalid: ends_at out of range */
    CHECK(strcmp(stub_sends[1].j->err_class, "validation") == 0);
    stub_deliver(1, HW_ERR_INVALID); /* the broker refuses the copy */
    CHECK(stub_n_sends == 3 && stub_sends[2].form == DLQ_NO_VALUE);
    stub_deliver(2, HW_OK);
    CHECK(stored[1] == 2);
    stub_produce_returns(HW_ERR_INVALID, 3); /* refused even bare */
    pipeline_take(p, message(1, 2, junk, sizeof(junk)), TOPIC,
                  EVENT_BOOKING_CREATED);
    CHECK(stub_n_sends == 3 && stored[1] == 3 && pipeline_live(p) == 0);
}

/* An output the broker refuses: its input is dead-lettered instead. */
static void test_output_refused(void)
{
    struct job *j;

    take_booking("b5", 2, 0, EVENT_NO_TIME);
    j = in_engine(JOB_RUN);
    ready(j);
    stub_produce_returns(HW_ERR_INVALID, 1);
    finish(j, JOB_OUTPUT);
    CHECK(stub_n_sends == 1 && stub_sends[0].dlq);
    CHECK(strcmp(j->err_class, "output_rejected") == 0);
    stub_deliver(0, HW_OK);
    CHECK(stored[2] == 1 && pipeline_live(p) == 0);
}

/* Kafka down: sent again every second, intake paused. No permission:
 * halt, /readyz says why, tried again every HALT_RETRY_MS, resumes. */
static void test_send_again_and_halt(void)
{
    struct job *j;
    bool redis_up, api_up;
    char why[384];

    take_booking("b6", 0, 0, EVENT_NO_TIME);
    j = in_engine(JOB_RUN);
    ready(j);
    stub_produce_returns(HW_ERR_UNAVAILABLE, 1);
    finish(j, JOB_OUTPUT);
    CHECK(j->place == JOB_TO_SEND && pipeline_wants_pause(p, false));
    hw_clock_advance_ms(1000);
    pipeline_serve(p);
    CHECK(j->place == JOB_PRODUCING && stub_n_sends == 1);
    stub_deliver(0, HW_ERR_AUTH); /* topic authorization failed */
    CHECK(j->place == JOB_TO_SEND);
    CHECK(pipeline_health(p, &redis_up, &api_up, why, sizeof(why)));
    CHECK(strstr(why, "grant its principal WRITE") != NULL);
    CHECK(pipeline_wants_pause(p, false));
    hw_clock_advance_ms(1000); /* a halt is retried later than that */
    pipeline_serve(p);
    CHECK(j->place == JOB_TO_SEND && stub_n_sends == 1);
    hw_clock_advance_ms(HALT_MS);
    pipeline_serve(p);
    CHECK(j->place == JOB_PRODUCING);
    stub_deliver(1, HW_OK);
    CHECK(!pipeline_health(p, &redis_up, &api_up, why, sizeof(why)));
    finish(in_engine(JOB_MARK), JOB_MARKED);
    CHECK(pipeline_live(p) == 0 && !pipeline_wants_pause(p, false));
}

/* Back-pressure at 4 x HMS_MAX_IN_FLIGHT jobs, resumed below half; the
 * engine degraded pauses too. */
static void test_back_pressure(void)
{
    struct job *js[4];

    for (int i = 0; i < 4; i++) {
        char id[16];

        snprintf(id, sizeof(id), "p%d", i);
        take_booking(id, 0, i, EVENT_NO_TIME);
        js[i] = in_engine(JOB_RUN);
        CHECK(pipeline_wants_pause(p, false) == (i == 3));
    }
    finish(js[0], JOB_SKIPPED);
    CHECK(pipeline_wants_pause(p, true)); /* 3 left: not below half */
    finish(js[1], JOB_SKIPPED);
    CHECK(pipeline_wants_pause(p, true)); /* 2 left */
    finish(js[2], JOB_SKIPPED);
    CHECK(!pipeline_wants_pause(p, true)); /* 1 left: below half */
    stub_engine_degraded = true;
    CHECK(pipeline_wants_pause(p, false));
    stub_engine_degraded = false;
    finish(js[3], JOB_SKIPPED);
}

/* Back-pressure on bytes too (MAX_HELD_MB, 1 here): two inputs of 600 KiB
 * held (dead letters waiting for their reports) pause a pipeline that
 * holds 2 of its 4 jobs; it resumes below half a MiB. */
static void test_byte_budget(void)
{
    size_t len = 600 << 10;
    char *big = xcalloc(1, len);

    big[0] = 0x13; /* no known framing: a dead letter */
    pipeline_take(p, message(1, 0, big, len), TOPIC, EVENT_BOOKING_CREATED);
    CHECK(pipeline_held_bytes(p) == len && !pipeline_wants_pause(p, false));
    pipeline_take(p, message(1, 1, big, len), TOPIC, EVENT_BOOKING_CREATED);
    CHECK(pipeline_live(p) == 2 && pipeline_wants_pause(p, false));
    stub_deliver(0, HW_OK);
    CHECK(pipeline_held_bytes(p) == len && pipeline_wants_pause(p, true));
    stub_deliver(1, HW_OK);
    CHECK(pipeline_held_bytes(p) == 0 && !pipeline_wants_pause(p, true));
    free(big);
}

/* Revoked partitions: their jobs are flagged (the engine abandons them:
 * no offset), the others go on; a fatal outcome stops the worker and the
 * jobs queued behind it are released. */
static void test_revoke_and_fatal(void)
{
    rd_kafka_topic_partition_list_t *parts =
        rd_kafka_topic_partition_list_new(1);
    struct job *gone, *kept, *behind;

    static const char junk[] = "\x13\x37 not avro";

    rd_kafka_topic_partition_list_add(parts, TOPIC, 0);
    take_booking("r1", 0, 0, EVENT_NO_TIME);
    gone = in_engine(JOB_RUN);
    take_booking("r2", 1, 0, EVENT_NO_TIME);
    kept = in_engine(JOB_RUN);
    pipeline_take(p, message(0, 1, junk, sizeof(junk)), TOPIC,
                  EVENT_BOOKING_CREATED); /* a dead letter on its way */
    pipeline_revoke(p, parts, 0);
    CHECK(job_stale(gone) && !job_stale(kept));
    finish(gone, JOB_ABANDONED);
    /* the partition comes back (an eager rebalance) and the message is
     * read again: the old dead letter's report may not store its offset */
    pipeline_take(p, message(0, 1, junk, sizeof(junk)), TOPIC,
                  EVENT_BOOKING_CREATED);
    stub_deliver(0, HW_OK);
    CHECK(n_stored == 0);
    stub_deliver(1, HW_OK);
    CHECK(n_stored == 1 && stored[0] == 2);
    n_stored = 0;
    finish(kept, JOB_SKIPPED);
    CHECK(n_stored == 1 && stored[1] == 1);
    take_booking("r3", 1, 1, EVENT_NO_TIME);
    gone = in_engine(JOB_RUN);
    take_booking("r3", 1, 2, EVENT_NO_TIME);
    behind = stub_engine_jobs[(stub_engine_n - 1) % STUB_MAX];
    CHECK(behind == gone && pipeline_live(p) == 2);
    finish(gone, JOB_FATAL);
    CHECK(pipeline_fatal(p) && pipeline_live(p) == 0 && stored[1] == 1);
    rd_kafka_topic_partition_list_destroy(parts);
}

int main(void)
{
    char errstr[256];
    void (*const tests[])(void) = {
        test_booking,       test_two_outputs,    test_order_and_offsets,
        test_dead_letters,  test_output_refused, test_send_again_and_halt,
        test_back_pressure, test_byte_budget,    test_revoke_and_fatal,
    };

    cf.hms_max_in_flight = 1;
    cf.max_held_mb = 1;
    cf.halt_retry_ms = HALT_MS;
    cf.kafka_group_id = "g";
    cf.topic_booking_created = TOPIC;
    cf.topic_video_ready = "video-ready";
    cf.topic_video_ended = "video-ended";
    cf.topic_video_session = "video-session";
    cf.topic_dlq = "dlq";
    /* each output kind to its topic */
    CHECK_STR(kafka_output_topic(&cf, EVENT_VIDEO_READY), "video-ready");
    CHECK_STR(kafka_output_topic(&cf, EVENT_VIDEO_ENDED), "video-ended");
    CHECK_STR(kafka_output_topic(&cf, EVENT_VIDEO_SESSION), "video-session");
    cd = codec_create(errstr, sizeof(errstr));
    CHECK(cd != NULL);
    for (size_t t = 0; t < HW_ARRAY_LEN(tests); t++) {
        p = pipeline_create(&cf, on_store, NULL, errstr, sizeof(errstr));
        reset();
        tests[t]();
        pipeline_destroy(p);
    }
    codec_destroy(cd);
    return TEST_REPORT();
}
