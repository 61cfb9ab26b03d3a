/* retry.h -- the retry policy for 100ms calls (docs/contract.md section 7), a
 * pure function: no clock, no sleep, no random source inside, so every
 * schedule is a table test.
 *
 * Exponential backoff with full jitter: before retry n (1-based) wait a
 * uniform delay in [0, min(cap, base * 2^(n-1))]; a Retry-After from the
 * server is honoured even above the cap; at most max_retries retries, and
 * never past the event's budget (EVENT_DEADLINE_MS).
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

#endif
