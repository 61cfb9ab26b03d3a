/* test_sim_api.c -- the 100ms API handlers of hms-sim, without HTTP:
 * authentication, rooms, codes, sessions, paging, routing, and which room
 * rules the strict setting adds. Live streams, peers and the run-time
 * settings are test_sim_live.c's. */
#include <ctype.h>

#include "sim_fixture.h"

static bool is_code(const char *s)
{
    for (int i = 0; i < 12; i++) {
        if (i == 3 || i == 8 ? s[i] != '-' : !islower((unsigned char)s[i])) {
            return false;
        }
    }
    return s[12] == '\0';
}

static bool is_hex24(const char *s)
{
    return strlen(s) == 24 && strspn(s, "0123456789abcdef") == 24;
}

static int auth_status(const char *auth)
{
    json_t *r = req_full(auth, NOW_MS, "GET", "/v2/rooms", NULL, NULL);

    json_decref(r);
    return status;
}

static void test_auth(void)
{
    char *b;
    json_t *r = req_full(NULL, NOW_MS, "GET", "/v2/rooms", NULL, NULL);

    CHECK_INT(status, 401);
    CHECK_STR(str(r, "message"), "Authentication error");
    CHECK_INT(json_integer_value(json_object_get(r, "code")), 401);
    json_decref(r);
    r = req_full("Bearer not.a.token", NOW_MS, "GET", "/v2/rooms", NULL, NULL);
    CHECK_INT(status, 401);
    CHECK_STR(str(r, "message"), "Token validation error");
    CHECK(json_array_size(json_object_get(r, "details")) == 1);
    json_decref(r);
    CHECK_INT(auth_status(mgmt), 200);
    b = bearer("management", "ak", NOW_S - 7200, 3600); /* expired */
    CHECK_INT(auth_status(b), 401);
    free(b);
    b = bearer("management", "ak", NOW_S + 600, 3600); /* nbf in the future */
    CHECK_INT(auth_status(b), 401);
    free(b);
    b = bearer("app", "ak", NOW_S, 3600);
    CHECK_INT(auth_status(b), 401);
    free(b);
    b = bearer("management", "other-ak", NOW_S, 3600);
    CHECK_INT(auth_status(b), 401);
    free(b);
    CHECK_INT(auth_status("Basic abc"), 401);
    CHECK_INT(st("GET", "/v2/nothing", NULL, NULL), 404);
    CHECK_INT(st("DELETE", "/v2/rooms", NULL, NULL), 404);
}

static void test_rooms(void)
{
    json_t *a = req("POST", "/v2/rooms", NULL,
                    "{\"name\":\"bk-1\",\"description\":\"one\"}");
    json_t *b, *l;

    CHECK_INT(status, 200);
    CHECK(is_hex24(str(a, "id")));
    CHECK_STR(str(a, "name"), "bk-1");
    CHECK(json_is_true(json_object_get(a, "enabled")));
    CHECK_STR(str(a, "template_id"), "t1");
    CHECK_STR(str(a, "template"), "one");
    CHECK_STR(str(a, "region"), "us");
    CHECK_STR(str(a, "created_at"), "2027-01-15T08:00:00.000Z");
    /* upsert: same name (any case), same id, body applied, name kept */
    b = req("POST", "/v2/rooms", NULL,
            "{\"name\":\"BK-1\",\"description\":\"two\",\"region\":\"eu\"}");
    CHECK_INT(status, 200);
    CHECK_STR(str(b, "id"), str(a, "id"));
    CHECK_STR(str(b, "description"), "two");
    CHECK_STR(str(b, "region"), "eu");
    CHECK_STR(str(b, "name"), "bk-1");
    json_decref(b);
    b = req("GET", path("/v2/rooms/%s", str(a, "id")), NULL, NULL);
    CHECK_INT(status, 200);
    CHECK_STR(str(b, "description"), "two");
    json_decref(b);
    CHECK_INT(st("GET", "/v2/rooms/000000000000000000000000", NULL, NULL), 404);
    l = req("GET", "/v2/rooms", "{\"name\":\"Bk-1\"}", NULL);
    CHECK_INT(json_array_size(json_object_get(l, "data")), 1);
    CHECK_STR(str(json_array_get(json_object_get(l, "data"), 0), "key"),
              "c1:bk-1");
    json_decref(l);
    /* disable: gone from the default (enabled=true) listing */
    CHECK_INT(st("POST", path("/v2/rooms/%s", str(a, "id")), NULL,
                 "{\"enabled\":false}"),
              200);
    l = req("GET", "/v2/rooms", "{\"name\":\"bk-1\"}", NULL);
    CHECK_INT(json_array_size(json_object_get(l, "data")), 0);
    json_decref(l);
    l = req("GET", "/v2/rooms", "{\"name\":\"bk-1\",\"enabled\":\"false\"}",
            NULL);
    CHECK_INT(json_array_size(json_object_get(l, "data")), 1);
    json_decref(l);
    /* an upsert does not re-enable */
    b = req("POST", "/v2/rooms", NULL, "{\"name\":\"bk-1\"}");
    CHECK(json_is_false(json_object_get(b, "enabled")));
    json_decref(b);
    json_decref(a);
    b = req("POST", "/v2/rooms", NULL, NULL); /* no name: generated */
    CHECK_INT(status, 200);
    CHECK_INT(strlen(str(b, "name")), 36); /* documented: UUID-like */
    json_decref(b);
}

static void test_room_validation(void)
{
    static const char *const bad[] = {
        "{\"name\":\"has space\"}",
        "{\"name\":\"a/b\"}",
        "{\"name\":5}",
        "{\"template_id\":\"nope\"}",
        "{\"template\":\"t1\"}",
        "{\"region\":\"mars\"}",
        "{\"max_duration_seconds\":60}",
        "{\"max_duration_seconds\":50000}",
        "{\"size\":3000}",
        "[1]",
        "{\"name\":",
        "{\"name\":\"\"}",
    };
    json_t *r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = req("POST", "/v2/rooms", NULL, bad[i]);
        CHECK_INT(status, 400);
        CHECK_INT(json_integer_value(json_object_get(r, "code")), 400);
        CHECK(strlen(str(r, "message")) > 0);
        json_decref(r);
    }
    r = req("POST", "/v2/rooms", NULL, "{\"template_id\":\"nope\"}");
    CHECK_STR(str(r, "message"), "Error: template not found");
    json_decref(r);
    CHECK_INT(st("POST", "/v2/rooms", NULL,
                 "{\"name\":\"big\",\"size\":3000,\"large_room\":true}"),
              200);
}

/* A room name of n characters, in a static buffer. */
static const char *long_name(size_t n)
{
    static char buf[512];

    memset(buf, 'n', n);
    snprintf(buf + n - 3, 4, "%03zu", n);
    return buf;
}

/* The rules strict adds (docs/hms-sim.md): off by default, the simulator
 * does only what 100ms documents or what is inferred from it. */
static void test_strict_room_rules(void)
{
    json_t *r, *l;
    const char *big = long_name(300), *id;

    /* any name length: 300 characters, and two that differ only at the
     * end are two rooms (no truncated index) */
    r = req("POST", "/v2/rooms", NULL, path("{\"name\":\"%s\"}", big));
    CHECK_INT(status, 200);
    CHECK_STR(str(r, "name"), big);
    id = path("%s", str(r, "id"));
    json_decref(r);
    r = req("POST", "/v2/rooms", NULL,
            path("{\"name\":\"%sX\"}", long_name(299)));
    CHECK_INT(status, 200);
    CHECK(strcmp(str(r, "id"), id) != 0);
    json_decref(r);
    l = req("GET", "/v2/rooms", path("{\"name\":\"%s\"}", long_name(300)),
            NULL);
    CHECK_INT(json_array_size(json_object_get(l, "data")), 1);
    CHECK_STR(str(json_array_get(json_object_get(l, "data"), 0), "id"), id);
    json_decref(l);
    /* enabled on create is not documented: ignored */
    r = req("POST", "/v2/rooms", NULL,
            "{\"name\":\"bk-en\",\"enabled\":false}");
    CHECK_INT(status, 200);
    CHECK(json_is_true(json_object_get(r, "enabled")));
    json_decref(r);
    /* duplicate keys: the last one wins */
    r = req("POST", "/v2/rooms", NULL,
            "{\"name\":\"bk-dup\",\"description\":\"a\","
            "\"description\":\"b\"}");
    CHECK_INT(status, 200);
    CHECK_STR(str(r, "description"), "b");
    json_decref(r);

    json_decref(config_at(NOW_MS, "{\"strict\":true}"));
    CHECK_INT(st("POST", "/v2/rooms", NULL,
                 path("{\"name\":\"%s\"}", long_name(101))),
              400);
    CHECK_INT(st("POST", "/v2/rooms", NULL,
                 path("{\"name\":\"%s\"}", long_name(100))),
              200);
    CHECK_INT(
        st("POST", "/v2/rooms", NULL, "{\"name\":\"bk-en\",\"enabled\":false}"),
        400);
    CHECK_INT(st("POST", "/v2/rooms", NULL, "{\"a\":1,\"a\":2}"), 400);
    /* the charset stays on either way */
    CHECK_INT(st("POST", "/v2/rooms", NULL, "{\"name\":\"a b\"}"), 400);
    json_decref(config_at(NOW_MS, "{\"strict\":false}"));
    CHECK_INT(st("POST", "/v2/rooms", NULL, "{\"name\":\"a b\"}"), 400);
    CHECK_INT(st("POST", "/v2/rooms", NULL, "{\"name\":\"a/b\"}"), 400);
}

static const char *code_of(const json_t *list, const char *role)
{
    size_t i;
    json_t *c;

    json_array_foreach(list, i, c)
    {
        if (strcmp(str(c, "role"), role) == 0) {
            return str(c, "code");
        }
    }
    return "";
}

static void test_codes(void)
{
    json_t *room = req("POST", "/v2/rooms", NULL, "{\"name\":\"bk-codes\"}");
    const char *id = str(room, "id");
    json_t *c1 = req("POST", path("/v2/room-codes/room/%s", id), NULL, NULL);
    json_t *d1 = json_object_get(c1, "data"), *c2, *one, *l;

    CHECK_INT(status, 200);
    CHECK_INT(json_array_size(d1), 3); /* host, guest, viewer */
    CHECK(is_code(code_of(d1, "host")) && is_code(code_of(d1, "guest")) &&
          is_code(code_of(d1, "viewer")));
    CHECK(strcmp(code_of(d1, "host"), code_of(d1, "guest")) != 0);
    c2 = req("POST", path("/v2/room-codes/room/%s", id), NULL, "{}");
    CHECK(json_equal(json_object_get(c2, "data"), d1)); /* stable */
    json_decref(c2);
    one = req("POST", path("/v2/room-codes/room/%s/role/host", id), NULL, NULL);
    CHECK_INT(status, 200);
    CHECK(is_code(str(one, "code")));
    CHECK(strcmp(str(one, "code"), code_of(d1, "host")) != 0); /* extra */
    CHECK_INT(
        st("POST", path("/v2/room-codes/room/%s/role/nobody", id), NULL, NULL),
        404);
    CHECK_INT(
        st("POST", "/v2/room-codes/room/000000000000000000000000", NULL, NULL),
        404);
    l = req("GET", path("/v2/room-codes/room/%s", id), "{\"role\":\"host\"}",
            NULL);
    CHECK_INT(json_array_size(json_object_get(l, "data")), 2);
    CHECK_STR(str(l, "last"), "");
    json_decref(l);
    /* enable/disable one code */
    c2 = req("POST", "/v2/room-codes/code", NULL,
             path("{\"code\":\"%s\",\"enabled\":false}", str(one, "code")));
    CHECK_INT(status, 200);
    CHECK(json_is_false(json_object_get(c2, "enabled")));
    json_decref(c2);
    l = req("GET", path("/v2/room-codes/room/%s", id),
            "{\"enabled\":\"false\"}", NULL);
    CHECK_INT(json_array_size(json_object_get(l, "data")), 1);
    json_decref(l);
    CHECK_INT(st("POST", "/v2/room-codes/code", NULL,
                 "{\"code\":\"zzz-zzzz-zzz\",\"enabled\":false}"),
              404);
    CHECK_INT(st("POST", "/v2/room-codes/code", NULL,
                 "{\"code\":\"zzz-zzzz-zzz\",\"enabled\":\"no\"}"),
              400);
    CHECK_INT(st("POST", "/v2/room-codes/code", NULL,
                 "{\"code\":\"zzz-zzzz-zzz\",\"enabled\":true,\"x\":1}"),
              400);
    /* a disabled room: 403 on code creation and on enabling */
    CHECK_INT(st("POST", path("/v2/rooms/%s", id), NULL, "{\"enabled\":false}"),
              200);
    CHECK_INT(st("POST", path("/v2/room-codes/room/%s", id), NULL, NULL), 403);
    c2 = req("POST", "/v2/room-codes/code", NULL,
             path("{\"code\":\"%s\",\"enabled\":true}", str(one, "code")));
    CHECK_INT(status, 403);
    json_decref(c2);
    json_decref(one);
    json_decref(c1);
    json_decref(room);
}

static void test_template_change(void)
{
    json_t *room = req("POST", "/v2/rooms", NULL, "{\"name\":\"bk-tpl\"}");
    const char *id = str(room, "id");
    json_t *c1, *c2, *l;

    c1 = req("POST", path("/v2/room-codes/room/%s", id), NULL, NULL);
    json_decref(req("POST", "/v2/rooms", NULL,
                    "{\"name\":\"bk-tpl\",\"template_id\":\"t2\"}"));
    c2 = req("POST", path("/v2/room-codes/room/%s", id), NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(c2, "data")), 2); /* t2 roles */
    CHECK_STR(code_of(json_object_get(c2, "data"), "host"),
              code_of(json_object_get(c1, "data"), "host"));
    l = req("GET", path("/v2/room-codes/room/%s", id), "{\"role\":\"guest\"}",
            NULL);
    CHECK(json_is_false(json_object_get(
        json_array_get(json_object_get(l, "data"), 0), "enabled")));
    json_decref(l);
    json_decref(c1);
    json_decref(c2);
    json_decref(room);
}

static void test_sessions(void)
{
    json_t *room = req("POST", "/v2/rooms", NULL, "{\"name\":\"bk-live\"}");
    const char *id = str(room, "id");
    json_t *peers = json_pack("[{s:s, s:s, s:s}]", "user_id", "u1", "role",
                              "host", "name", "Ann");
    struct sim_resp r;
    json_t *a, *l;

    json_t *e = req("POST", path("/v2/active-rooms/%s/end-room", id), NULL,
                    "{\"lock\":true}");
    CHECK_INT(status, 404);
    CHECK_STR(str(e, "message"), "session not found");
    json_decref(e);
    sim_api_open_session(api, id, peers, NOW_MS, &r);
    CHECK_INT(r.status, 200);
    free(r.body);
    sim_api_open_session(api, id, peers, NOW_MS, &r);
    CHECK_INT(r.status, 409);
    free(r.body);
    a = req("GET", path("/v2/active-rooms/%s", id), NULL, NULL);
    CHECK_INT(status, 200);
    CHECK_INT(json_array_size(
                  json_object_get(json_object_get(a, "session"), "peers")),
              1);
    json_decref(a);
    l = req("GET", "/v2/sessions", path("{\"room_id\":\"%s\"}", id), NULL);
    CHECK_INT(json_array_size(json_object_get(l, "data")), 1);
    CHECK(json_is_object(json_object_get(
        json_array_get(json_object_get(l, "data"), 0), "peers")));
    json_decref(l);
    CHECK_INT(st("POST", path("/v2/active-rooms/%s/end-room", id), NULL,
                 "{\"lock\":\"yes\"}"),
              400);
    e = req("POST", path("/v2/active-rooms/%s/end-room", id), NULL,
            "{\"reason\":\"done\",\"lock\":true}");
    CHECK_INT(status, 200);
    CHECK_STR(str(e, "message"), "session is ending");
    json_decref(e);
    a = req("GET", path("/v2/rooms/%s", id), NULL, NULL);
    CHECK(json_is_false(json_object_get(a, "enabled"))); /* locked */
    json_decref(a);
    CHECK_INT(st("GET", path("/v2/active-rooms/%s", id), NULL, NULL), 404);
    l = req("GET", "/v2/sessions",
            path("{\"room_id\":\"%s\",\"active\":\"false\"}", id), NULL);
    CHECK_INT(json_array_size(json_object_get(l, "data")), 1);
    json_decref(l);
    json_decref(peers);
    json_decref(room);
}

static void test_paging(void)
{
    json_t *l;
    const char *last;
    size_t seen = 0;
    char start[64] = "";

    sim_api_reset(api);
    for (int i = 0; i < 25; i++) {
        json_decref(
            req("POST", "/v2/rooms", NULL, path("{\"name\":\"page-%d\"}", i)));
    }
    for (int page = 0; page < 4; page++) {
        l = req("GET", "/v2/rooms",
                start[0] != '\0' ? path("{\"start\":\"%s\"}", start) : NULL,
                NULL);
        CHECK_INT(json_integer_value(json_object_get(l, "limit")), 10);
        seen += json_array_size(json_object_get(l, "data"));
        last = str(l, "last");
        snprintf(start, sizeof(start), "%s", last);
        json_decref(l);
        if (start[0] == '\0') {
            break;
        }
    }
    CHECK_INT(seen, 25);
    l = req("GET", "/v2/rooms", "{\"limit\":\"1000\"}", NULL);
    CHECK_INT(json_integer_value(json_object_get(l, "limit")), 100);
    CHECK_INT(json_array_size(json_object_get(l, "data")), 25);
    json_decref(l);
}

static void test_route_room(void)
{
    json_t *room = req("POST", "/v2/rooms", NULL, "{\"name\":\"bk-route\"}");
    struct sim_req rq = {"POST", "/v2/rooms", NULL, NULL, "{\"name\":\"bk-x\"}",
                         15,     NOW_MS};
    struct sim_call call;
    char *p = path("/v2/room-codes/room/%s/role/host", str(room, "id"));

    sim_api_route(api, &rq, &call);
    CHECK_STR(sim_api_route_name(&call), "POST /v2/rooms");
    CHECK_STR(call.room, "bk-x");
    rq.path = p;
    rq.body_len = 0;
    sim_api_route(api, &rq, &call);
    CHECK_STR(sim_api_route_name(&call),
              "POST /v2/room-codes/room/{id}/role/{role}");
    CHECK_STR(call.room, "bk-route");
    CHECK_STR(call.role, "host");
    rq.path = "/v2/rooms/a/b/c";
    sim_api_route(api, &rq, &call);
    CHECK_STR(sim_api_route_name(&call), "unknown");
    json_decref(room);
}

int main(void)
{
    fx_init();
    test_auth();
    test_rooms();
    test_room_validation();
    test_strict_room_rules();
    test_codes();
    test_template_change();
    test_sessions();
    test_route_room();
    test_paging();
    fx_deinit();
    return TEST_REPORT();
}
