/* test_log.c -- log_safe() and log_text(), which every peer's text (an
 * error message of 100ms, Redis or the schema registry, librdkafka's
 * reasons) goes through before a log line: no quote, backslash or control
 * byte of theirs may end a field or start a forged line. */
#include <string.h>

#include "log.h"
#include "testhelp.h"

/* A registry's 404 message crafted to forge a line if copied raw. */
static const char forged[] = "Schema \"7\" not found\\\n"
                             "ts=2026-01-01T00:00:00Z level=error mod=main "
                             "msg=\"forged\"\r\x1b[2J\x7f\xc3\xa9";

static void test_text(void)
{
    char buf[256];
    const char *out = log_text(buf, sizeof(buf), forged);

    CHECK(out == buf);
    CHECK(strpbrk(buf, "\"\\\n\r\x1b\x7f") == NULL);
    CHECK(strstr(buf, "Schema _7_ not found__ts=2026") == buf);
    CHECK(strstr(buf, "msg=_forged___[2J___") != NULL); /* and non-ASCII */
    CHECK(strchr(buf, ' ') != NULL); /* spaces stay: it goes in quotes */
    CHECK_INT(strlen(buf), strlen(forged));
}

static void test_safe(void)
{
    char buf[256];

    log_safe(buf, sizeof(buf), forged);
    CHECK(strpbrk(buf, " \"\\\n\r\x1b\x7f") == NULL); /* a bare value */
    CHECK_INT(strlen(buf), strlen(forged));
}

static void test_bounds(void)
{
    char buf[8];

    CHECK_STR(log_text(buf, sizeof(buf), "a\"b\ncdefgh"), "a_b_cde");
    CHECK_STR(log_text(buf, sizeof(buf), NULL), ""); /* a missing message */
    CHECK_STR(log_safe(buf, 1, "abc"), "");
}

int main(void)
{
    test_text();
    test_safe();
    test_bounds();
    return TEST_REPORT();
}
