/* schema.c -- Parsing Canonical Form and fingerprints. schema_pcf()
 * re-emits the schema's JSON (jansson) into a buf, recursively (emit,
 * emit_object, emit_named), with the full names already written kept in
 * a JSON object; fingerprints use a 256-entry CRC-64-AVRO table built once
 * (pthread_once). codec.c calls it at startup and for each new registry
 * id; test_schema.c checks it against the contract's vectors. */
#include "schema.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"

#define FP_EMPTY 0xc15d213aa4d7a795ULL
#define NAME_MAX_LEN 512

static const char *const primitives[] = {"null",  "boolean", "int",
                                         "long",  "float",   "double",
                                         "bytes", "string",  NULL};

struct pcf {
    struct buf out;
    json_t *seen; /* full names already written */
    char *err;
    size_t err_size;
};

static bool is_primitive(const char *t)
{
    for (size_t i = 0; primitives[i] != NULL; i++) {
        if (strcmp(t, primitives[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool bad_schema(struct pcf *c, const char *what)
{
    snprintf(c->err, c->err_size, "invalid schema: %s", what);
    return false;
}

/* name and namespace -> full name. */
static bool full_name(struct pcf *c, const char *name, const char *ns,
                      char out[NAME_MAX_LEN])
{
    int n = strchr(name, '.') != NULL || ns == NULL || ns[0] == '\0'
                ? snprintf(out, NAME_MAX_LEN, "%s", name)
                : snprintf(out, NAME_MAX_LEN, "%s.%s", ns, name);

    return n > 0 && n < NAME_MAX_LEN ? true : bad_schema(c, "name too long");
}

static bool emit(struct pcf *c, const json_t *s, const char *ns);

static bool emit_fields(struct pcf *c, const json_t *fields, const char *ns)
{
    const json_t *f;
    size_t i;

    if (!json_is_array(fields)) {
        return bad_schema(c, "record without fields");
    }
    buf_puts(&c->out, ",\"fields\":[");
    json_array_foreach(fields, i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));

        if (name == NULL || json_object_get(f, "type") == NULL) {
            return bad_schema(c, "field without name or type");
        }
        buf_printf(&c->out, "%s{\"name\":\"%s\",\"type\":", i > 0 ? "," : "",
                   name);
        if (!emit(c, json_object_get(f, "type"), ns)) {
            return false;
        }
        buf_puts(&c->out, "}");
    }
    buf_puts(&c->out, "]");
    return true;
}

static bool emit_named(struct pcf *c, const json_t *s, const char *type,
                       const char *ns)
{
    const char *name = json_string_value(json_object_get(s, "name"));
    const char *own_ns = json_string_value(json_object_get(s, "namespace"));
    char full[NAME_MAX_LEN], inner_ns[NAME_MAX_LEN];
    const json_t *sym;
    size_t i;

    if (name == NULL ||
        !full_name(c, name, own_ns != NULL ? own_ns : ns, full)) {
        return name == NULL ? bad_schema(c, "named type without name") : false;
    }
    if (json_object_get(c->seen, full) != NULL) {
        buf_printf(&c->out, "\"%s\"", full);
        return true;
    }
    json_object_set_new(c->seen, full, json_true());
    snprintf(inner_ns, sizeof(inner_ns), "%s", full);
    *(strrchr(inner_ns, '.') != NULL ? strrchr(inner_ns, '.') : inner_ns) =
        '\0';
    buf_printf(&c->out, "{\"name\":\"%s\",\"type\":\"%s\"", full,
               strcmp(type, "error") == 0 ? "record" : type);
    if (strcmp(type, "enum") == 0) {
        if (!json_is_array(json_object_get(s, "symbols"))) {
            return bad_schema(c, "enum without symbols");
        }
        buf_puts(&c->out, ",\"symbols\":[");
        json_array_foreach(json_object_get(s, "symbols"), i, sym)
        {
            buf_printf(&c->out, "%s\"%s\"", i > 0 ? "," : "",
                       json_string_value(sym));
        }
        buf_puts(&c->out, "]");
    } else if (strcmp(type, "fixed") == 0) {
        if (!json_is_integer(json_object_get(s, "size"))) {
            return bad_schema(c, "fixed without size");
        }
        buf_printf(&c->out, ",\"size\":%lld",
                   (long long)json_integer_value(json_object_get(s, "size")));
    } else if (!emit_fields(c, json_object_get(s, "fields"), inner_ns)) {
        return false;
    }
    buf_puts(&c->out, "}");
    return true;
}

static bool emit_object(struct pcf *c, const json_t *s, const char *ns)
{
    const json_t *t = json_object_get(s, "type");
    const char *type = json_string_value(t);

    if (t != NULL && type == NULL) {
        return emit(c, t, ns); /* {"type": {...}} */
    }
    if (type == NULL) {
        return bad_schema(c, "object without type");
    }
    if (is_primitive(type)) {
        buf_printf(&c->out, "\"%s\"", type); /* logicalType etc. dropped */
        return true;
    }
    if (strcmp(type, "array") == 0 || strcmp(type, "map") == 0) {
        const char *key = type[0] == 'a' ? "items" : "values";

        buf_printf(&c->out, "{\"type\":\"%s\",\"%s\":", type, key);
        if (!emit(c, json_object_get(s, key), ns)) {
            return false;
        }
        buf_puts(&c->out, "}");
        return true;
    }
    if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0 ||
        strcmp(type, "enum") == 0 || strcmp(type, "fixed") == 0) {
        return emit_named(c, s, type, ns);
    }
    return emit(c, t, ns); /* {"type": "some.Named"} */
}

static bool emit(struct pcf *c, const json_t *s, const char *ns)
{
    char full[NAME_MAX_LEN];
    const json_t *b;
    size_t i;

    if (json_is_string(s)) {
        const char *name = json_string_value(s);

        if (is_primitive(name)) {
            buf_printf(&c->out, "\"%s\"", name);
            return true;
        }
        if (!full_name(c, name, ns, full)) {
            return false;
        }
        if (json_object_get(c->seen, full) == NULL) {
            return bad_schema(c, "reference to an undefined name");
        }
        buf_printf(&c->out, "\"%s\"", full);
        return true;
    }
    if (json_is_array(s)) {
        buf_puts(&c->out, "[");
        json_array_foreach(s, i, b)
        {
            if (i > 0) {
                buf_puts(&c->out, ",");
            }
            if (!emit(c, b, ns)) {
                return false;
            }
        }
        buf_puts(&c->out, "]");
        return true;
    }
    return json_is_object(s) ? emit_object(c, s, ns)
                             : bad_schema(c, "not a schema");
}

char *schema_pcf(const char *json, size_t len, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *doc = json_loadb(json, len, JSON_DECODE_ANY, &jerr);
    struct pcf c = {{NULL, 0, 0}, json_object(), errstr, errstr_size};
    char *out = NULL;

    if (doc == NULL) {
        snprintf(errstr, errstr_size, "invalid JSON: %s", jerr.text);
    } else if (emit(&c, doc, NULL)) {
        out = buf_take(&c.out);
    }
    buf_deinit(&c.out);
    json_decref(c.seen);
    json_decref(doc);
    return out;
}

static uint64_t fp_table[256];
static pthread_once_t fp_once = PTHREAD_ONCE_INIT;

static void fp_init(void)
{
    for (int i = 0; i < 256; i++) {
        uint64_t x = (uint64_t)i;

        for (int j = 0; j < 8; j++) {
            x = (x >> 1) ^ (FP_EMPTY & (0 - (x & 1)));
        }
        fp_table[i] = x;
    }
}

uint64_t schema_fingerprint(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t fp = FP_EMPTY;

    pthread_once(&fp_once, fp_init);
    for (size_t i = 0; i < len; i++) {
        fp = (fp >> 8) ^ fp_table[(fp ^ p[i]) & 0xff];
    }
    return fp;
}

const struct schema_src *schema_src_find(const char *name)
{
    for (size_t i = 0; i < schema_srcs_len; i++) {
        if (strcmp(schema_srcs[i].name, name) == 0) {
            return &schema_srcs[i];
        }
    }
    return NULL;
}
