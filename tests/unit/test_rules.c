/* test_rules.c -- the contract's pure rules (docs/contract.md sections 3
 * to 5): room names (SHA-256 vectors computed with Python's hashlib),
 * token and hash expiry, token holders, stale tokens, template roles. */
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "testhelp.h"

#define NOW_S 1790000000LL
#define DAY 86400LL

static void check(enum subject_kind kind, const char *id, const char *want)
{
    char *got = rules_room_name(kind, id);

    CHECK_STR(got, want);
    free(got);
}

static void test_room_names(void)
{
    char long_id[66];

    memset(long_id, 'x', 65);
    long_id[65] = '\0';
    check(SUBJECT_BOOKING, "b1", "bk-b1");
    check(SUBJECT_STREAM, "s.1:a_b-c", "ls-s.1:a_b-c");
    /* 100ms names are case-insensitive: upper case is hashed, or "B1" and
     * "b1" would share a room */
    check(SUBJECT_BOOKING, "B1", "bk-x-5b950e77941d01cdf246d00b1ece546b");
    check(SUBJECT_STREAM, "S.1:a_b-c", "ls-x-2872e8e1aa01115a072ca9f2ceb1838d");
    /* "x-" starts the hashed names: such an id is hashed itself */
    check(SUBJECT_BOOKING, "x-383c65c5fa4f72cc7ea8419a94c01c1a",
          "bk-x-4f28552d07512012b4c99aa74604091f");
    check(SUBJECT_BOOKING, "booking with space",
          "bk-x-f3525fcfbab2e65a95edee7add9e9955");
    check(SUBJECT_STREAM, long_id, "ls-x-9537c5fdf120482f7d58d25e9ed583f5");
    check(SUBJECT_BOOKING, "\xc3\xbc", "bk-x-607474ca475a9724d7360aba71a56d5d");
    long_id[64] = '\0'; /* exactly 64: still plain */
    {
        char *got = rules_room_name(SUBJECT_BOOKING, long_id);

        CHECK(strncmp(got, "bk-xxxx", 7) == 0 && strlen(got) == 67);
        free(got);
    }
}

/* contract section 5: exp = max(now + TTL, ends_at + grace), or
 * max(now, starts_at) + TTL without ends_at; at most 90 days; streams
 * now + TTL. Section 4: the hash until ends_at + CACHE_GRACE_S, at least
 * an hour; CACHE_DEFAULT_TTL_S without ends_at. */
static void test_expiry(void)
{
    struct conf cf = {0};
    struct event ev = {0};
    static const struct {
        enum event_kind kind;
        int64_t starts_s, ends_s; /* 0: no ends_at */
        int64_t token, hash;      /* expected, relative to NOW_S */
    } rows[] = {
        /* a booking tomorrow for an hour: its token covers it + grace */
        {EVENT_BOOKING_CREATED, DAY, DAY + 3600, DAY + 7200, DAY + 3600 + 600},
        /* ended long ago: a token for TTL, the hash for at least an hour */
        {EVENT_BOOKING_CREATED, -10 * DAY, -9 * DAY, 500, 3600},
        /* in a year: the token is capped at 90 days */
        {EVENT_BOOKING_CREATED, 365 * DAY, 365 * DAY + 60, 90 * DAY,
         365 * DAY + 660},
        /* no ends_at: from the start, or from now when it started */
        {EVENT_BOOKING_CREATED, 2 * DAY, 0, 2 * DAY + 500, 7 * DAY},
        {EVENT_BOOKING_CREATED, -DAY, 0, 500, 7 * DAY},
        /* a stream: now + TTL, the default hash TTL */
        {EVENT_STREAM_STARTED, 0, 0, 500, 7 * DAY},
    };

    cf.hms_app_token_ttl_s = 500;
    cf.hms_token_grace_s = 3600;
    cf.cache_grace_s = 600;
    cf.cache_default_ttl_s = 7 * DAY;
    for (size_t i = 0; i < HW_ARRAY_LEN(rows); i++) {
        ev.kind = rows[i].kind;
        ev.starts_at = (NOW_S + rows[i].starts_s) * 1000;
        ev.ends_at = rows[i].ends_s != 0 ? (NOW_S + rows[i].ends_s) * 1000
                                         : EVENT_NO_TIME;
        CHECK(rules_token_exp(&cf, &ev, "guest", NOW_S) ==
              NOW_S + rows[i].token);
        CHECK(rules_hash_expiry(&cf, &ev, NOW_S) == NOW_S + rows[i].hash);
    }
    /* whatever slipped past validation saturates instead of overflowing */
    ev.kind = EVENT_BOOKING_CREATED;
    ev.ends_at = INT64_MAX - 1;
    CHECK(rules_token_exp(&cf, &ev, "guest", NOW_S) == NOW_S + 90 * DAY);
    CHECK(rules_hash_expiry(&cf, &ev, NOW_S) == INT64_MAX / 1000 + 600);
}

static void test_holders_and_roles(void)
{
    struct participant ps[] = {{"alice", NULL, "host"}, {"bob", NULL, "guest"}};
    struct event booking = {
        .kind = EVENT_BOOKING_CREATED, .participants = ps, .n_participants = 2};
    struct event stream = {.kind = EVENT_STREAM_STARTED,
                           .host_user_id = "h1",
                           .host_role = "host"};
    struct participant host;
    const struct participant *list;
    json_t *codes = json_loads("[{\"code\":\"a\",\"role\":\"host\"}]", 0, NULL);

    CHECK(rules_holders(&booking, &host, &list) == 2 && list == ps);
    CHECK(rules_holders(&stream, &host, &list) == 1 && list == &host);
    CHECK_STR(list[0].user_id, "h1");
    CHECK_STR(rules_missing_role(&booking, codes), "guest");
    CHECK(rules_missing_role(&stream, codes) == NULL);
    stream.host_role = "viewer";
    CHECK_STR(rules_missing_role(&stream, codes), "viewer");
    json_decref(codes);
}

/* Tokens of users no longer listed go, but only in the same room. */
static void test_stale_users(void)
{
    struct participant now[] = {{"alice", NULL, "host"}};
    json_t *hash = json_pack("{s:s, s:s, s:s, s:s, s:s}", "room_id", "r1",
                             "role:alice", "host", "role:bob", "guest",
                             "role:carol", "guest", "code:host", "abc");
    const char **stale;
    size_t n = rules_stale_users(hash, "r1", now, 1, &stale);
    bool bob = false, carol = false;

    CHECK(n == 2);
    for (size_t i = 0; i < n; i++) {
        bob |= strcmp(stale[i], "bob") == 0;
        carol |= strcmp(stale[i], "carol") == 0;
    }
    CHECK(bob && carol);
    free(stale);
    CHECK(rules_stale_users(hash, "r2", now, 1, &stale) == 0);
    free(stale);
    CHECK(rules_stale_users(NULL, "r1", now, 1, &stale) == 0);
    free(stale);
    json_decref(hash);
}

/* What the worker reads back from its hash must have the shapes it
 * writes (frontends share that Redis): the first field that does not. */
static void test_tampered(void)
{
    static const struct {
        const char *hash, *bad; /* JSON; the field named, NULL: none */
    } rows[] = {
        {"{\"status\":\"ready\",\"room_id\":\"631b2654f771854d9bf633df\","
         "\"code:host\":\"abc-defg-hij\",\"role:alice@x.com\":\"host\","
         "\"link:host\":\"https://s.app.100ms.live/meeting/abc\","
         "\"joined:u v\":\"1\",\"session_id\":\"a/b\"}",
         NULL},
        {"{}", NULL},
        {"{\"room_id\":\"../rooms/x\"}", "room_id"},
        {"{\"room_id\":\"r9/end-room\"}", "room_id"},
        {"{\"room_id\":\"\"}", "room_id"},
        {"{\"room_id\":\"r9\\u0000/x\"}", "room_id"}, /* a NUL inside */
        {"{\"code:host\":\"abc/../x\"}", "code:host"},
        {"{\"code:host\":\"ABC\"}", "code:host"},
        {"{\"code:\":\"abc\"}", "code:"},
        {"{\"role:alice\":\"\"}", "role:alice"},
        {"{\"role:\":\"host\"}", "role:"},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        json_t *hash = json_loads(rows[i].hash, JSON_ALLOW_NUL, NULL);
        const char *got = rules_hash_tampered(hash);

        CHECK(hash != NULL);
        if (rows[i].bad == NULL) {
            CHECK(got == NULL);
        } else {
            CHECK_STR(got, rows[i].bad);
        }
        json_decref(hash);
    }
    CHECK(rules_hash_tampered(NULL) == NULL); /* no hash: nothing read */
}

static void test_subject_parse(void)
{
    enum subject_kind kind = SUBJECT_BOOKING;
    const char *id = NULL;
    char big[8 + 258] = "booking:";

    CHECK(rules_subject_parse("stream:s1", &kind, &id));
    CHECK(kind == SUBJECT_STREAM);
    CHECK_STR(id, "s1");
    CHECK(rules_subject_parse("booking:b:1", &kind, &id));
    CHECK(kind == SUBJECT_BOOKING);
    CHECK_STR(id, "b:1");
    CHECK(!rules_subject_parse("booking:", &kind, &id));
    CHECK(!rules_subject_parse("room:b1", &kind, &id));
    CHECK(!rules_subject_parse("", &kind, &id));
    CHECK(!rules_subject_parse(NULL, &kind, &id));
    memset(big + 8, 'b', 257);
    big[8 + 257] = '\0';
    CHECK(!rules_subject_parse(big, &kind, &id)); /* 257 bytes */
    big[8 + 256] = '\0';
    CHECK(rules_subject_parse(big, &kind, &id));
}

int main(void)
{
    test_tampered();
    test_subject_parse();
    test_room_names();
    test_expiry();
    test_holders_and_roles();
    test_stale_users();
    return TEST_REPORT();
}
