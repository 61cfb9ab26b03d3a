/* test_handler.c -- room names (docs/contract.md section 3). SHA-256 vectors
 * computed with Python's hashlib. */
#include <stdlib.h>
#include <string.h>

#include "handler.h"
#include "testhelp.h"

static void check(enum subject_kind kind, const char *id, const char *want)
{
    char *got = handler_room_name(kind, id);

    CHECK_STR(got, want);
    free(got);
}

int main(void)
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
        char *got = handler_room_name(SUBJECT_BOOKING, long_id);

        CHECK(strncmp(got, "bk-xxxx", 7) == 0 && strlen(got) == 67);
        free(got);
    }
    return TEST_REPORT();
}
