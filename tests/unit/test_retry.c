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

    /* the Redis connection's backoff (cache.c: 100 ms to 2 s): ceilings
     * 100, 200, 400, 800, 1600, 2000; at least half of each */
    static const struct {
        int64_t failures;
        uint32_t rnd;
        int64_t want;
    } steps[] = {
        {0, 12345, 0}, /* no failure: at once */
        {-1, 7, 0},     {1, 0, 50},    {1, 50, 100},    {1, 51, 50},
        {2, 0, 100},    {2, 100, 200}, {3, 200, 400},   {4, 0, 400},
        {5, 800, 1600}, {6, 0, 1000},  {6, 1000, 2000}, {7, 1000, 2000},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        CHECK_INT(retry_backoff_ms(100, 2000, steps[i].failures, steps[i].rnd),
                  steps[i].want);
    }
    /* within [cap / 2, cap] however many failures: no overflow */
    for (int64_t n = 6; n <= 1000000; n = n * 3 + 1) {
        int64_t d = retry_backoff_ms(100, 2000, n, (uint32_t)n * 2654435761u);

        CHECK(d >= 1000 && d <= 2000);
    }
    CHECK_INT(retry_backoff_ms(100, 2000, INT64_MAX, UINT32_MAX),
              1000 + (int64_t)(UINT32_MAX % 1001));
    /* each step's floor grows until the cap: never closer than 50 ms */
    for (int64_t n = 1; n < 12; n++) {
        CHECK(retry_backoff_ms(100, 2000, n, 0) >=
              retry_backoff_ms(100, 2000, n - 1, 0));
        CHECK(retry_backoff_ms(100, 2000, n, 0) >= 50);
    }
    return TEST_REPORT();
}
