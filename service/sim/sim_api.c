/* sim_api.c -- routing, authentication, run-time settings and shared
 * helpers of the 100ms API simulator. routes[] maps "METHOD /v2/pattern"
 * onto the handlers of sim_rooms.c, sim_peers.c and sim_live.c
 * (match_path() captures {id} and {role}). sim_api_apply() checks the
 * management token (jwt_verify, then type, version, access_key) and parses
 * the body before it takes a->mu, so handlers run locked but never parse.
 * HTTP pool threads, and the ticker thread (sim_api_tick(), under a->mu
 * like a request). /__sim/config splits its body: the webhook members go
 * to the delivery (sim_webhook_conf_update()), the rest to
 * sim_tune_update(); the tune part is checked first and applied last, so
 * a bad value anywhere changes nothing. */
#define LOGMOD "sim_api"
#include "sim_api_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt.h"
#include "sim_webhook.h"

struct route {
    const char *method;
    const char *pattern; /* segments; {id} and {role} capture */
    sim_handler_fn *fn;
    const char *name; /* "METHOD pattern", for stats and faults */
};

#define ROUTE(m, p, f)                                                         \
    {                                                                          \
        m, p, f, m " " p                                                       \
    }

static const struct route routes[] = {
    ROUTE("POST", "/v2/rooms", sim_h_room_create),
    ROUTE("GET", "/v2/rooms", sim_h_room_list),
    ROUTE("GET", "/v2/rooms/{id}", sim_h_room_get),
    ROUTE("POST", "/v2/rooms/{id}", sim_h_room_update),
    ROUTE("POST", "/v2/room-codes/room/{id}", sim_h_codes_create),
    ROUTE("POST", "/v2/room-codes/room/{id}/role/{role}",
          sim_h_code_create_role),
    ROUTE("GET", "/v2/room-codes/room/{id}", sim_h_codes_list),
    ROUTE("POST", "/v2/room-codes/code", sim_h_code_update),
    ROUTE("GET", "/v2/active-rooms/{id}", sim_h_active_get),
    ROUTE("POST", "/v2/active-rooms/{id}/end-room", sim_h_end_room),
    ROUTE("POST", "/v2/live-streams/room/{id}/start", sim_h_hls_start),
    ROUTE("POST", "/v2/live-streams/room/{id}/stop", sim_h_hls_stop),
    ROUTE("GET", "/v2/live-streams", sim_h_hls_list),
    ROUTE("GET", "/v2/live-streams/{id}", sim_h_hls_get),
    ROUTE("GET", "/v2/sessions", sim_h_sessions_list),
};

static void state_init(struct sim_api *a)
{
    a->rooms = json_object();
    a->names = json_object();
    a->order = json_array();
    a->codes = json_object();
    a->room_codes = json_object();
    a->sessions = json_object();
    a->streams = json_object();
    a->stream_rooms = json_object();
    a->peer_rooms = json_object();
    a->alone_since = json_object();
}

static void state_free(struct sim_api *a)
{
    json_decref(a->rooms);
    json_decref(a->names);
    json_decref(a->order);
    json_decref(a->codes);
    json_decref(a->room_codes);
    json_decref(a->sessions);
    json_decref(a->streams);
    json_decref(a->stream_rooms);
    json_decref(a->peer_rooms);
    json_decref(a->alone_since);
}

struct sim_api *sim_api_create(const struct sim_conf *cf)
{
    struct sim_api *a = xcalloc(1, sizeof(*a));
    pthread_condattr_t ca;

    a->cf = cf;
    a->tune = cf->tune;
    a->rng = cf->seed * 0x9e3779b97f4a7c15ULL + 1;
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->tick_cv, &ca);
    pthread_condattr_destroy(&ca);
    state_init(a);
    return a;
}

void sim_api_destroy(struct sim_api *a)
{
    if (a == NULL) {
        return;
    }
    sim_api_stop_ticker(a);
    pthread_cond_destroy(&a->tick_cv);
    state_free(a);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

void sim_api_set_webhooks(struct sim_api *a, struct sim_webhook *wh)
{
    pthread_mutex_lock(&a->mu);
    a->wh = wh;
    pthread_mutex_unlock(&a->mu);
}

void sim_api_tick(struct sim_api *a, int64_t now_ms)
{
    pthread_mutex_lock(&a->mu);
    sim_streams_advance_all(a, now_ms);
    pthread_mutex_unlock(&a->mu);
}

static void *ticker_main(void *arg)
{
    struct sim_api *a = arg;
    struct timespec ts;

    pthread_mutex_lock(&a->mu);
    while (!a->tick_stop) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)(a->tick_ms % 1000) * 1000000L;
        ts.tv_sec += (time_t)(a->tick_ms / 1000 + ts.tv_nsec / 1000000000L);
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&a->tick_cv, &a->mu, &ts);
        if (!a->tick_stop) {
            /* a->mu is held: the clock without sim_api_now_ms() */
            sim_streams_advance_all(a, hw_now_ms() +
                                           a->tune.clock_offset_s * 1000);
        }
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

enum hw_rc sim_api_start_ticker(struct sim_api *a, int64_t interval_ms)
{
    a->tick_ms = interval_ms > 0 ? interval_ms : 100;
    a->tick_stop = false;
    if (pthread_create(&a->ticker, NULL, ticker_main, a) != 0) {
        return HW_ERR_FATAL;
    }
    a->ticking = true;
    return HW_OK;
}

void sim_api_stop_ticker(struct sim_api *a)
{
    if (!a->ticking) {
        return;
    }
    pthread_mutex_lock(&a->mu);
    a->tick_stop = true;
    pthread_cond_signal(&a->tick_cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->ticker, NULL);
    a->ticking = false;
}

void sim_api_reset(struct sim_api *a)
{
    pthread_mutex_lock(&a->mu);
    state_free(a);
    state_init(a);
    pthread_mutex_unlock(&a->mu);
}

/* End of the path segment that starts at s ('/'). */
static const char *seg_end(const char *s)
{
    const char *e = strchr(s + 1, '/');

    return e != NULL ? e : s + strlen(s);
}

/* Matches path against pattern segment by segment, capturing {id} and
 * {role}. Captured segments are non-empty and fit SIM_PARAM_MAX. */
static bool match_path(const char *pattern, const char *path,
                       struct sim_call *call)
{
    while (*pattern != '\0' && *path != '\0') {
        const char *pe = seg_end(pattern);
        const char *se = seg_end(path);
        size_t plen = (size_t)(pe - pattern), slen = (size_t)(se - path);

        if (pattern[1] == '{') {
            char *dst = pattern[2] == 'i' ? call->id : call->role;

            if (*path != '/' || slen < 2 || slen > SIM_PARAM_MAX) {
                return false;
            }
            memcpy(dst, path + 1, slen - 1);
            dst[slen - 1] = '\0';
        } else if (plen != slen || memcmp(pattern, path, plen) != 0) {
            return false;
        }
        pattern = pe;
        path = se;
    }
    return *pattern == '\0' && (*path == '\0' || strcmp(path, "/") == 0);
}

static void copy_name(char *dst, const char *name)
{
    snprintf(dst, SIM_ROOM_NAME_MAX, "%s", name != NULL ? name : "");
}

/* The room a request concerns, for per-room fault patterns and the
 * request log. Names longer than SIM_ROOM_NAME_MAX - 1 are cut. */
static void find_room(struct sim_api *a, const struct sim_req *req,
                      struct sim_call *call)
{
    const struct route *rt = &routes[call->route];
    json_t *body = NULL;

    if (call->id[0] != '\0') {
        const char *room_id =
            rt->fn == sim_h_hls_get
                ? json_string_value(json_object_get(a->stream_rooms, call->id))
                : call->id;

        copy_name(call->room, json_string_value(json_object_get(
                                  sim_room_get(a, room_id), "name")));
        return;
    }
    if (strcmp(rt->method, "POST") != 0 || req->body_len == 0) {
        return;
    }
    body = json_loadb(req->body, req->body_len, 0, NULL);
    if (rt->fn == sim_h_room_create) {
        copy_name(call->room, json_string_value(json_object_get(body, "name")));
    } else if (rt->fn == sim_h_code_update) {
        const char *code = json_string_value(json_object_get(body, "code"));
        json_t *co = code == NULL ? NULL : json_object_get(a->codes, code);

        copy_name(call->room,
                  json_string_value(json_object_get(
                      sim_room_get(
                          a, json_string_value(json_object_get(co, "room_id"))),
                      "name")));
    }
    json_decref(body);
}

void sim_api_route(struct sim_api *a, const struct sim_req *req,
                   struct sim_call *call)
{
    memset(call, 0, sizeof(*call));
    call->route = -1;
    for (size_t i = 0; i < HW_ARRAY_LEN(routes); i++) {
        if (strcmp(routes[i].method, req->method) == 0 &&
            match_path(routes[i].pattern, req->path, call)) {
            call->route = (int)i;
            break;
        }
        call->id[0] = call->role[0] = '\0';
    }
    if (call->route >= 0) {
        pthread_mutex_lock(&a->mu);
        find_room(a, req, call);
        pthread_mutex_unlock(&a->mu);
    }
}

const char *sim_api_route_name(const struct sim_call *call)
{
    return call->route >= 0 ? routes[call->route].name : "unknown";
}

/* 401 unless req carries a valid management token. */
static bool authenticate(struct sim_api *a, const struct sim_req *req,
                         struct sim_resp *r)
{
    char errstr[128];
    json_t *claims = NULL;
    const char *ak;
    const char *why = NULL;

    /* inferred: create-room lists the 401 message "Authentication error";
     * which case gets it is not said (docs/100ms-api.md 7.1 #1) */
    if (req->auth == NULL || strncmp(req->auth, "Bearer ", 7) != 0) {
        sim_resp_error(r, 401, "Authentication error", "missing bearer token");
        return false;
    }
    /* documented: HS256 with the app secret, type "management", version 2,
     * the workspace's access_key, exp (security-and-tokens.mdx; the body of
     * make-api-calls.mdx). inferred: nbf/iat in the future is a 401
     * (100ms-docs#2117), with --leeway-s of tolerance */
    if (jwt_verify(&a->cf->secret, req->auth + 7, req->now_ms / 1000,
                   a->cf->leeway_s, &claims, errstr, sizeof(errstr)) != HW_OK) {
        why = errstr;
    } else if (!json_is_string(json_object_get(claims, "type")) ||
               strcmp(json_string_value(json_object_get(claims, "type")),
                      "management") != 0) {
        why = "token type is not management";
    } else if (json_integer_value(json_object_get(claims, "version")) != 2) {
        why = "version is not 2";
    } else if ((ak = json_string_value(json_object_get(claims, "access_key"))),
               ak == NULL || (a->cf->access_key != NULL &&
                              strcmp(ak, a->cf->access_key) != 0)) {
        why = "unknown access_key";
    }
    json_decref(claims);
    if (why != NULL) {
        sim_resp_error(r, 401, "Token validation error", why);
        return false;
    }
    return true;
}

void sim_api_apply(struct sim_api *a, const struct sim_req *req,
                   const struct sim_call *call, struct sim_resp *resp)
{
    struct sim_ctx c = {req, call, NULL};
    json_error_t jerr;

    memset(resp, 0, sizeof(*resp));
    if (!authenticate(a, req, resp)) {
        return;
    }
    if (call->route < 0) {
        /* inferred: the general status table's 404 for what is not there */
        sim_resp_error(resp, 404, "Not found", req->path);
        return;
    }
    if (strcmp(req->method, "POST") == 0) {
        /* inferred: a body that is not a JSON object is a 400, the status
         * of every documented body error. Duplicate keys: stricter than
         * documented (without strict, the last one wins) */
        c.body =
            req->body_len == 0
                ? json_object()
                : json_loadb(req->body, req->body_len,
                             sim_api_strict(a) ? JSON_REJECT_DUPLICATES : 0,
                             &jerr);
        if (!json_is_object(c.body)) {
            sim_resp_error(resp, 400, "Invalid request body",
                           c.body == NULL ? jerr.text
                                          : "body is not a JSON object");
            json_decref(c.body);
            return;
        }
    }
    pthread_mutex_lock(&a->mu);
    routes[call->route].fn(a, &c, resp);
    pthread_mutex_unlock(&a->mu);
    json_decref(c.body);
}

void sim_reply(struct sim_resp *r, int status, json_t *body)
{
    r->status = status;
    r->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (r->body == NULL) {
        abort(); /* jansson only fails here on OOM */
    }
}

void sim_resp_error(struct sim_resp *r, int status, const char *msg,
                    const char *detail)
{
    json_t *o = json_pack("{s:i, s:s}", "code", status, "message", msg);

    if (detail != NULL) {
        json_object_set_new(o, "details", json_pack("[s]", detail));
    }
    free(r->body);
    sim_reply(r, status, o);
}

json_t *sim_time(int64_t ms, int digits)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    char buf[64];
    size_t n;

    gmtime_r(&s, &tm);
    n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    if (digits == 3) {
        snprintf(buf + n, sizeof(buf) - n, ".%03dZ", (int)(ms % 1000));
    } else if (digits == 9) {
        snprintf(buf + n, sizeof(buf) - n, ".%03d000000Z", (int)(ms % 1000));
    } else {
        snprintf(buf + n, sizeof(buf) - n, "Z");
    }
    return json_string(buf);
}

uint64_t sim_rand(struct sim_api *a)
{
    uint64_t z = (a->rng += 0x9e3779b97f4a7c15ULL); /* splitmix64 */

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sim_new_id(struct sim_api *a, char out[25])
{
    uint64_t hi = sim_rand(a), lo = sim_rand(a);

    snprintf(out, 25, "%08x%016llx", (unsigned)(hi & 0xffffffffu),
             (unsigned long long)lo);
}

void sim_new_uuid(struct sim_api *a, char out[37])
{
    uint64_t hi = sim_rand(a), lo = sim_rand(a);

    snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(hi >> 32),
             (unsigned)(hi >> 16) & 0xffffu, (unsigned)hi & 0xfffu,
             (unsigned)(0x8000 | (lo >> 48 & 0x3fff)),
             (unsigned long long)(lo & 0xffffffffffffULL));
}

int64_t sim_scaled_ms(const struct sim_api *a, int64_t seconds)
{
    return hw_sat_mul(seconds, 1000) / a->tune.time_scale;
}

json_t *sim_list_of(json_t *map, const char *key)
{
    json_t *list = json_object_get(map, key);

    if (list == NULL) {
        list = json_array();
        json_object_set_new(map, key, list);
    }
    return list;
}

int64_t sim_api_now_ms(struct sim_api *a)
{
    int64_t offset_s;

    pthread_mutex_lock(&a->mu);
    offset_s = a->tune.clock_offset_s;
    pthread_mutex_unlock(&a->mu);
    return hw_now_ms() + offset_s * 1000;
}

bool sim_api_strict(struct sim_api *a)
{
    bool strict;

    pthread_mutex_lock(&a->mu);
    strict = a->tune.strict;
    pthread_mutex_unlock(&a->mu);
    return strict;
}

/* The settings now in force (a->mu held). */
static json_t *config_json(struct sim_api *a)
{
    json_t *j = sim_tune_to_json(&a->tune);

    if (a->wh != NULL) {
        json_object_update_new(j, sim_webhook_conf_json(a->wh));
    }
    return j;
}

/* body without the webhook members, when a delivery takes them. */
static json_t *tune_part(struct sim_api *a, json_t *body)
{
    json_t *part = json_copy(body);
    const char *key;
    json_t *v;

    json_object_foreach(body, key, v)
    {
        if (a->wh != NULL && sim_wh_conf_key(key)) {
            json_object_del(part, key);
        }
    }
    return part;
}

void sim_api_config(struct sim_api *a, json_t *body, int64_t now_ms,
                    struct sim_resp *resp)
{
    struct sim_tune next;
    char errstr[160];
    json_t *part = NULL;

    memset(resp, 0, sizeof(*resp));
    pthread_mutex_lock(&a->mu);
    next = a->tune;
    if (body != NULL) {
        part = tune_part(a, body);
    }
    if (body != NULL &&
        (sim_tune_update(&next, part, errstr, sizeof(errstr)) != HW_OK ||
         (a->wh != NULL && sim_webhook_conf_update(a->wh, body, errstr,
                                                   sizeof(errstr)) != HW_OK))) {
        sim_resp_error(resp, 400, "Invalid config", errstr);
    } else {
        /* streams settle under the settings they ran with so far */
        sim_streams_advance_all(a, now_ms);
        a->tune = next;
        sim_reply(resp, 200, config_json(a));
    }
    pthread_mutex_unlock(&a->mu);
    json_decref(part);
}

void sim_api_config_reset(struct sim_api *a, int64_t now_ms)
{
    pthread_mutex_lock(&a->mu);
    sim_streams_advance_all(a, now_ms);
    a->tune = a->cf->tune;
    if (a->wh != NULL) {
        sim_webhook_conf_reset(a->wh);
    }
    pthread_mutex_unlock(&a->mu);
}

const char *sim_query(const struct sim_ctx *c, const char *key)
{
    return json_string_value(json_object_get(c->req->query, key));
}

bool sim_query_bool(const struct sim_ctx *c, const char *key, bool def,
                    bool *ok)
{
    const char *v = sim_query(c, key);

    if (v == NULL) {
        return def;
    }
    if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
        *ok = false;
    }
    return strcmp(v, "true") == 0;
}

/* documented: limit 10-100, default 10; start = the previous page's last;
 * "last": "" on the final page (docs/100ms-api.md section 2.0) */
json_t *sim_page(const struct sim_ctx *c, json_t *items, const char *key)
{
    const char *ls = sim_query(c, "limit"), *start = sim_query(c, "start");
    long limit = ls == NULL ? 10 : strtol(ls, NULL, 10);
    size_t first = 0, i;
    json_t *data = json_array(), *it;
    const char *last = "";

    limit = limit < 10 ? 10 : limit > 100 ? 100 : limit;
    json_array_foreach(items, i, it)
    {
        if (start != NULL &&
            strcmp(json_string_value(json_object_get(it, key)), start) == 0) {
            first = i + 1; /* start is the previous page's "last" */
        }
    }
    for (i = first; i < json_array_size(items); i++) {
        if (json_array_size(data) == (size_t)limit) {
            last = json_string_value(
                json_object_get(json_array_get(data, (size_t)limit - 1), key));
            break;
        }
        json_array_append(data, json_array_get(items, i));
    }
    it = json_pack("{s:i, s:o, s:s}", "limit", (int)limit, "data", data, "last",
                   last);
    json_decref(items);
    return it;
}

json_t *sim_room_get(struct sim_api *a, const char *id)
{
    return id == NULL ? NULL : json_object_get(a->rooms, id);
}

const struct sim_template *sim_room_template(struct sim_api *a,
                                             const json_t *room)
{
    return sim_conf_template(
        a->cf, json_string_value(json_object_get(room, "template_id")));
}

bool sim_room_enabled(const json_t *room)
{
    return json_is_true(json_object_get(room, "enabled"));
}

json_t *sim_active_session(struct sim_api *a, const char *room_id)
{
    json_t *list = json_object_get(a->sessions, room_id);
    json_t *last = json_array_get(list, json_array_size(list) - 1);

    return json_is_true(json_object_get(last, "active")) ? last : NULL;
}

bool sim_only_keys(json_t *o, const char *const *keys, const char **bad)
{
    const char *k;
    json_t *v;

    json_object_foreach(o, k, v)
    {
        size_t i = 0;

        while (keys[i] != NULL && strcmp(keys[i], k) != 0) {
            i++;
        }
        if (keys[i] == NULL) {
            *bad = k;
            return false;
        }
    }
    return true;
}
