/* sim_fault.c -- fault rules: one field table, matching, dice. fields[]
 * (name, type, offset in struct fault_rule, range or the names of an
 * enum's values) serves the JSON form
 * and --fault key=value alike. fault_decide() takes the first matching
 * rule (lower-cased globs, fnmatch), draws the jitter, then one uniform
 * number against the rates summed in dice[] order; a new fault is a field,
 * a row and a die. Called with sim_admin's mutex held. */
#define LOGMOD "sim_fault"
#include "sim_fault.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum field_type { F_STR, F_INT, F_RATE, F_BOOL, F_ENUM };

struct field {
    const char *name;
    enum field_type type;
    size_t offset;
    int64_t min, max;
    const char *const *names; /* F_ENUM: value i is names[i]; an int */
};

#define FIELD(n, t, lo, hi)                                                    \
    {                                                                          \
#n, t, offsetof(struct fault_rule, n), lo, hi, NULL                    \
    }
#define FIELD_ENUM(n, names)                                                   \
    {                                                                          \
#n, F_ENUM, offsetof(struct fault_rule, n), 0,                         \
            (int64_t)HW_ARRAY_LEN(names) - 2, names                            \
    }
#define HOUR_MS 3600000

/* enum fault_retry_after, in order; NULL-terminated */
static const char *const retry_after_names[] = {"none", "seconds", "date",
                                                NULL};

static const struct field fields[] = {
    FIELD(match, F_STR, 0, 0),
    FIELD(route, F_STR, 0, 0),
    FIELD(latency_ms, F_INT, 0, HOUR_MS),
    FIELD(jitter_ms, F_INT, 0, HOUR_MS),
    FIELD(rate_429, F_RATE, 0, 0),
    FIELD(retry_after_s, F_INT, 0, 86400),
    FIELD_ENUM(retry_after_header, retry_after_names),
    FIELD(rate_401, F_RATE, 0, 0),
    FIELD(rate_403, F_RATE, 0, 0),
    FIELD(rate_404, F_RATE, 0, 0),
    FIELD(rate_500, F_RATE, 0, 0),
    FIELD(rate_502, F_RATE, 0, 0),
    FIELD(rate_503, F_RATE, 0, 0),
    FIELD(rate_504, F_RATE, 0, 0),
    FIELD(html_body, F_BOOL, 0, 0),
    FIELD(rate_drop, F_RATE, 0, 0),
    FIELD(rate_drop_after, F_RATE, 0, 0),
    FIELD(rate_hang, F_RATE, 0, 0),
    FIELD(hang_ms, F_INT, 0, HOUR_MS),
    FIELD(times, F_INT, -1, INT64_MAX),
};

void fault_rule_init(struct fault_rule *r)
{
    memset(r, 0, sizeof(*r));
    r->retry_after_s = 1;
    r->hang_ms = 60000;
    r->times = -1;
}

void fault_rule_deinit(struct fault_rule *r)
{
    free(r->match);
    free(r->route);
    r->match = r->route = NULL;
}

static const struct field *field_find(const char *name, size_t len)
{
    for (size_t i = 0; i < HW_ARRAY_LEN(fields); i++) {
        if (strlen(fields[i].name) == len &&
            strncmp(fields[i].name, name, len) == 0) {
            return &fields[i];
        }
    }
    return NULL;
}

/* "fault field retry_after_header: expected one of none seconds date" */
static void enum_error(const struct field *f, char *errstr, size_t errstr_size)
{
    size_t n;

    if (errstr_size == 0) {
        return;
    }
    snprintf(errstr, errstr_size, "fault field %s: expected one of", f->name);
    for (int i = 0; f->names[i] != NULL; i++) {
        n = strlen(errstr);
        snprintf(errstr + n, errstr_size - n, " %s", f->names[i]);
    }
}

static enum hw_rc set_field(struct fault_rule *r, const struct field *f,
                            const json_t *v, char *errstr, size_t errstr_size)
{
    char *base = (char *)r + f->offset;

    switch (f->type) {
    case F_STR:
        if (!json_is_string(v) && !json_is_null(v)) {
            break;
        }
        free(*(char **)(void *)base);
        *(char **)(void *)base =
            json_is_null(v) ? NULL : xstrdup(json_string_value(v));
        return HW_OK;
    case F_INT:
        if (!json_is_integer(v) || json_integer_value(v) < f->min ||
            json_integer_value(v) > f->max) {
            break;
        }
        *(int64_t *)(void *)base = json_integer_value(v);
        return HW_OK;
    case F_RATE:
        if (!json_is_number(v) || json_number_value(v) < 0 ||
            json_number_value(v) > 1) {
            break;
        }
        *(double *)(void *)base = json_number_value(v);
        return HW_OK;
    case F_BOOL:
        if (!json_is_boolean(v)) {
            break;
        }
        *(bool *)(void *)base = json_is_true(v);
        return HW_OK;
    case F_ENUM:
        for (int i = 0; json_is_string(v) && f->names[i] != NULL; i++) {
            if (strcmp(json_string_value(v), f->names[i]) == 0) {
                *(int *)(void *)base = i;
                return HW_OK;
            }
        }
        enum_error(f, errstr, errstr_size);
        return HW_ERR_CONFIG;
    }
    snprintf(errstr, errstr_size, "fault field %s: expected %s", f->name,
             f->type == F_STR    ? "a string"
             : f->type == F_RATE ? "a number in [0, 1]"
             : f->type == F_BOOL ? "true or false"
             : f->type == F_ENUM ? "one of its names"
                                 : "an integer in range");
    return HW_ERR_CONFIG;
}

enum hw_rc fault_rule_check(const struct fault_rule *r, char *errstr,
                            size_t errstr_size)
{
    double sum = r->rate_429 + r->rate_401 + r->rate_403 + r->rate_404 +
                 r->rate_500 + r->rate_502 + r->rate_503 + r->rate_504 +
                 r->rate_drop + r->rate_drop_after + r->rate_hang;

    if (sum > 1.0 + 1e-9) {
        snprintf(errstr, errstr_size, "fault rates sum to %.3f > 1", sum);
        return HW_ERR_CONFIG;
    }
    return HW_OK;
}

enum hw_rc fault_rule_set_kv(struct fault_rule *r, const char *kv, char *errstr,
                             size_t errstr_size)
{
    const char *eq = strchr(kv, '=');
    const struct field *f =
        eq == NULL ? NULL : field_find(kv, (size_t)(eq - kv));
    json_t *v;
    enum hw_rc rc;

    if (f == NULL) {
        snprintf(errstr, errstr_size,
                 "--fault %s: expected KEY=VALUE with a "
                 "known key",
                 kv);
        return HW_ERR_CONFIG;
    }
    v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
    if (v == NULL) {
        v = json_string(eq + 1);
    }
    rc = set_field(r, f, v, errstr, errstr_size);
    json_decref(v);
    return rc;
}

static enum hw_rc rule_from_json(struct fault_rule *r, json_t *j, char *errstr,
                                 size_t errstr_size)
{
    const char *key;
    json_t *v;

    fault_rule_init(r);
    if (!json_is_object(j)) {
        snprintf(errstr, errstr_size, "a fault rule must be an object");
        return HW_ERR_CONFIG;
    }
    json_object_foreach(j, key, v)
    {
        const struct field *f = field_find(key, strlen(key));

        if (f == NULL) {
            snprintf(errstr, errstr_size, "unknown fault field %s", key);
            return HW_ERR_CONFIG;
        }
        if (set_field(r, f, v, errstr, errstr_size) != HW_OK) {
            return HW_ERR_CONFIG;
        }
    }
    return fault_rule_check(r, errstr, errstr_size);
}

void fault_set_add(struct fault_set *fs, struct fault_rule *r)
{
    fs->rules = xrealloc(fs->rules, (fs->n + 1) * sizeof(*fs->rules));
    fs->rules[fs->n++] = *r;
    memset(r, 0, sizeof(*r));
}

void fault_set_deinit(struct fault_set *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        fault_rule_deinit(&fs->rules[i]);
    }
    free(fs->rules);
    fs->rules = NULL;
    fs->n = 0;
}

enum hw_rc fault_set_from_json(struct fault_set *fs, const json_t *j,
                               char *errstr, size_t errstr_size)
{
    struct fault_set next = {NULL, 0, fs->rng};
    const json_t *rules = json_object_get(j, "rules");
    const json_t *seed = json_object_get(j, "seed");
    json_t *rj;
    size_t i;

    if (!json_is_object(j) || !json_is_array(rules) ||
        (seed != NULL && !json_is_integer(seed))) {
        snprintf(errstr, errstr_size,
                 "expected {\"seed\": int (optional), \"rules\": [...]}");
        return HW_ERR_CONFIG;
    }
    json_array_foreach(rules, i, rj)
    {
        struct fault_rule r;

        if (rule_from_json(&r, rj, errstr, errstr_size) != HW_OK) {
            fault_rule_deinit(&r);
            fault_set_deinit(&next);
            return HW_ERR_CONFIG;
        }
        fault_set_add(&next, &r);
    }
    if (seed != NULL) {
        next.rng = (uint64_t)json_integer_value(seed) | 1;
    }
    fault_set_deinit(fs);
    *fs = next;
    return HW_OK;
}

static json_t *rule_to_json(const struct fault_rule *r)
{
    json_t *o = json_object();

    for (size_t i = 0; i < HW_ARRAY_LEN(fields); i++) {
        const struct field *f = &fields[i];
        const char *base = (const char *)r + f->offset;
        json_t *v = NULL;

        switch (f->type) {
        case F_STR: {
            const char *s = *(char *const *)(const void *)base;

            v = s == NULL ? json_null() : json_string(s);
            break;
        }
        case F_INT:
            v = json_integer(*(const int64_t *)(const void *)base);
            break;
        case F_RATE:
            v = json_real(*(const double *)(const void *)base);
            break;
        case F_BOOL:
            v = json_boolean(*(const bool *)(const void *)base);
            break;
        case F_ENUM:
            v = json_string(f->names[*(const int *)(const void *)base]);
            break;
        }
        json_object_set_new(o, f->name, v);
    }
    json_object_set_new(o, "hits", json_integer(r->hits));
    return o;
}

json_t *fault_set_to_json(const struct fault_set *fs)
{
    json_t *rules = json_array();

    for (size_t i = 0; i < fs->n; i++) {
        json_array_append_new(rules, rule_to_json(&fs->rules[i]));
    }
    return json_pack("{s:o}", "rules", rules);
}

static uint64_t next_rand(struct fault_set *fs)
{
    uint64_t x = fs->rng != 0 ? fs->rng : 0x9e3779b97f4a7c15ULL;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    fs->rng = x;
    return x;
}

static bool glob_ci(const char *pattern, const char *s)
{
    char p[256], t[256];
    size_t i;

    if (s == NULL || strlen(pattern) >= sizeof(p) || strlen(s) >= sizeof(t)) {
        return false;
    }
    for (i = 0; pattern[i] != '\0'; i++) {
        p[i] = (char)tolower((unsigned char)pattern[i]);
    }
    p[i] = '\0';
    for (i = 0; s[i] != '\0'; i++) {
        t[i] = (char)tolower((unsigned char)s[i]);
    }
    t[i] = '\0';
    return fnmatch(p, t, 0) == 0;
}

static bool rule_matches(const struct fault_rule *r, const char *route,
                         const char *room)
{
    return (r->match == NULL || glob_ci(r->match, room)) &&
           (r->route == NULL || glob_ci(r->route, route)) &&
           (r->times < 0 || r->hits < r->times);
}

void fault_decide(struct fault_set *fs, const char *route, const char *room,
                  struct fault_action *out)
{
    const struct fault_rule *r = NULL;
    double u, acc = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < fs->n && r == NULL; i++) {
        if (rule_matches(&fs->rules[i], route, room)) {
            r = &fs->rules[i];
            fs->rules[i].hits++;
        }
    }
    if (r == NULL) {
        return;
    }
    out->delay_ms = r->latency_ms;
    if (r->jitter_ms > 0) {
        out->delay_ms +=
            (int64_t)(next_rand(fs) % (uint64_t)(r->jitter_ms + 1));
    }
    u = (double)(next_rand(fs) >> 11) / (double)(1ULL << 53);
    const struct {
        double rate;
        enum fault_kind kind;
        int status;
    } dice[] = {
        {r->rate_hang, FAULT_HANG, 0},
        {r->rate_drop, FAULT_DROP, 0},
        {r->rate_drop_after, FAULT_DROP_AFTER, 0},
        {r->rate_429, FAULT_STATUS, 429},
        {r->rate_401, FAULT_STATUS, 401},
        {r->rate_403, FAULT_STATUS, 403},
        {r->rate_404, FAULT_STATUS, 404},
        {r->rate_500, FAULT_STATUS, 500},
        {r->rate_502, FAULT_STATUS, 502},
        {r->rate_503, FAULT_STATUS, 503},
        {r->rate_504, FAULT_STATUS, 504},
    };
    for (size_t i = 0; i < HW_ARRAY_LEN(dice); i++) {
        acc += dice[i].rate;
        if (dice[i].rate > 0 && u < acc) {
            out->kind = dice[i].kind;
            out->status = dice[i].status;
            break;
        }
    }
    out->hang_ms = r->hang_ms;
    out->retry_after_s = r->retry_after_s;
    out->retry_after_header = r->retry_after_header;
    out->html_body = r->html_body;
}
