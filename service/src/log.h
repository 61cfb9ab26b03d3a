/* log.h -- logfmt lines on stderr.
 *
 * DESIGN
 * ------
 * One line per call: "ts=... level=... mod=... " followed by the caller's
 * logfmt fields, written with a single write(2) so lines from different
 * threads never interleave. Lines are cut at 1 KiB. A disabled level costs
 * one compare; its arguments are not evaluated. Log identifiers, never
 * payloads, headers or secrets. Each .c defines LOGMOD before its includes.
 * Not async-signal-safe: signal handlers never log.
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>
#include <stddef.h>

#include "hw.h"

#ifndef LOGMOD
#define LOGMOD "main"
#endif

enum log_level { LL_DEBUG = 0, LL_INFO, LL_WARN, LL_ERROR };

extern enum log_level log_min_level;

void log_emit(enum log_level lvl, const char *mod, const char *fmt, ...)
    HW_PRINTF(3, 4);

/* "debug|info|warn|error" -> *out. HW_ERR_CONFIG on anything else. */
enum hw_rc log_level_parse(const char *s, enum log_level *out) HW_MUSTCHECK;

/* Copies s into buf as a logfmt-safe value (no quotes, spaces or control
 * bytes: they become '_'), truncated to size-1. Returns buf. */
const char *log_safe(char *buf, size_t size, const char *s);
/* The same for a value inside quotes (key="..."): spaces stay. */
const char *log_text(char *buf, size_t size, const char *s);

/* libmicrohttpd's MHD_OPTION_EXTERNAL_LOGGER: its messages as warn lines. */
void log_mhd(void *cls, const char *fmt, va_list ap) HW_PRINTF(2, 0);

#define log_at(lvl, ...)                                                       \
    do {                                                                       \
        if ((lvl) >= log_min_level) {                                          \
            log_emit((lvl), LOGMOD, __VA_ARGS__);                              \
        }                                                                      \
    } while (0)

#define log_debug(...) log_at(LL_DEBUG, __VA_ARGS__)
#define log_info(...) log_at(LL_INFO, __VA_ARGS__)
#define log_warn(...) log_at(LL_WARN, __VA_ARGS__)
#define log_error(...) log_at(LL_ERROR, __VA_ARGS__)

#endif
