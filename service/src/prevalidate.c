/* prevalidate.c -- a bounds walk of Avro binary: walk(), blocks() and
 * walk_union() recurse through the writer schema over a cursor on the
 * bytes, and every read goes through varint() or skip_bytes(), which check
 * the bytes left; bad() keeps the first reason, reported with its offset.
 * codec.c calls it on the consumer thread before avro_value_read();
 * fuzz_codec reaches it through codec_decode(). */
#include "prevalidate.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define DEPTH_MAX 32
#define EMPTY_ITEMS_MAX 1024 /* items that take no bytes (null, {}) */
#define ITEMS_MAX 10000      /* array and map items in one message */

struct cursor {
    const unsigned char *start, *p, *end;
    const char *why;
    int64_t empty_items, items;
};

static bool bad(struct cursor *c, const char *why)
{
    if (c->why == NULL) {
        c->why = why;
    }
    return false;
}

/* A zig-zag varint of at most max_bytes bytes. */
static bool varint(struct cursor *c, int max_bytes, int64_t *out)
{
    uint64_t v = 0;

    for (int i = 0; i < max_bytes; i++) {
        if (c->p >= c->end) {
            return bad(c, "truncated varint");
        }
        v |= (uint64_t)(*c->p & 0x7f) << (7 * i);
        if ((*c->p++ & 0x80) == 0) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return true;
        }
    }
    return bad(c, "varint too long");
}

static bool skip_bytes(struct cursor *c, int64_t n)
{
    if (n < 0 || n > c->end - c->p) {
        return bad(c, "declared length exceeds the input");
    }
    c->p += n;
    return true;
}

static bool walk(struct cursor *c, avro_schema_t s, int depth);

/* Array or map blocks: count, [byte size if count < 0], items. */
static bool blocks(struct cursor *c, avro_schema_t item, bool map, int depth)
{
    int64_t count, size;

    for (;;) {
        if (!varint(c, 10, &count)) {
            return false;
        }
        if (count == 0) {
            return true;
        }
        if (count < 0) {
            if (count == INT64_MIN || !varint(c, 10, &size) || size < 0) {
                return bad(c, "bad block");
            }
            count = -count;
        }
        if (count > ITEMS_MAX - c->items) {
            return bad(c, "too many array or map items");
        }
        c->items += count;
        for (int64_t i = 0; i < count; i++) {
            const unsigned char *before = c->p;

            if (map && !(varint(c, 10, &size) && skip_bytes(c, size))) {
                return false;
            }
            if (!walk(c, item, depth + 1)) {
                return false;
            }
            if (c->p == before && ++c->empty_items > EMPTY_ITEMS_MAX) {
                return bad(c, "too many items");
            }
        }
    }
}

static bool walk_union(struct cursor *c, avro_schema_t s, int depth)
{
    int64_t idx;

    if (!varint(c, 10, &idx)) {
        return false;
    }
    if (idx < 0 || (size_t)idx >= avro_schema_union_size(s)) {
        return bad(c, "union index out of range");
    }
    return walk(c, avro_schema_union_branch(s, (int)idx), depth + 1);
}

static bool walk(struct cursor *c, avro_schema_t s, int depth)
{
    int64_t v;

    if (depth > DEPTH_MAX) {
        return bad(c, "nesting too deep");
    }
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return true;
    case AVRO_BOOLEAN:
        if (c->p >= c->end || *c->p > 1) {
            return bad(c, "bad boolean");
        }
        c->p++;
        return true;
    case AVRO_INT32:
        return varint(c, 5, &v) && (v == (int32_t)v || bad(c, "int overflow"));
    case AVRO_INT64:
        return varint(c, 10, &v);
    case AVRO_FLOAT:
        return skip_bytes(c, 4);
    case AVRO_DOUBLE:
        return skip_bytes(c, 8);
    case AVRO_STRING:
    case AVRO_BYTES:
        return varint(c, 10, &v) && skip_bytes(c, v);
    case AVRO_FIXED:
        return skip_bytes(c, avro_schema_fixed_size(s));
    case AVRO_ENUM:
        return varint(c, 10, &v) &&
               ((v >= 0 && v < avro_schema_enum_number_of_symbols(s)) ||
                bad(c, "enum index out of range"));
    case AVRO_UNION:
        return walk_union(c, s, depth);
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(s); i++) {
            if (!walk(c, avro_schema_record_field_get_by_index(s, (int)i),
                      depth + 1)) {
                return false;
            }
        }
        return true;
    case AVRO_ARRAY:
        return blocks(c, avro_schema_array_items(s), false, depth);
    case AVRO_MAP:
        return blocks(c, avro_schema_map_values(s), true, depth);
    case AVRO_LINK:
        return walk(c, avro_schema_link_target(s), depth + 1);
    }
    return bad(c, "unknown schema type");
}

enum hw_rc prevalidate_datum(avro_schema_t schema, const void *buf, size_t len,
                             char *errstr, size_t errstr_size)
{
    struct cursor c = {buf, buf, (const unsigned char *)buf + len, NULL, 0, 0};

    if (walk(&c, schema, 0) && (c.p == c.end || bad(&c, "trailing bytes"))) {
        return HW_OK;
    }
    snprintf(errstr, errstr_size, "%s at byte %td", c.why, c.p - c.start);
    return HW_ERR_DECODE;
}
