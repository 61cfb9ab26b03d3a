/* test_handler.c -- every transition of the handler's state table
 * (handler.c), driven through link-time stubs of the 100ms client and the
 * cache (stubs.h): the test answers each call as 100ms or Redis would and
 * checks the next call, the state counts and the job's outcome. Timers are
 * stepped with hw_clock_advance_ms(), never slept. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "handler.h"
#include "hookev.h"
#include "jwt.h"
#include "stubs.h"
#include "testhelp.h"

#define HALT_MS 30000
#define HLS_WAIT_MS 20000
#define HLS_CHECK_MS 30000
#define LONG_CHECK_MS 3600000
#define MARGIN_MS 200 /* the real clock runs on meanwhile */

static const char codes_reply[] =
    "{\"data\":[{\"code\":\"aaa-bbbb-ccc\",\"role\":\"host\",\"enabled\":true},"
    "{\"code\":\"ddd-eeee-fff\",\"role\":\"guest\",\"enabled\":true}]}";

static struct conf cf;
static struct handler *h;
static struct job *finished;

static void on_finish(void *arg, struct job *j)
{
    (void)arg;
    CHECK(finished == NULL); /* one job at a time here */
    finished = j;
}

/* The job that finished (the test frees it), or NULL. */
static struct job *take(void)
{
    struct job *j = finished;

    finished = NULL;
    return j;
}

static enum job_outcome outcome(void)
{
    struct job *j = take();
    enum job_outcome o = j != NULL ? j->outcome : JOB_ABANDONED;

    CHECK(j != NULL);
    job_free(j);
    return o;
}

static struct job *new_job(enum event_kind kind, const char *id)
{
    struct job *j = xcalloc(1, sizeof(*j));

    j->revoked = false;
    j->topic = xstrdup("topic");
    j->req = JOB_RUN;
    j->in.kind = kind;
    j->in.event_id = xstrdup("e-1");
    j->in.ends_at = EVENT_NO_TIME;
    if (kind == EVENT_BOOKING_CREATED) {
        j->in.booking_id = xstrdup(id);
        j->in.starts_at = hw_now_ms() + 3600000;
        j->in.participants = xcalloc(2, sizeof(*j->in.participants));
        j->in.participants[0] =
            (struct participant){xstrdup("alice"), NULL, xstrdup("host")};
        j->in.participants[1] =
            (struct participant){xstrdup("bob"), NULL, xstrdup("guest")};
        j->in.n_participants = 2;
    } else if (kind == EVENT_STREAM_STARTED) {
        j->in.stream_id = xstrdup(id);
        j->in.host_user_id = xstrdup("h1");
        j->in.host_role = xstrdup("host");
        j->in.hls = true;
    } else {
        j->in.subject_kind = SUBJECT_BOOKING;
        j->in.subject_id = xstrdup(id);
        j->in.reason = xstrdup("over");
    }
    return j;
}

static size_t in_state(enum handler_state s)
{
    size_t counts[HS_COUNT];

    handler_count_states(h, counts);
    return counts[s];
}

/* The newest 100ms call, which must be method on path. */
static size_t expect_call(const char *method, const char *path)
{
    size_t i = stub_n_calls - 1;

    CHECK(stub_n_calls > 0 && !stub_calls[i % STUB_MAX].answered);
    CHECK_STR(stub_calls[i % STUB_MAX].method, method);
    CHECK_STR(stub_calls[i % STUB_MAX].path, path);
    return i;
}

/* The newest Redis batch, which must be of kind. */
static size_t expect_op(enum stub_op_kind kind)
{
    size_t i = stub_n_ops - 1;

    CHECK(stub_n_ops > 0 && stub_ops[i % STUB_MAX].kind == kind);
    CHECK(!stub_ops[i % STUB_MAX].answered);
    return i;
}

static void tick_after(int64_t ms)
{
    hw_clock_advance_ms(ms);
    handler_tick(h);
}

/* RAND_bytes, interposed: this executable's definition wins over
 * libcrypto's for jwt.c's calls. Counter bytes, or a failure while
 * rand_fails is set. */
static bool rand_fails;

int RAND_bytes(unsigned char *buf, int num)
{
    static unsigned char next;

    for (int i = 0; i < num && !rand_fails; i++) {
        buf[i] = (unsigned char)(next++ * 151u + 7u);
    }
    return rand_fails ? 0 : 1;
}

/* load -> create_room -> codes: the state where most rows start. */
static void to_codes(struct job *j)
{
    handler_submit(h, j);
    CHECK(in_state(HS_LOAD) == 1);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, NULL);
    stub_hms_answer(expect_call("POST", "/rooms"), HW_OK, 200,
                    "{\"id\":\"r1\"}", false);
    CHECK(in_state(HS_CODES) == 1);
}

static void test_booking(void)
{
    struct job *j = new_job(EVENT_BOOKING_CREATED, "b1");
    size_t i;

    handler_submit(h, j);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, NULL);
    i = expect_call("POST", "/rooms");
    CHECK_STR(json_string_value(json_object_get(stub_calls[i].body, "name")),
              "bk-b1");
    CHECK_STR(
        json_string_value(json_object_get(stub_calls[i].body, "template_id")),
        "tpl");
    stub_hms_answer(i, HW_OK, 200, "{\"id\":\"r1\"}", false);
    stub_hms_answer(expect_call("POST", "/room-codes/room/r1"), HW_OK, 200,
                    codes_reply, false);
    i = expect_op(OP_READY);
    CHECK_STR(stub_ops[i].room_id, "r1");
    CHECK(stub_ops[i].n_tokens == 2 && stub_ops[i].n_stale == 0);
    CHECK(in_state(HS_WRITE_READY) == 1);
    stub_redis_answer(i, HW_OK, false, NULL);
    j = take();
    CHECK(j != NULL && j->outcome == JOB_OUTPUT);
    CHECK_STR(j != NULL ? j->out.room_id : NULL, "r1");
    CHECK_STR(j->out.room_name, "bk-b1");
    CHECK_STR(j->out.cache_key, "hms:booking:b1");
    CHECK(j->out.n_codes == 2 && j->out.hls_url == NULL);
    CHECK_STR(j->out.codes[0].join_url,
              "https://sub.app.100ms.live/meeting/aaa-bbbb-ccc");
    CHECK(in_state(HS_WRITE_READY) == 0);
    /* its output delivered: the marker */
    j->req = JOB_MARK;
    handler_submit(h, j);
    CHECK(in_state(HS_MARK) == 1);
    stub_redis_answer(expect_op(OP_MARK), HW_OK, false, NULL);
    CHECK(outcome() == JOB_MARKED);
}

/* No random bytes for an output's event id: the job is fatal (docs/
 * contract.md section 7: stop, the offset unstored), never an output with
 * an empty event_id that would defeat its consumers' de-duplication; and
 * nothing is written to Redis. */
static void test_no_random_bytes(void)
{
    struct job *j = new_job(EVENT_BOOKING_CREATED, "b-rand");
    char id[JWT_UUID_LEN + 1];
    int drawn = 0;
    size_t ops;

    to_codes(j);
    ops = stub_n_ops;
    rand_fails = true;
    /* jwt.c draws from a pool refilled 32 ids at a time: empty it first */
    while (drawn < 64 && jwt_uuid4(id) == HW_OK) {
        drawn++;
    }
    CHECK(drawn < 64);
    stub_hms_answer(expect_call("POST", "/room-codes/room/r1"), HW_OK, 200,
                    codes_reply, false);
    rand_fails = false;
    CHECK(stub_n_ops == ops);
    j = take();
    CHECK(j != NULL && j->outcome == JOB_FATAL);
    CHECK(j != NULL && strstr(j->err, "RAND_bytes") != NULL);
    CHECK(j != NULL && j->out.event_id == NULL);
    job_free(j);
    CHECK(in_state(HS_WRITE_READY) == 0 && in_state(HS_CODES) == 0);
}

/* POST /rooms carries a booking's room options only when they are set
 * (docs/contract.md section 3); unset, the body is what it always was. */
static void test_room_options(void)
{
    struct job *j = new_job(EVENT_BOOKING_CREATED, "b24");
    const json_t *body;
    size_t i;

    j->in.region = xstrdup("eu");
    j->in.size = (struct event_opt_int){true, 2};
    j->in.max_duration_seconds = (struct event_opt_int){true, 3600};
    handler_submit(h, j);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, NULL);
    i = expect_call("POST", "/rooms");
    body = stub_calls[i].body;
    CHECK_STR(json_string_value(json_object_get(body, "region")), "eu");
    CHECK(json_integer_value(json_object_get(body, "size")) == 2);
    CHECK(json_integer_value(json_object_get(body, "max_duration_seconds")) ==
          3600);
    CHECK_STR(json_string_value(json_object_get(body, "name")), "bk-b24");
    CHECK(json_object_size(body) == 6);
    stub_hms_answer(i, HW_ERR_INVALID, 400, "{}", false);
    CHECK(outcome() == JOB_DLQ);
    /* size 0 is a value (sent); region and duration unset: left out */
    j = new_job(EVENT_BOOKING_CREATED, "b25");
    j->in.size = (struct event_opt_int){true, 0};
    handler_submit(h, j);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, NULL);
    i = expect_call("POST", "/rooms");
    body = stub_calls[i].body;
    CHECK(json_is_integer(json_object_get(body, "size")) &&
          json_integer_value(json_object_get(body, "size")) == 0);
    CHECK(json_object_get(body, "region") == NULL);
    CHECK(json_object_get(body, "max_duration_seconds") == NULL);
    stub_hms_answer(i, HW_ERR_INVALID, 400, "{}", false);
    CHECK(outcome() == JOB_DLQ);
    /* none set: exactly name, description, template_id */
    j = new_job(EVENT_BOOKING_CREATED, "b26");
    handler_submit(h, j);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, NULL);
    i = expect_call("POST", "/rooms");
    body = stub_calls[i].body;
    CHECK(json_object_size(body) == 3);
    CHECK(json_object_get(body, "name") != NULL &&
          json_object_get(body, "description") != NULL &&
          json_object_get(body, "template_id") != NULL);
    stub_hms_answer(i, HW_ERR_INVALID, 400, "{}", false);
    CHECK(outcome() == JOB_DLQ);
}

static void test_load_rows(void)
{
    struct job *j = new_job(EVENT_BOOKING_CREATED, "b2");

    handler_submit(h, j); /* marker there: a duplicate */
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, true, NULL);
    CHECK(outcome() == JOB_DUPLICATE);
    j = new_job(EVENT_BOOKING_CREATED, "b3");
    j->in.physical = true; /* PHYSICAL: the marker only */
    handler_submit(h, j);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, NULL);
    CHECK(in_state(HS_SKIP) == 1);
    stub_redis_answer(expect_op(OP_MARK), HW_OK, false, NULL);
    j = take();
    CHECK(j->outcome == JOB_SKIPPED && strcmp(j->err, "PHYSICAL booking") == 0);
    job_free(j);
    j = new_job(EVENT_BOOKING_CREATED, "b4"); /* the subject has ended */
    handler_submit(h, j);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false,
                      "{\"status\":\"ended\"}");
    stub_redis_answer(expect_op(OP_MARK), HW_OK, false, NULL);
    CHECK(outcome() == JOB_SKIPPED);
    CHECK(stub_n_calls == 0); /* none of these called 100ms */
}

static void test_create_room_rows(void)
{
    struct job *j = new_job(EVENT_BOOKING_CREATED, "b5");

    handler_submit(h, j); /* 403 "disabled": skip */
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, NULL);
    stub_hms_answer(expect_call("POST", "/rooms"), HW_ERR_INVALID, 403,
                    "{\"message\":\"Room is disabled\"}", false);
    stub_redis_answer(expect_op(OP_MARK), HW_OK, false, NULL);
    CHECK(outcome() == JOB_SKIPPED);
    j = new_job(EVENT_BOOKING_CREATED, "b6"); /* 400: rejected */
    handler_submit(h, j);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, NULL);
    stub_hms_answer(expect_call("POST", "/rooms"), HW_ERR_INVALID, 400,
                    "{\"message\":\"Error: template not found\"}", false);
    j = take();
    CHECK(j->outcome == JOB_DLQ && strcmp(j->err_class, "hms_rejected") == 0);
    CHECK(strstr(j->err, "template not found") != NULL);
    job_free(j);
    j = new_job(EVENT_BOOKING_CREATED, "b7"); /* 200 without an id */
    handler_submit(h, j);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, NULL);
    stub_hms_answer(expect_call("POST", "/rooms"), HW_OK, 200, "{}", false);
    j = take();
    CHECK(j->outcome == JOB_DLQ && strcmp(j->err_class, "hms_rejected") == 0);
    job_free(j);
}

/* 401 (or a permission 403) after the re-mint: halt, the same state again
 * every HALT_RETRY_MS; accepted again: on, and intake resumes. */
static void test_halt_and_resume(void)
{
    struct job *j = new_job(EVENT_BOOKING_CREATED, "b8");
    size_t before;

    handler_submit(h, j);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, NULL);
    stub_hms_answer(expect_call("POST", "/rooms"), HW_ERR_AUTH, 403,
                    "{\"message\":\"Forbidden\"}", false);
    CHECK(handler_degraded(h) && handler_halted(h) != NULL);
    CHECK(strstr(handler_halted(h), "lacks the permission") != NULL);
    CHECK(in_state(HS_CREATE_ROOM) == 1 && take() == NULL);
    before = stub_n_calls;
    tick_after(HALT_MS - MARGIN_MS);
    CHECK(stub_n_calls == before); /* not yet */
    tick_after(MARGIN_MS);
    stub_hms_answer(expect_call("POST", "/rooms"), HW_ERR_AUTH, 401,
                    "{\"message\":\"Token validation error\"}", false);
    CHECK(strstr(handler_halted(h), "rejects the management token") != NULL);
    tick_after(HALT_MS);
    stub_hms_answer(expect_call("POST", "/rooms"), HW_OK, 200,
                    "{\"id\":\"r1\"}", false);
    CHECK(handler_halted(h) == NULL && !handler_degraded(h));
    stub_hms_answer(expect_call("POST", "/room-codes/room/r1"), HW_OK, 200,
                    codes_reply, false);
    stub_redis_answer(expect_op(OP_READY), HW_OK, false, NULL);
    CHECK(outcome() == JOB_OUTPUT);
}

static void test_codes_rows(void)
{
    struct job *j = new_job(EVENT_BOOKING_CREATED, "b9");
    size_t before;

    to_codes(j); /* 404 twice (not visible yet), 500 ms apart, then ok */
    for (int k = 0; k < 2; k++) {
        stub_hms_answer(expect_call("POST", "/room-codes/room/r1"),
                        HW_ERR_NOT_FOUND, 404, NULL, false);
        before = stub_n_calls;
        tick_after(500 - MARGIN_MS);
        CHECK(stub_n_calls == before);
        tick_after(MARGIN_MS);
    }
    stub_hms_answer(expect_call("POST", "/room-codes/room/r1"), HW_OK, 200,
                    codes_reply, false);
    stub_redis_answer(expect_op(OP_READY), HW_OK, false, NULL);
    CHECK(outcome() == JOB_OUTPUT);
    j = new_job(EVENT_BOOKING_CREATED, "b10"); /* a third 404: rejected */
    to_codes(j);
    for (int k = 0; k < 3; k++) {
        stub_hms_answer(expect_call("POST", "/room-codes/room/r1"),
                        HW_ERR_NOT_FOUND, 404, NULL, false);
        tick_after(500);
    }
    j = take();
    CHECK(j != NULL && j->outcome == JOB_DLQ);
    CHECK(j != NULL && strcmp(j->err_class, "hms_rejected") == 0);
    job_free(j);
    j = new_job(EVENT_BOOKING_CREATED, "b11"); /* a role the template lacks */
    free(j->in.participants[1].role);
    j->in.participants[1].role = xstrdup("ghost");
    to_codes(j);
    stub_hms_answer(expect_call("POST", "/room-codes/room/r1"), HW_OK, 200,
                    codes_reply, false);
    j = take();
    CHECK(j->outcome == JOB_DLQ && strcmp(j->err_class, "validation") == 0);
    job_free(j);
    j = new_job(EVENT_BOOKING_CREATED, "b12"); /* 403 "disabled": skip */
    to_codes(j);
    stub_hms_answer(expect_call("POST", "/room-codes/room/r1"), HW_ERR_INVALID,
                    403, "{\"message\":\"Room is disabled\"}", false);
    stub_redis_answer(expect_op(OP_MARK), HW_OK, false, NULL);
    CHECK(outcome() == JOB_SKIPPED);
}

#define STREAM_ID "641b2654f771854d9bf633df"
#define PLAYBACK "{\"url\":\"https://x/master.m3u8\"}"

/* A stream-started with hls through codes, to its start call (returned
 * after checking the documented meeting_url). */
static size_t to_start_hls(const char *id)
{
    size_t i;

    to_codes(new_job(EVENT_STREAM_STARTED, id));
    stub_hms_answer(expect_call("POST", "/room-codes/room/r1"), HW_OK, 200,
                    codes_reply, false);
    i = expect_call("POST", "/live-streams/room/r1/start");
    CHECK_STR(
        json_string_value(json_object_get(stub_calls[i].body, "meeting_url")),
        "https://sub.app.100ms.live/preview/r1/__internal_recorder"
        "?skip_preview=true");
    return i;
}

/* write_ready, answered; the job's output hls_url (NULL: none) checked. */
static void ready_with(const char *url)
{
    size_t i = expect_op(OP_READY);
    struct job *j;

    CHECK_STR(stub_ops[i].url, url != NULL ? url : "");
    stub_redis_answer(i, HW_OK, false, NULL);
    j = take();
    CHECK(j != NULL && j->outcome == JOB_OUTPUT);
    if (url != NULL) {
        CHECK_STR(j != NULL ? j->out.hls_url : NULL, url);
    } else {
        CHECK(j != NULL && j->out.hls_url == NULL);
    }
    job_free(j);
}

/* HLS is asynchronous (docs/100ms-api.md section 9, point 3): hls_url is
 * published only once the stream runs. */
static void test_hls_rows(void)
{
    size_t i;

    cf.hms_hls_check_ms = LONG_CHECK_MS; /* no checks in between */
    i = to_start_hls("s1");              /* starting, then running */

    stub_hms_answer(i, HW_OK, 200,
                    "{\"id\":\"" STREAM_ID "\",\"status\":\"starting\","
                    "\"playback\":" PLAYBACK "}",
                    false);
    CHECK(in_state(HS_WAIT_HLS) == 1 && stub_n_ops == 1); /* not written */
    i = expect_call("GET", "/live-streams/" STREAM_ID);
    stub_hms_answer(i, HW_OK, 200,
                    "{\"id\":\"" STREAM_ID "\",\"status\":\"starting\"}",
                    false);
    CHECK(in_state(HS_WAIT_HLS) == 1 && stub_n_calls == i + 1); /* parked */
    tick_after(1000 + MARGIN_MS);
    stub_hms_answer(expect_call("GET", "/live-streams/" STREAM_ID), HW_OK, 200,
                    "{\"id\":\"" STREAM_ID "\",\"status\":\"running\","
                    "\"playback\":" PLAYBACK "}",
                    false);
    ready_with("https://x/master.m3u8");
    i = to_start_hls("s2"); /* running at once */
    stub_hms_answer(i, HW_OK, 200,
                    "{\"id\":\"" STREAM_ID "\",\"status\":\"running\","
                    "\"playback\":" PLAYBACK "}",
                    false);
    ready_with("https://x/master.m3u8");
    i = to_start_hls("s3"); /* the start refused: on without it */
    stub_hms_answer(i, HW_ERR_UNAVAILABLE, 500, NULL, false);
    ready_with(NULL);
    i = to_start_hls("s4"); /* the composer could not join: failed */
    stub_hms_answer(i, HW_OK, 200,
                    "{\"id\":\"" STREAM_ID "\",\"status\":\"starting\","
                    "\"playback\":" PLAYBACK "}",
                    false);
    stub_hms_answer(expect_call("GET", "/live-streams/" STREAM_ID), HW_OK, 200,
                    "{\"id\":\"" STREAM_ID "\",\"status\":\"failed\","
                    "\"playback\":" PLAYBACK "}",
                    false);
    ready_with(NULL);
    i = to_start_hls("s5"); /* starting for longer than HMS_HLS_WAIT_MS */
    stub_hms_answer(i, HW_OK, 200,
                    "{\"id\":\"" STREAM_ID "\",\"status\":\"starting\"}",
                    false);
    i = stub_n_ops;
    for (int n = 0; n < HLS_WAIT_MS / 1000 + 1 && stub_n_ops == i; n++) {
        stub_hms_answer(
            expect_call("GET", "/live-streams/" STREAM_ID), HW_OK, 200,
            "{\"id\":\"" STREAM_ID "\",\"status\":\"starting\"}", false);
        tick_after(1000 + MARGIN_MS);
    }
    ready_with(NULL);
    i = to_start_hls("s6"); /* a start reply without a stream id */
    stub_hms_answer(i, HW_OK, 200, "{\"status\":\"starting\"}", false);
    ready_with(NULL);
    i = to_start_hls("s7"); /* the token refused: halt, then resume */
    stub_hms_answer(i, HW_ERR_AUTH, 401, NULL, false);
    CHECK(handler_halted(h) != NULL && in_state(HS_START_HLS) == 1);
    tick_after(HALT_MS);
    stub_hms_answer(expect_call("POST", "/live-streams/room/r1/start"), HW_OK,
                    200, "{\"id\":\"" STREAM_ID "\",\"status\":\"starting\"}",
                    false);
    stub_hms_answer(expect_call("GET", "/live-streams/" STREAM_ID), HW_ERR_AUTH,
                    401, NULL, false); /* the same in wait_hls */
    CHECK(handler_halted(h) != NULL && in_state(HS_WAIT_HLS) == 1);
    tick_after(HALT_MS);
    stub_hms_answer(expect_call("GET", "/live-streams/" STREAM_ID), HW_OK, 200,
                    "{\"id\":\"" STREAM_ID "\",\"status\":\"running\","
                    "\"playback\":" PLAYBACK "}",
                    false);
    ready_with("https://x/master.m3u8");
    CHECK(handler_halted(h) == NULL);
    /* the watches of the published streams are test_hls_watch's subject:
     * end them (their first check finds the stream completed) */
    cf.hms_hls_check_ms = HLS_CHECK_MS;
    i = stub_n_calls;
    tick_after(LONG_CHECK_MS + MARGIN_MS);
    CHECK(stub_n_calls == i + 3); /* s1, s2, s7 */
    for (; i < stub_n_calls; i++) {
        CHECK_STR(stub_calls[i % STUB_MAX].path, "/live-streams/" STREAM_ID);
        stub_hms_answer(i, HW_OK, 200, "{\"status\":\"completed\"}", false);
        stub_redis_answer(expect_op(OP_CLEAR_HLS), HW_OK, false, NULL);
    }
}

/* 100ms requires a meeting_url, which needs the template's subdomain: no
 * start call without one, a warning and a metric. */
static void test_hls_without_subdomain(void)
{
    cf.hms_subdomain = NULL;
    to_codes(new_job(EVENT_STREAM_STARTED, "s8"));
    stub_hms_answer(expect_call("POST", "/room-codes/room/r1"), HW_OK, 200,
                    codes_reply, false);
    CHECK(stub_n_calls == 2); /* rooms, codes: no start */
    ready_with(NULL);
    cf.hms_subdomain = "sub";
}

/* A published URL is read back every HMS_HLS_CHECK_MS and removed once
 * its stream stops (alone for 5 minutes, the maximum duration); a check
 * that fails is tried again. */
static void test_hls_watch(void)
{
    size_t i = to_start_hls("s9");

    stub_hms_answer(i, HW_OK, 200,
                    "{\"id\":\"" STREAM_ID "\",\"status\":\"running\","
                    "\"playback\":" PLAYBACK "}",
                    false);
    ready_with("https://x/master.m3u8");
    i = stub_n_calls;
    tick_after(HLS_CHECK_MS / 2);
    CHECK(stub_n_calls == i); /* not yet */
    tick_after(HLS_CHECK_MS / 2 + MARGIN_MS);
    stub_hms_answer(expect_call("GET", "/live-streams/" STREAM_ID), HW_OK, 200,
                    "{\"status\":\"running\"}", false);
    tick_after(HLS_CHECK_MS + MARGIN_MS); /* 100ms does not answer */
    stub_hms_answer(expect_call("GET", "/live-streams/" STREAM_ID),
                    HW_ERR_UNAVAILABLE, 503, NULL, false);
    CHECK(stub_n_ops == 2); /* nothing removed on no answer */
    tick_after(HLS_CHECK_MS + MARGIN_MS);
    stub_hms_answer(expect_call("GET", "/live-streams/" STREAM_ID), HW_OK, 200,
                    "{\"status\":\"completed\"}", false);
    i = expect_op(OP_CLEAR_HLS);
    CHECK_STR(stub_ops[i].url, "https://x/master.m3u8");
    stub_redis_answer(i, HW_ERR_UNAVAILABLE, false, NULL); /* Redis down */
    tick_after(HLS_CHECK_MS + MARGIN_MS);
    stub_hms_answer(expect_call("GET", "/live-streams/" STREAM_ID),
                    HW_ERR_NOT_FOUND, 404, NULL, false); /* gone: over too */
    stub_redis_answer(expect_op(OP_CLEAR_HLS), HW_OK, false, NULL);
    i = stub_n_calls;
    tick_after(HLS_CHECK_MS + MARGIN_MS);
    CHECK(stub_n_calls == i); /* the watch ended */
}

/* A 401 while this host's clock is ahead of 100ms's by more than the
 * tokens' back-dating: the halt names the clock. */
static void test_clock_ahead(void)
{
    struct job *j = new_job(EVENT_BOOKING_CREATED, "b30");

    stub_clock_ahead_s = 120;
    handler_submit(h, j);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, NULL);
    stub_hms_answer(expect_call("POST", "/rooms"), HW_ERR_AUTH, 401, NULL,
                    false);
    CHECK(handler_halted(h) != NULL &&
          strstr(handler_halted(h), "clock is 120 s ahead") != NULL);
    stub_clock_ahead_s = 0;
    tick_after(HALT_MS);
    stub_hms_answer(expect_call("POST", "/rooms"), HW_ERR_AUTH, 401, NULL,
                    false);
    CHECK(handler_halted(h) != NULL &&
          strstr(handler_halted(h), "clock") != NULL &&
          strstr(handler_halted(h), "ahead") == NULL); /* the usual text */
    tick_after(HALT_MS);
    stub_hms_answer(expect_call("POST", "/rooms"), HW_OK, 200,
                    "{\"id\":\"r1\"}", false);
    stub_hms_answer(expect_call("POST", "/room-codes/room/r1"), HW_OK, 200,
                    codes_reply, false);
    ready_with(NULL);
}

/* The Redis rows, on write_ready: wait, halt, dead-letter. */
static void test_redis_rows(void)
{
    static const struct {
        enum hw_rc rc;
        const char *cls; /* NULL: it waits or halts, then succeeds */
        bool halts;
    } rows[] = {
        {HW_ERR_UNAVAILABLE, NULL, false},
        {HW_ERR_AUTH, NULL, true},
        {HW_ERR_CONFIG, NULL, true},
        {HW_ERR_INVALID, "redis_wrongtype", false},
    };

    for (size_t r = 0; r < HW_ARRAY_LEN(rows); r++) {
        struct job *j = new_job(EVENT_BOOKING_CREATED, "b13");

        to_codes(j);
        stub_hms_answer(expect_call("POST", "/room-codes/room/r1"), HW_OK, 200,
                        codes_reply, false);
        stub_redis_answer(expect_op(OP_READY), rows[r].rc, false, NULL);
        if (rows[r].cls != NULL) {
            j = take();
            CHECK(j->outcome == JOB_DLQ &&
                  strcmp(j->err_class, rows[r].cls) == 0);
            job_free(j);
            continue;
        }
        CHECK(take() == NULL && handler_degraded(h));
        CHECK((handler_halted(h) != NULL) == rows[r].halts);
        CHECK(handler_redis_up(h) == rows[r].halts);
        tick_after(rows[r].halts ? HALT_MS : 1000); /* the same state again */
        stub_redis_answer(expect_op(OP_READY), HW_OK, false, NULL);
        CHECK(outcome() == JOB_OUTPUT);
        CHECK(!handler_degraded(h) && handler_redis_up(h));
    }
}

/* Redis that reads but does not write (a replica after a failover, OOM)
 * is not up: only a write that succeeds says so. */
static void test_reads_do_not_prove_writes(void)
{
    struct job *j1 = new_job(EVENT_BOOKING_CREATED, "b22");
    struct job *j2 = new_job(EVENT_BOOKING_CREATED, "b23");

    to_codes(j1);
    stub_hms_answer(expect_call("POST", "/room-codes/room/r1"), HW_OK, 200,
                    codes_reply, false);
    stub_redis_answer(expect_op(OP_READY), HW_ERR_UNAVAILABLE, false, NULL);
    CHECK(!handler_redis_up(h));
    handler_submit(h, j2);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, NULL);
    CHECK(!handler_redis_up(h) && handler_degraded(h));
    stub_hms_answer(expect_call("POST", "/rooms"), HW_ERR_INVALID, 403,
                    "{\"message\":\"Room is disabled\"}", false);
    stub_redis_answer(expect_op(OP_MARK), HW_OK, false, NULL); /* a write */
    CHECK(handler_redis_up(h));
    CHECK(outcome() == JOB_SKIPPED);
    tick_after(1000);
    stub_redis_answer(expect_op(OP_READY), HW_OK, false, NULL);
    CHECK(outcome() == JOB_OUTPUT);
}

/* Redis down (cache_down): the state is entered again at once, its call
 * waiting in the cache for the next connection attempt, and the time the
 * call waited does not count against the event's deadline. Redis
 * answering with an error (cache_down false): a second's wait. */
static void test_redis_down_waits_in_the_cache(void)
{
    struct job *j = new_job(EVENT_BOOKING_CREATED, "b40");
    size_t i;

    handler_submit(h, j);
    i = expect_op(OP_LOAD);
    hw_clock_advance_ms(cf.event_deadline_ms + 5000); /* held that long */
    stub_cache_down = true;
    stub_redis_answer(i, HW_ERR_UNAVAILABLE, false, NULL);
    CHECK(!handler_redis_up(h) && handler_degraded(h));
    handler_tick(h); /* no timer of its own */
    stub_cache_down = false;
    i = expect_op(OP_LOAD);
    CHECK(i == stub_n_ops - 1 && i > 0 &&
          stub_ops[(i - 1) % STUB_MAX].answered);
    stub_redis_answer(i, HW_ERR_UNAVAILABLE, false, NULL); /* LOADING, ... */
    handler_tick(h);
    CHECK(stub_n_ops == i + 1); /* not at once: Redis answers */
    tick_after(1000);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, NULL);
    i = expect_call("POST", "/rooms");
    CHECK(stub_calls[i % STUB_MAX].deadline >
          hw_mono_ms()); /* clocks stopped */
    stub_hms_answer(i, HW_OK, 200, "{\"id\":\"r1\"}", false);
    stub_hms_answer(expect_call("POST", "/room-codes/room/r1"), HW_OK, 200,
                    codes_reply, false);
    stub_redis_answer(expect_op(OP_READY), HW_OK, false, NULL);
    CHECK(handler_redis_up(h));
    CHECK(outcome() == JOB_OUTPUT);
}

/* An error nobody knows: twice more a second apart; then its own
 * (redis_rejected) if others' writes got through, else halt. */
static void test_redis_refused(void)
{
    struct job *j = new_job(EVENT_BOOKING_CREATED, "b14");

    to_codes(j);
    stub_hms_answer(expect_call("POST", "/room-codes/room/r1"), HW_OK, 200,
                    codes_reply, false);
    for (int k = 0; k < 2; k++) {
        stub_redis_answer(expect_op(OP_READY), HW_ERR_REFUSED, false, NULL);
        CHECK(!handler_degraded(h)); /* only this event waits */
        tick_after(1000);
    }
    stub_redis_answer(expect_op(OP_READY), HW_ERR_REFUSED, false, NULL);
    CHECK(handler_halted(h) != NULL && take() == NULL);
    stub_last_ok = hw_mono_ms() + 1; /* another event's write got through */
    tick_after(HALT_MS);
    stub_redis_answer(expect_op(OP_READY), HW_ERR_REFUSED, false, NULL);
    j = take();
    CHECK(j != NULL && j->outcome == JOB_DLQ);
    CHECK(j != NULL && strcmp(j->err_class, "redis_rejected") == 0);
    CHECK(handler_halted(h) == NULL);
    job_free(j);
}

static void test_session_ended(void)
{
    struct job *j = new_job(EVENT_SESSION_ENDED, "b15");
    size_t i;

    handler_submit(h, j); /* never provisioned: a tombstone */
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, NULL);
    i = expect_op(OP_ENDED);
    CHECK(stub_ops[i].tombstone && stub_n_calls == 0);
    stub_redis_answer(i, HW_OK, false, NULL);
    j = take();
    CHECK(j->outcome == JOB_OUTPUT && j->out.room_id == NULL);
    CHECK_STR(j->out.reason, "over");
    job_free(j);
    j = new_job(EVENT_SESSION_ENDED, "s16"); /* a stream, codes, lock */
    j->in.subject_kind = SUBJECT_STREAM;
    j->in.lock = true;
    handler_submit(h, j);
    stub_redis_answer(
        expect_op(OP_LOAD), HW_OK, false,
        "{\"status\":\"ready\",\"room_id\":\"r9\",\"hls_url\":\"https://x\","
        "\"code:host\":\"aaa-bbbb-ccc\",\"code:guest\":\"ddd-eeee-fff\","
        "\"link:host\":\"l\",\"role:alice\":\"host\"}");
    stub_hms_answer(expect_call("POST", "/live-streams/room/r9/stop"),
                    HW_ERR_UNAVAILABLE, 500, NULL, false); /* a warning */
    i = expect_call("POST", "/active-rooms/r9/end-room");
    CHECK(json_is_true(json_object_get(stub_calls[i].body, "lock")));
    stub_hms_answer(i, HW_ERR_NOT_FOUND, 404, NULL, false); /* no session */
    /* end-room locked nothing: the room itself is disabled */
    i = expect_call("POST", "/rooms/r9");
    CHECK(json_is_false(json_object_get(stub_calls[i].body, "enabled")));
    stub_hms_answer(i, HW_OK, 200, "{\"id\":\"r9\",\"enabled\":false}", false);
    i++;
    CHECK(in_state(HS_DISABLE_CODES) == 1 && stub_n_calls == i + 2);
    stub_hms_answer(i, HW_ERR_NOT_FOUND, 404, NULL, false);
    CHECK(stub_n_ops == 0 || stub_ops[stub_n_ops - 1].kind != OP_ENDED);
    stub_hms_answer(i + 1, HW_OK, 200, "{}", false);
    i = expect_op(OP_ENDED);
    CHECK(stub_ops[i].lock && !stub_ops[i].tombstone);
    CHECK(stub_ops[i].n_users == 1 && stub_ops[i].n_fields == 4);
    stub_redis_answer(i, HW_OK, false, NULL);
    j = take();
    CHECK(j->outcome == JOB_OUTPUT);
    CHECK_STR(j->out.room_id, "r9");
    job_free(j);
}

/* end_room: a 403 "disabled" counts as ended; a code that will not be
 * disabled fails the ending like any call (here: the API answers others,
 * so the failure is the event's own). */
static void test_end_room_rows(void)
{
    struct job *j = new_job(EVENT_SESSION_ENDED, "b20");
    const char *room = "{\"status\":\"ready\",\"room_id\":\"r9\","
                       "\"code:host\":\"aaa-bbbb-ccc\"}";

    handler_submit(h, j);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, room);
    stub_hms_answer(expect_call("POST", "/active-rooms/r9/end-room"),
                    HW_ERR_INVALID, 403, "{\"message\":\"Room is disabled\"}",
                    false);
    stub_redis_answer(expect_op(OP_ENDED), HW_OK, false, NULL);
    CHECK(outcome() == JOB_OUTPUT);
    j = new_job(EVENT_SESSION_ENDED, "b21");
    j->in.lock = true;
    handler_submit(h, j);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, room);
    stub_last_answer = hw_mono_ms() + 1; /* the API answers others */
    stub_hms_answer(expect_call("POST", "/active-rooms/r9/end-room"), HW_OK,
                    200, "{}", false);
    stub_hms_answer(expect_call("POST", "/rooms/r9"), HW_OK, 200, "{}", false);
    stub_hms_answer(expect_call("POST", "/room-codes/code"), HW_ERR_UNAVAILABLE,
                    503, NULL, false);
    j = take();
    CHECK(j != NULL && j->outcome == JOB_DLQ);
    CHECK(j != NULL && strcmp(j->err_class, "hms_retries") == 0);
    CHECK(j != NULL && strstr(j->err, "disable room code") != NULL);
    job_free(j);
    j = new_job(EVENT_SESSION_ENDED, "b22"); /* the room will not disable */
    j->in.lock = true;
    handler_submit(h, j);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, room);
    stub_hms_answer(expect_call("POST", "/active-rooms/r9/end-room"),
                    HW_ERR_NOT_FOUND, 404, NULL, false);
    stub_hms_answer(expect_call("POST", "/rooms/r9"), HW_ERR_NOT_FOUND, 404,
                    "{\"message\":\"Room not found\"}", false);
    j = take();
    CHECK(j != NULL && j->outcome == JOB_DLQ);
    CHECK(j != NULL && strcmp(j->err_class, "hms_rejected") == 0);
    CHECK(j != NULL && strstr(j->err, "disable room") != NULL);
    job_free(j);
}

/* The 100ms API down (no answer since the event began): wait in the state
 * with a fresh deadline, probe, pause; answering: the failure is the
 * event's own. */
static void test_api_down_and_own_failure(void)
{
    struct job *j = new_job(EVENT_SESSION_ENDED, "b17");
    const char *room = "{\"status\":\"ready\",\"room_id\":\"r9\"}";

    handler_submit(h, j);
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, room);
    stub_hms_answer(expect_call("POST", "/active-rooms/r9/end-room"),
                    HW_ERR_UNAVAILABLE, 503, NULL, false);
    CHECK(!handler_api_up(h) && handler_degraded(h) && take() == NULL);
    stub_hms_answer(expect_call("GET", "/rooms?limit=10"), HW_OK, 200, "{}",
                    false); /* the probe */
    tick_after(2000);
    stub_hms_answer(expect_call("POST", "/active-rooms/r9/end-room"), HW_OK,
                    200, "{}", false);
    CHECK(handler_api_up(h));
    stub_redis_answer(expect_op(OP_ENDED), HW_OK, false, NULL);
    CHECK(outcome() == JOB_OUTPUT);
    for (int deadline = 0; deadline < 2; deadline++) {
        j = new_job(EVENT_SESSION_ENDED, "b18");
        handler_submit(h, j);
        stub_last_answer = hw_mono_ms() + 1; /* the API answers others */
        stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, room);
        stub_hms_answer(expect_call("POST", "/active-rooms/r9/end-room"),
                        HW_ERR_UNAVAILABLE, 503, NULL, deadline == 1);
        j = take();
        CHECK(j != NULL && j->outcome == JOB_DLQ);
        CHECK(j != NULL &&
              strcmp(j->err_class, deadline ? "deadline" : "hms_retries") == 0);
        job_free(j);
    }
}

/* A job of a revoked partition writes nothing more: the next move ends
 * it as abandoned. */
static void test_abandoned(void)
{
    struct job *j = new_job(EVENT_BOOKING_CREATED, "b19");

    handler_submit(h, j);
    j->revoked = true;
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, NULL);
    CHECK(outcome() == JOB_ABANDONED);
    CHECK(stub_n_calls == 0);
}

/* A webhook job: body's data fields after room_id; type as given. */
static struct job *hook_job(const char *type, const char *data)
{
    struct job *j = xcalloc(1, sizeof(*j));
    char *body = xasprintf("{\"id\":\"w-%zu\",\"type\":\"%s\",\"data\":{"
                           "\"room_id\":\"r9\",\"room_name\":\"bk-b40\"%s}}",
                           stub_n_ops, type, data);
    char err[128];

    j->revoked = false;
    j->topic = xstrdup("hms-webhooks");
    j->req = JOB_RUN;
    CHECK(hookev_decode(body, strlen(body), &j->in, err, sizeof(err)) == HW_OK);
    free(body);
    return j;
}

/* Submits a webhook and answers resolve with subject and load with hash;
 * returns the op that follows. */
static size_t hook_to(struct job *j, const char *subject, const char *hash)
{
    size_t i;

    handler_submit(h, j);
    i = expect_op(OP_RESOLVE);
    CHECK_STR(stub_ops[i].room_id, "r9");
    stub_redis_answer(i, HW_OK, false, subject);
    if (subject == NULL) {
        return expect_op(OP_MARK);
    }
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, hash);
    return stub_n_ops - 1;
}

/* What a webhook's video-session output must say (docs/contract.md
 * section 1); NULL strings and EVENT_NO_TIME are nulls. */
struct want_vs {
    enum session_type type;
    enum subject_kind kind;
    const char *subject, *session, *user, *role, *url, *reason;
    int64_t at, duration_s;
};

#define CHECK_OPT_STR(got, want)                                               \
    do {                                                                       \
        if ((want) == NULL) {                                                  \
            CHECK((got) == NULL);                                              \
        } else {                                                               \
            CHECK_STR((got), (want));                                          \
        }                                                                      \
    } while (0)

/* The webhook just written ends JOB_OUTPUT with its video-session filled
 * and no marker yet (contract section 3: the marker after delivery);
 * delivered, it asks for the marker, which completes it. */
static void expect_session(const struct want_vs *w)
{
    struct job *j = take();
    const struct event *o = j != NULL ? &j->out : NULL;

    CHECK(j != NULL && j->outcome == JOB_OUTPUT);
    if (j == NULL) {
        return;
    }
    CHECK(stub_ops[(stub_n_ops - 1) % STUB_MAX].kind == OP_HOOK);
    CHECK(o->kind == EVENT_VIDEO_SESSION && o->session_type == w->type);
    CHECK(o->event_id != NULL && strcmp(o->event_id, j->in.event_id) != 0);
    CHECK_STR(o->causation_id, j->in.event_id); /* the webhook's id */
    CHECK(o->occurred_at > 0);
    CHECK(o->subject_kind == w->kind);
    CHECK_STR(o->subject_id, w->subject);
    CHECK_STR(o->room_id, "r9");
    CHECK_OPT_STR(o->session_id, w->session);
    CHECK_INT(o->at, w->at);
    CHECK_OPT_STR(o->user_id, w->user);
    CHECK_OPT_STR(o->role, w->role);
    CHECK_OPT_STR(o->url, w->url);
    CHECK_OPT_STR(o->reason, w->reason);
    CHECK_INT(o->duration_s, w->duration_s);
    j->req = JOB_MARK;
    handler_submit(h, j);
    stub_redis_answer(expect_op(OP_MARK), HW_OK, false, NULL);
    CHECK(outcome() == JOB_MARKED);
}

/* As expect_session, checking only the record's type. */
static void expect_told(enum session_type type)
{
    struct job *j = take();

    CHECK(j != NULL && j->outcome == JOB_OUTPUT &&
          j->out.kind == EVENT_VIDEO_SESSION && j->out.session_type == type);
    if (j == NULL) {
        return;
    }
    j->req = JOB_MARK;
    handler_submit(h, j);
    stub_redis_answer(expect_op(OP_MARK), HW_OK, false, NULL);
    CHECK(outcome() == JOB_MARKED);
}

/* The webhook rows: resolve, load, write_hook (docs/contract.md section
 * 4: attendance and sessions in the subject's hash, PUBLISHed in the same
 * MULTI/EXEC), then the video-session output (section 1), then the
 * marker. */
static void test_webhooks(void)
{
    const char *hash = "{\"status\":\"ready\",\"room_id\":\"r9\"}";
    size_t i = hook_to(hook_job("peer.join.success", ""), NULL, NULL);

    stub_redis_answer(i, HW_OK, false, NULL); /* not our room: skipped */
    CHECK(outcome() == JOB_SKIPPED);
    i = hook_to(hook_job("peer.join.success",
                         ",\"user_id\":\"alice\",\"joined_at\":"
                         "\"2026-01-01T10:00:00Z\""),
                "booking:b40", hash);
    CHECK(stub_ops[i].kind == OP_HOOK);
    CHECK_STR(stub_ops[i].room_id, "booking:b40");
    CHECK_STR(stub_ops[i].fields, "joined:alice=1767261600000;"
                                  "present:alice=1767261600000;");
    CHECK(strstr(stub_ops[i].url, "\"type\":\"peer.join.success\"") != NULL);
    CHECK(strstr(stub_ops[i].url, "\"user_id\":\"alice\"") != NULL);
    CHECK(stub_ops[i].renew == CACHE_RENEW_KEEP);
    stub_redis_answer(i, HW_OK, false, NULL);
    expect_session(&(struct want_vs){VS_PEER_JOINED, SUBJECT_BOOKING, "b40",
                                     NULL, "alice", NULL, NULL, NULL,
                                     1767261600000LL, EVENT_NO_TIME});
    /* a leave: left set, present gone; the first join stays */
    i = hook_to(hook_job("peer.leave.success",
                         ",\"user_id\":\"alice\",\"left_at\":"
                         "\"2026-01-01T10:30:00Z\",\"session_id\":\"s2\","
                         "\"peer_id\":\"p-a\",\"role\":\"host\","
                         "\"duration\":1800,\"reason\":\"client request\""),
                "booking:b40",
                "{\"joined:alice\":\"1767261600000\",\"present:alice\":"
                "\"1767261600000\"}");
    CHECK_STR(stub_ops[i].fields, "left:alice=1767263400000;");
    CHECK_STR(stub_ops[i].dels, "present:alice;");
    stub_redis_answer(i, HW_OK, false, NULL);
    expect_session(&(struct want_vs){VS_PEER_LEFT, SUBJECT_BOOKING, "b40", "s2",
                                     "alice", "host", NULL, "client request",
                                     1767263400000LL, 1800});
    /* a join older than the last leave (out of order): not present */
    i = hook_to(hook_job("peer.join.success",
                         ",\"peer_id\":\"p-1\",\"joined_at\":"
                         "\"2026-01-01T10:00:00Z\",\"role\":\"guest\""),
                "booking:b40", "{\"left:p-1\":\"1767263400000\"}");
    CHECK_STR(stub_ops[i].fields, "joined:p-1=1767261600000;");
    stub_redis_answer(i, HW_OK, false, NULL);
    /* no user_id: the peer, as the hash names it */
    expect_session(&(struct want_vs){VS_PEER_JOINED, SUBJECT_BOOKING, "b40",
                                     NULL, "p-1", "guest", NULL, NULL,
                                     1767261600000LL, EVENT_NO_TIME});
    /* sessions: open, and an open whose close came first */
    i = hook_to(hook_job("session.open.success",
                         ",\"session_id\":\"s1\",\"session_started_at\":"
                         "\"2026-01-01T10:00:00.5Z\""),
                "stream:s", hash);
    CHECK_STR(stub_ops[i].room_id, "stream:s");
    CHECK_STR(stub_ops[i].fields, "session_id=s1;session_status=live;"
                                  "session_started_at=1767261600500;");
    CHECK_STR(stub_ops[i].dels, "session_ended_at;");
    CHECK(stub_ops[i].renew == CACHE_RENEW_START); /* its tokens: renew.h */
    stub_redis_answer(i, HW_OK, false, NULL);
    expect_session(&(struct want_vs){VS_SESSION_STARTED, SUBJECT_STREAM, "s",
                                     "s1", NULL, NULL, NULL, NULL,
                                     1767261600500LL, EVENT_NO_TIME});
    i = hook_to(hook_job("session.open.success",
                         ",\"session_id\":\"s1\",\"session_started_at\":"
                         "\"2026-01-01T10:00:00Z\""),
                "booking:b40",
                "{\"session_id\":\"s1\",\"session_status\":\"ended\"}");
    CHECK_STR(stub_ops[i].fields, "");
    CHECK(stub_ops[i].renew == CACHE_RENEW_KEEP); /* closed: not renewed */
    stub_redis_answer(i, HW_OK, false, NULL);
    /* it changed nothing, and is told all the same */
    expect_session(&(struct want_vs){VS_SESSION_STARTED, SUBJECT_BOOKING, "b40",
                                     "s1", NULL, NULL, NULL, NULL,
                                     1767261600000LL, EVENT_NO_TIME});
    i = hook_to(hook_job("session.close.success",
                         ",\"session_id\":\"s1\",\"session_stopped_at\":"
                         "\"2026-01-01T11:00:00Z\",\"session_started_at\":"
                         "\"2026-01-01T10:00:00Z\",\"session_duration\":3600"),
                "booking:b40", "{\"present:alice\":\"1\",\"left:bob\":\"2\"}");
    CHECK_STR(stub_ops[i].fields, "session_id=s1;session_status=ended;"
                                  "session_ended_at=1767265200000;"
                                  "session_started_at=1767261600000;");
    CHECK_STR(stub_ops[i].dels, "present:alice;"); /* nobody is left */
    CHECK(stub_ops[i].renew == CACHE_RENEW_STOP);
    stub_redis_answer(i, HW_OK, false, NULL);
    expect_session(&(struct want_vs){VS_SESSION_ENDED, SUBJECT_BOOKING, "b40",
                                     "s1", NULL, NULL, NULL, NULL,
                                     1767265200000LL, 3600});
    /* the room's recording; an older session's arriving late changes
     * nothing but the marker */
    i = hook_to(hook_job("recording.success",
                         ",\"session_id\":\"s1\","
                         "\"session_stopped_at\":\"2026-01-01T11:00:00Z\","
                         "\"recording_path\":\"s3://b/r.mp4\","
                         "\"recording_presigned_url\":\"https://x/r.mp4?s=1\","
                         "\"duration\":600"),
                "booking:b40", hash);
    CHECK_STR(stub_ops[i].fields,
              "recording_at=1767265200000;recording_path=s3://b/r.mp4;"
              "recording_url=https://x/r.mp4?s=1;recording_duration_s=600;");
    CHECK_STR(stub_ops[i].dels,
              "recording_path;recording_url;recording_duration_s;");
    stub_redis_answer(i, HW_OK, false, NULL);
    expect_session(&(struct want_vs){VS_RECORDING_READY, SUBJECT_BOOKING, "b40",
                                     "s1", NULL, NULL, "https://x/r.mp4?s=1",
                                     NULL, 1767265200000LL, 600});
    i = hook_to(hook_job("recording.success",
                         ",\"session_stopped_at\":\"2026-01-01T09:00:00Z\","
                         "\"recording_presigned_url\":\"http://x/old.mp4\""),
                "booking:b40", "{\"recording_at\":\"1767265200000\"}");
    CHECK_STR(stub_ops[i].fields, "");
    CHECK_STR(stub_ops[i].dels, "");
    stub_redis_answer(i, HW_OK, false, NULL);
    /* an older session's recording: told, without its http:// URL */
    expect_session(&(struct want_vs){VS_RECORDING_READY, SUBJECT_BOOKING, "b40",
                                     NULL, NULL, NULL, NULL, NULL,
                                     1767258000000LL, EVENT_NO_TIME});
    i = hook_to(
        hook_job("beam.recording.success",
                 ",\"stopped_at\":\"2026-01-01T12:00:00Z\","
                 "\"recording_path\":\"s3://b/beam.mp4\",\"duration\":79"),
        "booking:b40", "{\"recording_at\":\"1767265200000\"}");
    CHECK_STR(stub_ops[i].fields, "recording_at=1767268800000;"
                                  "recording_path=s3://b/beam.mp4;"
                                  "recording_duration_s=79;");
    stub_redis_answer(i, HW_OK, false, NULL);
    expect_told(VS_RECORDING_READY);
    /* applied already; no hash; a type not applied; no valid time */
    handler_submit(h, hook_job("peer.join.success", ""));
    stub_redis_answer(expect_op(OP_RESOLVE), HW_OK, false, "booking:b40");
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, true, hash);
    CHECK(outcome() == JOB_DUPLICATE);
    i = hook_to(hook_job("peer.join.success", ""), "booking:b40", NULL);
    stub_redis_answer(expect_op(OP_MARK), HW_OK, false, NULL);
    CHECK(outcome() == JOB_SKIPPED);
    i = hook_to(hook_job("room.end.success", ""), "booking:b40", hash);
    stub_redis_answer(expect_op(OP_MARK), HW_OK, false, NULL);
    CHECK(outcome() == JOB_SKIPPED);
    i = hook_to(hook_job("peer.leave.success", ",\"user_id\":\"bob\""),
                "booking:b40", hash);
    struct job *j = take();
    CHECK(j != NULL && j->outcome == JOB_DLQ &&
          strcmp(j->err_class, "validation") == 0);
    job_free(j);
    (void)i;
}

/* An hls.failure, timed by its envelope's timestamp (data is closed early;
 * a dummy object takes hook_job's closing braces). */
static struct job *hls_failure(const char *error_type)
{
    char *data = xasprintf(",\"error_type\":\"%s\"},\"timestamp\":"
                           "\"2026-01-01T10:05:00Z\",\"x\":{\"y\":1",
                           error_type);
    struct job *j = hook_job("hls.failure", data);

    free(data);
    return j;
}

/* The hls.* rows and HLS that follows the room: a stream's URL is
 * published and removed by comparison in Redis (cache_hook.hls_op); the
 * host's join starts HLS (on_join); a failure starts it again at most
 * HMS_HLS_RETRIES times. */
static void test_hls_webhooks(void)
{
    const char *live = "{\"status\":\"ready\",\"room_id\":\"r9\","
                       "\"hls_requested\":\"1\",\"role:ann\":\"host\","
                       "\"session_status\":\"live\"";
    char *hash = xasprintf("%s}", live);
    char *retried = xasprintf("%s,\"hls_retries\":\"2\"}", live);
    size_t i;

    cf.hls_on_join = true;
    cf.hms_hls_retries = 2;
    i = hook_to(hook_job("hls.started.success",
                         ",\"beam_id\":\"st1\",\"url\":\"https://x/m.m3u8\","
                         "\"started_at\":\"2026-01-01T10:00:00Z\""),
                "stream:s", hash);
    CHECK_STR(stub_ops[i].hls, "start st1 https://x/m.m3u8 1767261600000");
    stub_redis_answer(i, HW_OK, false, NULL);
    expect_told(VS_HLS_STARTED);
    i = hook_to(hook_job("hls.stopped.success",
                         ",\"url\":\"https://x/m.m3u8\",\"stopped_at\":"
                         "\"2026-01-01T11:00:00Z\""),
                "stream:s", hash); /* no beam_id: known by its URL */
    CHECK_STR(stub_ops[i].hls,
              "stop https://x/m.m3u8 https://x/m.m3u8 1767265200000");
    stub_redis_answer(i, HW_OK, false, NULL);
    expect_told(VS_HLS_STOPPED);
    /* the host joins: HLS starts, then the join is written */
    i = stub_n_calls;
    hook_to(hook_job("peer.join.success",
                     ",\"user_id\":\"ann\",\"role\":\"host\",\"joined_at\":"
                     "\"2026-01-01T10:00:00Z\""),
            "stream:s", hash);
    CHECK(stub_n_calls == i + 1);
    i = expect_call("POST", "/live-streams/room/r9/start");
    stub_hms_answer(i, HW_OK, 200, "{\"id\":\"st2\",\"status\":\"starting\"}",
                    false);
    i = expect_op(OP_HOOK);
    CHECK_STR(stub_ops[i].fields, "joined:ann=1767261600000;"
                                  "present:ann=1767261600000;");
    stub_redis_answer(i, HW_OK, false, NULL);
    expect_told(VS_PEER_JOINED);
    /* the start refused: the join is written without it */
    hook_to(hook_job("peer.join.success",
                     ",\"user_id\":\"ann\",\"role\":\"host\",\"joined_at\":"
                     "\"2026-01-01T10:00:00Z\""),
            "stream:s", hash);
    stub_hms_answer(expect_call("POST", "/live-streams/room/r9/start"),
                    HW_ERR_UNAVAILABLE, 500, NULL, false);
    stub_redis_answer(expect_op(OP_HOOK), HW_OK, false, NULL);
    expect_told(VS_PEER_JOINED);
    /* not the host's role, a stream that wants none, one that plays,
     * immediate: no start */
    i = stub_n_calls;
    hook_to(hook_job("peer.join.success",
                     ",\"user_id\":\"ann\",\"role\":\"viewer\",\"joined_at\":"
                     "\"2026-01-01T10:00:00Z\""),
            "stream:s", hash);
    stub_redis_answer(expect_op(OP_HOOK), HW_OK, false, NULL);
    expect_told(VS_PEER_JOINED);
    CHECK(stub_n_calls == i);
    hook_to(hook_job("peer.join.success",
                     ",\"user_id\":\"ann\",\"role\":\"host\",\"joined_at\":"
                     "\"2026-01-01T10:00:00Z\""),
            "stream:s",
            "{\"status\":\"ready\",\"role:ann\":\"host\",\"hls_url\":\"u\","
            "\"hls_requested\":\"1\"}");
    stub_redis_answer(expect_op(OP_HOOK), HW_OK, false, NULL);
    expect_told(VS_PEER_JOINED);
    CHECK(stub_n_calls == i);
    cf.hls_on_join = false;
    hook_to(hook_job("peer.join.success",
                     ",\"user_id\":\"ann\",\"role\":\"host\",\"joined_at\":"
                     "\"2026-01-01T10:00:00Z\""),
            "stream:s", hash);
    stub_redis_answer(expect_op(OP_HOOK), HW_OK, false, NULL);
    expect_told(VS_PEER_JOINED);
    CHECK(stub_n_calls == i);
    cf.hls_on_join = true;
    /* a failure: started again, counted; past the bound: given up */
    hook_to(hook_job("hls.failure", ",\"error_type\":\"MAX_RETRIES_REACHED\""),
            "stream:s", hash);
    CHECK(outcome() == JOB_DLQ); /* no timestamp: validation */
    hook_to(hls_failure("MAX_RETRIES_REACHED"), "stream:s", hash);
    stub_hms_answer(expect_call("POST", "/live-streams/room/r9/start"), HW_OK,
                    200, "{\"id\":\"st3\",\"status\":\"starting\"}", false);
    i = expect_op(OP_HOOK);
    CHECK_STR(stub_ops[i].fields, "hls_failed_at=1767261900000;"
                                  "hls_error=MAX_RETRIES_REACHED;"
                                  "hls_retries=1;");
    stub_redis_answer(i, HW_OK, false, NULL);
    expect_told(VS_HLS_FAILED);
    i = stub_n_calls;
    hook_to(hls_failure("MAX_RETRIES_REACHED"), "stream:s", retried);
    CHECK(stub_n_calls == i);
    CHECK_STR(stub_ops[stub_n_ops - 1].fields,
              "hls_failed_at=1767261900000;hls_error=MAX_RETRIES_REACHED;");
    stub_redis_answer(stub_n_ops - 1, HW_OK, false, NULL);
    expect_told(VS_HLS_FAILED);
    hook_to(hls_failure("BEAM_STOPPED"), "stream:s",
            hash); /* the stop was asked for */
    CHECK(stub_n_calls == i);
    stub_redis_answer(stub_n_ops - 1, HW_OK, false, NULL);
    expect_told(VS_HLS_FAILED);
    cf.hls_on_join = false;
    free(hash);
    free(retried);
}

/* A booking's session that closes after the booking's window ends,
 * locks and disables its room (CLEANUP_ON_CLOSE=lock), or only ends it
 * (end); a close within the window changes the session only. */
static void test_cleanup_on_close(void)
{
    const char *hash = "{\"status\":\"ready\",\"room_id\":\"r9\","
                       "\"ends_at\":\"1767265200000\",\"code:host\":\"c-1\","
                       "\"role:alice\":\"host\"}";
    const char *close_late = ",\"session_id\":\"s1\",\"session_stopped_at\":"
                             "\"2026-01-01T11:00:00Z\"";
    struct job *j;
    size_t i;

    cf.cleanup = CLEANUP_LOCK;
    i = hook_to(hook_job("session.close.success", close_late), "booking:b40",
                hash);
    stub_redis_answer(expect_op(OP_HOOK), HW_OK, false, NULL);
    i = expect_call("POST", "/rooms/r9");
    CHECK(json_is_false(json_object_get(stub_calls[i].body, "enabled")));
    stub_hms_answer(i, HW_OK, 200, "{\"id\":\"r9\",\"enabled\":false}", false);
    i = expect_call("POST", "/room-codes/code");
    CHECK_STR(json_string_value(json_object_get(stub_calls[i].body, "code")),
              "c-1");
    stub_hms_answer(i, HW_OK, 200, "{}", false);
    i = expect_op(OP_ENDED);
    CHECK(stub_ops[i].lock && stub_ops[i].n_users == 1);
    CHECK_STR(stub_ops[i].room_id, "r9");
    stub_redis_answer(i, HW_OK, false, NULL);
    j = take(); /* video-session, then video-ended */
    CHECK(j != NULL && j->outcome == JOB_OUTPUT &&
          j->out.kind == EVENT_VIDEO_SESSION && j->then != NULL &&
          j->then->kind == EVENT_VIDEO_ENDED);
    CHECK(j != NULL && j->then != NULL &&
          strcmp(j->then->reason,
                 "the session closed after the booking's window") == 0);
    job_free(j);
    cf.cleanup = CLEANUP_END; /* ended, the room left as it is */
    i = stub_n_calls;
    hook_to(hook_job("session.close.success", close_late), "booking:b40", hash);
    stub_redis_answer(expect_op(OP_HOOK), HW_OK, false, NULL);
    CHECK(stub_n_calls == i);
    CHECK(!stub_ops[expect_op(OP_ENDED)].lock);
    stub_redis_answer(stub_n_ops - 1, HW_OK, false, NULL);
    j = take();
    CHECK(j != NULL && j->then != NULL && j->then->kind == EVENT_VIDEO_ENDED);
    job_free(j);
    /* within the window, or off: the session only */
    hook_to(hook_job("session.close.success",
                     ",\"session_id\":\"s1\",\"session_stopped_at\":"
                     "\"2026-01-01T10:59:59Z\""),
            "booking:b40", hash);
    stub_redis_answer(expect_op(OP_HOOK), HW_OK, false, NULL);
    expect_told(VS_SESSION_ENDED); /* and nothing else */
    CHECK(stub_n_calls == i);
    cf.cleanup = CLEANUP_OFF;
    hook_to(hook_job("session.close.success", close_late), "booking:b40", hash);
    stub_redis_answer(expect_op(OP_HOOK), HW_OK, false, NULL);
    expect_told(VS_SESSION_ENDED); /* and nothing else */
    CHECK(stub_n_calls == i);
}

/* A hash value the worker did not write (frontends share that Redis): the
 * event is dead-lettered redis_tampered before any 100ms call or write,
 * whatever the event; a duplicate is still a duplicate. */
static void test_tampered_hash(void)
{
    struct job *j;
    static const struct {
        enum event_kind kind;
        bool lock;
        const char *hash;
    } rows[] = {
        {EVENT_SESSION_ENDED, false,
         "{\"status\":\"ready\",\"room_id\":\"../rooms/r8\"}"},
        {EVENT_SESSION_ENDED, false,
         "{\"status\":\"ready\",\"room_id\":\"r9/end-room?x=\"}"},
        {EVENT_SESSION_ENDED, true,
         "{\"status\":\"ready\",\"room_id\":\"r9\",\"code:host\":"
         "\"../other\"}"},
        {EVENT_SESSION_ENDED, true,
         "{\"status\":\"ready\",\"room_id\":\"r9\",\"role:\":\"host\"}"},
        {EVENT_BOOKING_CREATED, false,
         "{\"status\":\"ready\",\"room_id\":\"\"}"},
    };

    for (size_t r = 0; r < HW_ARRAY_LEN(rows); r++) {
        j = new_job(rows[r].kind, "b30");
        j->in.lock = rows[r].lock;
        handler_submit(h, j);
        stub_redis_answer(expect_op(OP_LOAD), HW_OK, false, rows[r].hash);
        j = take();
        CHECK(j != NULL && j->outcome == JOB_DLQ);
        CHECK(j != NULL && j->err_class != NULL &&
              strcmp(j->err_class, "redis_tampered") == 0);
        CHECK(j != NULL && strstr(j->err, "hms:booking:b30") != NULL);
        CHECK(stub_n_calls == 0 && stub_n_ops == 1);
        job_free(j);
        stubs_reset();
    }
    handler_submit(h, new_job(EVENT_SESSION_ENDED, "b30"));
    stub_redis_answer(expect_op(OP_LOAD), HW_OK, true, rows[0].hash);
    CHECK(outcome() == JOB_DUPLICATE);
    /* a webhook's room that names no subject of the worker's shape */
    for (size_t r = 0; r < 2; r++) {
        handler_submit(h, hook_job("peer.join.success", ""));
        stub_redis_answer(expect_op(OP_RESOLVE), HW_OK, false,
                          r == 0 ? "booking:" : "room:b30");
        j = take();
        CHECK(j != NULL && j->outcome == JOB_DLQ &&
              strcmp(j->err_class, "redis_tampered") == 0);
        CHECK(j != NULL && strstr(j->err, "hms:room:r9") != NULL);
        job_free(j);
    }
    CHECK(stub_n_calls == 0);
}

int main(void)
{
    secret_set(&cf.hms_app_secret, "secret", 6);
    cf.hms_access_key = "key";
    cf.hms_template_id = "tpl";
    cf.hms_subdomain = "sub";
    cf.hms_hls_composer_role = "__internal_recorder";
    cf.hms_hls_wait_ms = HLS_WAIT_MS;
    cf.hms_hls_check_ms = HLS_CHECK_MS;
    cf.hms_app_token_ttl_s = 86400;
    cf.hms_token_grace_s = 3600;
    cf.cache_grace_s = 86400;
    cf.cache_default_ttl_s = 604800;
    cf.event_deadline_ms = 120000;
    cf.hms_timeout_ms = 10000;
    cf.halt_retry_ms = HALT_MS;
    h = handler_create(&cf, NULL, NULL, on_finish, NULL);
    void (*const tests[])(void) = {
        test_booking,
        test_no_random_bytes,
        test_room_options,
        test_load_rows,
        test_create_room_rows,
        test_halt_and_resume,
        test_codes_rows,
        test_hls_rows,
        test_hls_without_subdomain,
        test_hls_watch,
        test_clock_ahead,
        test_redis_rows,
        test_reads_do_not_prove_writes,
        test_redis_refused,
        test_redis_down_waits_in_the_cache,
        test_session_ended,
        test_api_down_and_own_failure,
        test_end_room_rows,
        test_abandoned,
        test_webhooks,
        test_hls_webhooks,
        test_cleanup_on_close,
        test_tampered_hash,
    };
    for (size_t t = 0; t < HW_ARRAY_LEN(tests); t++) {
        stubs_reset();
        tests[t]();
        for (int s = 0; s < HS_COUNT; s++) { /* nothing left inside */
            CHECK(in_state((enum handler_state)s) == 0);
        }
        CHECK(take() == NULL);
    }
    handler_destroy(h);
    stubs_reset();
    secret_wipe(&cf.hms_app_secret);
    return TEST_REPORT();
}
