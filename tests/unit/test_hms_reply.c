/* test_hms_reply.c -- 100ms replies are checked before use. */
#include <stdlib.h>
#include <string.h>

#include "hms_reply.h"
#include "testhelp.h"

static json_t *j(const char *text)
{
    return json_loads(text, 0, NULL);
}

int main(void)
{
    json_t *room = j("{\"id\":\"631b2654f771854d9bf633df\"}");
    json_t *bad = j("{\"id\":\"../rooms/x\"}");
    json_t *reply = j("{\"data\":[{\"code\":\"abc-defg-hij\",\"role\":\"host\","
                      "\"enabled\":true},{\"code\":\"old-code-aaa\",\"role\":"
                      "\"guest\",\"enabled\":false},{\"code\":\"BAD CODE\","
                      "\"role\":\"viewer\",\"enabled\":true},{\"code\":5},"
                      "\"junk\"]}");
    json_t *codes = hms_reply_enabled_codes(reply);
    json_t *none = hms_reply_enabled_codes(room);
    json_t *st = j("{\"playback\":{\"url\":\"https://x/master.m3u8\"}}");
    json_t *st_bad = j("{\"playback\":{\"url\":\"javascript:alert(1)\"}}");

    /* the shapes alone, as values read back from Redis are checked */
    static const struct {
        const char *s;
        bool room, code, role;
    } shapes[] = {
        {"631b2654f771854d9bf633df", true, true, true},
        {"abc-defg-hij", true, true, true},
        {"Room_1", true, false, true},
        {"../rooms/x", false, false, true},
        {"r9/end-room", false, false, true},
        {"a b", false, false, true},
        {"a\n", false, false, true},
        {"x?y=1", false, false, true},
        {"", false, false, false},
        {NULL, false, false, false},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         true, true, true}, /* 64 */
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         false, false, true}, /* 65 */
    };
    char long_role[258];

    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        CHECK(hms_reply_is_room_id(shapes[i].s) == shapes[i].room);
        CHECK(hms_reply_is_code(shapes[i].s) == shapes[i].code);
        CHECK(hms_reply_is_role(shapes[i].s) == shapes[i].role);
    }
    memset(long_role, 'r', sizeof(long_role) - 1);
    long_role[257] = '\0';
    CHECK(!hms_reply_is_role(long_role));
    long_role[256] = '\0';
    CHECK(hms_reply_is_role(long_role));
    CHECK_STR(hms_reply_room_id(room), "631b2654f771854d9bf633df");
    CHECK(hms_reply_room_id(bad) == NULL);
    CHECK(hms_reply_room_id(NULL) == NULL);
    CHECK_INT(json_array_size(codes), 1);
    CHECK(hms_reply_has_role(codes, "host"));
    CHECK(!hms_reply_has_role(codes, "guest"));
    CHECK(!hms_reply_has_role(codes, "viewer"));
    CHECK_INT(json_array_size(none), 0);
    CHECK_STR(hms_reply_hls_url(st), "https://x/master.m3u8");
    CHECK(hms_reply_hls_url(st_bad) == NULL);
    CHECK(hms_reply_hls_url(room) == NULL);
    /* 403: a room's state only when the message says so (100ms-api 1.5) */
    json_t *dis = j("{\"code\":403,\"message\":\"Room is disabled\"}");
    json_t *dis2 = j("{\"message\":\"room DISABLED by admin\"}");
    json_t *perm = j("{\"code\":403,\"message\":\"Forbidden\"}");
    json_t *near = j("{\"message\":\"disable\",\"details\":[\"disabled\"]}");
    CHECK(hms_reply_says_disabled(dis));
    CHECK(hms_reply_says_disabled(dis2));
    CHECK(!hms_reply_says_disabled(perm));
    CHECK(!hms_reply_says_disabled(near)); /* only "message" counts */
    CHECK(!hms_reply_says_disabled(NULL));
    CHECK(!hms_reply_says_disabled(room));
    /* live streams (100ms-api 2.4) and the 429 text (section 3) */
    json_t *run = j("{\"id\":\"641b2654f771854d9bf633df\",\"status\":"
                    "\"running\"}");
    json_t *post = j("{\"status\":\"post_processing\"}");
    json_t *odd = j("{\"status\":\"paused\"}");
    json_t *wait45 = j("{\"code\":429,\"message\":\"rate limit exceeded, "
                       "retry after 45 seconds\"}");
    json_t *wait1 = j("{\"message\":\"retry after 1 second\"}");
    json_t *nowait = j("{\"message\":\"retry after a while\"}");
    json_t *neg = j("{\"message\":\"retry after -3 seconds\"}");
    CHECK_STR(hms_reply_stream_id(run), "641b2654f771854d9bf633df");
    CHECK(hms_reply_stream_id(bad) == NULL);
    CHECK(hms_reply_stream_status(run) == HLS_RUNNING);
    CHECK(hms_reply_stream_status(post) == HLS_STOPPED);
    CHECK(hms_reply_stream_status(odd) == HLS_UNKNOWN);
    CHECK(hms_reply_stream_status(NULL) == HLS_UNKNOWN);
    CHECK_INT(hms_reply_retry_after_s(wait45), 45);
    CHECK_INT(hms_reply_retry_after_s(wait1), 1);
    CHECK_INT(hms_reply_retry_after_s(nowait), -1);
    CHECK_INT(hms_reply_retry_after_s(neg), -1);
    CHECK_INT(hms_reply_retry_after_s(room), -1);
    json_decref(run);
    json_decref(post);
    json_decref(odd);
    json_decref(wait45);
    json_decref(wait1);
    json_decref(nowait);
    json_decref(neg);
    json_decref(dis);
    json_decref(dis2);
    json_decref(perm);
    json_decref(near);
    json_decref(room);
    json_decref(bad);
    json_decref(reply);
    json_decref(codes);
    json_decref(none);
    json_decref(st);
    json_decref(st_bad);
    return TEST_REPORT();
}
