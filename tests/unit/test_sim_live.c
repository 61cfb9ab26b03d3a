/* test_sim_live.c -- hms-sim's live streams, peers and run-time settings,
 * without HTTP: the documented HLS lifecycle (meeting_url required, the
 * composer's join, starting -> running, failed, the 5-minute alone rule,
 * the maximum duration, the time scale), the join and leave hooks with app
 * tokens, end-room and locking, and /__sim/config. Time moves by the
 * now_ms each request is served at; nothing sleeps. */
#include "log.h"
#include "sim_fixture.h"

#define S(n) ((int64_t)(n)*1000) /* seconds, in ms */
#define MIN(n) S((n)*60)

/* The meeting_url the composer can join for room id of template t1. */
static const char *good_url(const char *id)
{
    return path("https://sub.app.100ms.live/preview/%s/__internal_recorder"
                "?skip_preview=true",
                id);
}

/* Starts a stream at now_ms with body; returns its id (rotating buffer)
 * or "" when the start did not answer 200. */
static const char *start_at(int64_t now_ms, const char *room, const char *body)
{
    json_t *s =
        req_at(now_ms, "POST", path("/v2/live-streams/room/%s/start", room),
               NULL, body);
    const char *id = path("%s", status == 200 ? str(s, "id") : "");

    json_decref(s);
    return id;
}

static const char *url_body(const char *url)
{
    return path("{\"meeting_url\":\"%s\"}", url);
}

/* GET /v2/live-streams/{id} at now_ms: the stream (caller decrefs). */
static json_t *stream_at(int64_t now_ms, const char *id)
{
    return req_at(now_ms, "GET", path("/v2/live-streams/%s", id), NULL, NULL);
}

/* The stream's status at now_ms, in a rotating buffer. */
static const char *status_at(int64_t now_ms, const char *id)
{
    json_t *s = stream_at(now_ms, id);
    const char *out = path("%s", str(s, "status"));

    json_decref(s);
    return out;
}

static void test_start_shape_and_meeting_url_required(void)
{
    const char *r1 = fx_room("ls-1", NULL), *r2 = fx_room("ls-2", "t2");
    json_t *s;

    /* documented "Required: Yes", whatever the template */
    CHECK_INT(
        st("POST", path("/v2/live-streams/room/%s/start", r1), NULL, "{}"),
        400);
    CHECK_INT(
        st("POST", path("/v2/live-streams/room/%s/start", r2), NULL, NULL),
        400);
    CHECK_INT(st("POST", path("/v2/live-streams/room/%s/start", r1), NULL,
                 "{\"meeting_url\":5}"),
              400);
    CHECK_INT(st("POST", "/v2/live-streams/room/000000000000000000000000/start",
                 NULL, url_body("https://x")),
              404);
    s = req("POST", path("/v2/live-streams/room/%s/start", r1), NULL,
            url_body(good_url(r1)));
    CHECK_INT(status, 200);
    CHECK_STR(str(s, "status"), "starting");
    CHECK_STR(str(s, "room_id"), r1);
    CHECK_STR(str(s, "meeting_url"), good_url(r1));
    CHECK(strstr(str(json_object_get(s, "playback"), "url"), ".m3u8") != NULL);
    CHECK(json_is_null(json_object_get(s, "started_at")) &&
          json_is_null(json_object_get(s, "stopped_at")));
    CHECK(json_object_get(s, "_t") == NULL); /* internal, never served */
    json_decref(s);
}

/* starting -> running after hls_running_after_ms (1000 here), evaluated
 * lazily; GET by id and the status filter of the list agree. */
static void test_running_and_get_by_id(void)
{
    const char *r = fx_room("ls-run", NULL);
    const char *id = start_at(NOW_MS, r, url_body(good_url(r)));
    json_t *s, *l;

    CHECK_STR(status_at(NOW_MS + 999, id), "starting");
    l = req_at(NOW_MS + 999, "GET", "/v2/live-streams",
               path("{\"room_id\":\"%s\",\"status\":\"running\"}", r), NULL);
    CHECK_INT(json_array_size(json_object_get(l, "data")), 0);
    json_decref(l);
    l = req_at(NOW_MS + 1500, "GET", "/v2/live-streams",
               path("{\"room_id\":\"%s\",\"status\":\"running\"}", r), NULL);
    CHECK_INT(json_array_size(json_object_get(l, "data")), 1);
    json_decref(l);
    s = stream_at(NOW_MS + 2000, id);
    CHECK_INT(status, 200);
    CHECK_STR(str(s, "status"), "running");
    CHECK_STR(str(s, "id"), id);
    /* when it happened, not when it was seen */
    CHECK_STR(str(s, "started_at"), "2027-01-15T08:00:01.000000000Z");
    json_decref(s);
    s = stream_at(NOW_MS, "0123456789abcdef01234567");
    CHECK_INT(status, 404);
    CHECK_INT(json_integer_value(json_object_get(s, "code")), 404);
    json_decref(s);
}

/* The composer joins only https://<template subdomain>.app.100ms.live/
 * preview/<room_id>/__internal_recorder?skip_preview=true (more query
 * parameters allowed); otherwise the start still answers 200 starting,
 * and the stream fails when the composer would have joined. */
static void test_composer_join(void)
{
#define PRE "https://sub.app.100ms.live/preview/"
#define REC "/__internal_recorder"
    static const struct {
        bool ok;
        const char *pre, *post; /* url = pre + room id + post */
    } urls[] = {
        {true, PRE, REC "?skip_preview=true"},
        {true, PRE, REC "?ui_mode=activespeaker&skip_preview=true&name=beam"},
        {true, "https://SUB.App.100ms.live/preview/",
         REC "?skip_preview=true&skip_preview_headful=true"},
        {false, PRE, "/beam?skip_preview=true"},
        {false, "https://other.app.100ms.live/preview/",
         REC "?skip_preview=true"},
        {false, PRE, REC},
        {false, PRE, REC "?skip_preview=false"},
        {false, PRE, REC "?skip_preview=truex"},
        {false, PRE, REC "#skip_preview=true"},
        {false, "http://sub.app.100ms.live/preview/", REC "?skip_preview=true"},
        {false, "https://sub.app.100ms.live/meeting/",
         REC "?skip_preview=true"},
        {false, PRE, "x" REC "?skip_preview=true"},
        {false, "https://sub.app.100ms.live.evil/preview/",
         REC "?skip_preview=true"},
    };
#undef PRE
#undef REC
    const char *r, *id, *url;
    char name[32];

    for (size_t i = 0; i < HW_ARRAY_LEN(urls); i++) {
        snprintf(name, sizeof(name), "ls-join-%zu", i);
        r = fx_room(name, NULL);
        url = path("%s%s%s", urls[i].pre, r, urls[i].post);
        id = start_at(NOW_MS, r, url_body(url));
        CHECK_INT(status, 200);
        CHECK_STR(status_at(NOW_MS + 500, id), "starting");
        if (strcmp(status_at(NOW_MS + 1000, id),
                   urls[i].ok ? "running" : "failed") != 0) {
            CHECK(!"the composer's join, for the url below");
            fprintf(stderr, "  url %s%s%s\n", urls[i].pre, r, urls[i].post);
        }
    }
    /* a template without subdomain has no page for the composer */
    r = fx_room("ls-join-t2", "t2");
    id = start_at(NOW_MS, r,
                  url_body(path("https://sub.app.100ms.live/preview/%s/"
                                "__internal_recorder?skip_preview=true",
                                r)));
    CHECK_INT(status, 200);
    CHECK_STR(status_at(NOW_MS + 1000, id), "failed");
    /* a failed stream is no longer live: a new start makes a new one */
    CHECK(strcmp(start_at(NOW_MS + 1000, r, url_body("https://x")), id) != 0);
}

/* A disabled room: nobody joins it, the composer neither. Without strict
 * the start answers 200 and the stream fails; with strict, 403. */
static void test_disabled_room_start(void)
{
    const char *r = fx_room("ls-off", NULL), *id;

    CHECK_INT(st("POST", path("/v2/rooms/%s", r), NULL, "{\"enabled\":false}"),
              200);
    id = start_at(NOW_MS, r, url_body(good_url(r)));
    CHECK_INT(status, 200);
    CHECK_STR(status_at(NOW_MS + 1000, id), "failed");
    json_decref(config_at(NOW_MS, "{\"strict\":true}"));
    CHECK_INT(st("POST", path("/v2/live-streams/room/%s/start", r), NULL,
                 url_body(good_url(r))),
              403);
    json_decref(config_at(NOW_MS, "{\"strict\":false}"));
    /* enabled again before the composer joins: it joins */
    r = fx_room("ls-off-2", NULL);
    CHECK_INT(st("POST", path("/v2/rooms/%s", r), NULL, "{\"enabled\":false}"),
              200);
    id = start_at(NOW_MS, r, url_body(good_url(r)));
    json_decref(req_at(NOW_MS + 500, "POST", path("/v2/rooms/%s", r), NULL,
                       "{\"enabled\":true}"));
    CHECK_STR(status_at(NOW_MS + 1000, id), "running");
}

/* Second start while one is live, stop with nothing live, unknown body
 * fields: undocumented, so 200 by default; strict refuses them. */
static void test_strict_hls_rules(void)
{
    const char *r = fx_room("ls-strict", NULL), *id;
    json_t *s;

    id = start_at(NOW_MS, r, url_body(good_url(r)));
    CHECK(strcmp(start_at(NOW_MS + 10, r, url_body(good_url(r))), id) == 0);
    CHECK_INT(status, 200); /* the live stream again */
    s = req("POST", path("/v2/live-streams/room/%s/stop", r), NULL, NULL);
    CHECK_INT(status, 200);
    CHECK_INT(json_array_size(json_object_get(s, "data")), 1);
    CHECK_STR(str(json_array_get(json_object_get(s, "data"), 0), "status"),
              "stopping");
    CHECK(json_is_string(json_object_get(s, "error")));
    json_decref(s);
    s = req("POST", path("/v2/live-streams/room/%s/stop", r), NULL, NULL);
    CHECK_INT(status, 200); /* nothing live: the same shape, empty */
    CHECK_INT(json_array_size(json_object_get(s, "data")), 0);
    CHECK_STR(str(s, "error"), "");
    CHECK_INT(json_integer_value(json_object_get(s, "limit")), 10);
    CHECK_STR(str(s, "last"), "");
    json_decref(s);
    id = start_at(NOW_MS, r,
                  path("{\"meeting_url\":\"%s\",\"bogus\":1}", good_url(r)));
    CHECK_INT(status, 200); /* an unknown field is ignored */
    CHECK(id[0] != '\0');

    json_decref(config_at(NOW_MS, "{\"strict\":true}"));
    CHECK_INT(st("POST", path("/v2/live-streams/room/%s/start", r), NULL,
                 url_body(good_url(r))),
              400); /* one is live */
    CHECK_INT(st("POST", path("/v2/live-streams/room/%s/stop", r), NULL, NULL),
              200);
    CHECK_INT(st("POST", path("/v2/live-streams/room/%s/stop", r), NULL, NULL),
              404);
    CHECK_INT(st("POST", path("/v2/live-streams/room/%s/start", r), NULL,
                 path("{\"meeting_url\":\"%s\",\"bogus\":1}", good_url(r))),
              400);
    json_decref(config_at(NOW_MS, "{\"strict\":false}"));
}

/* Alone for 5 minutes: no session, or all peers gone, counted from the
 * later of the start and the moment the last peer left. */
static void test_alone_rule(void)
{
    const char *r = fx_room("ls-alone", NULL), *id, *peer;
    json_t *s;

    /* nobody ever in the room: completed 5 minutes after the start */
    id = start_at(NOW_MS, r, url_body(good_url(r)));
    CHECK_STR(status_at(NOW_MS + MIN(5) - 1, id), "running");
    s = stream_at(NOW_MS + MIN(7), id);
    CHECK_STR(str(s, "status"), "completed");
    CHECK_STR(str(s, "stopped_at"), "2027-01-15T08:05:00.000000000Z");
    json_decref(s);

    /* a peer in the room keeps it going; 5 minutes after it left, done */
    r = fx_room("ls-alone-2", NULL);
    id = start_at(NOW_MS, r, url_body(good_url(r)));
    peer = join_peer(NOW_MS + S(10), r, "u1");
    CHECK_INT(status, 200);
    CHECK_STR(status_at(NOW_MS + MIN(30), id), "running");
    json_decref(leave_at(NOW_MS + MIN(40), peer));
    CHECK_INT(status, 200);
    CHECK_STR(status_at(NOW_MS + MIN(45) - 1, id), "running");
    s = stream_at(NOW_MS + MIN(50), id);
    CHECK_STR(str(s, "status"), "completed");
    CHECK_STR(str(s, "stopped_at"), "2027-01-15T08:45:00.000000000Z");
    json_decref(s);

    /* a peer who comes after 6 alone minutes is too late: the stream
     * completed at 5 (the join settles the streams first) */
    r = fx_room("ls-alone-3", NULL);
    id = start_at(NOW_MS, r, url_body(good_url(r)));
    join_peer(NOW_MS + MIN(6), r, "u1");
    CHECK_STR(status_at(NOW_MS + MIN(7), id), "completed");

    /* a session without peers (the session hook) is alone too */
    r = fx_room("ls-alone-4", NULL);
    {
        struct sim_resp resp;

        sim_api_open_session(api, r, NULL, NOW_MS, &resp);
        CHECK_INT(resp.status, 200);
        free(resp.body);
    }
    id = start_at(NOW_MS, r, url_body(good_url(r)));
    CHECK_STR(status_at(NOW_MS + MIN(5), id), "completed");
}

/* The template's maximum duration: 4 h by default, hls_max_duration_s in
 * the templates file (t3: 600 s); end-room stops a stream too. */
static void test_max_duration_and_end_room(void)
{
    const char *r = fx_room("ls-max", NULL), *id;
    json_t *s;

    join_peer(NOW_MS, r, "u1");
    id = start_at(NOW_MS, r, url_body(good_url(r)));
    CHECK_STR(status_at(NOW_MS + MIN(239), id), "running");
    CHECK_STR(status_at(NOW_MS + MIN(240), id), "completed");

    r = fx_room("ls-max-3", "t3");
    join_peer(NOW_MS, r, "u1");
    id = start_at(NOW_MS, r,
                  url_body(path("https://s3.app.100ms.live/preview/%s/"
                                "__internal_recorder?skip_preview=true",
                                r)));
    CHECK_STR(status_at(NOW_MS + S(599), id), "running");
    s = stream_at(NOW_MS + S(900), id);
    CHECK_STR(str(s, "status"), "completed");
    CHECK_STR(str(s, "stopped_at"), "2027-01-15T08:10:00.000000000Z");
    json_decref(s);

    r = fx_room("ls-end", NULL);
    join_peer(NOW_MS, r, "u1");
    id = start_at(NOW_MS, r, url_body(good_url(r)));
    json_decref(req_at(NOW_MS + S(30), "POST",
                       path("/v2/active-rooms/%s/end-room", r), NULL, "{}"));
    CHECK_INT(status, 200);
    s = stream_at(NOW_MS + MIN(60), id);
    CHECK_STR(str(s, "status"), "completed");
    CHECK_STR(str(s, "stopped_at"), "2027-01-15T08:00:30.000000000Z");
    json_decref(s);
}

/* --time-scale / time_scale divides the documented minute and hour
 * durations, not hls_running_after_ms. */
static void test_time_scale(void)
{
    const char *r = fx_room("ls-scale", NULL), *id;

    json_decref(config_at(NOW_MS, "{\"time_scale\":60}"));
    id = start_at(NOW_MS, r, url_body(good_url(r)));
    CHECK_STR(status_at(NOW_MS + 999, id), "starting"); /* not scaled */
    CHECK_STR(status_at(NOW_MS + S(4), id), "running");
    CHECK_STR(status_at(NOW_MS + S(5), id), "completed"); /* 5 min / 60 */
    r = fx_room("ls-scale-2", NULL);
    join_peer(NOW_MS, r, "u1");
    id = start_at(NOW_MS, r, url_body(good_url(r)));
    CHECK_STR(status_at(NOW_MS + MIN(4) - 1, id), "running");
    CHECK_STR(status_at(NOW_MS + MIN(4), id), "completed"); /* 4 h / 60 */
    json_decref(config_at(NOW_MS, "{\"time_scale\":1}"));
}

static void test_join_and_leave(void)
{
    const char *r = fx_room("pe-1", NULL), *p1, *p2;
    char *tok = app_token(r, "guest", "u1", NOW_S, NULL);
    json_t *j = join_at(NOW_MS, tok, "Ann"), *s, *a;

    CHECK_INT(status, 200);
    CHECK_STR(str(j, "room_id"), r);
    CHECK_STR(str(j, "role"), "guest");
    CHECK_STR(str(j, "user_id"), "u1");
    CHECK_INT(strlen(str(j, "peer_id")), 36);
    p1 = path("%s", str(j, "peer_id"));
    s = req("GET", "/v2/sessions", path("{\"room_id\":\"%s\"}", r), NULL);
    CHECK_INT(json_array_size(json_object_get(s, "data")), 1);
    CHECK_STR(str(json_array_get(json_object_get(s, "data"), 0), "id"),
              str(j, "session_id"));
    json_decref(s);
    p2 = join_peer(NOW_MS + S(1), r, "u2");
    a = req("GET", path("/v2/active-rooms/%s", r), NULL, NULL);
    CHECK_INT(status, 200);
    CHECK_INT(json_array_size(
                  json_object_get(json_object_get(a, "session"), "peers")),
              2);
    CHECK_STR(str(json_object_get(a, "session"), "id"), str(j, "session_id"));
    json_decref(a);

    s = leave_at(NOW_MS + S(2), p1);
    CHECK_INT(status, 200);
    CHECK(json_is_true(json_object_get(s, "active")));
    CHECK_STR(str(json_object_get(json_object_get(s, "peers"), p1), "left_at"),
              "2027-01-15T08:00:02.000Z");
    json_decref(s);
    a = req("GET", path("/v2/active-rooms/%s", r), NULL, NULL);
    CHECK_INT(json_array_size(
                  json_object_get(json_object_get(a, "session"), "peers")),
              1);
    json_decref(a);
    json_decref(leave_at(NOW_MS + S(3), p1)); /* already gone */
    CHECK_INT(status, 404);
    s = leave_at(NOW_MS + S(3), p2); /* the last one: the session ends */
    CHECK_INT(status, 200);
    CHECK(json_is_false(json_object_get(s, "active")));
    json_decref(s);
    CHECK_INT(st("GET", path("/v2/active-rooms/%s", r), NULL, NULL), 404);
    json_decref(leave_at(NOW_MS, "00000000-0000-4000-8000-000000000000"));
    CHECK_INT(status, 404);
    /* the next join opens a new session */
    s = join_at(NOW_MS + S(4), tok, "Ann");
    CHECK(strcmp(str(s, "session_id"), str(j, "session_id")) != 0);
    json_decref(s);
    s = req("GET", "/v2/sessions",
            path("{\"room_id\":\"%s\",\"active\":\"false\"}", r), NULL);
    CHECK_INT(json_array_size(json_object_get(s, "data")), 1);
    json_decref(s);
    json_decref(j);
    free(tok);
}

/* An app token is checked as 100ms does: 401 for any flaw. */
static void test_join_refused(void)
{
    const char *r = fx_room("pe-bad", NULL);
    json_t *extra[] = {
        json_pack("{s:I}", "exp", (json_int_t)(NOW_S - 1)),
        json_pack("{s:I, s:I}", "nbf", (json_int_t)(NOW_S + 600), "iat",
                  (json_int_t)(NOW_S + 600)),
        json_pack("{s:s}", "type", "management"),
        json_pack("{s:i}", "version", 1),
        json_pack("{s:s}", "access_key", "other"),
        json_pack("{s:s}", "room_id", "0123456789abcdef01234567"),
        json_pack("{s:s}", "role", "beam"),
        json_pack("{s:n}", "role"),
    };
    char *tok;
    json_t *j, *body;
    struct sim_resp resp;

    for (size_t i = 0; i < HW_ARRAY_LEN(extra); i++) {
        tok = app_token(r, "host", "u1", NOW_S, extra[i]);
        j = join_at(NOW_MS, tok, "x");
        CHECK_INT(status, 401);
        CHECK_STR(str(j, "message"), "Token validation error");
        CHECK(json_array_size(json_object_get(j, "details")) == 1);
        json_decref(j);
        free(tok);
    }
    tok = app_token(r, "host", "u1", NOW_S, NULL);
    tok[strlen(tok) - 2] ^= 1; /* the signature */
    json_decref(join_at(NOW_MS, tok, "x"));
    CHECK_INT(status, 401);
    free(tok);
    body = json_pack("{s:i}", "token", 5);
    sim_api_join(api, body, NOW_MS, &resp);
    json_decref(fx_parse(&resp));
    CHECK_INT(status, 400);
    json_decref(body);
    j = req("GET", "/v2/sessions", path("{\"room_id\":\"%s\"}", r), NULL);
    CHECK_INT(json_array_size(json_object_get(j, "data")), 0); /* nobody */
    json_decref(j);
}

/* end-room without a session: 404, nothing locked, the room joinable;
 * disabling it (the documented way) stops joins but not the session. */
static void test_end_room_and_lock(void)
{
    const char *r = fx_room("pe-lock", NULL), *p;
    json_t *e, *s;
    char *tok = app_token(r, "host", "u1", NOW_S, NULL);

    e = req("POST", path("/v2/active-rooms/%s/end-room", r), NULL,
            "{\"lock\":true}");
    CHECK_INT(status, 404);
    CHECK_STR(str(e, "message"), "session not found");
    json_decref(e);
    e = req("GET", path("/v2/rooms/%s", r), NULL, NULL);
    CHECK(json_is_true(json_object_get(e, "enabled")));
    json_decref(e);
    s = join_at(NOW_MS, tok, "Ann");
    CHECK_INT(status, 200);
    p = path("%s", str(s, "peer_id"));
    json_decref(s);
    CHECK_INT(st("POST", path("/v2/rooms/%s", r), NULL, "{\"enabled\":false}"),
              200);
    s = join_at(NOW_MS + S(1), tok, "Bob");
    CHECK_INT(status, 403);
    CHECK_INT(json_integer_value(json_object_get(s, "code")), 403);
    CHECK_STR(str(s, "message"), "Room is disabled");
    json_decref(s);
    /* the current session goes on, and ends when its last peer leaves */
    CHECK_INT(st("GET", path("/v2/active-rooms/%s", r), NULL, NULL), 200);
    json_decref(leave_at(NOW_MS + S(2), p));
    CHECK_INT(status, 200);
    CHECK_INT(st("GET", path("/v2/active-rooms/%s", r), NULL, NULL), 404);
    /* lock: true with a session disables the room */
    r = fx_room("pe-lock-2", NULL);
    join_peer(NOW_MS, r, "u1");
    CHECK_INT(st("POST", path("/v2/active-rooms/%s/end-room", r), NULL,
                 "{\"lock\":true,\"reason\":\"done\"}"),
              200);
    e = req("GET", path("/v2/rooms/%s", r), NULL, NULL);
    CHECK(json_is_false(json_object_get(e, "enabled")));
    json_decref(e);
    s = req("GET", "/v2/sessions",
            path("{\"room_id\":\"%s\",\"active\":\"false\"}", r), NULL);
    e = json_object_get(json_array_get(json_object_get(s, "data"), 0), "peers");
    CHECK_INT(json_object_size(e), 1);
    {
        const char *k;
        json_t *v;

        json_object_foreach(e, k, v)
        {
            CHECK(json_is_string(json_object_get(v, "left_at")));
        }
    }
    json_decref(s);
    free(tok);
}

static void test_config(void)
{
    json_t *c = config_at(NOW_MS, NULL), *want;
    int64_t now;

    want = json_pack("{s:i, s:i, s:b, s:i}", "time_scale", 1, "clock_offset_s",
                     0, "strict", 0, "hls_running_after_ms", 1000);
    CHECK_INT(status, 200);
    CHECK(json_equal(c, want));
    json_decref(c);
    c = config_at(NOW_MS, "{\"time_scale\":60,\"clock_offset_s\":-120,"
                          "\"strict\":true,\"hls_running_after_ms\":500}");
    CHECK_INT(status, 200);
    CHECK_INT(json_integer_value(json_object_get(c, "time_scale")), 60);
    CHECK_INT(json_integer_value(json_object_get(c, "clock_offset_s")), -120);
    CHECK(json_is_true(json_object_get(c, "strict")));
    CHECK(sim_api_strict(api));
    json_decref(c);
    now = hw_now_ms();
    CHECK(sim_api_now_ms(api) - now >= -120000 - 1000 &&
          sim_api_now_ms(api) - now <= -120000 + 1000);
    /* all or nothing: one bad member changes nothing */
    static const char *const bad[] = {
        "{\"time_scale\":0}",
        "{\"time_scale\":2,\"bogus\":1}",
        "{\"strict\":1}",
        "{\"hls_running_after_ms\":-1}",
        "{\"clock_offset_s\":\"5\"}",
        "{\"time_scale\":1.5}",
    };
    for (size_t i = 0; i < HW_ARRAY_LEN(bad); i++) {
        c = config_at(NOW_MS, bad[i]);
        CHECK_INT(status, 400);
        json_decref(c);
    }
    c = config_at(NOW_MS, "{}");
    CHECK_INT(json_integer_value(json_object_get(c, "time_scale")), 60);
    json_decref(c);
    sim_api_config_reset(api, NOW_MS);
    c = config_at(NOW_MS, NULL);
    CHECK(json_equal(c, want));
    json_decref(c);
    json_decref(want);
    CHECK(sim_api_now_ms(api) - hw_now_ms() <= 1000);
}

/* A stream's route finds its room, for per-room faults and the log. */
static void test_route_stream(void)
{
    const char *r = fx_room("ls-route", NULL);
    const char *id = start_at(NOW_MS, r, url_body(good_url(r)));
    struct sim_req rq = {
        "GET", path("/v2/live-streams/%s", id), NULL, NULL, "", 0, NOW_MS};
    struct sim_call call;

    sim_api_route(api, &rq, &call);
    CHECK_STR(sim_api_route_name(&call), "GET /v2/live-streams/{id}");
    CHECK_STR(call.room, "ls-route");
}

int main(void)
{
    log_min_level = LL_WARN; /* failed streams log at info by design */
    fx_init();
    test_start_shape_and_meeting_url_required();
    test_running_and_get_by_id();
    test_composer_join();
    test_disabled_room_start();
    test_strict_hls_rules();
    test_alone_rule();
    test_max_duration_and_end_room();
    test_time_scale();
    test_join_and_leave();
    test_join_refused();
    test_end_room_and_lock();
    test_config();
    test_route_stream();
    fx_deinit();
    return TEST_REPORT();
}
