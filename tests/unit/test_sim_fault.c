/* test_sim_fault.c -- fault rules of hms-sim: parsing, matching, dice. */
#include <stdlib.h>
#include <string.h>

#include "sim_fault.h"
#include "testhelp.h"

static enum hw_rc load(struct fault_set *fs, const char *json)
{
    char errstr[256];
    json_t *j = json_loads(json, 0, NULL);
    enum hw_rc rc = fault_set_from_json(fs, j, errstr, sizeof(errstr));

    json_decref(j);
    return rc;
}

/* How many of n requests got kind (and status, when given). */
static int count(struct fault_set *fs, int n, const char *route,
                 const char *room, enum fault_kind kind, int status)
{
    struct fault_action fa;
    int hits = 0;

    for (int i = 0; i < n; i++) {
        fault_decide(fs, route, room, &fa);
        hits += fa.kind == kind && (status == 0 || fa.status == status);
    }
    return hits;
}

static void test_parse(void)
{
    struct fault_set fs = {NULL, 0, 1};

    CHECK(load(&fs, "{\"rules\":[]}") == HW_OK);
    CHECK_INT(fs.n, 0);
    CHECK(load(&fs, "{\"seed\":7,\"rules\":[{\"match\":\"bk-*\","
                    "\"rate_503\":0.5,\"latency_ms\":10}]}") == HW_OK);
    CHECK_INT(fs.n, 1);
    CHECK_STR(fs.rules[0].match, "bk-*");
    CHECK_INT(fs.rules[0].latency_ms, 10);
    CHECK_INT(fs.rng, 7);
    /* rejected: unknown field, bad types, rates > 1; the set is kept */
    CHECK(load(&fs, "{\"rules\":[{\"nope\":1}]}") == HW_ERR_CONFIG);
    CHECK(load(&fs, "{\"rules\":[{\"rate_500\":1.5}]}") == HW_ERR_CONFIG);
    CHECK(load(&fs, "{\"rules\":[{\"latency_ms\":-1}]}") == HW_ERR_CONFIG);
    CHECK(load(&fs, "{\"rules\":[{\"match\":5}]}") == HW_ERR_CONFIG);
    CHECK(load(&fs, "{\"rules\":[{\"rate_500\":0.6,\"rate_429\":0.6}]}") ==
          HW_ERR_CONFIG);
    CHECK(load(&fs, "{\"rules\":{}}") == HW_ERR_CONFIG);
    CHECK(load(&fs, "[]") == HW_ERR_CONFIG);
    CHECK_INT(fs.n, 1);
    fault_set_deinit(&fs);
}

static void test_kv(void)
{
    struct fault_rule r;
    char errstr[256];

    fault_rule_init(&r);
    CHECK(fault_rule_set_kv(&r, "latency_ms=250", errstr, sizeof(errstr)) ==
          HW_OK);
    CHECK(fault_rule_set_kv(&r, "match=bk-fail-*", errstr, sizeof(errstr)) ==
          HW_OK);
    CHECK(fault_rule_set_kv(&r, "rate_429=0.25", errstr, sizeof(errstr)) ==
          HW_OK);
    CHECK_INT(r.retry_after_header, RETRY_AFTER_NONE); /* the default */
    CHECK(fault_rule_set_kv(&r, "retry_after_header=date", errstr,
                            sizeof(errstr)) == HW_OK);
    CHECK_INT(r.latency_ms, 250);
    CHECK_STR(r.match, "bk-fail-*");
    CHECK(r.rate_429 == 0.25 && r.retry_after_header == RETRY_AFTER_DATE);
    CHECK(fault_rule_set_kv(&r, "retry_after_header=seconds", errstr,
                            sizeof(errstr)) == HW_OK);
    CHECK_INT(r.retry_after_header, RETRY_AFTER_SECONDS);
    CHECK(fault_rule_set_kv(&r, "retry_after_header=soon", errstr,
                            sizeof(errstr)) == HW_ERR_CONFIG);
    CHECK_STR(errstr, "fault field retry_after_header: expected one of none "
                      "seconds date");
    CHECK(fault_rule_set_kv(&r, "retry_after_header=1", errstr,
                            sizeof(errstr)) == HW_ERR_CONFIG);
    CHECK_INT(r.retry_after_header, RETRY_AFTER_SECONDS); /* unchanged */
    CHECK(fault_rule_set_kv(&r, "retry_after_s=-1", errstr, sizeof(errstr)) ==
          HW_ERR_CONFIG); /* a wait, not a switch: the header field is */
    CHECK(fault_rule_set_kv(&r, "latency_ms=x", errstr, sizeof(errstr)) ==
          HW_ERR_CONFIG);
    CHECK(fault_rule_set_kv(&r, "bogus=1", errstr, sizeof(errstr)) ==
          HW_ERR_CONFIG);
    CHECK(fault_rule_set_kv(&r, "novalue", errstr, sizeof(errstr)) ==
          HW_ERR_CONFIG);
    fault_rule_deinit(&r);
}

static void test_decide(void)
{
    struct fault_set fs = {NULL, 0, 42};
    struct fault_action fa;
    int n503;

    CHECK(load(&fs, "{\"rules\":["
                    "{\"match\":\"bk-fail-*\",\"rate_500\":1},"
                    "{\"route\":\"POST /v2/room-codes/*\",\"rate_drop\":1,"
                    "\"times\":2},"
                    "{\"rate_503\":0.3,\"latency_ms\":5,\"jitter_ms\":10}]}") ==
          HW_OK);
    /* a per-room pattern: case-insensitive, only that room */
    CHECK_INT(count(&fs, 20, "POST /v2/rooms", "BK-FAIL-1", FAULT_STATUS, 500),
              20);
    CHECK_INT(count(&fs, 20, "POST /v2/rooms", "bk-ok", FAULT_STATUS, 500), 0);
    CHECK_INT(count(&fs, 20, "POST /v2/rooms", NULL, FAULT_STATUS, 500), 0);
    /* a route rule that expires after two hits */
    CHECK_INT(
        count(&fs, 5, "POST /v2/room-codes/room/{id}", "x", FAULT_DROP, 0), 2);
    /* a rate: about 30 % of 10000, and latency within [5, 15] */
    n503 = count(&fs, 10000, "GET /v2/rooms", NULL, FAULT_STATUS, 503);
    CHECK(n503 > 2700 && n503 < 3300);
    for (int i = 0; i < 100; i++) {
        fault_decide(&fs, "GET /v2/rooms", NULL, &fa);
        CHECK(fa.delay_ms >= 5 && fa.delay_ms <= 15);
    }
    fault_set_deinit(&fs);
}

static void test_every_kind(void)
{
    struct fault_set fs = {NULL, 0, 3};
    struct fault_action fa;

    CHECK(load(&fs, "{\"rules\":[{\"rate_hang\":1,\"hang_ms\":1234}]}") ==
          HW_OK);
    fault_decide(&fs, "r", NULL, &fa);
    CHECK(fa.kind == FAULT_HANG && fa.hang_ms == 1234);
    CHECK(load(&fs, "{\"rules\":[{\"rate_drop_after\":1}]}") == HW_OK);
    fault_decide(&fs, "r", NULL, &fa);
    CHECK(fa.kind == FAULT_DROP_AFTER);
    CHECK(load(&fs, "{\"rules\":[{\"rate_429\":1,\"retry_after_s\":45}]}") ==
          HW_OK);
    fault_decide(&fs, "r", NULL, &fa);
    CHECK(fa.kind == FAULT_STATUS && fa.status == 429 &&
          fa.retry_after_s == 45 && fa.retry_after_header == RETRY_AFTER_NONE);
    CHECK(load(&fs, "{\"rules\":[{\"rate_429\":1,"
                    "\"retry_after_header\":\"seconds\"}]}") == HW_OK);
    fault_decide(&fs, "r", NULL, &fa);
    CHECK(fa.retry_after_s == 1 &&
          fa.retry_after_header == RETRY_AFTER_SECONDS);
    CHECK(load(&fs, "{\"rules\":[{\"rate_502\":1,\"html_body\":true}]}") ==
          HW_OK);
    fault_decide(&fs, "r", NULL, &fa);
    CHECK(fa.kind == FAULT_STATUS && fa.status == 502 && fa.html_body);
    CHECK(load(&fs, "{\"rules\":[{\"rate_504\":1}]}") == HW_OK);
    fault_decide(&fs, "r", NULL, &fa);
    CHECK(fa.status == 504);
    CHECK(load(&fs, "{\"rules\":[]}") == HW_OK);
    fault_decide(&fs, "r", NULL, &fa);
    CHECK(fa.kind == FAULT_NONE && fa.delay_ms == 0);
    fault_set_deinit(&fs);
}

static void test_round_trip(void)
{
    struct fault_set a = {NULL, 0, 1}, b = {NULL, 0, 1};
    json_t *j1, *j2;

    CHECK(load(&a, "{\"rules\":[{\"match\":\"m\",\"rate_429\":0.5,"
                   "\"retry_after_s\":7,\"retry_after_header\":\"date\"}]}") ==
          HW_OK);
    j1 = fault_set_to_json(&a);
    CHECK_STR(json_string_value(json_object_get(
                  json_array_get(json_object_get(j1, "rules"), 0),
                  "retry_after_header")),
              "date");
    json_object_del(json_array_get(json_object_get(j1, "rules"), 0), "hits");
    CHECK(fault_set_from_json(&b, j1, NULL, 0) == HW_OK);
    j2 = fault_set_to_json(&b);
    json_object_del(json_array_get(json_object_get(j2, "rules"), 0), "hits");
    CHECK(json_equal(j1, j2));
    json_decref(j1);
    json_decref(j2);
    fault_set_deinit(&a);
    fault_set_deinit(&b);
}

int main(void)
{
    test_parse();
    test_kv();
    test_decide();
    test_every_kind();
    test_round_trip();
    return TEST_REPORT();
}
