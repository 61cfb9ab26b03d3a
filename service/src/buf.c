/* buf.c -- growable byte buffer: p holds len bytes and a NUL within cap
 * bytes, regrown by xrealloc to twice what is needed (64 at least). The
 * thread that owns a buffer uses it alone: reply bodies (hms_client.c and
 * registry.c append under a cap), PCF text (schema.c), encoded outputs
 * (codec.c), the /metrics page (metrics.c), hmsctl's probes. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(struct buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;

    if (need > b->cap) {
        b->cap = need < 64 ? 64 : need * 2;
        b->p = xrealloc(b->p, b->cap);
    }
}

void buf_append(struct buf *b, const void *data, size_t len)
{
    reserve(b, len);
    if (len > 0) {
        memcpy(b->p + b->len, data, len);
    }
    b->len += len;
    b->p[b->len] = '\0';
}

bool buf_append_max(struct buf *b, const void *data, size_t len, size_t max)
{
    if (len > max || b->len > max - len) {
        return false;
    }
    buf_append(b, data, len);
    return true;
}

void buf_puts(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = xvasprintf(fmt, ap);
    va_end(ap);
    buf_puts(b, s);
    free(s);
}

char *buf_take(struct buf *b)
{
    char *p = b->p;

    if (p == NULL) {
        p = xstrdup("");
    }
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->p != NULL) {
        b->p[0] = '\0';
    }
}

void buf_deinit(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
