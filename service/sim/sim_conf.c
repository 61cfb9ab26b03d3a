/* sim_conf.c -- hms-sim flags, environment and templates. Options apply
 * in order: --faults-file loads as it comes, --fault fields build one
 * start-up rule appended after the file's, and --templates is read once at
 * the end (default_templates without it). The app secret comes through
 * secret.c, as the worker's does. sim_conf_load() runs once in main,
 * before any thread; sim_tune_update() is pure and is also what
 * POST /__sim/config uses, so a flag and its run-time form share bounds
 * (tune_keys[]). */
#define LOGMOD "sim_conf"
#include "sim_conf.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "log.h"

#define ERRLEN 512
#define TEMPLATES_MAX_BYTES (1024 * 1024)
/* documented: a stream stops at the template's maximum duration, 4 h by
 * default (Destinations/rtmp-streaming-and-browser-recording.mdx) */
#define HLS_MAX_DURATION_DEFAULT_S (4 * 3600)
#define TEN_YEARS_S (10LL * 366 * 86400)

/* The workspace a fresh simulator has when no --templates file is given. */
static const char default_templates[] =
    "{\"customer_id\":\"6a1b00000000000000000c01\","
    "\"app_id\":\"6a1b00000000000000000a01\","
    "\"templates\":[{\"id\":\"6a1b00000000000000000001\","
    "\"name\":\"hms-worker-default\",\"region\":\"us\","
    "\"subdomain\":\"hmsworker\","
    "\"roles\":[\"host\",\"guest\",\"viewer\"]}]}";

static const char usage[] =
    "usage: hms-sim [options]\n"
    "  --listen HOST:PORT        bind address (127.0.0.1:0 = free port)\n"
    "  --port-file PATH          write the bound port to PATH\n"
    "  --tls-cert PATH           serve HTTPS with this certificate (PEM)\n"
    "  --tls-key PATH            and its private key (PEM); both or neither\n"
    "  --templates PATH          templates JSON (default: built in)\n"
    "  --access-key KEY          required access_key claim "
    "(or HMS_ACCESS_KEY)\n"
    "  --threads N               HTTP worker threads (2)\n"
    "  --leeway-s N              allowed clock skew for tokens (0)\n"
    "  --log-size N              request log entries kept (100000)\n"
    "  --hls-running-after-ms N  starting -> running after N ms (2000)\n"
    "  --hls-needs-session       HLS start needs an active session\n"
    "  --strict                  also the stricter-than-documented rules\n"
    "  --time-scale N            documented minute/hour durations / N (1)\n"
    "  --clock-offset-s N        the simulator's clock: real time + N s (0)\n"
    "  --seed N                  random seed for ids, codes, faults\n"
    "  --fault KEY=VALUE         start-up fault rule field (repeatable)\n"
    "  --faults-file PATH        start-up fault rule set (JSON)\n"
    "  --webhook-url URL         send webhook events there (http/https)\n"
    "  --webhook-header N:V      a static header for them (repeatable)\n"
    "  --webhook-fault KEY=VALUE drop_rate, duplicate_rate, reorder_rate,\n"
    "                            seed (repeatable)\n"
    "The app secret comes from HMS_APP_SECRET or HMS_APP_SECRET_FILE.\n";

static char *str_field(const json_t *o, const char *key, const char *def)
{
    const json_t *v = json_object_get(o, key);

    return json_is_string(v) ? xstrdup(json_string_value(v))
           : def != NULL     ? xstrdup(def)
                             : NULL;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._:-") == n;
}

static enum hw_rc parse_roles(struct sim_template *t, const json_t *roles,
                              char *errstr, size_t errstr_size)
{
    const json_t *r;
    size_t i;

    if (!json_is_array(roles) || json_array_size(roles) == 0) {
        snprintf(errstr, errstr_size,
                 "template %s: roles must be a "
                 "non-empty array",
                 t->id);
        return HW_ERR_CONFIG;
    }
    t->roles = xcalloc(json_array_size(roles), sizeof(char *));
    json_array_foreach(roles, i, r)
    {
        if (!json_is_string(r) || !valid_name(json_string_value(r)) ||
            sim_template_has_role(t, json_string_value(r))) {
            snprintf(errstr, errstr_size,
                     "template %s: role %zu is not a "
                     "unique name of [A-Za-z0-9._:-]{1,64}",
                     t->id, i);
            return HW_ERR_CONFIG;
        }
        t->roles[t->n_roles++] = xstrdup(json_string_value(r));
    }
    return HW_OK;
}

static enum hw_rc parse_template(struct sim_conf *cf, const json_t *o,
                                 char *errstr, size_t errstr_size)
{
    struct sim_template *t = &cf->templates[cf->n_templates];
    const json_t *id = json_object_get(o, "id");

    if (!json_is_object(o) || !json_is_string(id) ||
        !valid_name(json_string_value(id))) {
        snprintf(errstr, errstr_size,
                 "template %zu: needs an \"id\" of "
                 "[A-Za-z0-9._:-]{1,64}",
                 cf->n_templates);
        return HW_ERR_CONFIG;
    }
    if (sim_conf_template(cf, json_string_value(id)) != NULL) {
        snprintf(errstr, errstr_size, "template %s: duplicate id",
                 json_string_value(id));
        return HW_ERR_CONFIG;
    }
    cf->n_templates++;
    t->id = xstrdup(json_string_value(id));
    t->name = str_field(o, "name", t->id);
    t->region = str_field(o, "region", "us");
    t->subdomain = str_field(o, "subdomain", NULL);
    t->hls_max_duration_s = HLS_MAX_DURATION_DEFAULT_S;
    if (json_object_get(o, "hls_max_duration_s") != NULL) {
        const json_t *v = json_object_get(o, "hls_max_duration_s");

        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > 86400) {
            snprintf(errstr, errstr_size,
                     "template %s: hls_max_duration_s must be an integer "
                     "in [1, 86400]",
                     t->id);
            return HW_ERR_CONFIG;
        }
        t->hls_max_duration_s = json_integer_value(v);
    }
    return parse_roles(t, json_object_get(o, "roles"), errstr, errstr_size);
}

static void templates_free(struct sim_conf *cf)
{
    for (size_t i = 0; i < cf->n_templates; i++) {
        struct sim_template *t = &cf->templates[i];

        for (size_t r = 0; r < t->n_roles; r++) {
            free(t->roles[r]);
        }
        free(t->roles);
        free(t->id);
        free(t->name);
        free(t->region);
        free(t->subdomain);
    }
    free(cf->templates);
    free(cf->customer_id);
    free(cf->app_id);
    cf->templates = NULL;
    cf->n_templates = 0;
    cf->customer_id = cf->app_id = NULL;
}

enum hw_rc sim_conf_parse_templates(struct sim_conf *cf, const char *json,
                                    size_t len, char *errstr,
                                    size_t errstr_size)
{
    json_error_t jerr;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *list = json_object_get(doc, "templates");
    const json_t *t;
    size_t i;
    enum hw_rc rc = HW_ERR_CONFIG;

    templates_free(cf);
    if (doc == NULL) {
        snprintf(errstr, errstr_size, "templates: line %d: %s", jerr.line,
                 jerr.text);
        return HW_ERR_CONFIG;
    }
    if (!json_is_array(list) || json_array_size(list) == 0) {
        snprintf(errstr, errstr_size,
                 "templates: needs a non-empty "
                 "\"templates\" array");
        goto out;
    }
    cf->templates = xcalloc(json_array_size(list), sizeof(*cf->templates));
    json_array_foreach(list, i, t)
    {
        if (parse_template(cf, t, errstr, errstr_size) != HW_OK) {
            goto out;
        }
    }
    cf->customer_id = str_field(doc, "customer_id", "6a1b00000000000000000c01");
    cf->app_id = str_field(doc, "app_id", "6a1b00000000000000000a01");
    rc = HW_OK;
out:
    if (rc != HW_OK) {
        templates_free(cf);
    }
    json_decref(doc);
    return rc;
}

const struct sim_template *sim_conf_template(const struct sim_conf *cf,
                                             const char *id)
{
    for (size_t i = 0; i < cf->n_templates; i++) {
        if (strcmp(cf->templates[i].id, id) == 0) {
            return &cf->templates[i];
        }
    }
    return NULL;
}

bool sim_template_has_role(const struct sim_template *t, const char *role)
{
    for (size_t i = 0; i < t->n_roles; i++) {
        if (strcmp(t->roles[i], role) == 0) {
            return true;
        }
    }
    return false;
}

static bool parse_ll(const char *opt, const char *s, long long min,
                     long long max, long long *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        log_error("msg=\"invalid option\" option=%s expected=\"integer in "
                  "[%lld, %lld]\"",
                  opt, min, max);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_listen(struct sim_conf *cf, const char *s)
{
    const char *colon = strrchr(s, ':');
    long long port;

    if (colon == NULL || colon == s ||
        !parse_ll("--listen", colon + 1, 0, 65535, &port)) {
        log_error("msg=\"invalid option\" option=--listen "
                  "expected=HOST:PORT");
        return false;
    }
    free(cf->host);
    cf->host = xasprintf("%.*s", (int)(colon - s), s);
    cf->port = (int)port;
    return true;
}

static bool load_file(const char *opt, const char *path, char **out,
                      size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;

    if (f == NULL) {
        log_error("msg=\"cannot open file\" option=%s path=%s", opt, path);
        return false;
    }
    buf = xmalloc(TEMPLATES_MAX_BYTES + 1);
    *len = fread(buf, 1, TEMPLATES_MAX_BYTES + 1, f);
    fclose(f);
    if (*len > TEMPLATES_MAX_BYTES) {
        log_error("msg=\"file too large\" option=%s path=%s", opt, path);
        free(buf);
        return false;
    }
    *out = buf;
    return true;
}

/* --tls-cert and --tls-key: both or neither; read now, so a bad path is
 * a start-up error. MHD wants NUL-terminated PEM text. */
static bool load_tls(struct sim_conf *cf)
{
    size_t len;

    if ((cf->tls_cert == NULL) != (cf->tls_key == NULL)) {
        log_error("msg=\"invalid option\" option=%s err=\"HTTPS needs both "
                  "--tls-cert and --tls-key\"",
                  cf->tls_cert == NULL ? "--tls-cert" : "--tls-key");
        return false;
    }
    if (cf->tls_cert == NULL) {
        return true;
    }
    if (!load_file("--tls-cert", cf->tls_cert, &cf->tls_cert_pem, &len)) {
        return false;
    }
    cf->tls_cert_pem[len] = '\0';
    if (!load_file("--tls-key", cf->tls_key, &cf->tls_key_pem, &len)) {
        return false;
    }
    cf->tls_key_pem[len] = '\0';
    return true;
}

static bool load_templates(struct sim_conf *cf, const char *path)
{
    char errstr[ERRLEN];
    char *buf = NULL;
    size_t len = 0;
    bool ok;

    if (path != NULL && !load_file("--templates", path, &buf, &len)) {
        return false;
    }
    ok = sim_conf_parse_templates(cf, buf != NULL ? buf : default_templates,
                                  buf != NULL ? len : strlen(default_templates),
                                  errstr, sizeof(errstr)) == HW_OK;
    if (!ok) {
        log_error("msg=\"invalid templates\" path=%s err=\"%s\"",
                  path != NULL ? path : "(built-in)", errstr);
    }
    free(buf);
    return ok;
}

static bool load_faults_file(struct sim_conf *cf, const char *path)
{
    char errstr[ERRLEN];
    char *buf;
    size_t len;
    json_t *j;
    bool ok;

    if (!load_file("--faults-file", path, &buf, &len)) {
        return false;
    }
    j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
    free(buf);
    ok = j != NULL &&
         fault_set_from_json(&cf->faults, j, errstr, sizeof(errstr)) == HW_OK;
    if (!ok) {
        log_error("msg=\"invalid faults file\" path=%s err=\"%s\"", path,
                  j == NULL ? "not JSON" : errstr);
    }
    json_decref(j);
    return ok;
}

/* The run-time settings (struct sim_tune): one row each, so a flag and
 * its POST /__sim/config form share name and bounds. */
struct tune_key {
    const char *name; /* JSON key; the flag is "--" + name, '_' -> '-' */
    size_t offset;    /* in struct sim_tune: int64_t, or bool if is_bool */
    bool is_bool;
    long long min, max;
};

static const struct tune_key tune_keys[] = {
    {"time_scale", offsetof(struct sim_tune, time_scale), false, 1, 1000000},
    {"clock_offset_s", offsetof(struct sim_tune, clock_offset_s), false,
     -TEN_YEARS_S, TEN_YEARS_S},
    {"hls_running_after_ms", offsetof(struct sim_tune, hls_running_after_ms),
     false, 0, 3600000},
    {"strict", offsetof(struct sim_tune, strict), true, 0, 1},
};

static const struct tune_key *tune_key(const char *name)
{
    for (size_t i = 0; i < HW_ARRAY_LEN(tune_keys); i++) {
        if (strcmp(tune_keys[i].name, name) == 0) {
            return &tune_keys[i];
        }
    }
    return NULL;
}

/* Sets one setting of t from v; false if v has the wrong type or range. */
static bool tune_set(struct sim_tune *t, const struct tune_key *k,
                     const json_t *v)
{
    char *base = (char *)t + k->offset;

    if (k->is_bool) {
        if (!json_is_boolean(v)) {
            return false;
        }
        *(bool *)(void *)base = json_is_true(v);
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < k->min ||
        json_integer_value(v) > k->max) {
        return false;
    }
    *(int64_t *)(void *)base = json_integer_value(v);
    return true;
}

enum hw_rc sim_tune_update(struct sim_tune *t, json_t *j, char *errstr,
                           size_t errstr_size)
{
    struct sim_tune next = *t;
    const char *key;
    json_t *v;

    if (!json_is_object(j)) {
        snprintf(errstr, errstr_size, "expected a JSON object");
        return HW_ERR_INVALID;
    }
    json_object_foreach(j, key, v)
    {
        const struct tune_key *k = tune_key(key);

        if (k == NULL) {
            snprintf(errstr, errstr_size, "unknown setting %s", key);
            return HW_ERR_INVALID;
        }
        if (!tune_set(&next, k, v)) {
            snprintf(errstr, errstr_size,
                     k->is_bool ? "%s: expected true or false"
                                : "%s: expected an integer in [%lld, %lld]",
                     key, k->min, k->max);
            return HW_ERR_INVALID;
        }
    }
    *t = next;
    return HW_OK;
}

json_t *sim_tune_to_json(const struct sim_tune *t)
{
    return json_pack(
        "{s:I, s:I, s:b, s:I}", "time_scale", (json_int_t)t->time_scale,
        "clock_offset_s", (json_int_t)t->clock_offset_s, "strict", t->strict,
        "hls_running_after_ms", (json_int_t)t->hls_running_after_ms);
}

/* A run-time setting given as a flag ("--strict" takes no value). */
static bool tune_flag(struct sim_conf *cf, const char *name, const char *arg)
{
    const struct tune_key *k = tune_key(name);
    char flag[64];
    long long v = 1;
    json_t *j;
    bool ok;

    snprintf(flag, sizeof(flag), "--%s", name);
    for (char *p = flag; *p != '\0'; p++) {
        *p = *p == '_' ? '-' : *p;
    }
    if (!k->is_bool && !parse_ll(flag, arg, k->min, k->max, &v)) {
        return false;
    }
    j = k->is_bool ? json_true() : json_integer(v);
    ok = tune_set(&cf->tune, k, j);
    json_decref(j);
    return ok;
}

enum opt_id {
    OPT_LISTEN = 256,
    OPT_PORT_FILE,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_TEMPLATES,
    OPT_ACCESS_KEY,
    OPT_THREADS,
    OPT_LEEWAY,
    OPT_LOG_SIZE,
    OPT_HLS_RUNNING,
    OPT_HLS_SESSION,
    OPT_STRICT,
    OPT_TIME_SCALE,
    OPT_CLOCK_OFFSET,
    OPT_SEED,
    OPT_FAULT,
    OPT_FAULTS_FILE,
    OPT_WEBHOOK_URL,
    OPT_WEBHOOK_HEADER,
    OPT_WEBHOOK_FAULT,
    OPT_HELP
};

static const struct option options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"port-file", required_argument, NULL, OPT_PORT_FILE},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"templates", required_argument, NULL, OPT_TEMPLATES},
    {"access-key", required_argument, NULL, OPT_ACCESS_KEY},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"leeway-s", required_argument, NULL, OPT_LEEWAY},
    {"log-size", required_argument, NULL, OPT_LOG_SIZE},
    {"hls-running-after-ms", required_argument, NULL, OPT_HLS_RUNNING},
    {"hls-needs-session", no_argument, NULL, OPT_HLS_SESSION},
    {"strict", no_argument, NULL, OPT_STRICT},
    {"time-scale", required_argument, NULL, OPT_TIME_SCALE},
    {"clock-offset-s", required_argument, NULL, OPT_CLOCK_OFFSET},
    {"seed", required_argument, NULL, OPT_SEED},
    {"fault", required_argument, NULL, OPT_FAULT},
    {"faults-file", required_argument, NULL, OPT_FAULTS_FILE},
    {"webhook-url", required_argument, NULL, OPT_WEBHOOK_URL},
    {"webhook-header", required_argument, NULL, OPT_WEBHOOK_HEADER},
    {"webhook-fault", required_argument, NULL, OPT_WEBHOOK_FAULT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* --webhook-url, --webhook-header, --webhook-fault (sim_whconf.h). The
 * error names the header, never its value. */
static bool apply_webhook_option(struct sim_conf *cf, int id, const char *arg)
{
    char errstr[ERRLEN];
    enum hw_rc rc =
        id == OPT_WEBHOOK_URL
            ? sim_wh_conf_set_url(&cf->webhook, arg, errstr, sizeof(errstr))
        : id == OPT_WEBHOOK_HEADER
            ? sim_wh_conf_add_header(&cf->webhook, arg, errstr, sizeof(errstr))
            : sim_wh_conf_set_fault(&cf->webhook, arg, errstr, sizeof(errstr));

    if (rc != HW_OK) {
        log_error("msg=\"invalid option\" err=\"%s\"", errstr);
        return false;
    }
    return true;
}

/* A string option given again replaces the earlier one. */
static bool set_str(char **field, const char *arg)
{
    free(*field);
    *field = xstrdup(arg);
    return true;
}

/* Applies one option; false (after logging) when it is invalid. */
static bool apply_option(struct sim_conf *cf, int id, const char *arg,
                         struct fault_rule *start_rule, bool *has_rule)
{
    char errstr[ERRLEN];
    long long v = 0;
    bool ok = true;

    switch (id) {
    case OPT_LISTEN:
        return parse_listen(cf, arg);
    case OPT_PORT_FILE:
        return set_str(&cf->port_file, arg);
    case OPT_TLS_CERT:
        return set_str(&cf->tls_cert, arg);
    case OPT_TLS_KEY:
        return set_str(&cf->tls_key, arg);
    case OPT_ACCESS_KEY:
        return set_str(&cf->access_key, arg);
    case OPT_THREADS:
        ok = parse_ll("--threads", arg, 1, 64, &v);
        cf->threads = (int)v;
        return ok;
    case OPT_LEEWAY:
        ok = parse_ll("--leeway-s", arg, 0, 86400, &v);
        cf->leeway_s = v;
        return ok;
    case OPT_LOG_SIZE:
        ok = parse_ll("--log-size", arg, 16, 10000000, &v);
        cf->log_size = v;
        return ok;
    case OPT_HLS_RUNNING:
        return tune_flag(cf, "hls_running_after_ms", arg);
    case OPT_STRICT:
        return tune_flag(cf, "strict", arg);
    case OPT_TIME_SCALE:
        return tune_flag(cf, "time_scale", arg);
    case OPT_CLOCK_OFFSET:
        return tune_flag(cf, "clock_offset_s", arg);
    case OPT_HLS_SESSION:
        cf->hls_needs_session = true;
        return true;
    case OPT_SEED:
        ok = parse_ll("--seed", arg, 0, INT64_MAX, &v);
        cf->seed = (uint64_t)v;
        return ok;
    case OPT_FAULT:
        *has_rule = true;
        if (fault_rule_set_kv(start_rule, arg, errstr, sizeof(errstr)) !=
            HW_OK) {
            log_error("msg=\"invalid option\" option=--fault err=\"%s\"",
                      errstr);
            return false;
        }
        return true;
    case OPT_FAULTS_FILE:
        return load_faults_file(cf, arg);
    case OPT_WEBHOOK_URL:
    case OPT_WEBHOOK_HEADER:
    case OPT_WEBHOOK_FAULT:
        return apply_webhook_option(cf, id, arg);
    default:
        return false;
    }
}

static void set_defaults(struct sim_conf *cf)
{
    cf->host = xstrdup("127.0.0.1");
    cf->threads = 2;
    cf->log_size = 100000;
    cf->tune.hls_running_after_ms = 2000;
    cf->tune.time_scale = 1;
    cf->seed = (uint64_t)hw_now_ms();
    sim_wh_conf_init(&cf->webhook);
}

enum hw_rc sim_conf_load(struct sim_conf *cf, int argc, char **argv)
{
    char errstr[ERRLEN];
    const char *templates = NULL;
    struct fault_rule start_rule;
    bool has_rule = false, ok = true;
    int id;

    set_defaults(cf);
    fault_rule_init(&start_rule);
    optind = 0; /* GNU: re-initialise, so tests may parse several times */
    while ((id = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (id == OPT_HELP) {
            fputs(usage, stdout);
            fault_rule_deinit(&start_rule);
            return HW_ERR_INVALID;
        }
        if (id == OPT_TEMPLATES) {
            templates = optarg;
        } else if (id == '?' ||
                   !apply_option(cf, id, optarg, &start_rule, &has_rule)) {
            ok = false;
        }
    }
    if (optind < argc) {
        log_error("msg=\"unexpected argument\" arg=%s", argv[optind]);
        ok = false;
    }
    ok = load_tls(cf) && ok;
    ok = load_templates(cf, templates) && ok;
    if (has_rule &&
        fault_rule_check(&start_rule, errstr, sizeof(errstr)) != HW_OK) {
        log_error("msg=\"invalid option\" option=--fault err=\"%s\"", errstr);
        ok = false;
    } else if (has_rule) {
        fault_set_add(&cf->faults, &start_rule);
    }
    fault_rule_deinit(&start_rule);
    if (cf->faults.rng == 0) {
        cf->faults.rng = cf->seed | 1; /* a faults file may seed it */
    }
    if (cf->access_key == NULL && getenv("HMS_ACCESS_KEY") != NULL &&
        getenv("HMS_ACCESS_KEY")[0] != '\0') {
        cf->access_key = xstrdup(getenv("HMS_ACCESS_KEY"));
    }
    if (secret_load_env(&cf->secret, "HMS_APP_SECRET", "HMS_APP_SECRET_FILE",
                        errstr, sizeof(errstr)) != HW_OK) {
        log_error("msg=\"invalid secret\" err=\"%s\"", errstr);
        ok = false;
    }
    return ok ? HW_OK : HW_ERR_CONFIG;
}

void sim_conf_deinit(struct sim_conf *cf)
{
    templates_free(cf);
    fault_set_deinit(&cf->faults);
    sim_wh_conf_deinit(&cf->webhook);
    secret_wipe(&cf->secret);
    free(cf->host);
    free(cf->port_file);
    free(cf->tls_cert);
    free(cf->tls_key);
    free(cf->tls_cert_pem);
    if (cf->tls_key_pem != NULL) {
        OPENSSL_cleanse(cf->tls_key_pem, strlen(cf->tls_key_pem));
        free(cf->tls_key_pem);
    }
    free(cf->access_key);
    memset(cf, 0, sizeof(*cf));
}
