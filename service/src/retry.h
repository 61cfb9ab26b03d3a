/* retry.h -- the retry policy for 100ms calls (docs/contract.md section 7), a
 * pure function: no clock, no sleep, no random source inside, so every
 * schedule is a table test.
 *
 * Exponential backoff with full jitter: before retry n (1-based) wait a
 * uniform delay in [0, min(cap, base * 2^(n-1))]; a Retry-After from the
 * server is honoured even above the cap; at most max_retries retries, and
 * never past the event's budget (EVENT_DEADLINE_MS).
 *
 * The Redis connection's backoff (cache.c) is the same doubling with equal
 * jitter and no end: one attempt per step however many batches wait.
 */
#ifndef RETRY_H
#define RETRY_H

#include <stdint.h>

struct retry_policy {
    int64_t base_ms, cap_ms; /* HMS_RETRY_BASE_MS, HMS_RETRY_CAP_MS */
    int64_t max_retries;     /* HMS_RETRY_MAX: 5 means 6 attempts */
    int64_t budget_ms;       /* EVENT_DEADLINE_MS */
};

/* The delay before retry number `retry` (1 = the first retry), or -1 to
 * give up: retry > max_retries, or the wait would end past the budget.
 * elapsed_ms: time the event has used so far; retry_after_ms: the
 * server's Retry-After in ms (0: none); rnd: a uniform 32-bit number. */
int64_t retry_delay_ms(const struct retry_policy *p, int64_t retry,
                       int64_t elapsed_ms, int64_t retry_after_ms,
                       uint32_t rnd);

/* The wait before the next connection attempt after `failures` attempts
 * failed in a row: 0 for none, else a uniform delay in [ceiling / 2,
 * ceiling], ceiling = min(cap_ms, base_ms * 2^(failures - 1)). Half of
 * it fixed, so the attempts of a step never come closer than that; half
 * drawn, so workers that lost Redis together do not return in step.
 * rnd: a uniform 32-bit number. */
int64_t retry_backoff_ms(int64_t base_ms, int64_t cap_ms, int64_t failures,
                         uint32_t rnd);

/* The next uniform 32-bit number of a xorshift64 state for the jitter
 * above (not for secrets); the caller seeds *state, never with 0. */
uint32_t retry_rand(uint64_t *state);

#endif
