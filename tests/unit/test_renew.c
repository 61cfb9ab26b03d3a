/* test_renew.c -- the rules of token renewal (renew.h, docs/contract.md
 * section 5): the margin a token's key may have left, which subjects are
 * live, which listed users' tokens are due. */
#include <string.h>

#include "renew.h"
#include "testhelp.h"

#define S 1000LL /* ms */

/* the larger of two checks and 10 % of the TTL, at most half the TTL */
static void test_margin(void)
{
    static const struct {
        int64_t check_ms, ttl_s, want_ms;
    } rows[] = {
        {60 * S, 86400, 8640 * S},   /* 10 % of a day */
        {60 * S, 7200, 720 * S},     /* 10 % of 2 h */
        {60 * S, 600, 120 * S},      /* two checks > 10 % */
        {60 * S, 300, 120 * S},      /* two checks, under half the TTL */
        {1 * S, 300, 30 * S},        /* the integration test's */
        {600 * S, 300, 150 * S},     /* two checks capped at half */
        {3600 * S, 86400, 8640 * S}, /* 2 h of checks < 10 % */
        {3600 * S, 7200, 3600 * S},  /* capped at half */
        {1 * S, 90 * 86400, 9 * 86400 * S},
    };

    for (size_t i = 0; i < HW_ARRAY_LEN(rows); i++) {
        int64_t got = renew_margin_ms(rows[i].check_ms, rows[i].ttl_s);

        CHECK(got == rows[i].want_ms);
        /* a fresh token's key (TTL - 60 s) is never due */
        CHECK(got < (rows[i].ttl_s - 60) * S);
    }
}

static json_t *hash_of(const char *status, const char *session)
{
    json_t *h = json_object();

    if (status != NULL) {
        json_object_set_new(h, "status", json_string(status));
    }
    if (session != NULL) {
        json_object_set_new(h, "session_status", json_string(session));
    }
    json_object_set_new(h, "room_id", json_string("r1"));
    return h;
}

static void test_live(void)
{
    json_t *h = hash_of("ready", "live");

    CHECK(renew_live(h));
    json_object_del(h, "room_id"); /* a tombstone has none */
    CHECK(!renew_live(h));
    json_decref(h);
    h = hash_of("ready", "ended");
    CHECK(!renew_live(h));
    json_decref(h);
    h = hash_of("ended", "live"); /* the subject ended mid-session */
    CHECK(!renew_live(h));
    json_decref(h);
    h = hash_of("ready", NULL); /* no session yet */
    CHECK(!renew_live(h));
    json_decref(h);
    h = json_object(); /* the hash is gone */
    CHECK(!renew_live(h));
    json_decref(h);
}

static bool has(const struct renew_user *u, size_t n, const char *user,
                const char *role, int64_t margin)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(u[i].user_id, user) == 0) {
            return strcmp(u[i].role, role) == 0 && u[i].margin_ms == margin;
        }
    }
    return false;
}

/* due: listed (role:{user}) and its key's life below the role's margin,
 * or no key at all; guests have a 2 h TTL of their own */
static void test_due_users(void)
{
    struct conf_role_ttl guest = {"guest", 7200};
    struct conf cf = {.hms_token_renew_check_ms = 60 * S,
                      .hms_app_token_ttl_s = 86400,
                      .role_ttls = &guest,
                      .n_role_ttls = 1};
    json_t *h = hash_of("ready", "live");
    json_t *left = json_object();
    struct renew_user out[16];
    size_t n;

    json_object_set_new(h, "role:alice", json_string("host"));
    json_object_set_new(h, "role:bob", json_string("guest"));
    json_object_set_new(h, "role:carol", json_string("guest"));
    json_object_set_new(h, "role:dan", json_string("host"));
    json_object_set_new(h, "role:erin", json_string("host"));
    json_object_set_new(h, "joined:zed", json_string("1")); /* not listed */
    json_object_set_new(h, "code:host", json_string("abc-defg-hij"));
    json_object_set_new(left, "alice", json_integer(8640 * S - 1)); /* due */
    json_object_set_new(left, "bob", json_integer(720 * S));   /* not yet */
    json_object_set_new(left, "carol", json_integer(719 * S)); /* due */
    json_object_set_new(left, "dan", json_integer(-2));        /* gone: due */
    /* erin: not in left at all (read before her token was written): due */
    json_object_set_new(left, "zed", json_integer(1)); /* no role: never */
    n = renew_due_users(&cf, h, left, out);
    CHECK(n == 4);
    CHECK(has(out, n, "alice", "host", 8640 * S));
    CHECK(has(out, n, "carol", "guest", 720 * S));
    CHECK(has(out, n, "dan", "host", 8640 * S));
    CHECK(has(out, n, "erin", "host", 8640 * S));
    CHECK(!has(out, n, "bob", "guest", 720 * S));
    CHECK(!has(out, n, "zed", "host", 8640 * S));
    /* every token fresh: nobody */
    json_object_set_new(left, "alice", json_integer(86340 * S));
    json_object_set_new(left, "carol", json_integer(7140 * S));
    json_object_set_new(left, "dan", json_integer(86340 * S));
    json_object_set_new(left, "erin", json_integer(86340 * S));
    CHECK(renew_due_users(&cf, h, left, out) == 0);
    json_decref(h);
    json_decref(left);
}

int main(void)
{
    test_margin();
    test_live();
    test_due_users();
    return TEST_REPORT();
}
