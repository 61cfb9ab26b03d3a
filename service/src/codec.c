/* codec.c -- framing, decode with resolution, encode. One field table per
 * record (struct fmap: Avro field, kind, offset in struct event) drives
 * both extract() on decode and fill() on encode, so a field is added once.
 * The embedded schemas load once into struct codec_schema (avro-c schema
 * and value class, fingerprint, JSON for resolve.c); writers from the
 * registry join ids[] on first sight. Consumer thread (and hmsctl, fuzz). */
#define LOGMOD "codec"
#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>
#include <jansson.h>

#include "prevalidate.h"
#include "registry.h"
#include "resolve.h"
#include "schema.h"

/* ---- field tables: record fields <-> struct event -------------------- */

enum ftype {
    F_STR,      /* string */
    F_OPT_STR,  /* ["null", "string"] */
    F_LONG,     /* long */
    F_OPT_LONG, /* ["null", "long"]: EVENT_NO_TIME when null */
    F_OPT_INT,  /* ["null", "int"]: struct event_opt_int */
    F_BOOL,
    F_MODE,    /* BookingMode: true when PHYSICAL */
    F_SUBJECT, /* SubjectKind */
    F_VSTYPE,  /* VideoSessionType: enum session_type */
    F_RECORDS  /* array of records, through sub */
};

struct fmap {
    const char *name;
    enum ftype type;
    size_t off;
    const struct fmap *sub; /* F_RECORDS: element table */
    size_t elem_size, count_off;
};

#define EV(n, t, f)                                                            \
    {                                                                          \
        n, t, offsetof(struct event, f), NULL, 0, 0                            \
    }
#define SUB(n, t, s, f)                                                        \
    {                                                                          \
        n, t, offsetof(struct s, f), NULL, 0, 0                                \
    }
#define LIST(n, f, s, sub, cnt)                                                \
    {                                                                          \
        n, F_RECORDS, offsetof(struct event, f), sub, sizeof(struct s),        \
            offsetof(struct event, cnt)                                        \
    }
#define END                                                                    \
    {                                                                          \
        NULL, F_STR, 0, NULL, 0, 0                                             \
    }

static const struct fmap participant_map[] = {
    SUB("user_id", F_STR, participant, user_id),
    SUB("display_name", F_OPT_STR, participant, display_name),
    SUB("role", F_STR, participant, role),
    END,
};

static const struct fmap code_map[] = {
    SUB("role", F_STR, room_code, role),
    SUB("code", F_STR, room_code, code),
    SUB("join_url", F_OPT_STR, room_code, join_url),
    END,
};

static const struct fmap booking_map[] = {
    EV("event_id", F_STR, event_id),
    EV("occurred_at", F_LONG, occurred_at),
    EV("booking_id", F_STR, booking_id),
    EV("mode", F_MODE, physical),
    EV("starts_at", F_LONG, starts_at),
    EV("ends_at", F_OPT_LONG, ends_at),
    EV("template_id", F_OPT_STR, template_id),
    LIST("participants", participants, participant, participant_map,
         n_participants),
    EV("region", F_OPT_STR, region), /* v3 */
    EV("size", F_OPT_INT, size),
    EV("max_duration_seconds", F_OPT_INT, max_duration_seconds),
    END,
};

static const struct fmap stream_map[] = {
    EV("event_id", F_STR, event_id),
    EV("occurred_at", F_LONG, occurred_at),
    EV("stream_id", F_STR, stream_id),
    EV("host_user_id", F_STR, host_user_id),
    EV("host_display_name", F_OPT_STR, host_display_name),
    EV("host_role", F_STR, host_role),
    EV("title", F_OPT_STR, title),
    EV("hls", F_BOOL, hls),
    EV("template_id", F_OPT_STR, template_id),
    END,
};

static const struct fmap ended_map[] = {
    EV("event_id", F_STR, event_id),
    EV("occurred_at", F_LONG, occurred_at),
    EV("subject_kind", F_SUBJECT, subject_kind),
    EV("subject_id", F_STR, subject_id),
    EV("reason", F_OPT_STR, reason),
    EV("lock", F_BOOL, lock),
    END,
};

static const struct fmap ready_map[] = {
    EV("event_id", F_STR, event_id),
    EV("causation_id", F_STR, causation_id),
    EV("occurred_at", F_LONG, occurred_at),
    EV("subject_kind", F_SUBJECT, subject_kind),
    EV("subject_id", F_STR, subject_id),
    EV("room_id", F_STR, room_id),
    EV("room_name", F_STR, room_name),
    LIST("codes", codes, room_code, code_map, n_codes),
    EV("cache_key", F_STR, cache_key),
    EV("expires_at", F_LONG, expires_at),
    EV("hls_url", F_OPT_STR, hls_url),
    END,
};

static const struct fmap video_ended_map[] = {
    EV("event_id", F_STR, event_id),
    EV("causation_id", F_STR, causation_id),
    EV("occurred_at", F_LONG, occurred_at),
    EV("subject_kind", F_SUBJECT, subject_kind),
    EV("subject_id", F_STR, subject_id),
    EV("room_id", F_OPT_STR, room_id),
    EV("reason", F_OPT_STR, reason),
    END,
};

static const struct fmap video_session_map[] = {
    EV("event_id", F_STR, event_id),
    EV("causation_id", F_STR, causation_id),
    EV("occurred_at", F_LONG, occurred_at),
    EV("subject_kind", F_SUBJECT, subject_kind),
    EV("subject_id", F_STR, subject_id),
    EV("room_id", F_STR, room_id),
    EV("session_id", F_OPT_STR, session_id),
    EV("type", F_VSTYPE, session_type),
    EV("at", F_LONG, at),
    EV("user_id", F_OPT_STR, user_id),
    EV("role", F_OPT_STR, role),
    EV("url", F_OPT_STR, url),
    EV("duration_s", F_OPT_LONG, duration_s),
    EV("reason", F_OPT_STR, reason),
    END,
};

static const struct fmap *const maps[EVENT_AVRO_COUNT] = {
    booking_map, stream_map,      ended_map,
    ready_map,   video_ended_map, video_session_map};

/* ---- the codec ------------------------------------------------------ */

struct codec_schema {
    const char *name;
    enum event_kind kind;
    uint64_t fp;
    avro_schema_t schema;
    avro_value_iface_t *iface;
    json_t *json, *names;
    const char *text; /* the schema's JSON, for registration */
};

/* A registry schema id and the writer it names: one of ours when the
 * fingerprints match, else a schema of its own (name set). */
struct codec_id {
    uint32_t id;
    struct codec_schema *cs;
    char *name; /* a schema of its own: "registry id N"; else NULL */
};

struct codec {
    struct codec_schema *s;
    size_t n;
    struct codec_schema *current[EVENT_AVRO_COUNT];
    struct registry *reg; /* NULL: single-object encoding only */
    struct codec_id *ids;
    size_t n_ids;
};

static bool bad_field(char *err, size_t n, const char *what, const char *field)
{
    snprintf(err, n, "%s: %s", field, what);
    return false;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static bool utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80         ? 1
                     : (c >> 5) == 6  ? 2
                     : (c >> 4) == 14 ? 3
                     : (c >> 3) == 30 ? 4
                                      : 0;
        unsigned cp = len == 1   ? c
                      : len == 2 ? c & 0x1f
                      : len == 3 ? c & 0x0f
                                 : c & 0x07;

        if (len == 0 || c == 0 || i + len > n) {
            return false;
        }
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += len;
    }
    return true;
}

/* The value inside an optional: NULL when the null branch is set. */
static bool unwrap(avro_value_t *v, avro_value_t *out, bool *is_null)
{
    if (avro_value_get_type(v) != AVRO_UNION) {
        *out = *v;
        *is_null = avro_value_get_type(v) == AVRO_NULL;
        return true;
    }
    if (avro_value_get_current_branch(v, out) != 0) {
        return false;
    }
    *is_null = avro_value_get_type(out) == AVRO_NULL;
    return true;
}

static bool get_str(avro_value_t *v, char **out, char *err, size_t n,
                    const char *field)
{
    const char *s = NULL;
    size_t size = 0;

    if (avro_value_get_string(v, &s, &size) != 0 || size == 0 ||
        !utf8_ok((const unsigned char *)s, size - 1)) {
        return bad_field(err, n, "not a valid UTF-8 string", field);
    }
    *out = xstrdup(s);
    return true;
}

static bool get_symbol(avro_value_t *v, const char **sym)
{
    int idx;

    return avro_value_get_enum(v, &idx) == 0 &&
           (*sym = avro_schema_enum_get(avro_value_get_schema(v), idx)) != NULL;
}

static bool extract(const struct fmap *m, avro_value_t *rec, void *base,
                    char *err, size_t n);

/* A VideoSessionType by its symbol, so a reader's order cannot matter. */
static bool get_session_type(avro_value_t *v, enum session_type *out)
{
    const char *sym = NULL;

    if (!get_symbol(v, &sym)) {
        return false;
    }
    for (int t = 0; t < VS_TYPE_COUNT; t++) {
        if (strcmp(sym, event_session_type_name((enum session_type)t)) == 0) {
            *out = (enum session_type)t;
            return true;
        }
    }
    return false;
}

static bool extract_list(const struct fmap *f, avro_value_t *v, void *base,
                         char *err, size_t n)
{
    size_t count = 0;
    char *items;

    if (avro_value_get_size(v, &count) != 0) {
        return bad_field(err, n, "not an array", f->name);
    }
    items = xcalloc(count > 0 ? count : 1, f->elem_size);
    *(void **)(void *)((char *)base + f->off) = items;
    for (size_t i = 0; i < count; i++) {
        avro_value_t e;

        /* counted first: event_clear() frees a half-read item too */
        *(size_t *)(void *)((char *)base + f->count_off) = i + 1;
        if (avro_value_get_by_index(v, i, &e, NULL) != 0 ||
            !extract(f->sub, &e, items + i * f->elem_size, err, n)) {
            return false;
        }
    }
    return true;
}

static bool extract_field(const struct fmap *f, avro_value_t *v, void *base,
                          char *err, size_t n)
{
    void *p = (char *)base + f->off;
    avro_value_t in;
    const char *sym = NULL;
    bool is_null = false;
    int b = 0;

    switch (f->type) {
    case F_STR:
        return get_str(v, p, err, n, f->name);
    case F_OPT_STR:
        return unwrap(v, &in, &is_null) &&
               (is_null || get_str(&in, p, err, n, f->name));
    case F_LONG:
        return avro_value_get_long(v, p) == 0 ||
               bad_field(err, n, "not a long", f->name);
    case F_OPT_LONG:
        *(int64_t *)p = EVENT_NO_TIME;
        if (!unwrap(v, &in, &is_null) ||
            (!is_null && avro_value_get_long(&in, p) != 0)) {
            return bad_field(err, n, "not a long or null", f->name);
        }
        if (!is_null && *(int64_t *)p == EVENT_NO_TIME) {
            *(int64_t *)p += 1; /* present, not null: as far out of range */
        }
        return true;
    case F_OPT_INT: {
        struct event_opt_int *oi = p;

        oi->set = false;
        if (!unwrap(v, &in, &is_null) ||
            (!is_null && avro_value_get_int(&in, &oi->v) != 0)) {
            return bad_field(err, n, "not an int or null", f->name);
        }
        oi->set = !is_null;
        return true;
    }
    case F_BOOL:
        if (avro_value_get_boolean(v, &b) != 0) {
            return bad_field(err, n, "not a boolean", f->name);
        }
        *(bool *)p = b != 0;
        return true;
    case F_MODE:
    case F_SUBJECT:
        if (!get_symbol(v, &sym)) {
            return bad_field(err, n, "not an enum", f->name);
        }
        if (f->type == F_MODE) {
            *(bool *)p = strcmp(sym, "PHYSICAL") == 0;
        } else {
            *(enum subject_kind *)p =
                strcmp(sym, "STREAM") == 0 ? SUBJECT_STREAM : SUBJECT_BOOKING;
        }
        return true;
    case F_VSTYPE:
        return get_session_type(v, p) ||
               bad_field(err, n, "not a VideoSessionType", f->name);
    case F_RECORDS:
        return extract_list(f, v, base, err, n);
    }
    return false;
}

static bool extract(const struct fmap *m, avro_value_t *rec, void *base,
                    char *err, size_t n)
{
    for (; m->name != NULL; m++) {
        avro_value_t v;

        if (avro_value_get_by_name(rec, m->name, &v, NULL) != 0) {
            return bad_field(err, n, "missing in the reader schema", m->name);
        }
        if (!extract_field(m, &v, base, err, n)) {
            return false;
        }
    }
    return true;
}

/* Selects the null or the other branch of an optional. */
static bool set_opt(avro_value_t *v, bool present, avro_value_t *out)
{
    avro_schema_t u = avro_value_get_schema(v);

    if (avro_value_get_type(v) != AVRO_UNION) {
        *out = *v;
        return present;
    }
    for (size_t i = 0; i < avro_schema_union_size(u); i++) {
        bool is_null =
            avro_typeof(avro_schema_union_branch(u, (int)i)) == AVRO_NULL;

        if (is_null != present) {
            return avro_value_set_branch(v, (int)i, out) == 0 &&
                   (present || avro_value_set_null(out) == 0);
        }
    }
    return false;
}

static bool fill(const struct fmap *m, avro_value_t *rec, const void *base,
                 char *err, size_t n);

static bool fill_field(const struct fmap *f, avro_value_t *v, const void *base,
                       char *err, size_t n)
{
    const void *p = (const char *)base + f->off;
    const char *s =
        f->type == F_STR || f->type == F_OPT_STR ? *(char *const *)p : NULL;
    avro_schema_t es = avro_value_get_schema(v);
    avro_value_t in;

    switch (f->type) {
    case F_STR:
        return (s != NULL && avro_value_set_string(v, s) == 0) ||
               bad_field(err, n, "required string missing", f->name);
    case F_OPT_STR:
        return set_opt(v, s != NULL, &in)
                   ? s == NULL || avro_value_set_string(&in, s) == 0
                   : s == NULL;
    case F_LONG:
        return avro_value_set_long(v, *(const int64_t *)p) == 0;
    case F_OPT_LONG:
        return set_opt(v, *(const int64_t *)p != EVENT_NO_TIME, &in)
                   ? *(const int64_t *)p == EVENT_NO_TIME ||
                         avro_value_set_long(&in, *(const int64_t *)p) == 0
                   : *(const int64_t *)p == EVENT_NO_TIME;
    case F_OPT_INT: {
        const struct event_opt_int *oi = p;

        return set_opt(v, oi->set, &in)
                   ? !oi->set || avro_value_set_int(&in, oi->v) == 0
                   : !oi->set;
    }
    case F_BOOL:
        return avro_value_set_boolean(v, *(const bool *)p) == 0;
    case F_MODE:
        return avro_value_set_enum(
                   v, avro_schema_enum_get_by_name(
                          es, *(const bool *)p ? "PHYSICAL" : "VIRTUAL")) == 0;
    case F_SUBJECT:
        return avro_value_set_enum(
                   v, avro_schema_enum_get_by_name(
                          es, *(const enum subject_kind *)p == SUBJECT_STREAM
                                  ? "STREAM"
                                  : "BOOKING")) == 0;
    case F_VSTYPE: {
        const char *sym =
            event_session_type_name(*(const enum session_type *)p);
        int idx = sym != NULL ? avro_schema_enum_get_by_name(es, sym) : -1;

        return (idx >= 0 && avro_value_set_enum(v, idx) == 0) ||
               bad_field(err, n, "not a VideoSessionType", f->name);
    }
    case F_RECORDS: {
        const char *items = *(char *const *)p;
        size_t count =
            *(const size_t *)(const void *)((const char *)base + f->count_off);

        for (size_t i = 0; i < count; i++) {
            if (avro_value_append(v, &in, NULL) != 0 ||
                !fill(f->sub, &in, items + i * f->elem_size, err, n)) {
                return false;
            }
        }
        return true;
    }
    }
    return false;
}

static bool fill(const struct fmap *m, avro_value_t *rec, const void *base,
                 char *err, size_t n)
{
    for (; m->name != NULL; m++) {
        avro_value_t v;

        if (avro_value_get_by_name(rec, m->name, &v, NULL) != 0) {
            continue; /* an older schema without this field */
        }
        if (!fill_field(m, &v, base, err, n)) {
            return err[0] != '\0' ? false
                                  : bad_field(err, n, "cannot encode", m->name);
        }
    }
    return true;
}

static enum event_kind kind_of(avro_schema_t s)
{
    for (int k = 0; k < EVENT_AVRO_COUNT; k++) {
        if (strcmp(avro_schema_name(s), event_kind_name(k)) == 0) {
            return (enum event_kind)k;
        }
    }
    return EVENT_KIND_COUNT;
}

static bool load_one(struct codec_schema *cs, const struct schema_src *src,
                     char *err, size_t n)
{
    char *pcf = schema_pcf(src->json, strlen(src->json), err, n);

    cs->name = src->name;
    cs->text = src->json;
    if (pcf == NULL) {
        return false;
    }
    cs->fp = schema_fingerprint(pcf, strlen(pcf));
    free(pcf);
    if (avro_schema_from_json_length(src->json, strlen(src->json),
                                     &cs->schema) != 0) {
        snprintf(err, n, "%s: %s", src->name, avro_strerror());
        return false;
    }
    cs->kind = kind_of(cs->schema);
    cs->json = json_loads(src->json, 0, NULL);
    cs->names = resolve_names(cs->json);
    cs->iface = avro_generic_class_from_schema(cs->schema);
    if (cs->kind == EVENT_KIND_COUNT || cs->iface == NULL) {
        snprintf(err, n, "%s: not a record hms-worker knows", src->name);
        return false;
    }
    return true;
}

struct codec *codec_create(char *errstr, size_t errstr_size)
{
    struct codec *cd = xcalloc(1, sizeof(*cd));

    cd->s = xcalloc(schema_srcs_len, sizeof(*cd->s));
    for (size_t i = 0; i < schema_srcs_len; i++, cd->n++) {
        struct codec_schema *cs = &cd->s[i];

        if (!load_one(cs, &schema_srcs[i], errstr, errstr_size)) {
            cd->n++;
            goto err;
        }
        for (size_t j = 0; j < i; j++) {
            if (cd->s[j].fp == cs->fp) {
                snprintf(errstr, errstr_size, "%s and %s: same fingerprint",
                         cd->s[j].name, cs->name);
                cd->n++;
                goto err;
            }
        }
        if (strchr(cs->name, '.') == NULL) {
            cd->current[cs->kind] = cs;
        }
    }
    for (int k = 0; k < EVENT_AVRO_COUNT; k++) {
        if (cd->current[k] == NULL) {
            snprintf(errstr, errstr_size, "no current schema for %s",
                     event_kind_name(k));
            goto err;
        }
    }
    return cd;
err:
    codec_destroy(cd);
    return NULL;
}

static void schema_deinit(struct codec_schema *cs)
{
    if (cs->iface != NULL) {
        avro_value_iface_decref(cs->iface);
    }
    if (cs->schema != NULL) {
        avro_schema_decref(cs->schema);
    }
    json_decref(cs->json);
    json_decref(cs->names);
}

void codec_destroy(struct codec *cd)
{
    if (cd == NULL) {
        return;
    }
    for (size_t i = 0; i < cd->n; i++) {
        schema_deinit(&cd->s[i]);
    }
    for (size_t i = 0; i < cd->n_ids; i++) {
        if (cd->ids[i].name != NULL) {
            schema_deinit(cd->ids[i].cs);
            free(cd->ids[i].cs);
            free(cd->ids[i].name);
        }
    }
    free(cd->ids);
    free(cd->s);
    free(cd);
}

static struct codec_schema *by_fp(struct codec *cd, uint64_t fp)
{
    for (size_t i = 0; i < cd->n; i++) {
        if (cd->s[i].fp == fp) {
            return &cd->s[i];
        }
    }
    return NULL;
}

static struct codec_schema *by_name(const struct codec *cd, const char *name)
{
    for (size_t i = 0; i < cd->n; i++) {
        if (strcmp(cd->s[i].name, name) == 0) {
            return &cd->s[i];
        }
    }
    return NULL;
}

uint64_t codec_fingerprint(const struct codec *cd, const char *schema_name)
{
    const struct codec_schema *cs = by_name(cd, schema_name);

    return cs != NULL ? cs->fp : 0;
}

/* The writer schema a registry id names, fetched once (by the registry's
 * thread: never waited for here). Unavailable while it is being fetched
 * or the registry is down (the event waits); not found when the registry
 * does not know the id or it is not a record of ours. */
static enum hw_rc by_id(struct codec *cd, uint32_t id, struct codec_schema **ws,
                        char *err, size_t n)
{
    struct codec_id *ci;
    const char *json = NULL;
    char *pcf;
    enum hw_rc rc;

    for (size_t i = 0; i < cd->n_ids; i++) {
        if (cd->ids[i].id == id) {
            *ws = cd->ids[i].cs;
            return HW_OK;
        }
    }
    rc = registry_schema(cd->reg, id, &json, err, n);
    if (rc != HW_OK) {
        /* refused credentials wait as an outage does, saying why */
        return rc == HW_ERR_NOT_FOUND || rc == HW_ERR_AUTH ? rc
                                                           : HW_ERR_UNAVAILABLE;
    }
    pcf = schema_pcf(json, strlen(json), err, n);
    if (pcf == NULL) {
        return HW_ERR_NOT_FOUND;
    }
    cd->ids = xrealloc(cd->ids, (cd->n_ids + 1) * sizeof(*cd->ids));
    ci = &cd->ids[cd->n_ids];
    memset(ci, 0, sizeof(*ci));
    ci->id = id;
    ci->cs = by_fp(cd, schema_fingerprint(pcf, strlen(pcf)));
    free(pcf);
    if (ci->cs == NULL) { /* a writer we do not embed: resolve from it */
        struct schema_src src = {NULL, json};

        ci->name = xasprintf("registry id %u", id);
        src.name = ci->name;
        ci->cs = xcalloc(1, sizeof(*ci->cs));
        if (!load_one(ci->cs, &src, err, n)) {
            schema_deinit(ci->cs);
            free(ci->cs);
            free(ci->name);
            return HW_ERR_NOT_FOUND;
        }
    }
    cd->n_ids++;
    *ws = ci->cs;
    return HW_OK;
}

void codec_use_registry(struct codec *cd, struct registry *reg)
{
    cd->reg = reg;
}

/* Finds the writer schema from the framing; body and blen get the datum. */
static enum hw_rc frame(struct codec *cd, const unsigned char *b, size_t len,
                        struct codec_schema **ws, const unsigned char **body,
                        size_t *blen, char *err, size_t n)
{
    uint64_t fp = 0;

    if (len > CODEC_MAX_MESSAGE) {
        snprintf(err, n, "message of %zu bytes exceeds %d", len,
                 CODEC_MAX_MESSAGE);
        return HW_ERR_DECODE;
    }
    if (len >= 2 && b[0] == 0xc3 && b[1] == 0x01) {
        if (len < 10) {
            snprintf(err, n, "single-object header truncated");
            return HW_ERR_DECODE;
        }
        for (int i = 7; i >= 0; i--) {
            fp = (fp << 8) | b[2 + i];
        }
        *ws = by_fp(cd, fp);
        *body = b + 10;
        *blen = len - 10;
        if (*ws == NULL) {
            snprintf(err, n, "unknown schema fingerprint %016llx",
                     (unsigned long long)fp);
            return HW_ERR_NOT_FOUND;
        }
        return HW_OK;
    }
    if (len >= 5 && b[0] == 0x00) {
        uint32_t id = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
                      (uint32_t)b[3] << 8 | b[4];

        *body = b + 5;
        *blen = len - 5;
        if (cd->reg == NULL) {
            snprintf(err, n,
                     "Confluent wire format (schema id %u) but no "
                     "SCHEMA_REGISTRY_URL is configured",
                     id);
            return HW_ERR_NOT_FOUND;
        }
        return by_id(cd, id, ws, err, n);
    }
    snprintf(err, n, "unknown framing (%zu bytes, first 0x%02x)", len,
             len > 0 ? b[0] : 0);
    return HW_ERR_DECODE;
}

enum hw_rc codec_decode(struct codec *cd, enum event_kind expect,
                        const void *buf, size_t len, struct event *ev,
                        char *errstr, size_t errstr_size)
{
    struct codec_schema *ws = NULL, *rs = cd->current[expect];
    const unsigned char *body = NULL;
    size_t blen = 0;
    avro_value_t wv, rv;
    avro_reader_t reader = NULL;
    enum hw_rc rc = frame(cd, buf, len, &ws, &body, &blen, errstr, errstr_size);
    bool have_w = false, have_r = false;

    if (rc != HW_OK) {
        return rc;
    }
    if (ws->kind != expect) {
        snprintf(errstr, errstr_size, "a %s record where %s is expected",
                 event_kind_name(ws->kind), event_kind_name(expect));
        return HW_ERR_NOT_FOUND;
    }
    rc = prevalidate_datum(ws->schema, body, blen, errstr, errstr_size);
    if (rc != HW_OK) {
        return rc;
    }
    rc = HW_ERR_DECODE;
    have_w = avro_generic_value_new(ws->iface, &wv) == 0;
    reader = avro_reader_memory((const char *)body, (int64_t)blen);
    if (!have_w || reader == NULL || avro_value_read(reader, &wv) != 0) {
        snprintf(errstr, errstr_size, "avro: %s", avro_strerror());
        goto out;
    }
    if (ws != rs) {
        have_r = avro_generic_value_new(rs->iface, &rv) == 0;
        if (!have_r || resolve_value(&wv, &rv, rs->json, rs->names, errstr,
                                     errstr_size) != HW_OK) {
            goto out;
        }
    }
    ev->kind = expect;
    if (extract(maps[expect], ws != rs ? &rv : &wv, ev, errstr, errstr_size)) {
        rc = HW_OK;
    }
out:
    if (reader != NULL) {
        avro_reader_free(reader);
    }
    if (have_w) {
        avro_value_decref(&wv);
    }
    if (have_r) {
        avro_value_decref(&rv);
    }
    return rc;
}

/* The Avro datum of ev in schema cs, appended to out. */
static enum hw_rc write_datum(const struct codec_schema *cs,
                              const struct event *ev, struct buf *out,
                              char *errstr, size_t errstr_size)
{
    avro_writer_t w = NULL;
    avro_value_t v;
    size_t size = 0;
    char *tmp = NULL;
    enum hw_rc rc = HW_ERR_INVALID;

    if (avro_generic_value_new(cs->iface, &v) != 0) {
        snprintf(errstr, errstr_size, "avro: %s", avro_strerror());
        return HW_ERR_FATAL;
    }
    if (!fill(maps[ev->kind], &v, ev, errstr, errstr_size) ||
        avro_value_sizeof(&v, &size) != 0) {
        goto out;
    }
    tmp = xmalloc(size + 1);
    w = avro_writer_memory(tmp, (int64_t)size);
    if (avro_value_write(w, &v) != 0) {
        snprintf(errstr, errstr_size, "avro: %s", avro_strerror());
        goto out;
    }
    buf_append(out, tmp, size);
    rc = HW_OK;
out:
    if (w != NULL) {
        avro_writer_free(w);
    }
    free(tmp);
    avro_value_decref(&v);
    return rc;
}

enum hw_rc codec_encode(struct codec *cd, const struct event *ev,
                        const char *schema_name, struct buf *out, char *errstr,
                        size_t errstr_size)
{
    struct codec_schema *cs =
        schema_name != NULL ? by_name(cd, schema_name) : cd->current[ev->kind];
    unsigned char head[10] = {0xc3, 0x01};

    errstr[0] = '\0';
    if (cs == NULL || cs->kind != ev->kind) {
        snprintf(errstr, errstr_size, "no schema %s for %s",
                 schema_name != NULL ? schema_name : "(current)",
                 event_kind_name(ev->kind));
        return HW_ERR_INVALID;
    }
    for (int i = 0; i < 8; i++) {
        head[2 + i] = (unsigned char)(cs->fp >> (8 * i));
    }
    buf_append(out, head, sizeof(head));
    return write_datum(cs, ev, out, errstr, errstr_size);
}

enum hw_rc codec_encode_for(struct codec *cd, const struct event *ev,
                            const char *topic, struct buf *out, char *errstr,
                            size_t errstr_size)
{
    const struct codec_schema *cs = cd->current[ev->kind];
    unsigned char head[5] = {0};
    uint32_t id = 0;
    char *subject;
    enum hw_rc rc;

    if (cd->reg == NULL) {
        return codec_encode(cd, ev, NULL, out, errstr, errstr_size);
    }
    subject = xasprintf("%s-value", topic);
    rc =
        registry_register(cd->reg, subject, cs->text, &id, errstr, errstr_size);
    free(subject);
    if (rc != HW_OK) {
        /* refused credentials or schema: an operator must act */
        return rc == HW_ERR_INVALID || rc == HW_ERR_AUTH ? rc
                                                         : HW_ERR_UNAVAILABLE;
    }
    for (int i = 0; i < 4; i++) {
        head[1 + i] = (unsigned char)(id >> (8 * (3 - i)));
    }
    buf_append(out, head, sizeof(head));
    return write_datum(cs, ev, out, errstr, errstr_size);
}
