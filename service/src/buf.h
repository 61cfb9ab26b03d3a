/* buf.h -- a growable byte buffer, always NUL-terminated.
 *
 * DESIGN
 * ------
 * Owned by whoever holds the struct; buf_deinit() frees. Appends abort on
 * OOM like every x*alloc; callers bound input-derived sizes before they
 * append (buf_append_max refuses to grow past a limit). Not thread-safe.
 */
#ifndef BUF_H
#define BUF_H

#include <stdbool.h>
#include <stddef.h>

#include "hw.h"

struct buf {
    char *p;
    size_t len, cap;
};

void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) HW_PRINTF(2, 3);
/* Appends only if the result stays within max bytes; false otherwise. */
bool buf_append_max(struct buf *b, const void *data, size_t len, size_t max);
/* Hands the bytes to the caller (who frees them) and empties b. */
char *buf_take(struct buf *b);
void buf_reset(struct buf *b);
void buf_deinit(struct buf *b);

#endif
