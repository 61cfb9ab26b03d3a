/* retry.c -- backoff with full jitter, in integer arithmetic: the
 * ceiling doubles from base_ms and stops at cap_ms (a large retry number
 * cannot overflow), rnd modulo ceiling + 1 draws the delay, a longer
 * Retry-After wins, a wait past the budget gives up. Its callers,
 * hms_client.c and (retry_backoff_ms) cache.c, bring the clock and seed
 * the random numbers (retry_rand, xorshift64). */
#include "retry.h"

/* base_ms doubled n - 1 times, at most cap_ms (n >= 1). */
static int64_t ceiling_ms(int64_t base_ms, int64_t cap_ms, int64_t n)
{
    int64_t ceiling = base_ms;

    for (int64_t i = 1; i < n && ceiling < cap_ms; i++) {
        ceiling *= 2; /* stops at the cap: no overflow for a large n */
    }
    return ceiling > cap_ms ? cap_ms : ceiling;
}

int64_t retry_delay_ms(const struct retry_policy *p, int64_t retry,
                       int64_t elapsed_ms, int64_t retry_after_ms, uint32_t rnd)
{
    int64_t ceiling, delay;

    if (retry < 1 || retry > p->max_retries) {
        return -1;
    }
    ceiling = ceiling_ms(p->base_ms, p->cap_ms, retry);
    delay = (int64_t)(rnd % (uint64_t)(ceiling + 1));
    if (retry_after_ms > delay) {
        delay = retry_after_ms;
    }
    return elapsed_ms + delay > p->budget_ms ? -1 : delay;
}

int64_t retry_backoff_ms(int64_t base_ms, int64_t cap_ms, int64_t failures,
                         uint32_t rnd)
{
    int64_t ceiling;

    if (failures < 1) {
        return 0;
    }
    ceiling = ceiling_ms(base_ms, cap_ms, failures);
    return ceiling / 2 + (int64_t)(rnd % (uint64_t)(ceiling - ceiling / 2 + 1));
}

uint32_t retry_rand(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (uint32_t)(*state >> 16);
}
