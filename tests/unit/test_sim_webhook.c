/* test_sim_webhook.c -- hms-sim's webhooks without a network or a thread:
 * the settings (flags and JSON form), the envelope and each event's
 * documented fields as the API makes them, and the delivery -- retries at
 * 1/3/10 s, order per destination, faults, replay -- driven through
 * sim_webhook_pump() with a fake transport and a fake clock. Nothing
 * sleeps: time moves when a test says so. */
#include "log.h"
#include "sim_api_int.h"
#include "sim_fixture.h"
#include "sim_webhook.h"

#define S(n) ((int64_t)(n)*1000)
#define URL "http://127.0.0.1:9/hook"
#define URL2 "http://127.0.0.1:10/room-hook"
#define MAX_CALLS 256

/* ---- the fake transport and clock ------------------------------------- */

struct call {
    char url[128];
    char headers[512]; /* lines joined by '\n' */
    json_t *body;
    int64_t at;
};

static int64_t fake_now = NOW_MS;
static struct call calls[MAX_CALLS];
static size_t n_calls;
static int script[64]; /* statuses to answer, in turn; then 200 */
static size_t n_script, script_at;

static int fake_post(void *ctx, const char *url, char *const *headers,
                     const char *body, size_t len, char *err, size_t err_size)
{
    struct call *c = &calls[n_calls < MAX_CALLS ? n_calls++ : MAX_CALLS - 1];
    size_t off = 0;
    int st = script_at < n_script ? script[script_at++] : 200;

    (void)ctx;
    snprintf(c->url, sizeof(c->url), "%s", url);
    c->headers[0] = '\0';
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        off += (size_t)snprintf(c->headers + off, sizeof(c->headers) - off,
                                "%s\n", headers[i]);
    }
    c->body = json_loadb(body, len, 0, NULL);
    c->at = fake_now;
    if (st == 0) {
        snprintf(err, err_size, "Couldn't connect to server");
    }
    return st;
}

static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

static const struct sim_wh_io fake_io = {fake_post, fake_clock, fake_clock,
                                         NULL};

static void reset_calls(void)
{
    for (size_t i = 0; i < n_calls; i++) {
        json_decref(calls[i].body);
    }
    memset(calls, 0, sizeof(calls));
    n_calls = n_script = script_at = 0;
}

static void answer(int n, const int *statuses)
{
    for (int i = 0; i < n; i++) {
        script[n_script++] = statuses[i];
    }
}

/* Pumps until nothing is due now; returns when the next thing is. */
static int64_t drain(struct sim_webhook *wh)
{
    int64_t next;

    while ((next = sim_webhook_pump(wh)) <= fake_now) {
    }
    return next;
}

static const char *type_of(size_t i)
{
    return json_string_value(json_object_get(calls[i].body, "type"));
}

static json_t *data_of(size_t i)
{
    return json_object_get(calls[i].body, "data");
}

/* The types posted, space-separated, in a rotating buffer. */
static const char *types(void)
{
    static char buf[4][2048];
    static int k;
    size_t off = 0;

    k = (k + 1) % 4;
    buf[k][0] = '\0';
    for (size_t i = 0; i < n_calls; i++) {
        off += (size_t)snprintf(buf[k] + off, sizeof(buf[k]) - off, "%s%s",
                                i > 0 ? " " : "", type_of(i));
    }
    return buf[k];
}

static struct sim_webhook *new_wh(const char *settings)
{
    struct sim_webhook *wh = sim_webhook_create(&cf, &fake_io);
    json_t *j = json_loads(settings, 0, NULL);
    char errstr[256];

    CHECK(j != NULL);
    CHECK(sim_webhook_conf_update(wh, j, errstr, sizeof(errstr)) == HW_OK);
    json_decref(j);
    reset_calls();
    return wh;
}

/* Queues a hand-made event of room r to the workspace webhook. */
static void put(struct sim_webhook *wh, const char *id, const char *type,
                const char *room, json_t *room_webhook)
{
    char *body = xasprintf("{\"id\":\"%s\",\"type\":\"%s\"}", id, type);
    struct sim_wh_event ev = {id, type, room, body, room_webhook};

    sim_webhook_enqueue(wh, &ev);
    free(body);
}

static json_t *log_of(struct sim_webhook *wh)
{
    return sim_webhook_log_json(wh, 0, 1000);
}

/* ---- settings ----------------------------------------------------------- */

static void test_settings(void)
{
    struct sim_wh_conf c;
    char errstr[256];
    json_t *j, *v;

    sim_wh_conf_init(&c);
    CHECK(sim_wh_url_ok("http://127.0.0.1:8080/hook"));
    CHECK(sim_wh_url_ok("HTTPS://hooks.example/x?a=b"));
    CHECK(!sim_wh_url_ok("ftp://x/"));
    CHECK(!sim_wh_url_ok("http://"));
    CHECK(!sim_wh_url_ok("http:///path"));
    CHECK(!sim_wh_url_ok("http://a b/"));
    CHECK(!sim_wh_url_ok("http://a\r\nX: y"));
    CHECK(!sim_wh_url_ok(NULL));
    CHECK(sim_wh_header_ok("X-Hook-Secret", "s3cr3t value"));
    CHECK(!sim_wh_header_ok("X Hook", "v"));
    CHECK(!sim_wh_header_ok("X-Hook", "v\r\nX-Evil: 1"));
    CHECK(!sim_wh_header_ok("", "v"));
    /* the flag forms */
    CHECK(sim_wh_conf_set_url(&c, "gopher://x", errstr, sizeof(errstr)) ==
          HW_ERR_CONFIG);
    CHECK(c.url == NULL);
    CHECK(sim_wh_conf_set_url(&c, URL, errstr, sizeof(errstr)) == HW_OK);
    CHECK(sim_wh_conf_add_header(&c, "X-Secret: abc", errstr, sizeof(errstr)) ==
          HW_OK);
    CHECK(sim_wh_conf_add_header(&c, "X-Other:d:e", errstr, sizeof(errstr)) ==
          HW_OK);
    CHECK_STR(json_string_value(json_object_get(c.headers, "X-Other")), "d:e");
    CHECK(sim_wh_conf_add_header(&c, "no-colon", errstr, sizeof(errstr)) ==
          HW_ERR_CONFIG);
    CHECK(sim_wh_conf_add_header(&c, "Bad Name: sekrit", errstr,
                                 sizeof(errstr)) == HW_ERR_CONFIG);
    CHECK(strstr(errstr, "sekrit") == NULL); /* never the value */
    CHECK(sim_wh_conf_set_fault(&c, "duplicate_rate=0.5", errstr,
                                sizeof(errstr)) == HW_OK);
    CHECK(sim_wh_conf_set_fault(&c, "seed=7", errstr, sizeof(errstr)) == HW_OK);
    CHECK(sim_wh_conf_set_fault(&c, "drop_rate=2", errstr, sizeof(errstr)) ==
          HW_ERR_CONFIG);
    CHECK(sim_wh_conf_set_fault(&c, "bogus=1", errstr, sizeof(errstr)) ==
          HW_ERR_CONFIG);
    /* the JSON form: all or nothing, values redacted in the view */
    j = json_loads("{\"webhook_url\":\"http://h/x\",\"webhook_headers\":"
                   "{\"A\":\"1\"},\"webhook_faults\":{\"drop_rate\":2}}",
                   0, NULL);
    CHECK(sim_wh_conf_update(&c, j, errstr, sizeof(errstr)) == HW_ERR_INVALID);
    CHECK(strstr(errstr, "webhook_faults") != NULL);
    CHECK_STR(c.url, URL);
    json_decref(j);
    j = json_loads("{\"webhook_headers\":{\"A\":\"1\"},\"time_scale\":5}", 0,
                   NULL);
    CHECK(sim_wh_conf_update(&c, j, errstr, sizeof(errstr)) == HW_OK);
    json_decref(j);
    v = sim_wh_conf_to_json(&c);
    CHECK_STR(json_string_value(json_object_get(v, "webhook_url")), URL);
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(v, "webhook_headers"), "A")),
              "(redacted)");
    CHECK_INT(json_object_size(json_object_get(v, "webhook_headers")), 1);
    CHECK(json_real_value(json_object_get(json_object_get(v, "webhook_faults"),
                                          "duplicate_rate")) == 0.5);
    CHECK_INT(json_integer_value(json_object_get(
                  json_object_get(v, "webhook_faults"), "seed")),
              7);
    json_decref(v);
    j = json_loads("{\"webhook_url\":null}", 0, NULL);
    CHECK(sim_wh_conf_update(&c, j, errstr, sizeof(errstr)) == HW_OK);
    CHECK(c.url == NULL);
    json_decref(j);
    CHECK(sim_wh_conf_key("webhook_faults") && !sim_wh_conf_key("strict"));
    sim_wh_conf_deinit(&c);
}

/* ---- pure parts --------------------------------------------------------- */

static void test_retry_schedule(void)
{
    /* documented: retried 3 times, 1 s, 3 s, then 10 s (overview.mdx) */
    CHECK_INT(sim_webhook_retry_delay_ms(1), 1000);
    CHECK_INT(sim_webhook_retry_delay_ms(2), 3000);
    CHECK_INT(sim_webhook_retry_delay_ms(3), 10000);
    CHECK_INT(sim_webhook_retry_delay_ms(4), -1);
    CHECK_INT(sim_webhook_retry_delay_ms(0), -1);
}

static void test_envelope_and_times(void)
{
    json_t *e =
        sim_ev_envelope("id-1", "app", "acct", "tpl", NOW_MS + 999,
                        "peer.join.success", "2.0", json_pack("{s:i}", "x", 1));
    const char *key;
    json_t *v;
    size_t n = 0;

    json_object_foreach(e, key, v)
    {
        n++;
    }
    CHECK_INT(n, 8); /* exactly the documented members */
    CHECK_STR(str(e, "version"), "2.0");
    CHECK_STR(str(e, "id"), "id-1");
    CHECK_STR(str(e, "app_id"), "app");
    CHECK_STR(str(e, "account_id"), "acct");
    CHECK_STR(str(e, "template_id"), "tpl");
    CHECK_STR(str(e, "timestamp"), "2027-01-15T08:00:00Z"); /* seconds */
    CHECK_STR(str(e, "type"), "peer.join.success");
    CHECK_INT(
        json_integer_value(json_object_get(json_object_get(e, "data"), "x")),
        1);
    json_decref(e);
    for (int d = 0; d <= 9; d += d == 3 ? 6 : 3) { /* 0, 3, 9 digits */
        json_t *t = sim_time(NOW_MS + 123, d);

        CHECK_INT(hw_rfc3339_ms(json_string_value(t)),
                  d == 0 ? NOW_MS : NOW_MS + 123);
        json_decref(t);
    }
    CHECK_INT(hw_rfc3339_ms("1970-01-01T00:00:00Z"), 0);
    CHECK_INT(hw_rfc3339_ms("2000-02-29T12:00:00.5Z"), 951825600500LL);
    CHECK_INT(hw_rfc3339_ms("2027-01-15T08:00:00"), INT64_MIN);
    CHECK_INT(hw_rfc3339_ms("2027-13-15T08:00:00Z"), INT64_MIN);
    CHECK_INT(hw_rfc3339_ms("2027-01-15T08:00:00.Z"), INT64_MIN);
    CHECK_INT(hw_rfc3339_ms(""), INT64_MIN);
    CHECK_INT(hw_rfc3339_ms(NULL), INT64_MIN);
}

/* ---- delivery ------------------------------------------------------------ */

/* documented: not 200 -> retried 1 s, 3 s, 10 s after each failure, then
 * given up; the clock only moves when the test moves it. */
static void test_retries(void)
{
    static const int fail[] = {500, 0, 503, 201};
    struct sim_webhook *wh = new_wh("{\"webhook_url\":\"" URL "\"}");
    int64_t t0 = fake_now, next;
    json_t *log, *e;

    answer(4, fail);
    put(wh, "e1", "session.open.success", "r1", NULL);
    next = drain(wh);
    CHECK_INT(n_calls, 1);
    CHECK_INT(next, t0 + 1000);
    fake_now = t0 + 999;
    CHECK_INT(drain(wh), t0 + 1000);
    CHECK_INT(n_calls, 1);
    fake_now = t0 + 1000;
    CHECK_INT(drain(wh), t0 + 4000);
    fake_now = t0 + 4000;
    CHECK_INT(drain(wh), t0 + 14000);
    fake_now = t0 + 14000;
    CHECK_INT(drain(wh), INT64_MAX); /* a 201 is not a 200: given up */
    CHECK_INT(n_calls, 4);
    CHECK_INT(calls[1].at - calls[0].at, 1000);
    CHECK_INT(calls[2].at - calls[1].at, 3000);
    CHECK_INT(calls[3].at - calls[2].at, 10000);
    log = log_of(wh);
    CHECK_INT(json_array_size(json_object_get(log, "data")), 4);
    for (size_t i = 0; i < 4; i++) {
        e = json_array_get(json_object_get(log, "data"), i);
        CHECK_INT(json_integer_value(json_object_get(e, "attempt")), i + 1);
        CHECK_INT(json_integer_value(json_object_get(e, "status")), fail[i]);
        CHECK_STR(str(e, "result"), i < 3 ? "failed" : "gave_up");
        CHECK_STR(str(e, "id"), "e1");
    }
    CHECK_STR(str(json_array_get(json_object_get(log, "data"), 1), "error"),
              "Couldn't connect to server");
    CHECK_INT(json_integer_value(
                  json_object_get(json_object_get(log, "counts"), "gave_up")),
              1);
    CHECK_INT(json_integer_value(json_object_get(log, "queued")), 0);
    json_decref(log);
    /* a success on the second attempt ends it there */
    reset_calls();
    answer(1, fail);
    put(wh, "e2", "session.open.success", "r1", NULL);
    drain(wh);
    fake_now += 1000;
    CHECK_INT(drain(wh), INT64_MAX);
    CHECK_INT(n_calls, 2);
    log = log_of(wh);
    e = json_array_get(json_object_get(log, "data"), 5);
    CHECK_STR(str(e, "result"), "delivered");
    CHECK_INT(json_integer_value(json_object_get(e, "attempt")), 2);
    json_decref(log);
    sim_webhook_destroy(wh);
    reset_calls();
}

/* One at a time per destination, oldest first: a retry holds back the
 * later events of its destination, not another destination's. The
 * configured headers go out as they are; a room's webhook replaces the
 * workspace's. */
static void test_order_headers_destinations(void)
{
    static const int fail[] = {500};
    struct sim_webhook *wh =
        new_wh("{\"webhook_url\":\"" URL "\",\"webhook_headers\":"
               "{\"X-Hook-Secret\":\"s3\",\"X-Two\":\"2\"}}");
    json_t *hook =
        json_pack("{s:s, s:{s:s}}", "url", URL2, "headers", "X-Room", "r");
    json_t *bad_hook = json_pack("{s:s}", "url", "not a url");

    answer(1, fail);
    put(wh, "a1", "t.a", "r1", NULL);
    put(wh, "a2", "t.b", "r2", NULL);
    put(wh, "b1", "t.c", "r3", hook);
    put(wh, "c1", "t.d", "r4", bad_hook); /* unusable: the workspace's */
    drain(wh);
    CHECK_STR(types(), "t.a t.c"); /* a1 failed; a2 waits behind it */
    CHECK_STR(calls[0].url, URL);
    CHECK_STR(calls[0].headers, "X-Hook-Secret: s3\nX-Two: 2\n");
    CHECK_STR(calls[1].url, URL2);
    CHECK_STR(calls[1].headers, "X-Room: r\n");
    fake_now += 1000;
    drain(wh);
    CHECK_STR(types(), "t.a t.c t.a t.b t.d");
    CHECK_STR(calls[4].url, URL);
    json_decref(hook);
    json_decref(bad_hook);
    sim_webhook_destroy(wh);
    reset_calls();
}

/* Faults, seeded: drop loses the event before any attempt, duplicate
 * sends it twice with one id, reorder swaps it with the room's next. */
static void test_faults(void)
{
    struct sim_webhook *wh = new_wh("{\"webhook_url\":\"" URL
                                    "\",\"webhook_faults\":{\"drop_rate\":1}}");
    json_t *log;
    char errstr[128];
    json_t *j;

    put(wh, "d1", "t.a", "r1", NULL);
    CHECK_INT(drain(wh), INT64_MAX);
    CHECK_INT(n_calls, 0);
    log = log_of(wh);
    CHECK_STR(str(json_array_get(json_object_get(log, "data"), 0), "result"),
              "lost");
    CHECK_INT(json_integer_value(
                  json_object_get(json_object_get(log, "counts"), "lost")),
              1);
    json_decref(log);

    j = json_loads("{\"webhook_faults\":{\"drop_rate\":0,"
                   "\"duplicate_rate\":1}}",
                   0, NULL);
    CHECK(sim_webhook_conf_update(wh, j, errstr, sizeof(errstr)) == HW_OK);
    json_decref(j);
    put(wh, "u1", "t.a", "r1", NULL);
    put(wh, "u2", "t.b", "r1", NULL);
    drain(wh);
    CHECK_STR(types(), "t.a t.a t.b t.b");
    CHECK_STR(str(calls[1].body, "id"), "u1");
    reset_calls();

    j = json_loads("{\"webhook_faults\":{\"duplicate_rate\":0,"
                   "\"reorder_rate\":1}}",
                   0, NULL);
    CHECK(sim_webhook_conf_update(wh, j, errstr, sizeof(errstr)) == HW_OK);
    json_decref(j);
    put(wh, "o1", "t.1", "r1", NULL); /* held back */
    put(wh, "x1", "t.x", "r2", NULL); /* held back too (rate 1) */
    put(wh, "o2", "t.2", "r1", NULL); /* goes first; o1 next */
    put(wh, "o3", "t.3", "r1", NULL); /* held back again */
    drain(wh);
    CHECK_STR(types(), "t.2 t.1");
    fake_now += SIM_WH_HOLD_MS - 1;
    drain(wh);
    CHECK_INT(n_calls, 2);
    fake_now += 1; /* no successor came: released where it was */
    drain(wh);
    CHECK_STR(types(), "t.2 t.1 t.x t.3");
    log = log_of(wh);
    CHECK_INT(json_integer_value(
                  json_object_get(json_object_get(log, "counts"), "reordered")),
              1);
    json_decref(log);
    sim_webhook_destroy(wh);
    reset_calls();
}

/* The same seed, the same dice: two runs lose the same events. */
static void test_faults_repeat(void)
{
    char first[64] = "", second[64] = "";
    size_t len[2] = {0, 0};

    for (int run = 0; run < 2; run++) {
        struct sim_webhook *wh =
            new_wh("{\"webhook_url\":\"" URL "\",\"webhook_faults\":"
                   "{\"drop_rate\":0.5,\"seed\":42}}");
        char *out = run == 0 ? first : second;

        for (int i = 0; i < 20; i++) {
            char id[8];

            snprintf(id, sizeof(id), "%c", 'a' + i);
            put(wh, id, "t", "r", NULL);
        }
        drain(wh);
        for (size_t i = 0; i < n_calls; i++) {
            len[run] += (size_t)snprintf(out + len[run], 64 - len[run], "%s",
                                         str(calls[i].body, "id"));
        }
        sim_webhook_destroy(wh);
        reset_calls();
    }
    CHECK(strlen(first) > 2 && strlen(first) < 18);
    CHECK_STR(second, first);
}

/* documented: replay re-sends past events with is_replay: true (the
 * replay API); by ids or by room, to the webhook now configured. */
static void test_replay(void)
{
    struct sim_webhook *wh = new_wh("{\"webhook_url\":\"" URL "\"}");
    json_t *body, *out;
    char errstr[128];
    int code = 0;

    put(wh, "p1", "t.a", "r1", NULL);
    put(wh, "p2", "t.b", "r2", NULL);
    put(wh, "p3", "t.c", "r1", NULL);
    drain(wh);
    CHECK_INT(n_calls, 3);
    CHECK(json_object_get(calls[0].body, "is_replay") == NULL);
    body = json_loads("{\"webhook_url\":\"" URL2 "\"}", 0, NULL);
    CHECK(sim_webhook_conf_update(wh, body, errstr, sizeof(errstr)) == HW_OK);
    json_decref(body);
    body = json_pack("{s:[s, s]}", "ids", "p2", "nope");
    out = sim_webhook_replay(wh, body, &code);
    CHECK_INT(code, 200);
    CHECK_INT(json_integer_value(json_object_get(out, "replayed")), 1);
    CHECK_STR(
        json_string_value(json_array_get(json_object_get(out, "missing"), 0)),
        "nope");
    json_decref(out);
    json_decref(body);
    drain(wh);
    CHECK_INT(n_calls, 4);
    CHECK_STR(str(calls[3].body, "id"), "p2");
    CHECK(json_is_true(json_object_get(calls[3].body, "is_replay")));
    CHECK_STR(calls[3].url, URL2); /* the webhook configured now */
    body = json_pack("{s:s}", "room_id", "r1");
    json_decref(sim_webhook_replay(wh, body, &code));
    json_decref(body);
    drain(wh); /* documented: 10 a second */
    CHECK_INT(n_calls, 5);
    fake_now += SIM_WH_REPLAY_GAP_MS;
    drain(wh);
    CHECK_STR(types(), "t.a t.b t.c t.b t.a t.c");
    out = log_of(wh);
    CHECK(json_is_true(json_object_get(
        json_array_get(json_object_get(out, "data"), 5), "replay")));
    json_decref(out);
    body = json_pack("{s:s}", "bogus", "x");
    json_decref(sim_webhook_replay(wh, body, &code));
    CHECK_INT(code, 400);
    json_decref(body);
    sim_webhook_clear(wh, true, true);
    body = json_pack("{s:[s]}", "ids", "p1");
    out = sim_webhook_replay(wh, body, &code);
    CHECK_INT(json_integer_value(json_object_get(out, "replayed")), 0);
    json_decref(out);
    json_decref(body);
    sim_webhook_destroy(wh);
    reset_calls();
}

/* ---- events, as the API makes them ------------------------------------- */

static const char *good_url(const char *id)
{
    return path("https://sub.app.100ms.live/preview/%s/__internal_recorder"
                "?skip_preview=true",
                id);
}

static json_int_t int_of(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* Every call's envelope is the documented one, of room r's template. */
static void check_envelopes(const char *tpl)
{
    for (size_t i = 0; i < n_calls; i++) {
        CHECK_STR(str(calls[i].body, "version"),
                  strcmp(type_of(i), "recording.success") == 0 ? "1.0" : "2.0");
        CHECK_INT(strlen(str(calls[i].body, "id")), 36);
        CHECK_STR(str(calls[i].body, "app_id"), cf.app_id);
        CHECK_STR(str(calls[i].body, "account_id"), "c1");
        CHECK_STR(str(calls[i].body, "template_id"), tpl);
        CHECK_STR(str(data_of(i), "template_id"), tpl);
    }
}

/* A session: two joins, a leave, end-room with lock. documented fields
 * and reasons (webhook.md); durations in whole seconds. */
static void test_session_and_peer_events(struct sim_webhook *wh)
{
    const char *r = fx_room("wh-peers", NULL);
    const char *ann, *bob;
    json_t *d;

    reset_calls();
    ann = join_peer(NOW_MS, r, "ann");
    bob = join_peer(NOW_MS + S(5), r, "bob");
    json_decref(leave_at(NOW_MS + S(65), ann));
    json_decref(req_at(NOW_MS + S(70), "POST",
                       path("/v2/active-rooms/%s/end-room", r), NULL,
                       "{\"reason\":\"booking over\",\"lock\":true}"));
    CHECK_INT(status, 200);
    drain(wh);
    CHECK_STR(types(), "session.open.success peer.join.success "
                       "peer.join.success peer.leave.success "
                       "peer.leave.success session.close.success "
                       "room.end.success");
    check_envelopes("t1");
    d = data_of(0);
    CHECK_STR(str(d, "room_id"), r);
    CHECK_STR(str(d, "room_name"), "wh-peers");
    CHECK_INT(strlen(str(d, "session_id")), 24);
    CHECK_STR(str(d, "session_started_at"), "2027-01-15T08:00:00.000000000Z");
    CHECK_STR(str(calls[0].body, "timestamp"), "2027-01-15T08:00:00Z");
    d = data_of(2);
    CHECK_STR(str(d, "peer_id"), bob);
    CHECK_STR(str(d, "user_id"), "bob");
    CHECK_STR(str(d, "user_name"), "bob");
    CHECK_STR(str(d, "role"), "host");
    CHECK_STR(str(d, "user_data"), "");
    CHECK_STR(str(d, "type"), "regular");
    CHECK_STR(str(d, "joined_at"), "2027-01-15T08:00:05.000000000Z");
    CHECK_STR(str(d, "session_started_at"), "2027-01-15T08:00:00.000000000Z");
    d = data_of(3);
    CHECK_STR(str(d, "peer_id"), ann);
    CHECK_STR(str(d, "reason"), "client request");
    CHECK_STR(str(d, "message"), "");
    CHECK_INT(int_of(d, "duration"), 65);
    CHECK_STR(str(d, "left_at"), "2027-01-15T08:01:05.000000000Z");
    d = data_of(4);
    CHECK_STR(str(d, "peer_id"), bob);
    CHECK_STR(str(d, "reason"), "server removed peer");
    CHECK_INT(int_of(d, "duration"), 65);
    d = data_of(5);
    CHECK_INT(int_of(d, "session_duration"), 70);
    CHECK_STR(str(d, "session_stopped_at"), "2027-01-15T08:01:10.000000000Z");
    d = data_of(6);
    CHECK(json_is_true(json_object_get(d, "lock_room")));
    CHECK_STR(str(d, "reason"), "booking over");
    CHECK_STR(str(d, "session_id"), str(data_of(0), "session_id"));
    CHECK_STR(str(calls[6].body, "timestamp"), "2027-01-15T08:01:10Z");
    /* the session hook: open, then one join per peer; the last leave
     * closes it with "client request" */
    reset_calls();
    r = fx_room("wh-hook", NULL);
    {
        json_t *peers = json_pack("[{s:s, s:s, s:s}]", "user_id", "u9", "role",
                                  "guest", "name", "Nine");
        struct sim_resp resp;

        sim_api_open_session(api, r, peers, NOW_MS, &resp);
        d = fx_parse(&resp);
        json_decref(peers);
    }
    {
        const char *pid = "";
        const char *k;
        json_t *p;

        json_object_foreach(json_object_get(d, "peers"), k, p)
        {
            pid = path("%s", k);
        }
        json_decref(d);
        json_decref(leave_at(NOW_MS + 1500, pid));
    }
    drain(wh);
    CHECK_STR(types(), "session.open.success peer.join.success "
                       "peer.leave.success session.close.success");
    CHECK_STR(str(data_of(1), "user_name"), "Nine");
    CHECK_INT(int_of(data_of(2), "duration"), 1);
    CHECK_STR(str(data_of(2), "reason"), "client request");
}

/* documented: SFU recording (recording_info.enabled) -> recording.success,
 * "version": "1.0" as in its samples, when the session closes. */
static void test_sfu_recording(struct sim_webhook *wh)
{
    json_t *room = req("POST", "/v2/rooms", NULL,
                       "{\"name\":\"wh-rec\",\"recording_info\":"
                       "{\"enabled\":true}}");
    const char *r = path("%s", str(room, "id"));
    const char *p;
    json_t *d;

    json_decref(room);
    reset_calls();
    p = join_peer(NOW_MS, r, "ann");
    json_decref(leave_at(NOW_MS + S(30), p));
    drain(wh);
    CHECK_STR(types(), "session.open.success peer.join.success "
                       "peer.leave.success session.close.success "
                       "recording.success");
    check_envelopes("t1");
    d = data_of(4);
    CHECK_INT(int_of(d, "duration"), 30);
    CHECK(strncmp(str(d, "recording_path"), "s3://", 5) == 0);
    CHECK(strncmp(str(d, "recording_presigned_url"), "https://", 8) == 0);
    CHECK(int_of(d, "size") > 0);
    CHECK_STR(str(d, "session_started_at"), "2027-01-15T08:00:00.000000000Z");
    CHECK_STR(str(d, "session_stopped_at"), "2027-01-15T08:00:30.000000000Z");
}

/* The HLS events at their transitions, sent by the ticker when nobody
 * reads the stream. hls_running_after_ms is 1000 here. */
static void test_hls_events(struct sim_webhook *wh)
{
    const char *r = fx_room("wh-hls", NULL);
    const char *p, *sid;
    json_t *s, *d;

    reset_calls();
    p = join_peer(NOW_MS, r, "ann");
    s = req_at(NOW_MS, "POST", path("/v2/live-streams/room/%s/start", r), NULL,
               path("{\"meeting_url\":\"%s\",\"recording\":{\"hls_vod\":true,"
                    "\"single_file_per_layer\":false}}",
                    good_url(r)));
    sid = path("%s", str(s, "id"));
    CHECK(json_object_get(s, "_job") == NULL);
    json_decref(s);
    sim_api_tick(api, NOW_MS + 999);
    drain(wh);
    CHECK_INT(n_calls, 2);
    sim_api_tick(api, NOW_MS + 1000);
    drain(wh);
    CHECK_STR(types(), "session.open.success peer.join.success "
                       "hls.started.success");
    d = data_of(2);
    CHECK_STR(str(d, "beam_id"), sid);
    CHECK_INT(strlen(str(d, "job_id")), 24);
    CHECK_INT(strlen(str(d, "peer_id")), 36);
    s = req_at(NOW_MS + 1000, "GET", path("/v2/live-streams/%s", sid), NULL,
               NULL);
    CHECK_STR(str(d, "url"), str(json_object_get(s, "playback"), "url"));
    CHECK(strstr(str(d, "url"), ".m3u8") != NULL);
    json_decref(s);
    CHECK_STR(str(d, "started_at"), "2027-01-15T08:00:01.000000000Z");
    CHECK_INT(int_of(d, "start_delay"), 1);
    CHECK(json_is_true(json_object_get(d, "recording_vod_playlist_enabled")));
    CHECK(json_is_false(
        json_object_get(d, "recording_single_file_per_layer_enabled")));
    CHECK_STR(str(d, "meeting_url"), good_url(r));
    CHECK_INT(int_of(d, "max_width"), 1280);
    CHECK_STR(str(d, "session_started_at"), "2027-01-15T08:00:00.000000000Z");
    /* alone 5 minutes after the leave: stopped at that moment, sent by a
     * tick, not by a read */
    json_decref(leave_at(NOW_MS + S(10), p));
    sim_api_tick(api, NOW_MS + S(309));
    drain(wh);
    CHECK_INT(n_calls, 5);
    sim_api_tick(api, NOW_MS + S(400));
    drain(wh);
    CHECK_STR(types(), "session.open.success peer.join.success "
                       "hls.started.success peer.leave.success "
                       "session.close.success hls.stopped.success "
                       "hls.recording.success");
    d = data_of(5);
    CHECK_STR(str(d, "reason"), "last peer left");
    CHECK_STR(str(d, "stopped_at"), "2027-01-15T08:05:10.000000000Z");
    CHECK_INT(int_of(d, "duration"), 309);
    CHECK_STR(str(calls[5].body, "timestamp"), "2027-01-15T08:05:10Z");
    CHECK_STR(str(d, "beam_id"), sid);
    CHECK_STR(str(d, "job_id"), str(data_of(2), "job_id"));
    d = data_of(6);
    CHECK_INT(int_of(d, "duration"), 309);
    CHECK(strstr(str(d, "hls_vod_recording_path"), sid) != NULL);
    CHECK(int_of(d, "hls_vod_recording_size") > 0);
    CHECK(json_object_get(d, "job_id") == NULL);
    check_envelopes("t1");
    /* nothing new at later ticks, nor on a read */
    sim_api_tick(api, NOW_MS + S(500));
    json_decref(req_at(NOW_MS + S(500), "GET", path("/v2/live-streams/%s", sid),
                       NULL, NULL));
    drain(wh);
    CHECK_INT(n_calls, 7);
}

static void test_hls_failures(struct sim_webhook *wh)
{
    const char *r = fx_room("wh-hls-bad", NULL);
    const char *r3 = fx_room("wh-hls-max", "t3");
    json_t *s;

    reset_calls();
    /* a meeting_url the composer cannot join */
    json_decref(req_at(NOW_MS, "POST",
                       path("/v2/live-streams/room/%s/start", r), NULL,
                       "{\"meeting_url\":\"https://x.invalid/\"}"));
    sim_api_tick(api, NOW_MS + S(2));
    drain(wh);
    CHECK_STR(types(), "hls.failure hls.stopped.success");
    CHECK_STR(str(data_of(0), "error_type"), "MAX_RETRIES_REACHED");
    CHECK(strstr(str(data_of(0), "error_message"), "Meeting URL") != NULL);
    CHECK_STR(str(data_of(1), "reason"), "failure: MAX_RETRIES_REACHED");
    CHECK_STR(str(data_of(1), "started_at"), "");
    CHECK_STR(str(data_of(0), "session_id"), ""); /* no session */
    /* a stop before the composer started: BEAM_STOPPED */
    reset_calls();
    json_decref(req_at(NOW_MS + S(3), "POST",
                       path("/v2/live-streams/room/%s/start", r), NULL,
                       path("{\"meeting_url\":\"%s\"}", good_url(r))));
    json_decref(req_at(NOW_MS + S(3) + 500, "POST",
                       path("/v2/live-streams/room/%s/stop", r), NULL, NULL));
    drain(wh);
    CHECK_STR(types(), "hls.failure hls.stopped.success");
    CHECK_STR(str(data_of(0), "error_type"), "BEAM_STOPPED");
    CHECK_STR(str(data_of(1), "reason"), "client request");
    /* the template's maximum duration (t3: 600 s), with a peer in */
    reset_calls();
    join_peer(NOW_MS, r3, "ann");
    s = req_at(NOW_MS, "POST", path("/v2/live-streams/room/%s/start", r3), NULL,
               path("{\"meeting_url\":\"https://s3.app.100ms.live/preview/%s/"
                    "__internal_recorder?skip_preview=true\"}",
                    r3));
    json_decref(s);
    sim_api_tick(api, NOW_MS + S(700));
    drain(wh);
    CHECK_STR(types(), "session.open.success peer.join.success "
                       "hls.started.success hls.stopped.success");
    CHECK_STR(str(data_of(3), "reason"), "max duration reached");
    CHECK_STR(str(data_of(3), "stopped_at"), "2027-01-15T08:10:00.000000000Z");
    CHECK_INT(int_of(data_of(3), "duration"), 599);
    /* the stop call on a running stream */
    reset_calls();
    s = req_at(NOW_MS + S(800), "POST",
               path("/v2/live-streams/room/%s/start", r3), NULL,
               path("{\"meeting_url\":\"https://s3.app.100ms.live/preview/%s/"
                    "__internal_recorder?skip_preview=true\"}",
                    r3));
    json_decref(s);
    json_decref(req_at(NOW_MS + S(805), "POST",
                       path("/v2/live-streams/room/%s/stop", r3), NULL, NULL));
    drain(wh);
    CHECK_STR(types(), "hls.started.success hls.stopped.success");
    CHECK_STR(str(data_of(1), "reason"), "client request");
    CHECK_INT(int_of(data_of(1), "duration"), 4);
}

/* A room's own webhook replaces the workspace's; with neither, no event
 * is made and no id drawn. */
static void test_room_webhook_and_none(struct sim_webhook *wh)
{
    json_t *room = req("POST", "/v2/rooms", NULL,
                       "{\"name\":\"wh-own\",\"webhook\":{\"url\":\"" URL2
                       "\",\"headers\":{\"X-Room-Secret\":\"rs\"}}}");
    const char *r = path("%s", str(room, "id"));
    char errstr[128];
    json_t *j, *log;
    json_int_t made;

    json_decref(room);
    reset_calls();
    join_peer(NOW_MS, r, "ann");
    drain(wh);
    CHECK_INT(n_calls, 2);
    CHECK_STR(calls[0].url, URL2);
    CHECK_STR(calls[0].headers, "X-Room-Secret: rs\n");
    j = json_loads("{\"webhook_url\":null}", 0, NULL);
    CHECK(sim_webhook_conf_update(wh, j, errstr, sizeof(errstr)) == HW_OK);
    json_decref(j);
    log = log_of(wh);
    made = int_of(json_object_get(log, "counts"), "made");
    json_decref(log);
    join_peer(NOW_MS, fx_room("wh-none", NULL), "bob");
    log = log_of(wh);
    CHECK_INT(int_of(json_object_get(log, "counts"), "made"), made);
    json_decref(log);
    sim_webhook_conf_reset(wh); /* cf.webhook: none here */
}

/* /__sim/config takes the webhook settings with the others, all or
 * nothing, and the reset restores them. */
static void test_config(struct sim_webhook *wh)
{
    json_t *c;

    c = config_at(NOW_MS, "{\"webhook_url\":\"" URL "\",\"time_scale\":3}");
    CHECK_INT(status, 200);
    CHECK_STR(str(c, "webhook_url"), URL);
    CHECK_INT(int_of(c, "time_scale"), 3);
    json_decref(c);
    c = config_at(NOW_MS, "{\"webhook_url\":\"ftp://x\",\"time_scale\":4}");
    CHECK_INT(status, 400);
    json_decref(c);
    c = config_at(NOW_MS, "{\"webhook_url\":\"" URL2 "\",\"time_scale\":0}");
    CHECK_INT(status, 400);
    json_decref(c);
    c = config_at(NOW_MS, NULL);
    CHECK_STR(str(c, "webhook_url"), URL);
    CHECK_INT(int_of(c, "time_scale"), 3);
    json_decref(c);
    sim_api_config_reset(api, NOW_MS);
    c = config_at(NOW_MS, NULL);
    CHECK(json_is_null(json_object_get(c, "webhook_url")));
    CHECK_INT(int_of(c, "time_scale"), 1);
    json_decref(c);
    (void)wh;
}

static void test_events(void)
{
    struct sim_webhook *wh = sim_webhook_create(&cf, &fake_io);
    json_t *c;

    sim_api_set_webhooks(api, wh);
    test_config(wh);
    c = config_at(NOW_MS, "{\"webhook_url\":\"" URL "\"}");
    json_decref(c);
    test_session_and_peer_events(wh);
    test_sfu_recording(wh);
    test_hls_events(wh);
    test_hls_failures(wh);
    test_room_webhook_and_none(wh);
    sim_api_set_webhooks(api, NULL);
    sim_webhook_destroy(wh);
    reset_calls();
}

int main(void)
{
    log_min_level = LL_ERROR;
    fx_init();
    test_settings();
    test_retry_schedule();
    test_envelope_and_times();
    test_retries();
    test_order_headers_destinations();
    test_faults();
    test_faults_repeat();
    test_replay();
    test_events();
    fx_deinit();
    return TEST_REPORT();
}
