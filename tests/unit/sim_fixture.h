/* sim_fixture.h -- the simulator under the hms-sim unit tests
 * (test_sim_api.c, test_sim_live.c): three templates, a management token,
 * app tokens, and requests served straight through sim_api_route() and
 * sim_api_apply(), no HTTP. The clock is whatever now_ms a test passes.
 * Functions are static inline, so a test that uses only some of them
 * builds without warnings. */
#ifndef SIM_FIXTURE_H
#define SIM_FIXTURE_H

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"
#include "sim_api.h"
#include "testhelp.h"

#define NOW_MS 1800000000000LL /* 2027-01-15T08:00:00Z */
#define NOW_S (NOW_MS / 1000)

static struct sim_conf cf;
static struct sim_api *api;
static char *mgmt; /* "Bearer <valid management token>" */
static int status; /* of the last reply */

/* Parses resp (every reply is strict JSON), frees its body. */
static inline json_t *fx_parse(struct sim_resp *resp)
{
    json_t *out = json_loads(resp->body, 0, NULL);

    CHECK(out != NULL);
    status = resp->status;
    free(resp->body);
    return out;
}

/* Serves one request; returns the parsed JSON reply (caller decrefs). */
static inline json_t *req_full(const char *auth, int64_t now_ms,
                               const char *method, const char *path,
                               const char *query, const char *body)
{
    json_t *q = query != NULL ? json_loads(query, 0, NULL) : NULL;
    struct sim_req rq = {method,
                         path,
                         q,
                         auth,
                         body != NULL ? body : "",
                         body != NULL ? strlen(body) : 0,
                         now_ms};
    struct sim_call call;
    struct sim_resp resp;
    json_t *out;

    sim_api_route(api, &rq, &call);
    sim_api_apply(api, &rq, &call, &resp);
    out = fx_parse(&resp);
    json_decref(q);
    return out;
}

static inline json_t *req_at(int64_t now_ms, const char *method,
                             const char *path, const char *query,
                             const char *body)
{
    return req_full(mgmt, now_ms, method, path, query, body);
}

static inline json_t *req(const char *method, const char *path,
                          const char *query, const char *body)
{
    return req_full(mgmt, NOW_MS, method, path, query, body);
}

/* req() that only keeps the status. */
static inline int st(const char *method, const char *path, const char *query,
                     const char *body)
{
    json_decref(req(method, path, query, body));
    return status;
}

static inline const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

/* printf into one of 8 rotating buffers. */
static inline char *path(const char *fmt, ...) HW_PRINTF(1, 2);
static inline char *path(const char *fmt, ...)
{
    static char buf[8][512];
    static int i;
    va_list ap;

    i = (i + 1) % 8;
    va_start(ap, fmt);
    vsnprintf(buf[i], sizeof(buf[i]), fmt, ap);
    va_end(ap);
    return buf[i];
}

/* A signed token of the given claims (caller frees). */
static inline char *fx_sign(json_t *claims)
{
    char *tok = NULL, *out;

    CHECK(jwt_sign(&cf.secret, claims, &tok) == HW_OK);
    out = xstrdup(tok != NULL ? tok : "");
    jwt_token_free(tok);
    json_decref(claims);
    return out;
}

/* "Bearer <token>" of a token of type, issued at now - 60 (caller frees). */
static inline char *bearer(const char *type, const char *ak, int64_t now,
                           int64_t ttl)
{
    char *tok = fx_sign(json_pack(
        "{s:s, s:s, s:i, s:I, s:I, s:I, s:s}", "access_key", ak, "type", type,
        "version", 2, "iat", (json_int_t)(now - 60), "nbf",
        (json_int_t)(now - 60), "exp", (json_int_t)(now + ttl), "jti", "x"));
    char *out = xasprintf("Bearer %s", tok);

    free(tok);
    return out;
}

/* An app token for room_id and role, issued at now_s - 60, valid an hour;
 * extra's members (may be NULL; stolen) override claims. Caller frees. */
static inline char *app_token(const char *room_id, const char *role,
                              const char *user_id, int64_t now_s, json_t *extra)
{
    json_t *c =
        json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:I, s:I, s:I, s:s}",
                  "access_key", "ak", "type", "app", "version", 2, "room_id",
                  room_id, "role", role, "user_id", user_id, "iat",
                  (json_int_t)(now_s - 60), "nbf", (json_int_t)(now_s - 60),
                  "exp", (json_int_t)(now_s + 3600), "jti", "j");

    if (extra != NULL) {
        json_object_update(c, extra);
        json_decref(extra);
    }
    return fx_sign(c);
}

/* POST /__sim/join {"token", "name"} at now_ms. */
static inline json_t *join_at(int64_t now_ms, const char *token,
                              const char *name)
{
    json_t *body = json_pack("{s:s, s:s}", "token", token, "name", name);
    struct sim_resp resp;

    sim_api_join(api, body, now_ms, &resp);
    json_decref(body);
    return fx_parse(&resp);
}

/* A host of room joins at now_ms with a fresh token: its peer id (a
 * path() buffer), "" if refused. */
static inline const char *join_peer(int64_t now_ms, const char *room,
                                    const char *user)
{
    char *tok = app_token(room, "host", user, now_ms / 1000, NULL);
    json_t *j = join_at(now_ms, tok, user);
    const char *id = path("%s", str(j, "peer_id"));

    json_decref(j);
    free(tok);
    return id;
}

/* POST /__sim/leave {"peer_id"} at now_ms. */
static inline json_t *leave_at(int64_t now_ms, const char *peer_id)
{
    json_t *body = json_pack("{s:s}", "peer_id", peer_id);
    struct sim_resp resp;

    sim_api_leave(api, body, now_ms, &resp);
    json_decref(body);
    return fx_parse(&resp);
}

/* POST /__sim/config with the JSON text body (NULL: read) at now_ms. */
static inline json_t *config_at(int64_t now_ms, const char *body)
{
    json_t *b = body != NULL ? json_loads(body, 0, NULL) : NULL;
    struct sim_resp resp;

    sim_api_config(api, b, now_ms, &resp);
    json_decref(b);
    return fx_parse(&resp);
}

/* Creates room name (template tpl, NULL: the default); returns its id in
 * a static buffer of 8 rotating ones. */
static inline const char *fx_room(const char *name, const char *tpl)
{
    static char ids[8][32];
    static int i;
    json_t *r = req("POST", "/v2/rooms", NULL,
                    tpl != NULL ? path("{\"name\":\"%s\",\"template_id\":"
                                       "\"%s\"}",
                                       name, tpl)
                                : path("{\"name\":\"%s\"}", name));

    CHECK_INT(status, 200);
    i = (i + 1) % 8;
    snprintf(ids[i], sizeof(ids[i]), "%s", str(r, "id"));
    json_decref(r);
    return ids[i];
}

/* t1: subdomain "sub", three roles; t2: no subdomain; t3: subdomain "s3"
 * and streams of at most 600 s. */
static inline void fx_init(void)
{
    static const char tpl[] =
        "{\"customer_id\":\"c1\",\"templates\":["
        "{\"id\":\"t1\",\"name\":\"one\",\"subdomain\":\"sub\","
        "\"roles\":[\"host\",\"guest\",\"viewer\"]},"
        "{\"id\":\"t2\",\"roles\":[\"host\",\"viewer\"]},"
        "{\"id\":\"t3\",\"subdomain\":\"s3\",\"hls_max_duration_s\":600,"
        "\"roles\":[\"host\"]}]}";
    char errstr[256];

    CHECK(sim_conf_parse_templates(&cf, tpl, strlen(tpl), errstr,
                                   sizeof(errstr)) == HW_OK);
    secret_set(&cf.secret, "unit-secret", 11);
    cf.access_key = xstrdup("ak");
    cf.seed = 1;
    cf.tune.hls_running_after_ms = 1000;
    cf.tune.time_scale = 1;
    api = sim_api_create(&cf);
    mgmt = bearer("management", "ak", NOW_S, 86400); /* a day of tests */
}

static inline void fx_deinit(void)
{
    free(mgmt);
    sim_api_destroy(api);
    sim_conf_deinit(&cf);
}

#endif
