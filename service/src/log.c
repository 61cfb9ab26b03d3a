/* log.c -- logfmt on stderr. log_emit() formats time (UTC), level,
 * module and the caller's fields into one stack buffer: no allocation, no
 * lock, any thread. log_min_level is a plain global that main (or a tool)
 * sets before threads start. log_safe()/log_text() map quotes, backslashes
 * and control bytes to '_', so an outside value cannot forge a field.
 * librdkafka's log (kafka.c) and libmicrohttpd's (log_mhd) come here too. */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 1024

enum log_level log_min_level = LL_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_emit(enum log_level lvl, const char *mod, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int w;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    w = snprintf(line, sizeof(line),
                 "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s mod=%s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, level_names[lvl],
                 mod);
    n = w < 0 ? 0 : (size_t)w;
    va_start(ap, fmt);
    w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    n += w < 0 ? 0 : (size_t)w;
    if (n > sizeof(line) - 2) {
        n = sizeof(line) - 2; /* cut: keep room for the newline */
    }
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        return; /* nowhere left to report it */
    }
}

enum hw_rc log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < HW_ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return HW_OK;
        }
    }
    return HW_ERR_CONFIG;
}

static const char *sanitize(char *buf, size_t size, const char *s,
                            unsigned char lowest)
{
    size_t i = 0;

    if (size == 0) {
        return buf;
    }
    for (; s != NULL && s[i] != '\0' && i < size - 1; i++) {
        unsigned char c = (unsigned char)s[i];

        buf[i] =
            c < lowest || c == '"' || c == '\\' || c >= 0x7f ? '_' : (char)c;
    }
    buf[i] = '\0';
    return buf;
}

const char *log_safe(char *buf, size_t size, const char *s)
{
    return sanitize(buf, size, s, ' ' + 1);
}

const char *log_text(char *buf, size_t size, const char *s)
{
    return sanitize(buf, size, s, ' ');
}

void log_mhd(void *cls, const char *fmt, va_list ap)
{
    char buf[512], safe[512];

    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    log_warn("msg=\"libmicrohttpd\" err=%s", log_safe(safe, sizeof(safe), buf));
}
