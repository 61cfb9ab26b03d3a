/* test_hookev.c -- webhook bodies checked into events (hookev.c): the
 * envelope shapes refused, the readers' shape checks, RFC 3339 times as
 * 100ms writes them, and the ordering key shared with the subject's own
 * events. */
#include <string.h>

#include "hookev.h"
#include "rules.h"
#include "testhelp.h"

static enum hw_rc decode(const char *body, struct event *ev)
{
    char err[128];

    memset(ev, 0, sizeof(*ev));
    return hookev_decode(body, strlen(body), ev, err, sizeof(err));
}

static void test_envelope(void)
{
    char err[128];
    static const char *const bad[] = {
        "",
        "[]",
        "not json",
        "{\"type\":\"x\",\"data\":{\"room_id\":\"r1\"}}",
        "{\"id\":\"\",\"type\":\"x\",\"data\":{\"room_id\":\"r1\"}}",
        "{\"id\":\"i\",\"data\":{\"room_id\":\"r1\"}}",
        "{\"id\":\"i\",\"type\":\"x\",\"data\":[]}",
        "{\"id\":\"i\",\"type\":\"x\",\"data\":{}}",
        "{\"id\":\"i\",\"type\":\"x\",\"data\":{\"room_id\":\"../x\"}}",
        ("{\"id\":\"i\",\"id\":\"j\",\"type\":\"x\",\"data\":{\"room_id\":"
         "\"r1\"}}"),
    };
    struct event ev;

    for (size_t i = 0; i < HW_ARRAY_LEN(bad); i++) {
        CHECK(decode(bad[i], &ev) == HW_ERR_DECODE);
        CHECK(ev.hook == NULL && ev.event_id == NULL);
        event_clear(&ev);
    }
    CHECK(decode("{\"version\":\"2.0\",\"id\":\"w-1\",\"type\":"
                 "\"peer.join.success\",\"data\":{\"room_id\":"
                 "\"631b2654f771854d9bf633df\",\"room_name\":\"BK-B1\","
                 "\"user_id\":\"alice\",\"peer_id\":\"p\\u0001\","
                 "\"joined_at\":\"2022-09-08T15:52:02.194Z\"}}",
                 &ev) == HW_OK);
    CHECK(ev.kind == EVENT_WEBHOOK);
    CHECK_STR(ev.event_id, "w-1");
    CHECK(hookev_type(&ev) == HOOK_PEER_JOIN);
    CHECK_STR(hookev_str(&ev, "user_id"), "alice");
    CHECK(hookev_str(&ev, "peer_id") == NULL); /* a control character */
    CHECK(hookev_str(&ev, "nothing") == NULL);
    CHECK(hookev_time_ms(&ev, "joined_at") == 1662652322194LL);
    char *key = hookev_order_key(&ev),
         *own = rules_room_name(SUBJECT_BOOKING, "b1");
    CHECK_STR(key, own); /* one order with booking b1's events */
    free(key);
    free(own);
    CHECK(event_validate(&ev, 0, err, sizeof(err)) == HW_OK);
    event_clear(&ev);
    CHECK(decode("{\"id\":\"w\",\"type\":\"recording.success\",\"data\":"
                 "{\"room_id\":\"r1\",\"u\":\"https://x/a.mp4?sig=1\","
                 "\"h\":\"http://x/a.mp4\",\"sp\":\"https://x/a b\","
                 "\"p\":\"s3://b/a.mp4\",\"n\":600,\"neg\":-1,"
                 "\"f\":1.5}}",
                 &ev) == HW_OK);
    CHECK(hookev_type(&ev) == HOOK_RECORDING);
    CHECK_STR(hookev_url(&ev, "u"), "https://x/a.mp4?sig=1");
    CHECK(hookev_url(&ev, "h") == NULL);  /* https only */
    CHECK(hookev_url(&ev, "sp") == NULL); /* no spaces */
    CHECK(hookev_url(&ev, "p") == NULL);
    CHECK_STR(hookev_path(&ev, "p"), "s3://b/a.mp4");
    CHECK(hookev_count(&ev, "n") == 600);
    CHECK(hookev_count(&ev, "neg") == -1);
    CHECK(hookev_count(&ev, "f") == -1);
    CHECK(hookev_count(&ev, "none") == -1);
    event_clear(&ev);
    CHECK(decode("{\"id\":\"w\",\"type\":\"hls.started.success\",\"data\":"
                 "{\"room_id\":\"r1\"}}",
                 &ev) == HW_OK);
    CHECK(hookev_type(&ev) == HOOK_HLS_STARTED);
    CHECK_STR(hookev_type_name(&ev), "hls.started.success");
    key = hookev_order_key(&ev);
    CHECK_STR(key, "room:r1"); /* no room_name */
    free(key);
    event_clear(&ev);
}

static void test_times(void)
{
    static const struct {
        const char *text;
        int64_t ms;
    } cases[] = {
        {"2022-09-08T15:52:02Z", 1662652322000LL},
        {"2022-09-08T15:52:02.194Z", 1662652322194LL},
        {"2023-03-22T04:24:10.155978231Z", 1679459050155LL},
        {"2000-02-29T00:00:00.5Z", 951782400500LL},
        {"0001-01-01T00:00:00Z", INT64_MIN}, /* 100ms's "none" */
        {"2022-09-08T15:52:02+02:00", INT64_MIN},
        {"2022-13-08T15:52:02Z", INT64_MIN},
        {"2022-09-08 15:52:02Z", INT64_MIN},
        {"yesterday", INT64_MIN},
    };

    for (size_t i = 0; i < HW_ARRAY_LEN(cases); i++) {
        char body[256];
        struct event ev;

        snprintf(body, sizeof(body),
                 "{\"id\":\"w\",\"type\":\"t\",\"timestamp\":\"%s\","
                 "\"data\":{\"room_id\":\"r\",\"t\":\"%s\"}}",
                 cases[i].text, cases[i].text);
        CHECK(decode(body, &ev) == HW_OK);
        CHECK_INT(hookev_time_ms(&ev, "t"), cases[i].ms);
        CHECK_INT(hookev_time_ms(&ev, NULL), cases[i].ms); /* the envelope's */
        event_clear(&ev);
    }
}

int main(void)
{
    test_envelope();
    test_times();
    return TEST_REPORT();
}
