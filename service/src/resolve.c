/* resolve.c -- writer-to-reader projection with defaults. resolve()
 * walks the writer's value beside the reader schema's JSON (struct rctx
 * carries the reader's named types and the error text); set_default()
 * builds a value from a JSON default where the writer has nothing, and
 * deref() follows named references, short names included. codec.c calls
 * it on the consumer thread, only when writer and reader schemas differ. */
#include "resolve.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rctx {
    const json_t *names;
    char *err;
    size_t err_size;
};

static bool unresolved(struct rctx *c, const char *why, const char *what)
{
    snprintf(c->err, c->err_size, "schema resolution: %s%s%s", why,
             what != NULL ? " " : "", what != NULL ? what : "");
    return false;
}

static void collect(json_t *names, const json_t *s, const char *ns)
{
    const char *type = json_string_value(json_object_get(s, "type"));
    const char *name = json_string_value(json_object_get(s, "name"));
    const char *own = json_string_value(json_object_get(s, "namespace"));
    char full[512] = "", inner[512] = "";
    const json_t *x;
    size_t i;

    if (json_is_array(s)) {
        json_array_foreach(s, i, x)
        {
            collect(names, x, ns);
        }
        return;
    }
    if (!json_is_object(s)) {
        return;
    }
    if (name != NULL && type != NULL &&
        (!strcmp(type, "record") || !strcmp(type, "enum") ||
         !strcmp(type, "fixed") || !strcmp(type, "error"))) {
        own = own != NULL ? own : ns;
        snprintf(full, sizeof(full), "%s%s%s",
                 strchr(name, '.') == NULL && own != NULL ? own : "",
                 strchr(name, '.') == NULL && own != NULL && own[0] ? "." : "",
                 name);
        json_object_set(names, full, (json_t *)(uintptr_t)s);
        snprintf(inner, sizeof(inner), "%s", full);
        *(strrchr(inner, '.') != NULL ? strrchr(inner, '.') : inner) = '\0';
        ns = inner;
    }
    collect(names, json_object_get(s, "type"), ns);
    collect(names, json_object_get(s, "items"), ns);
    collect(names, json_object_get(s, "values"), ns);
    json_array_foreach(json_object_get(s, "fields"), i, x)
    {
        collect(names, json_object_get(x, "type"), ns);
    }
}

json_t *resolve_names(const json_t *reader_json)
{
    json_t *names = json_object();

    collect(names, reader_json, NULL);
    return names;
}

/* The JSON definition behind a type node: named references looked up,
 * {"type": {...}} unwrapped. */
static const json_t *deref(const struct rctx *c, const json_t *t)
{
    for (int i = 0; i < 8; i++) {
        const json_t *inner = json_object_get(t, "type");

        if (json_is_string(t) &&
            json_object_get(c->names, json_string_value(t))) {
            t = json_object_get(c->names, json_string_value(t));
        } else if (json_is_string(t)) {
            const char *want = json_string_value(t);
            const char *key;
            json_t *def;

            json_object_foreach((json_t *)(uintptr_t)c->names, key, def)
            {
                const char *dot = strrchr(key, '.');

                if (dot != NULL && strcmp(dot + 1, want) == 0) {
                    return def; /* a short name in the same namespace */
                }
            }
            return t;
        } else if (json_is_object(t) && inner != NULL &&
                   !json_is_string(inner)) {
            t = inner;
        } else {
            return t;
        }
    }
    return t;
}

static bool set_default(struct rctx *c, avro_value_t *dst, const json_t *def,
                        const json_t *tj);

static bool default_record(struct rctx *c, avro_value_t *dst, const json_t *def,
                           const json_t *tj)
{
    const json_t *f;
    size_t i;

    if (!json_is_object(def)) {
        return unresolved(c, "record default is not an object", NULL);
    }
    json_array_foreach(json_object_get(tj, "fields"), i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        const json_t *v = json_object_get(def, name);
        avro_value_t field;

        v = v != NULL ? v : json_object_get(f, "default");
        if (v == NULL || avro_value_get_by_index(dst, i, &field, NULL) != 0 ||
            !set_default(c, &field, v, json_object_get(f, "type"))) {
            return unresolved(c, "no default for field", name);
        }
    }
    return true;
}

static bool default_items(struct rctx *c, avro_value_t *dst, const json_t *def,
                          const json_t *tj, bool map)
{
    const json_t *item_type = json_object_get(tj, map ? "values" : "items");
    const char *key;
    json_t *v;
    size_t i;
    avro_value_t e;

    if (map) {
        if (!json_is_object(def)) {
            return unresolved(c, "map default is not an object", NULL);
        }
        json_object_foreach((json_t *)(uintptr_t)def, key, v)
        {
            if (avro_value_add(dst, key, &e, NULL, NULL) != 0 ||
                !set_default(c, &e, v, item_type)) {
                return false;
            }
        }
        return true;
    }
    if (!json_is_array(def)) {
        return unresolved(c, "array default is not an array", NULL);
    }
    json_array_foreach(def, i, v)
    {
        if (avro_value_append(dst, &e, NULL) != 0 ||
            !set_default(c, &e, v, item_type)) {
            return false;
        }
    }
    return true;
}

static bool set_default(struct rctx *c, avro_value_t *dst, const json_t *def,
                        const json_t *tj)
{
    avro_schema_t s = avro_value_get_schema(dst);
    avro_value_t b;
    const char *str = json_string_value(def);
    int rc = -1;

    tj = deref(c, tj);
    switch (avro_value_get_type(dst)) {
    case AVRO_UNION: /* a union's default is of its first branch */
        return avro_value_set_branch(dst, 0, &b) == 0 &&
               set_default(c, &b, def, json_array_get(tj, 0));
    case AVRO_NULL:
        rc = json_is_null(def) ? avro_value_set_null(dst) : -1;
        break;
    case AVRO_BOOLEAN:
        rc = json_is_boolean(def)
                 ? avro_value_set_boolean(dst, json_is_true(def))
                 : -1;
        break;
    case AVRO_INT32:
        rc = json_is_integer(def)
                 ? avro_value_set_int(dst, (int32_t)json_integer_value(def))
                 : -1;
        break;
    case AVRO_INT64:
        rc = json_is_integer(def)
                 ? avro_value_set_long(dst, json_integer_value(def))
                 : -1;
        break;
    case AVRO_FLOAT:
        rc = json_is_number(def)
                 ? avro_value_set_float(dst, (float)json_number_value(def))
                 : -1;
        break;
    case AVRO_DOUBLE:
        rc = json_is_number(def)
                 ? avro_value_set_double(dst, json_number_value(def))
                 : -1;
        break;
    case AVRO_STRING:
        rc = str != NULL ? avro_value_set_string(dst, str) : -1;
        break;
    case AVRO_BYTES:
    case AVRO_FIXED:
        rc =
            str == NULL ? -1
            : avro_value_get_type(dst) == AVRO_BYTES
                ? avro_value_set_bytes(dst, (void *)(uintptr_t)str, strlen(str))
                : avro_value_set_fixed(dst, (void *)(uintptr_t)str,
                                       strlen(str));
        break;
    case AVRO_ENUM:
        rc =
            str != NULL && avro_schema_enum_get_by_name(s, str) >= 0
                ? avro_value_set_enum(dst, avro_schema_enum_get_by_name(s, str))
                : -1;
        break;
    case AVRO_RECORD:
        return default_record(c, dst, def, tj);
    case AVRO_ARRAY:
    case AVRO_MAP:
        return default_items(c, dst, def, tj,
                             avro_value_get_type(dst) == AVRO_MAP);
    case AVRO_LINK:
        break;
    }
    return rc == 0 || unresolved(c, "default does not match its type", NULL);
}

static bool resolve(struct rctx *c, avro_value_t *src, avro_value_t *dst,
                    const json_t *rj);

/* Whether a writer value of type st (schema ss) may go into reader type
 * dt (schema ds): same type and name, or a promotion. */
static bool compatible(avro_type_t st, avro_schema_t ss, avro_type_t dt,
                       avro_schema_t ds, bool promote)
{
    if (st == dt) {
        return (st != AVRO_RECORD && st != AVRO_ENUM && st != AVRO_FIXED) ||
               strcmp(avro_schema_name(ss), avro_schema_name(ds)) == 0;
    }
    if (!promote) {
        return false;
    }
    return (dt == AVRO_INT64 && st == AVRO_INT32) ||
           (dt == AVRO_FLOAT && (st == AVRO_INT32 || st == AVRO_INT64)) ||
           (dt == AVRO_DOUBLE &&
            (st == AVRO_INT32 || st == AVRO_INT64 || st == AVRO_FLOAT)) ||
           (dt == AVRO_STRING && st == AVRO_BYTES) ||
           (dt == AVRO_BYTES && st == AVRO_STRING);
}

static bool to_union(struct rctx *c, avro_value_t *src, avro_value_t *dst,
                     const json_t *rj)
{
    avro_schema_t us = avro_value_get_schema(dst),
                  ss = avro_value_get_schema(src);
    avro_type_t st = avro_value_get_type(src);
    avro_value_t b;

    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < avro_schema_union_size(us); i++) {
            avro_schema_t bs = avro_schema_union_branch(us, (int)i);

            if (avro_typeof(bs) == AVRO_LINK) {
                bs = avro_schema_link_target(bs);
            }
            if (compatible(st, ss, avro_typeof(bs), bs, pass == 1)) {
                return avro_value_set_branch(dst, (int)i, &b) == 0 &&
                       resolve(c, src, &b, json_array_get(rj, i));
            }
        }
    }
    return unresolved(c, "no reader union branch for",
                      avro_schema_type_name(ss));
}

static bool to_record(struct rctx *c, avro_value_t *src, avro_value_t *dst,
                      const json_t *rj)
{
    const json_t *f;
    size_t i;

    json_array_foreach(json_object_get(rj, "fields"), i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        const json_t *def = json_object_get(f, "default");
        avro_value_t sf, df;

        if (avro_value_get_by_index(dst, i, &df, NULL) != 0) {
            return unresolved(c, "reader field out of step:", name);
        }
        if (avro_value_get_by_name(src, name, &sf, NULL) == 0) {
            if (!resolve(c, &sf, &df, json_object_get(f, "type"))) {
                return false;
            }
        } else if (def == NULL) {
            return unresolved(c, "writer lacks field without default:", name);
        } else if (!set_default(c, &df, def, json_object_get(f, "type"))) {
            return false;
        }
    }
    return true;
}

static bool to_enum(struct rctx *c, avro_value_t *src, avro_value_t *dst,
                    const json_t *rj)
{
    int idx = 0, to;
    const char *sym, *def = json_string_value(json_object_get(rj, "default"));

    if (avro_value_get_enum(src, &idx) != 0 ||
        (sym = avro_schema_enum_get(avro_value_get_schema(src), idx)) == NULL) {
        return unresolved(c, "bad enum value", NULL);
    }
    to = avro_schema_enum_get_by_name(avro_value_get_schema(dst), sym);
    if (to < 0 && def != NULL) {
        to = avro_schema_enum_get_by_name(avro_value_get_schema(dst), def);
    }
    return to >= 0 ? avro_value_set_enum(dst, to) == 0
                   : unresolved(c, "unknown enum symbol", sym);
}

static bool to_items(struct rctx *c, avro_value_t *src, avro_value_t *dst,
                     const json_t *rj, bool map)
{
    const json_t *item = json_object_get(rj, map ? "values" : "items");
    size_t n = 0;

    if (avro_value_get_size(src, &n) != 0) {
        return unresolved(c, "bad container", NULL);
    }
    for (size_t i = 0; i < n; i++) {
        const char *key = NULL;
        avro_value_t s, d;

        if (avro_value_get_by_index(src, i, &s, &key) != 0 ||
            (map ? avro_value_add(dst, key, &d, NULL, NULL)
                 : avro_value_append(dst, &d, NULL)) != 0 ||
            !resolve(c, &s, &d, item)) {
            return c->err[0] != '\0' ? false : unresolved(c, "bad item", NULL);
        }
    }
    return true;
}

/* Copies a scalar of type st into dst (type dt), promoting if needed. */
static bool to_scalar(struct rctx *c, avro_value_t *src, avro_value_t *dst,
                      avro_type_t st, avro_type_t dt)
{
    int32_t i32 = 0;
    int64_t i64 = 0;
    float f = 0;
    double d = 0;
    const void *p = NULL;
    size_t n = 0;
    int b = 0, rc = -1;

    if (st == AVRO_INT32 && avro_value_get_int(src, &i32) == 0) {
        i64 = i32, d = i32;
    } else if (st == AVRO_INT64 && avro_value_get_long(src, &i64) == 0) {
        d = (double)i64;
    } else if (st == AVRO_FLOAT && avro_value_get_float(src, &f) == 0) {
        d = f;
    } else if (st == AVRO_DOUBLE) {
        avro_value_get_double(src, &d);
    }
    if (dt == AVRO_NULL) {
        rc = avro_value_set_null(dst);
    } else if (dt == AVRO_BOOLEAN) {
        rc = avro_value_get_boolean(src, &b) == 0
                 ? avro_value_set_boolean(dst, b)
                 : -1;
    } else if (dt == AVRO_INT32) {
        rc = avro_value_set_int(dst, i32);
    } else if (dt == AVRO_INT64) {
        rc = avro_value_set_long(dst, i64);
    } else if (dt == AVRO_FLOAT) {
        rc = avro_value_set_float(dst, st == AVRO_FLOAT ? f : (float)d);
    } else if (dt == AVRO_DOUBLE) {
        rc = avro_value_set_double(dst, d);
    } else if (dt == AVRO_STRING || dt == AVRO_BYTES) {
        rc = st == AVRO_STRING
                 ? avro_value_get_string(src, (const char **)&p, &n)
                 : avro_value_get_bytes(src, &p, &n);
        if (rc == 0 && st == AVRO_STRING && n > 0) {
            n--; /* avro-c counts the NUL of strings */
        }
        if (rc == 0 && dt == AVRO_STRING) {
            char *z = xmalloc(n + 1); /* bytes carry no NUL */

            memcpy(z, p, n);
            z[n] = '\0';
            rc = avro_value_set_string_len(dst, z, n + 1);
            free(z);
        } else if (rc == 0) {
            rc = avro_value_set_bytes(dst, (void *)(uintptr_t)p, n);
        }
    } else if (dt == AVRO_FIXED) {
        rc = avro_value_get_fixed(src, &p, &n) == 0
                 ? avro_value_set_fixed(dst, (void *)(uintptr_t)p, n)
                 : -1;
    }
    return rc == 0 ||
           unresolved(c, "cannot copy",
                      avro_schema_type_name(avro_value_get_schema(src)));
}

static bool resolve(struct rctx *c, avro_value_t *src, avro_value_t *dst,
                    const json_t *rj)
{
    avro_type_t dt = avro_value_get_type(dst), st = avro_value_get_type(src);
    avro_value_t branch;

    rj = deref(c, rj);
    if (st == AVRO_UNION) {
        return avro_value_get_current_branch(src, &branch) == 0 &&
               resolve(c, &branch, dst, rj);
    }
    if (dt == AVRO_UNION) {
        return to_union(c, src, dst, rj);
    }
    if (!compatible(st, avro_value_get_schema(src), dt,
                    avro_value_get_schema(dst), true)) {
        return unresolved(c, "writer type does not match reader type",
                          avro_schema_type_name(avro_value_get_schema(src)));
    }
    if (dt == AVRO_RECORD) {
        return to_record(c, src, dst, rj);
    }
    if (dt == AVRO_ENUM) {
        return to_enum(c, src, dst, rj);
    }
    if (dt == AVRO_ARRAY || dt == AVRO_MAP) {
        return to_items(c, src, dst, rj, dt == AVRO_MAP);
    }
    return to_scalar(c, src, dst, st, dt);
}

enum hw_rc resolve_value(avro_value_t *src, avro_value_t *dst,
                         const json_t *rjson, const json_t *names, char *errstr,
                         size_t errstr_size)
{
    struct rctx c = {names, errstr, errstr_size};

    errstr[0] = '\0';
    return resolve(&c, src, dst, rjson) ? HW_OK : HW_ERR_DECODE;
}
