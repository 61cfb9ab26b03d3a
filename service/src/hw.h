/* hw.h -- hms-worker base (hw): the one status enum, allocation wrappers
 * and clocks.
 *
 * DESIGN
 * ------
 * Every fallible public function returns enum hw_rc. Codes name causes;
 * what to do about them (retry, dead-letter, halt until a setting is
 * fixed, stop) is decided by callers (hw_rc_is_retriable(), the reaction
 * table of docs/contract.md section 7). Dependency error codes go into
 * these once, at each adapter's boundary, and never leave the adapter.
 * x*alloc() abort on OOM, like librdkafka: a restart is the recovery.
 * Everything here is thread-safe.
 */
#ifndef HW_H
#define HW_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HW_MUSTCHECK __attribute__((warn_unused_result))
#define HW_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

enum hw_rc {
    HW_OK = 0,
    HW_ERR_INVALID,     /* bad input or request: never retry */
    HW_ERR_DECODE,      /* undecodable payload: dead-letter */
    HW_ERR_NOT_FOUND,   /* HMS 404 */
    HW_ERR_AUTH,        /* credentials, permission or token refused */
    HW_ERR_TIMEOUT,     /* retriable */
    HW_ERR_UNAVAILABLE, /* reset, 429, 5xx, Redis down: retriable */
    HW_ERR_REFUSED,     /* refused for a reason not known to mean more: a
                           few retries, then the request's own failure if
                           the dependency serves others */
    HW_ERR_CONFIG,      /* a setup the dependency refuses */
    HW_ERR_FATAL        /* stop the process */
};

/* Static string naming rc, e.g. "unavailable". */
const char *hw_rc_str(enum hw_rc rc);
bool hw_rc_is_retriable(enum hw_rc rc);

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Returns a malloc'd printf result; caller frees. */
char *xasprintf(const char *fmt, ...) HW_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) HW_PRINTF(1, 0);

/* a + b and a * b, saturated at INT64_MIN/INT64_MAX: time arithmetic on
 * values that come from input never overflows. */
int64_t hw_sat_add(int64_t a, int64_t b);

/* An RFC 3339 UTC time as 100ms writes it ("2022-09-08T15:52:02Z", with a
 * fraction of 1-9 digits or none, "Z" only) in Unix epoch ms (digits past
 * the third dropped); INT64_MIN when s is not one. */
int64_t hw_rfc3339_ms(const char *s);

/* CLOCK_MONOTONIC now + ms, for pthread_cond_timedwait() on a condition
 * variable set to that clock. */
struct timespec;
void hw_mono_deadline(struct timespec *ts, int64_t ms);
int64_t hw_sat_mul(int64_t a, int64_t b);

/* Wall clock (Unix epoch) and monotonic clock, in milliseconds. */
int64_t hw_now_ms(void);
int64_t hw_mono_ms(void);
int64_t hw_mono_us(void); /* monotonic, microseconds */
/* Moves hw_mono_ms() forward: unit tests step timers without sleeping. */
void hw_clock_advance_ms(int64_t ms);

/* fn on SIGTERM and SIGINT (it may only set a flag); SIGPIPE ignored. */
void hw_on_stop_signals(void (*fn)(int));

/* A bell: one non-blocking eventfd that several sources ring for one
 * sleeping thread (the consumer thread's: librdkafka's consumer and
 * producer queues, through rd_kafka_queue_io_event_enable() with
 * HW_BELL_PAYLOAD; the schema registry's fetch thread with hw_bell_ring()).
 * Rings add up until one hw_bell_clear(), so the sleeper wakes once for
 * all of them, then serves every source. -1 on failure. */
int hw_bell_open(void);
void hw_bell_ring(int fd);
void hw_bell_clear(int fd);
extern const uint64_t HW_BELL_PAYLOAD; /* what an eventfd write must be */

#define HW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
