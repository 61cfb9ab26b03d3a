/* hw.c -- hms-worker base (hw): status names, the aborting allocators,
 * saturating arithmetic, clocks and stop signals, used by every module and
 * program from any thread. The allocators log and abort on OOM; xvasprintf()
 * formats once into a stack buffer when the text fits. hw_mono_ms() adds an
 * atomic offset that only tests move (hw_clock_advance_ms), so timers step
 * without sleeping; hw_mono_us(), for latencies, is the real clock.
 * hw_rfc3339_ms() reads the times 100ms writes (the worker's webhooks and
 * the simulator share it). */
#define LOGMOD "hw"
#include "hw.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

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

void hw_mono_deadline(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* ---- RFC 3339 --------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil): timegm() is not POSIX. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* n digits of s as a number, or -1. */
static int64_t digits(const char *s, int n)
{
    int64_t v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int64_t hw_rfc3339_ms(const char *s)
{
    int64_t y, mo, d, h, mi, sec, ms = 0;
    size_t n = s != NULL ? strlen(s) : 0;
    const char *f;

    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[n - 1] != 'Z') {
        return INT64_MIN;
    }
    y = digits(s, 4);
    mo = digits(s + 5, 2);
    d = digits(s + 8, 2);
    h = digits(s + 11, 2);
    mi = digits(s + 14, 2);
    sec = digits(s + 17, 2);
    f = s + 19;
    if (*f == '.') {
        size_t fn = n - 21; /* digits between '.' and 'Z' */

        if (fn == 0 || fn > 9 || digits(f + 1, (int)fn) < 0) {
            return INT64_MIN;
        }
        ms = digits(f + 1, fn < 3 ? (int)fn : 3);
        for (size_t i = fn; i < 3; i++) {
            ms *= 10;
        }
    } else if (f != s + n - 1) {
        return INT64_MIN;
    }
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || sec < 0 || sec > 60) {
        return INT64_MIN;
    }
    return ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 +
           sec * 1000 + ms;
}

const uint64_t HW_BELL_PAYLOAD = 1;

int hw_bell_open(void)
{
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

void hw_bell_ring(int fd)
{
    /* EAGAIN only when the count is at its maximum: it rings already */
    if (write(fd, &HW_BELL_PAYLOAD, sizeof(HW_BELL_PAYLOAD)) < 0) {
        return;
    }
}

void hw_bell_clear(int fd)
{
    uint64_t n;

    if (read(fd, &n, sizeof(n)) < 0) { /* EAGAIN: nobody rang */
        return;
    }
}
