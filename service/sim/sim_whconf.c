/* sim_whconf.c -- hms-sim's webhook settings (sim_whconf.h): validation
 * shared by the flags and POST /__sim/config, the JSON view and the
 * header lines handed to the sender. Every update works on a copy and
 * replaces *c only when all of it is valid. */
#define LOGMOD "sim_whconf"
#include "sim_whconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEADER_NAME_MAX 128
#define HEADER_VALUE_MAX 1024

void sim_wh_conf_init(struct sim_wh_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->headers = json_object();
}

void sim_wh_conf_deinit(struct sim_wh_conf *c)
{
    free(c->url);
    json_decref(c->headers);
    memset(c, 0, sizeof(*c));
}

void sim_wh_conf_copy(struct sim_wh_conf *dst, const struct sim_wh_conf *src)
{
    *dst = *src;
    dst->url = src->url != NULL ? xstrdup(src->url) : NULL;
    dst->headers =
        src->headers != NULL ? json_deep_copy(src->headers) : json_object();
}

static bool printable(const char *s, size_t n, bool tab)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if ((ch < 0x20 && !(tab && ch == '\t')) || ch > 0x7e) {
            return false;
        }
    }
    return true;
}

bool sim_wh_url_ok(const char *url)
{
    size_t n = url != NULL ? strlen(url) : 0, skip;

    if (n == 0 || n > SIM_WH_URL_MAX || !printable(url, n, false) ||
        strchr(url, ' ') != NULL) {
        return false;
    }
    if (strncasecmp(url, "http://", 7) == 0) {
        skip = 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        skip = 8;
    } else {
        return false;
    }
    return url[skip] != '\0' && url[skip] != '/' && url[skip] != ':';
}

bool sim_wh_header_ok(const char *name, const char *value)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
                                "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    size_t n = name != NULL ? strlen(name) : 0;

    return n > 0 && n <= HEADER_NAME_MAX && strspn(name, tchar) == n &&
           value != NULL && strlen(value) <= HEADER_VALUE_MAX &&
           printable(value, strlen(value), true);
}

enum hw_rc sim_wh_conf_set_url(struct sim_wh_conf *c, const char *url,
                               char *errstr, size_t errstr_size)
{
    if (!sim_wh_url_ok(url)) {
        snprintf(errstr, errstr_size,
                 "webhook url: expected http://HOST... or https://HOST...");
        return HW_ERR_CONFIG;
    }
    free(c->url);
    c->url = xstrdup(url);
    return HW_OK;
}

enum hw_rc sim_wh_conf_add_header(struct sim_wh_conf *c, const char *kv,
                                  char *errstr, size_t errstr_size)
{
    const char *colon = strchr(kv, ':');
    char *name;
    const char *value;
    bool ok;

    if (colon == NULL) {
        snprintf(errstr, errstr_size, "webhook header: expected NAME:VALUE");
        return HW_ERR_CONFIG;
    }
    name = xasprintf("%.*s", (int)(colon - kv), kv);
    value = colon + 1;
    value += strspn(value, " \t"); /* "Name: value" reads naturally too */
    ok = sim_wh_header_ok(name, value) &&
         (json_object_get(c->headers, name) != NULL ||
          json_object_size(c->headers) < SIM_WH_HEADERS_MAX);
    if (ok) {
        json_object_set_new(c->headers, name, json_string(value));
    } else {
        /* the name only: the value may be a secret */
        snprintf(errstr, errstr_size,
                 "webhook header %s: a token name, a printable value "
                 "(at most %d headers)",
                 name, SIM_WH_HEADERS_MAX);
    }
    free(name);
    return ok ? HW_OK : HW_ERR_CONFIG;
}

/* The faults' keys and where they live. */
static double *rate_of(struct sim_wh_conf *c, const char *key)
{
    return strcmp(key, "drop_rate") == 0        ? &c->drop_rate
           : strcmp(key, "duplicate_rate") == 0 ? &c->duplicate_rate
           : strcmp(key, "reorder_rate") == 0   ? &c->reorder_rate
                                                : NULL;
}

/* Sets one fault member from a JSON value; false if key or value is bad. */
static bool fault_set(struct sim_wh_conf *c, const char *key, const json_t *v)
{
    double *rate = rate_of(c, key);

    if (rate != NULL) {
        if (!json_is_number(v) || json_number_value(v) < 0 ||
            json_number_value(v) > 1) {
            return false;
        }
        *rate = json_number_value(v);
        return true;
    }
    if (strcmp(key, "seed") == 0 && json_is_integer(v) &&
        json_integer_value(v) >= 0) {
        c->seed = (uint64_t)json_integer_value(v);
        return true;
    }
    return false;
}

enum hw_rc sim_wh_conf_set_fault(struct sim_wh_conf *c, const char *kv,
                                 char *errstr, size_t errstr_size)
{
    const char *eq = strchr(kv, '=');
    char *key;
    json_t *v;
    bool ok;

    if (eq == NULL) {
        snprintf(errstr, errstr_size, "webhook fault: expected KEY=VALUE");
        return HW_ERR_CONFIG;
    }
    key = xasprintf("%.*s", (int)(eq - kv), kv);
    v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
    ok = v != NULL && fault_set(c, key, v);
    if (!ok) {
        snprintf(errstr, errstr_size,
                 "webhook fault %s: expected drop_rate, duplicate_rate or "
                 "reorder_rate in [0, 1], or seed >= 0",
                 key);
    }
    json_decref(v);
    free(key);
    return ok ? HW_OK : HW_ERR_CONFIG;
}

bool sim_wh_conf_key(const char *key)
{
    return strcmp(key, "webhook_url") == 0 ||
           strcmp(key, "webhook_headers") == 0 ||
           strcmp(key, "webhook_faults") == 0;
}

static bool update_url(struct sim_wh_conf *c, const json_t *v)
{
    const char *s = json_string_value(v);

    if (json_is_null(v) || (s != NULL && s[0] == '\0')) {
        free(c->url);
        c->url = NULL;
        return true;
    }
    if (!sim_wh_url_ok(s)) {
        return false;
    }
    free(c->url);
    c->url = xstrdup(s);
    return true;
}

static bool update_headers(struct sim_wh_conf *c, json_t *v)
{
    const char *name;
    json_t *val;

    if (!json_is_object(v) || json_object_size(v) > SIM_WH_HEADERS_MAX) {
        return false;
    }
    json_object_foreach(v, name, val)
    {
        if (!sim_wh_header_ok(name, json_string_value(val))) {
            return false;
        }
    }
    json_decref(c->headers);
    c->headers = json_deep_copy(v);
    return true;
}

static bool update_faults(struct sim_wh_conf *c, json_t *v)
{
    const char *key;
    json_t *val;

    if (!json_is_object(v)) {
        return false;
    }
    json_object_foreach(v, key, val)
    {
        if (!fault_set(c, key, val)) {
            return false;
        }
    }
    return true;
}

enum hw_rc sim_wh_conf_update(struct sim_wh_conf *c, const json_t *j,
                              char *errstr, size_t errstr_size)
{
    struct sim_wh_conf next;
    json_t *v;
    const char *bad = NULL;

    sim_wh_conf_copy(&next, c);
    if ((v = json_object_get(j, "webhook_url")) != NULL &&
        !update_url(&next, v)) {
        bad = "webhook_url: expected an http:// or https:// URL, or null";
    } else if ((v = json_object_get(j, "webhook_headers")) != NULL &&
               !update_headers(&next, v)) {
        bad = "webhook_headers: expected an object of at most 32 token "
              "names with printable string values";
    } else if ((v = json_object_get(j, "webhook_faults")) != NULL &&
               !update_faults(&next, v)) {
        bad = "webhook_faults: expected drop_rate, duplicate_rate, "
              "reorder_rate in [0, 1] and seed >= 0";
    }
    if (bad != NULL) {
        snprintf(errstr, errstr_size, "%s", bad);
        sim_wh_conf_deinit(&next);
        return HW_ERR_INVALID;
    }
    sim_wh_conf_deinit(c);
    *c = next;
    return HW_OK;
}

json_t *sim_wh_conf_to_json(const struct sim_wh_conf *c)
{
    json_t *headers = json_object(), *v;
    const char *name;

    json_object_foreach(c->headers, name, v)
    {
        json_object_set_new(headers, name, json_string("(redacted)"));
    }
    return json_pack("{s:s?, s:o, s:{s:f, s:f, s:f, s:I}}", "webhook_url",
                     c->url, "webhook_headers", headers, "webhook_faults",
                     "drop_rate", c->drop_rate, "duplicate_rate",
                     c->duplicate_rate, "reorder_rate", c->reorder_rate, "seed",
                     (json_int_t)c->seed);
}

char **sim_wh_header_lines(json_t *headers)
{
    char **lines = xcalloc(json_object_size(headers) + 1, sizeof(char *));
    size_t n = 0;
    const char *name;
    json_t *v;

    json_object_foreach(headers, name, v)
    {
        /* a room's webhook headers come from an API caller: the invalid
         * ones are left out rather than sent */
        if (sim_wh_header_ok(name, json_string_value(v))) {
            lines[n++] = xasprintf("%s: %s", name, json_string_value(v));
        }
    }
    return lines;
}

char **sim_wh_lines_dup(char *const *lines)
{
    size_t n = 0;
    char **out;

    while (lines != NULL && lines[n] != NULL) {
        n++;
    }
    out = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        out[i] = xstrdup(lines[i]);
    }
    return out;
}

void sim_wh_lines_free(char **lines)
{
    for (size_t i = 0; lines != NULL && lines[i] != NULL; i++) {
        free(lines[i]);
    }
    free(lines);
}
