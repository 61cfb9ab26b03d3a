/* sim_admin.c -- faults, stats and the request log of hms-sim: the fault
 * set (sim_http asks sim_admin_decide() per request), stats as jansson
 * objects (route -> status -> count), and the log, a ring of log_size
 * entries at seq % cap, so ?since=SEQ starts without a scan. adm->mu guards
 * all three and is taken before the API's mutex (reset, config and the
 * session, join and leave hooks) and the webhook delivery's, never after.
 * A reset's parts reach the webhooks too: state forgets queued and past
 * events, stats the attempt log, config the webhook settings. Runs on the
 * HTTP pool threads. */
#define LOGMOD "sim_admin"
#include "sim_admin.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define BODY_LOG_MAX 1024
#define REQUESTS_PAGE_MAX 100000

struct entry {
    int64_t seq, ts_ms, delay_ms;
    int status;
    const char *route, *fault; /* static strings */
    char method[8];
    char *path, *room, *body;
};

struct sim_admin {
    struct sim_api *api;
    struct sim_webhook *wh; /* NULL: no webhooks */
    pthread_mutex_t mu;
    struct fault_set faults;
    json_t *stats;    /* route -> {status -> count} */
    json_t *by_fault; /* fault kind -> count */
    int64_t total;
    size_t suspended_peak;
    int64_t connections; /* accepted since the last stats reset */
    struct entry *ring;
    size_t cap;
    int64_t seq; /* sequence number of the next entry, from 1 */
};

const char *sim_fault_kind_str(enum fault_kind kind)
{
    switch (kind) {
    case FAULT_NONE:
        return "none";
    case FAULT_STATUS:
        return "status";
    case FAULT_DROP:
        return "drop";
    case FAULT_DROP_AFTER:
        return "drop_after";
    case FAULT_HANG:
        return "hang";
    }
    return "?";
}

struct sim_admin *sim_admin_create(struct sim_conf *cf, struct sim_api *api,
                                   struct sim_webhook *wh)
{
    struct sim_admin *adm = xcalloc(1, sizeof(*adm));

    adm->api = api;
    adm->wh = wh;
    pthread_mutex_init(&adm->mu, NULL);
    adm->faults = cf->faults;
    memset(&cf->faults, 0, sizeof(cf->faults)); /* ours now */
    adm->stats = json_object();
    adm->by_fault = json_object();
    adm->cap = (size_t)cf->log_size;
    adm->ring = xcalloc(adm->cap, sizeof(*adm->ring));
    adm->seq = 1;
    return adm;
}

static void entry_clear(struct entry *e)
{
    free(e->path);
    free(e->room);
    free(e->body);
    memset(e, 0, sizeof(*e));
}

static void clear_log(struct sim_admin *adm)
{
    for (size_t i = 0; i < adm->cap; i++) {
        entry_clear(&adm->ring[i]);
    }
}

void sim_admin_destroy(struct sim_admin *adm)
{
    if (adm == NULL) {
        return;
    }
    clear_log(adm);
    free(adm->ring);
    json_decref(adm->stats);
    json_decref(adm->by_fault);
    fault_set_deinit(&adm->faults);
    pthread_mutex_destroy(&adm->mu);
    free(adm);
}

bool sim_admin_owns(const char *path)
{
    return strncmp(path, "/__sim/", 7) == 0;
}

void sim_admin_decide(struct sim_admin *adm, const struct sim_call *call,
                      struct fault_action *fa)
{
    pthread_mutex_lock(&adm->mu);
    fault_decide(&adm->faults, sim_api_route_name(call),
                 call->room[0] != '\0' ? call->room : NULL, fa);
    pthread_mutex_unlock(&adm->mu);
}

void sim_admin_set_suspended_peak(struct sim_admin *adm, size_t peak)
{
    pthread_mutex_lock(&adm->mu);
    adm->suspended_peak = peak;
    pthread_mutex_unlock(&adm->mu);
}

void sim_admin_count_connection(struct sim_admin *adm)
{
    pthread_mutex_lock(&adm->mu);
    adm->connections++;
    pthread_mutex_unlock(&adm->mu);
}

static void bump(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL) {
        json_object_set_new(obj, key, json_integer(1));
    } else {
        json_integer_set(v, json_integer_value(v) + 1);
    }
}

void sim_admin_record(struct sim_admin *adm, const struct sim_req *req,
                      const struct sim_call *call, int status,
                      const char *fault, int64_t delay_ms)
{
    const char *route = sim_api_route_name(call);
    char code[16];
    json_t *per_route;
    struct entry *e;

    snprintf(code, sizeof(code), "%d", status);
    pthread_mutex_lock(&adm->mu);
    per_route = json_object_get(adm->stats, route);
    if (per_route == NULL) {
        per_route = json_object();
        json_object_set_new(adm->stats, route, per_route);
    }
    bump(per_route, code);
    bump(adm->by_fault, fault);
    adm->total++;
    e = &adm->ring[(size_t)adm->seq % adm->cap];
    entry_clear(e);
    *e = (struct entry){adm->seq++, req->now_ms, delay_ms, status, route,
                        fault,      "",          NULL,     NULL,   NULL};
    snprintf(e->method, sizeof(e->method), "%s", req->method);
    e->path = xstrdup(req->path);
    e->room = call->room[0] != '\0' ? xstrdup(call->room) : NULL;
    if (req->body_len > 0) {
        e->body = xasprintf(
            "%.*s",
            (int)(req->body_len < BODY_LOG_MAX ? req->body_len : BODY_LOG_MAX),
            req->body);
    }
    pthread_mutex_unlock(&adm->mu);
}

static json_t *entry_json(const struct entry *e)
{
    json_t *body = e->body == NULL ? json_null() : json_loads(e->body, 0, NULL);

    if (body == NULL) {
        body = json_string(e->body); /* not JSON, or cut at 1 KiB */
    }
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s?, s:i, s:s, s:I, s:o}",
                     "seq", (json_int_t)e->seq, "ts_ms", (json_int_t)e->ts_ms,
                     "method", e->method, "path", e->path, "route", e->route,
                     "room", e->room, "status", e->status, "fault", e->fault,
                     "delay_ms", (json_int_t)e->delay_ms, "body",
                     body != NULL ? body : json_null());
}

static int64_t query_int(const struct sim_req *req, const char *key,
                         int64_t def)
{
    const char *v = json_string_value(json_object_get(req->query, key));

    return v == NULL ? def : strtoll(v, NULL, 10);
}

/* GET /__sim/requests?since=SEQ&limit=N: entries with seq > since. */
static json_t *requests(struct sim_admin *adm, const struct sim_req *req)
{
    int64_t since = query_int(req, "since", 0);
    int64_t limit = query_int(req, "limit", 10000);
    int64_t oldest = adm->seq - (int64_t)adm->cap;
    int64_t first = since + 1 > oldest ? since + 1 : oldest;
    json_t *data = json_array();
    int64_t s;

    limit = limit < 1                   ? 1
            : limit > REQUESTS_PAGE_MAX ? REQUESTS_PAGE_MAX
                                        : limit;
    for (s = first < 1 ? 1 : first; s < adm->seq && limit-- > 0; s++) {
        const struct entry *e = &adm->ring[(size_t)s % adm->cap];

        if (e->path != NULL) {
            json_array_append_new(data, entry_json(e));
        }
    }
    return json_pack("{s:I, s:b, s:o}", "next", (json_int_t)(s - 1),
                     "truncated", since + 1 < oldest, "data", data);
}

static void reset(struct sim_admin *adm, const json_t *body, int64_t now_ms)
{
    const json_t *v;

    if ((v = json_object_get(body, "config")) == NULL || json_is_true(v)) {
        sim_api_config_reset(adm->api, now_ms);
    }
    if ((v = json_object_get(body, "state")) == NULL || json_is_true(v)) {
        sim_api_reset(adm->api);
        if (adm->wh != NULL) {
            sim_webhook_clear(adm->wh, true, false);
        }
    }
    if ((v = json_object_get(body, "faults")) == NULL || json_is_true(v)) {
        uint64_t rng = adm->faults.rng;

        fault_set_deinit(&adm->faults);
        adm->faults.rng = rng;
    }
    if ((v = json_object_get(body, "stats")) == NULL || json_is_true(v)) {
        json_object_clear(adm->stats);
        json_object_clear(adm->by_fault);
        adm->total = 0;
        adm->connections = 0;
        clear_log(adm);
        adm->seq = 1; /* the log starts over: since=0 means all of it */
        if (adm->wh != NULL) {
            sim_webhook_clear(adm->wh, false, true);
        }
    }
}

/* The {id} of /__sim/rooms/{id}/session, copied into buf; else NULL. */
static const char *session_room(const char *path, char *buf, size_t size)
{
    static const char prefix[] = "/__sim/rooms/", suffix[] = "/session";
    size_t n = strlen(path), id_len;

    if (n <= strlen(prefix) + strlen(suffix) ||
        strncmp(path, prefix, strlen(prefix)) != 0 ||
        strcmp(path + n - strlen(suffix), suffix) != 0) {
        return NULL;
    }
    id_len = n - strlen(prefix) - strlen(suffix);
    if (id_len >= size || memchr(path + strlen(prefix), '/', id_len) != NULL) {
        return NULL;
    }
    memcpy(buf, path + strlen(prefix), id_len);
    buf[id_len] = '\0';
    return buf;
}

/* Serves one /__sim/ request with adm->mu held. */
static void handle_locked(struct sim_admin *adm, const struct sim_req *req,
                          json_t *body, struct sim_resp *r)
{
    bool post = strcmp(req->method, "POST") == 0;
    char errstr[256], room_buf[SIM_PARAM_MAX];
    const char *room = session_room(req->path, room_buf, sizeof(room_buf));

    if (strcmp(req->path, "/__sim/health") == 0) {
        sim_reply(r, 200, json_pack("{s:s}", "status", "ok"));
    } else if (strcmp(req->path, "/__sim/stats") == 0) {
        sim_reply(r, 200,
                  json_pack("{s:I, s:I, s:I, s:O, s:O}", "total",
                            (json_int_t)adm->total, "suspended_peak",
                            (json_int_t)adm->suspended_peak, "connections",
                            (json_int_t)adm->connections, "routes", adm->stats,
                            "faults", adm->by_fault));
    } else if (strcmp(req->path, "/__sim/requests") == 0) {
        sim_reply(r, 200, requests(adm, req));
    } else if (strcmp(req->path, "/__sim/faults") == 0 && !post) {
        sim_reply(r, 200, fault_set_to_json(&adm->faults));
    } else if (strcmp(req->path, "/__sim/faults") == 0) {
        if (fault_set_from_json(&adm->faults, body, errstr, sizeof(errstr)) !=
            HW_OK) {
            sim_resp_error(r, 400, "Invalid faults", errstr);
        } else {
            log_info("msg=\"faults replaced\" rules=%zu", adm->faults.n);
            sim_reply(r, 200, fault_set_to_json(&adm->faults));
        }
    } else if (strcmp(req->path, "/__sim/reset") == 0 && post) {
        reset(adm, body, req->now_ms);
        sim_reply(r, 200, json_pack("{s:s}", "status", "reset"));
    } else if (strcmp(req->path, "/__sim/config") == 0) {
        sim_api_config(adm->api, post ? body : NULL, req->now_ms, r);
    } else if (strcmp(req->path, "/__sim/join") == 0 && post) {
        sim_api_join(adm->api, body, req->now_ms, r);
    } else if (strcmp(req->path, "/__sim/leave") == 0 && post) {
        sim_api_leave(adm->api, body, req->now_ms, r);
    } else if (strcmp(req->path, "/__sim/webhooks") == 0 && !post &&
               adm->wh != NULL) {
        sim_reply(r, 200,
                  sim_webhook_log_json(adm->wh, query_int(req, "since", 0),
                                       query_int(req, "limit", 10000)));
    } else if (strcmp(req->path, "/__sim/webhooks/replay") == 0 && post &&
               adm->wh != NULL) {
        int status = 400;
        json_t *out = sim_webhook_replay(adm->wh, body, &status);

        sim_reply(r, status, out);
    } else if (post && room != NULL) {
        sim_api_open_session(adm->api, room, json_object_get(body, "peers"),
                             req->now_ms, r);
    } else {
        sim_resp_error(r, 404, "Not found", req->path);
    }
}

void sim_admin_handle(struct sim_admin *adm, const struct sim_req *req,
                      struct sim_resp *resp)
{
    json_error_t jerr;
    json_t *body = NULL;

    memset(resp, 0, sizeof(*resp));
    if (req->body_len > 0) {
        body =
            json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(body)) {
            json_decref(body);
            sim_resp_error(resp, 400, "Invalid request body",
                           "expected a "
                           "JSON object");
            return;
        }
    }
    pthread_mutex_lock(&adm->mu);
    handle_locked(adm, req, body, resp);
    pthread_mutex_unlock(&adm->mu);
    json_decref(body);
}
