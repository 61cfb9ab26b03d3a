/* hw.c -- hms-worker base (hw): status names, the aborting allocators,
 * saturating arithmetic, clocks and stop signals, used by every module and
 * program from any thread. The allocators log and abort on OOM; xvasprintf()
 * formats once into a stack buffer when the text fits. hw_mono_ms() adds an
 * atomic offset that only tests move (hw_clock_advance_ms), so timers step
 * without sleeping; hw_mono_us(), for latencies, is the real clock. */
#define LOGMOD "hw"
#include "hw.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

const char *hw_rc_str(enum hw_rc rc)
{
    switch (rc) {
    case HW_OK:
        return "ok";
    case HW_ERR_INVALID:
        return "invalid";
    case HW_ERR_DECODE:
        return "decode";
    case HW_ERR_NOT_FOUND:
        return "not_found";
    case HW_ERR_AUTH:
        return "auth";
    case HW_ERR_TIMEOUT:
        return "timeout";
    case HW_ERR_UNAVAILABLE:
        return "unavailable";
    case HW_ERR_REFUSED:
        return "refused";
    case HW_ERR_CONFIG:
        return "config";
    case HW_ERR_FATAL:
        return "fatal";
    }
    return "unknown";
}

bool hw_rc_is_retriable(enum hw_rc rc)
{
    return rc == HW_ERR_TIMEOUT || rc == HW_ERR_UNAVAILABLE;
}

int64_t hw_sat_add(int64_t a, int64_t b)
{
    int64_t r;

    if (__builtin_add_overflow(a, b, &r)) {
        return b > 0 ? INT64_MAX : INT64_MIN;
    }
    return r;
}

int64_t hw_sat_mul(int64_t a, int64_t b)
{
    int64_t r;

    if (__builtin_mul_overflow(a, b, &r)) {
        return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
    }
    return r;
}

_Noreturn static void oom(size_t n)
{
    log_error("msg=\"out of memory\" bytes=%zu", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n);

    if (p == NULL && n != 0) {
        oom(n);
    }
    return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb, size);

    if (p == NULL && nmemb != 0 && size != 0) {
        oom(nmemb * size);
    }
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);

    if (q == NULL && n != 0) {
        oom(n);
    }
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;

    return memcpy(xmalloc(n), s, n);
}

/* One formatting pass when the result fits a stack buffer (nearly always):
 * glibc's vsnprintf(NULL, 0) measuring pass is as slow as a real one. */
char *xvasprintf(const char *fmt, va_list ap)
{
    char small[256];
    va_list copy;
    int n;
    char *out;

    va_copy(copy, ap);
    n = vsnprintf(small, sizeof(small), fmt, copy);
    va_end(copy);
    if (n < 0) {
        abort(); /* only a bad format string gets here */
    }
    out = xmalloc((size_t)n + 1);
    if ((size_t)n < sizeof(small)) {
        memcpy(out, small, (size_t)n + 1);
    } else {
        vsnprintf(out, (size_t)n + 1, fmt, ap);
    }
    return out;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *out;

    va_start(ap, fmt);
    out = xvasprintf(fmt, ap);
    va_end(ap);
    return out;
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t hw_now_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

static _Atomic int64_t mono_ahead_ms; /* hw_clock_advance_ms() */

int64_t hw_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC) + atomic_load(&mono_ahead_ms);
}

void hw_clock_advance_ms(int64_t ms)
{
    atomic_fetch_add(&mono_ahead_ms, ms);
}

int64_t hw_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void hw_on_stop_signals(void (*fn)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN; /* a closed socket is an error, not a death */
    sigaction(SIGPIPE, &sa, NULL);
}
