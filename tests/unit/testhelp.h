/* testhelp.h -- the unit-test harness: CHECK counts, a failure prints
 * where and what, TEST_REPORT() prints "N passed, N failed" and gives the
 * exit status. One binary per module; no network, no sleeps. */
#ifndef TESTHELP_H
#define TESTHELP_H

#include <stdio.h>
#include <string.h>

/* Fixtures point the char * fields of product structs at literals. */
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wunknown-warning-option" /* clang */
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"
#pragma GCC diagnostic ignored                                                 \
    "-Wincompatible-pointer-types-discards-qualifiers"

static int th_passed, th_failed;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (cond) {                                                            \
            th_passed++;                                                       \
        } else {                                                               \
            th_failed++;                                                       \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                                      \
    } while (0)

#define CHECK_STR(got, want)                                                   \
    do {                                                                       \
        const char *th_g = (got), *th_w = (want);                              \
        if (th_g != NULL && th_w != NULL && strcmp(th_g, th_w) == 0) {         \
            th_passed++;                                                       \
        } else {                                                               \
            th_failed++;                                                       \
            fprintf(stderr, "FAIL %s:%d: %s == \"%s\", got \"%s\"\n",          \
                    __FILE__, __LINE__, #got, th_w ? th_w : "(null)",          \
                    th_g ? th_g : "(null)");                                   \
        }                                                                      \
    } while (0)

#define CHECK_INT(got, want)                                                   \
    do {                                                                       \
        long long th_g = (long long)(got), th_w = (long long)(want);           \
        if (th_g == th_w) {                                                    \
            th_passed++;                                                       \
        } else {                                                               \
            th_failed++;                                                       \
            fprintf(stderr, "FAIL %s:%d: %s == %lld, got %lld\n", __FILE__,    \
                    __LINE__, #got, th_w, th_g);                               \
        }                                                                      \
    } while (0)

#define TEST_REPORT()                                                          \
    (printf("%d passed, %d failed\n", th_passed, th_failed), th_failed != 0)

#endif
