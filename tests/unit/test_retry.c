/* test_retry.c -- the retry schedule as a table. */
#include <stdint.h>

#include "retry.h"
#include "testhelp.h"

static const struct retry_policy pol = {200, 10000, 5, 120000};

int main(void)
{
    static const struct {
        int64_t retry, elapsed, retry_after;
        uint32_t rnd;
        int64_t want;
    } rows[] = {
        /* ceilings 200, 400, 800, 1600, 3200: rnd at the top of each */
        {1, 0, 0, 200, 200},
        {1, 0, 0, 201, 0}, /* 201 % 201 */
        {2, 0, 0, 400, 400},
        {3, 0, 0, 800, 800},
        {4, 0, 0, 1600, 1600},
        {5, 0, 0, 3200, 3200},
        {5, 0, 0, 0, 0},  /* full jitter reaches zero */
        {6, 0, 0, 5, -1}, /* past HMS_RETRY_MAX */
        {0, 0, 0, 5, -1},
        /* Retry-After wins when longer, even above the cap */
        {1, 0, 30000, 7, 30000},
        {1, 0, 50, 150, 150},
        /* the budget */
        {2, 119900, 0, 100, 100},
        {2, 119900, 0, 101, -1},
        {1, 100000, 30000, 0, -1},
    };
    struct retry_policy capped = {200, 1000, 100, INT64_MAX / 2};
    struct retry_policy none = {200, 10000, 0, 120000};

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        CHECK_INT(retry_delay_ms(&pol, rows[i].retry, rows[i].elapsed,
                                 rows[i].retry_after, rows[i].rnd),
                  rows[i].want);
    }
    /* the cap holds at every retry, and large retry numbers do not overflow */
    for (int64_t n = 1; n <= 100; n++) {
        CHECK(retry_delay_ms(&capped, n, 0, 0, UINT32_MAX) <= 1000);
    }
    CHECK_INT(retry_delay_ms(&capped, 100, 0, 0, 1000), 1000);
    CHECK_INT(retry_delay_ms(&none, 1, 0, 0, 1), -1); /* HMS_RETRY_MAX=0 */
    return TEST_REPORT();
}
