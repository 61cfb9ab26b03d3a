/* test_hms_client.c -- the 100ms client against hms-sim over real HTTP:
 * concurrency, retries (never more than HMS_RETRY_MAX), Retry-After,
 * 401 re-mint and replay, deadlines, terminal statuses. hms-sim's request
 * log is the witness of which calls were made. curl_multi_add_handle is
 * wrapped at link time (-Wl,--wrap, Makefile: this binary only) so that
 * a refused attempt can be staged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "buf.h"
#include "hms_client.h"
#include "hms_reply.h"
#include "testhelp.h"

#define MAX_CALLS 512

struct outcome {
    bool done;
    enum hw_rc rc;
    long status;
    int attempts;
    bool deadline;
    json_t *body;
    char err[256];
};

/* The linker's --wrap names: calls from hms_client.c land here. */
CURLMcode __real_curl_multi_add_handle(CURLM *multi, CURL *easy);
CURLMcode __wrap_curl_multi_add_handle(CURLM *multi, CURL *easy);

static int refuse_adds; /* how many of the next adds fail */

CURLMcode __wrap_curl_multi_add_handle(CURLM *multi, CURL *easy)
{
    if (refuse_adds > 0) {
        refuse_adds--;
        return CURLM_OUT_OF_MEMORY;
    }
    return __real_curl_multi_add_handle(multi, easy);
}

static struct hms_client *hc;
static struct outcome out[MAX_CALLS];
static const char *sim_url;
static int64_t seen; /* request log position */

static size_t collect(char *d, size_t s, size_t n, void *arg)
{
    buf_append(arg, d, s * n);
    return s * n;
}

/* A plain request to hms-sim's test controls. */
static json_t *admin(const char *method, const char *path, const char *body)
{
    CURL *e = curl_easy_init();
    struct buf b = {0};
    char *url = xasprintf("%s/__sim/%s", sim_url, path);
    json_t *j;

    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    if (getenv("HMS_API_CA_FILE") != NULL) {
        curl_easy_setopt(e, CURLOPT_CAINFO, getenv("HMS_API_CA_FILE"));
    }
    CHECK(curl_easy_perform(e) == CURLE_OK);
    j = json_loadb(b.p != NULL ? b.p : "", b.len, 0, NULL);
    curl_easy_cleanup(e);
    buf_deinit(&b);
    free(url);
    return j;
}

static void faults(const char *rules)
{
    char *body = xasprintf("{\"seed\":1,\"rules\":%s}", rules);

    json_decref(admin("POST", "faults", body));
    free(body);
}

/* Requests hms-sim saw since the last look, as "status room" pairs. */
static json_t *new_requests(void)
{
    char *path = xasprintf("requests?since=%lld", (long long)seen);
    json_t *r = admin("GET", path, NULL), *data = json_object_get(r, "data");

    seen = json_integer_value(json_object_get(r, "next"));
    json_incref(data);
    json_decref(r);
    free(path);
    return data;
}

static size_t count_room(const json_t *log, const char *room)
{
    size_t i, n = 0;
    json_t *e;

    json_array_foreach(log, i, e)
    {
        const char *r = json_string_value(json_object_get(e, "room"));

        n += r != NULL && strcmp(r, room) == 0;
    }
    return n;
}

static void on_done(void *arg, const struct hms_result *res)
{
    struct outcome *o = arg;

    o->done = true;
    o->rc = res->rc;
    o->status = res->status;
    o->attempts = res->attempts;
    o->deadline = res->deadline;
    o->body = json_incref(res->body);
    snprintf(o->err, sizeof(o->err), "%s", res->err != NULL ? res->err : "");
}

static void call(int i, const char *method, const char *path, json_t *body,
                 int64_t budget_ms)
{
    int64_t now = hw_mono_ms();

    json_decref(out[i].body); /* a body from an earlier call in this slot */
    memset(&out[i], 0, sizeof(out[i]));
    hms_client_call(hc, method, path, body, now, now + budget_ms, on_done,
                    &out[i]);
    json_decref(body);
}

static void wait_all(int n)
{
    int64_t until = hw_mono_ms() + 60000;
    bool all = false;

    while (!all && hw_mono_ms() < until) {
        hms_client_run(hc, 100, NULL, 0);
        all = true;
        for (int i = 0; i < n; i++) {
            all &= out[i].done;
        }
    }
    CHECK(all);
}

static void reset(int n)
{
    for (int i = 0; i < n; i++) {
        json_decref(out[i].body);
        out[i].body = NULL;
    }
    faults("[]");
    json_decref(new_requests());
}

static json_t *room_body(const char *name)
{
    return json_pack("{s:s}", "name", name);
}

static void test_concurrent_creates(void)
{
    json_t *stats;
    int ok = 0;

    /* Two rounds: the first opens the connections, each with a TLS
     * handshake, which under a sanitizer on a loaded machine can take
     * longer than the latency, and even than this client's 1 s timeout, so
     * only the second is checked: it reuses them, every call must succeed
     * and they must overlap. Creates are idempotent by name. */
    faults("[{\"latency_ms\":200}]");
    for (int round = 0; round < 2; round++) {
        ok = 0;
        for (int i = 0; i < 200; i++) {
            char name[32];

            snprintf(name, sizeof(name), "it-conc-%d", i);
            call(i, "POST", "/rooms", room_body(name), 30000);
        }
        wait_all(200);
        for (int i = 0; i < 200; i++) {
            ok += out[i].rc == HW_OK && out[i].status == 200 &&
                  json_is_string(json_object_get(out[i].body, "id"));
        }
    }
    CHECK_INT(ok, 200);
    stats = admin("GET", "stats", NULL);
    /* they overlapped: many waited on the 200 ms at once */
    CHECK(json_integer_value(json_object_get(stats, "suspended_peak")) >= 100);
    json_decref(stats);
    reset(200);
}

static void test_retries(void)
{
    json_t *log;

    /* it-flaky: two 503s, then success (three attempts); it-down: always
     * 503, so HMS_RETRY_MAX (3) retries and then it gives up; it-drop: one
     * dropped connection, then success */
    faults("[{\"match\":\"it-flaky\",\"rate_503\":1,\"times\":2},"
           "{\"match\":\"it-down\",\"rate_503\":1},"
           "{\"match\":\"it-drop\",\"rate_drop\":1,\"times\":1}]");
    call(0, "POST", "/rooms", room_body("it-flaky"), 30000);
    call(1, "POST", "/rooms", room_body("it-down"), 30000);
    call(2, "POST", "/rooms", room_body("it-drop"), 30000);
    wait_all(3);
    CHECK(out[0].rc == HW_OK && out[0].attempts == 3);
    /* A dropped *reused* keep-alive connection is re-sent by libcurl
     * itself (it cannot tell the server never saw it): one attempt of ours
     * may be two requests in hms-sim's log, never more. */
    CHECK(out[2].rc == HW_OK && out[2].attempts <= 2);
    log = new_requests();
    CHECK_INT(count_room(log, "it-flaky"), 3);
    CHECK_INT(count_room(log, "it-drop"), 2);
    CHECK(out[1].rc == HW_ERR_UNAVAILABLE && out[1].status == 503);
    CHECK(out[1].attempts == 4 && !out[1].deadline);
    CHECK_INT(count_room(log, "it-down"), 4); /* never past HMS_RETRY_MAX */
    json_decref(log);
    reset(3);
}

static void test_retry_after(void)
{
    json_t *log;
    int64_t t0, t1;

    /* 100ms documents no Retry-After: hms-sim sends one on request */
    faults("[{\"match\":\"it-429\",\"rate_429\":1,\"retry_after_s\":1,"
           "\"retry_after_header\":\"seconds\",\"times\":1}]");
    call(0, "POST", "/rooms", room_body("it-429"), 30000);
    wait_all(1);
    CHECK(out[0].rc == HW_OK && out[0].attempts == 2);
    log = new_requests();
    CHECK_INT(json_array_size(log), 2);
    t0 = json_integer_value(json_object_get(json_array_get(log, 0), "ts_ms"));
    t1 = json_integer_value(json_object_get(json_array_get(log, 1), "ts_ms"));
    CHECK(t1 - t0 >= 990); /* the cap is 200 ms: Retry-After won */
    json_decref(log);
    reset(1);
}

static void test_terminal_and_auth(void)
{
    struct hms_client_stats st;
    json_t *log;

    hms_client_stats(hc, &st);
    faults("[{\"match\":\"it-401\",\"rate_401\":1,\"times\":1}]");
    call(0, "POST", "/rooms", room_body("it-401"), 30000);
    call(1, "GET", "/rooms/0123456789abcdef01234567", NULL, 30000);
    call(2, "POST", "/rooms", room_body("bad name"), 30000);
    wait_all(3);
    CHECK(out[0].rc == HW_OK && out[0].attempts == 2);
    CHECK(out[1].rc == HW_ERR_NOT_FOUND && out[1].attempts == 1);
    CHECK(out[2].rc == HW_ERR_INVALID && out[2].status == 400);
    CHECK_STR(json_string_value(json_object_get(out[2].body, "message")),
              "Invalid body param");
    {
        struct hms_client_stats after;

        hms_client_stats(hc, &after);
        CHECK_INT(after.remints - st.remints, 1);
    }
    /* a 401 that persists: one re-mint, one replay, then auth */
    faults("[{\"match\":\"it-401b\",\"rate_401\":1}]");
    call(0, "POST", "/rooms", room_body("it-401b"), 30000);
    wait_all(1);
    CHECK(out[0].rc == HW_ERR_AUTH && out[0].attempts == 2);
    log = new_requests();
    CHECK_INT(count_room(log, "it-401b"), 2);
    json_decref(log);
    reset(3);
}

/* docs/100ms-api.md section 1.5: a 403 is a room's state only when its
 * message says the room is disabled; any other 403 is a permission, handled
 * like a 401 (re-mint, replay once, then auth) -- never "disabled". */
static void test_403(void)
{
    struct hms_client_stats st, after;
    json_t *room, *log;
    char path[128];

    hms_client_stats(hc, &st);
    faults("[{\"match\":\"it-403\",\"rate_403\":1}]");
    call(0, "POST", "/rooms", room_body("it-403"), 30000);
    wait_all(1);
    CHECK(out[0].rc == HW_ERR_AUTH && out[0].status == 403);
    CHECK(out[0].attempts == 2);
    CHECK(strstr(out[0].err, "Forbidden") != NULL);
    hms_client_stats(hc, &after);
    CHECK_INT(after.remints - st.remints, 1);
    log = new_requests();
    CHECK_INT(count_room(log, "it-403"), 2);
    json_decref(log);
    faults("[]");
    /* a disabled room: the codes call answers 403 "Room is disabled" */
    call(0, "POST", "/rooms", room_body("it-403-disabled"), 30000);
    wait_all(1);
    room = json_incref(out[0].body);
    snprintf(path, sizeof(path), "/rooms/%s",
             json_string_value(json_object_get(room, "id")));
    call(0, "POST", path, json_pack("{s:b}", "enabled", 0), 30000);
    wait_all(1);
    snprintf(path, sizeof(path), "/room-codes/room/%s",
             json_string_value(json_object_get(room, "id")));
    hms_client_stats(hc, &st);
    call(0, "POST", path, NULL, 30000);
    wait_all(1);
    CHECK(out[0].rc == HW_ERR_INVALID && out[0].status == 403);
    CHECK(out[0].attempts == 1);
    CHECK(hms_reply_says_disabled(out[0].body));
    hms_client_stats(hc, &after);
    CHECK_INT(after.remints - st.remints, 0);
    json_decref(room);
    reset(1);
}

static void test_deadline(void)
{
    int64_t t0 = hw_mono_ms();

    /* every call hangs past the 1 s client timeout; 2.5 s of budget */
    faults("[{\"match\":\"it-hang\",\"rate_hang\":1,\"hang_ms\":5000}]");
    call(0, "POST", "/rooms", room_body("it-hang"), 2500);
    wait_all(1);
    CHECK(out[0].rc == HW_ERR_TIMEOUT);
    CHECK(hw_mono_ms() - t0 < 5000); /* bounded by the deadline */
    CHECK(out[0].attempts >= 1 && out[0].attempts <= 3);
    reset(1);
}

/* A transfer curl will not take (review B15) is a failed attempt: retried
 * like any other, and when every one is refused the call still ends, with
 * nothing left in flight. It once stayed in the active list forever. */
static void test_add_handle_refused(void)
{
    json_t *log;
    int64_t t0 = hw_mono_ms();

    refuse_adds = 1;
    call(0, "POST", "/rooms", room_body("it-add-once"), 30000);
    wait_all(1);
    CHECK(out[0].rc == HW_OK && out[0].attempts == 2);
    log = new_requests();
    CHECK_INT(count_room(log, "it-add-once"), 1); /* the refused never left */
    json_decref(log);
    refuse_adds = 1000;
    call(0, "POST", "/rooms", room_body("it-add-never"), 30000);
    wait_all(1);
    CHECK(out[0].rc == HW_ERR_UNAVAILABLE && out[0].attempts == 4);
    CHECK(strstr(out[0].err, "curl_multi_add_handle") != NULL);
    CHECK(hms_client_pending(hc) == 0);
    CHECK(hw_mono_ms() - t0 < 20000);
    refuse_adds = 0;
    reset(1);
}

static int64_t sim_connections(void)
{
    json_t *stats = admin("GET", "stats", NULL);
    int64_t n = json_integer_value(json_object_get(stats, "connections"));

    json_decref(stats);
    return n;
}

/* HMS_MAX_CONNECTIONS below HMS_MAX_IN_FLIGHT: every call is still
 * started and succeeds, those beyond the cap waiting in curl for a free
 * connection, and hms-sim accepts no more connections than the cap (each
 * TLS connection costs about 50 KiB; 1,000 in flight once held 1,000). */
static void test_connection_cap(const char *const *base)
{
    /* the first of a name wins: a timeout long enough for a slow
     * sanitizer build, so that no attempt is retried on a new connection */
    const char *env[32] = {"HMS_MAX_IN_FLIGHT=32", "HMS_MAX_CONNECTIONS=4",
                           "HMS_TIMEOUT_MS=30000"};
    struct hms_client *full = hc;
    struct conf cf = {0};
    char errstr[256];
    int64_t before;
    int ok = 0;

    for (int i = 0; base[i] != NULL && i + 4 < (int)HW_ARRAY_LEN(env); i++) {
        env[i + 3] = base[i];
    }
    CHECK(conf_load(&cf, env) == HW_OK);
    hc = hms_client_create(&cf, errstr, sizeof(errstr));
    CHECK(hc != NULL);
    if (hc == NULL) {
        goto out;
    }
    before = sim_connections();
    faults("[{\"latency_ms\":20}]"); /* one connection of its own */
    for (int i = 0; i < 32; i++) {
        char name[32];

        snprintf(name, sizeof(name), "it-cap-%d", i);
        call(i, "POST", "/rooms", room_body(name), 30000);
    }
    CHECK_INT(hms_client_pending(hc), 32);
    wait_all(32);
    for (int i = 0; i < 32; i++) {
        ok += out[i].rc == HW_OK && out[i].attempts == 1;
    }
    CHECK_INT(ok, 32);
    /* the cap's 4, the faults call's and this stats call's own */
    CHECK(sim_connections() - before <= 4 + 2);
    reset(32);
out:
    hms_client_destroy(hc);
    conf_deinit(&cf);
    hc = full;
}

int main(void)
{
    /* the stack's: hms-sim over HTTPS, its CA trusted as the worker does */
    const char *envs[] = {"HMS_API_BASE", "HMS_ACCESS_KEY", "HMS_TEMPLATE_ID",
                          "HMS_APP_SECRET_FILE", "HMS_API_CA_FILE"};
    const char *env[16];
    char *owned[8];
    int n = 0;
    struct conf cf = {0};
    char errstr[256];

    sim_url = getenv("HMS_SIM_URL");
    for (size_t i = 0; i < HW_ARRAY_LEN(envs); i++) {
        owned[i] = xasprintf("%s=%s", envs[i], getenv(envs[i]));
        env[n++] = owned[i];
    }
    env[n++] = "HMS_RETRY_MAX=3";
    env[n++] = "HMS_RETRY_BASE_MS=50";
    env[n++] = "HMS_RETRY_CAP_MS=200";
    env[n++] = "HMS_TIMEOUT_MS=1000";
    env[n] = NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CHECK(sim_url != NULL && conf_load(&cf, env) == HW_OK);
    hc = hms_client_create(&cf, errstr, sizeof(errstr));
    CHECK(hc != NULL);
    if (hc != NULL) {
        reset(0);
        test_concurrent_creates();
        test_retries();
        test_retry_after();
        test_terminal_and_auth();
        test_403();
        test_deadline();
        test_add_handle_refused();
        test_connection_cap(env);
        CHECK_INT(hms_client_pending(hc), 0);
    }
    hms_client_destroy(hc);
    conf_deinit(&cf);
    for (size_t i = 0; i < HW_ARRAY_LEN(envs); i++) {
        free(owned[i]);
    }
    curl_global_cleanup();
    return TEST_REPORT();
}
