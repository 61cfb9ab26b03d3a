/* hms_client.c -- libcurl multi, retries, management token. A call is a
 * struct req: it waits in a FIFO for one of HMS_MAX_IN_FLIGHT slots, runs
 * on an easy handle from a reuse pool (the active list), and waits out its
 * backoff in a min-heap of due retries. req_complete() takes each finished
 * transfer: classify_transfer(), the breaker's counters, then a re-mint
 * and replay, a retry, or the caller's callback (retry_or_deliver(), also
 * for a transfer curl_multi_add_handle refused). The engine's thread. */
#define LOGMOD "hms_client"
#include "hms_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "buf.h"
#include "heap.h"
#include "hms_reply.h"
#include "jwt.h"
#include "log.h"
#include "metrics.h"
#include "retry.h"

struct req {
    struct hms_client *hc;
    char method[8];
    char route[96]; /* for metrics: "POST /room-codes/room/{id}" */
    char *path, *body;
    int64_t started, deadline;
    hms_done_fn *done;
    void *arg;
    int attempts, retries;
    bool reminted, too_large;
    unsigned token_gen; /* the token the last attempt carried */
    CURL *easy;
    struct curl_slist *hdrs;
    struct buf resp;
    char errbuf[CURL_ERROR_SIZE];
    char err[256];
    struct req *next, *prev; /* the FIFO, or the in-flight list */
};

struct hms_client {
    const struct conf *cf;
    CURLM *multi;
    CURL **pool;
    size_t n_pool, cap_pool;
    struct req *head, *tail; /* waiting for a transfer slot */
    struct req *active;      /* in flight */
    size_t queued, in_flight;
    struct heap retries; /* due -> struct req */
    char *token;
    int64_t token_exp;
    unsigned token_gen;
    struct retry_policy pol;
    uint64_t rng;
    const char *protocols;
    int fail_streak;       /* consecutive retriable attempt failures */
    int64_t last_answer;   /* mono ms of the last reply that was not one */
    int64_t clock_ahead_s; /* ours minus 100ms's Date, latest reply */
    bool skew_warned;
    struct hms_client_stats stats;
};

/* Mints when there is no token, when less than the margin is left, or
 * when forced (why: "401" or "403" with the current token; NULL: not
 * forced). */
static enum hw_rc ensure_token(struct hms_client *hc, const char *force)
{
    int64_t now = hw_now_ms() / 1000, ttl = hc->cf->hms_mgmt_token_ttl_s;
    int64_t margin = ttl / 10 > 300 ? ttl / 10 : 300;
    enum hw_rc rc;

    if (margin > ttl / 2) {
        margin = ttl / 2; /* short test TTLs still get half their life */
    }
    if (force == NULL && hc->token != NULL && now < hc->token_exp - margin) {
        return HW_OK;
    }
    jwt_token_free(hc->token);
    hc->token = NULL;
    rc = jwt_mint_mgmt(&hc->cf->hms_app_secret, hc->cf->hms_access_key, now,
                       ttl, &hc->token, &hc->token_exp);
    if (rc == HW_OK) {
        hc->stats.remints += hc->token_gen > 0;
        metrics_add(M_TOKEN_MINTS, 1,
                    hc->token_gen == 0 ? "start"
                    : force != NULL    ? force
                                       : "expiry");
        hc->token_gen++;
        log_debug("msg=\"management token minted\" exp=%lld forced=%s",
                  (long long)hc->token_exp, force != NULL ? force : "no");
    }
    return rc;
}

struct hms_client *hms_client_create(const struct conf *cf, char *errstr,
                                     size_t errstr_size)
{
    struct hms_client *hc = xcalloc(1, sizeof(*hc));
    long conns;

    hc->cf = cf;
    hc->pol = (struct retry_policy){cf->hms_retry_base_ms, cf->hms_retry_cap_ms,
                                    cf->hms_retry_max, cf->event_deadline_ms};
    hc->protocols =
        strncmp(cf->hms_api_base, "http://", 7) == 0 ? "http" : "https";
    if (RAND_bytes((unsigned char *)&hc->rng, sizeof(hc->rng)) != 1) {
        hc->rng = (uint64_t)hw_now_ms();
    }
    hc->rng |= 1;
    hc->multi = curl_multi_init();
    if (hc->multi == NULL) {
        snprintf(errstr, errstr_size, "curl_multi_init failed");
        goto err;
    }
    /* over HTTP/1.1 a transfer beyond the cap waits in curl for a free
     * connection: its wait counts toward HMS_TIMEOUT_MS */
    conns = cf->hms_max_connections < cf->hms_max_in_flight
                ? cf->hms_max_connections
                : cf->hms_max_in_flight;
    curl_multi_setopt(hc->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
    curl_multi_setopt(hc->multi, CURLMOPT_MAXCONNECTS, conns);
    if (ensure_token(hc, NULL) != HW_OK) {
        snprintf(errstr, errstr_size, "cannot mint a management token");
        goto err;
    }
    return hc;
err:
    hms_client_destroy(hc);
    return NULL;
}

static void free_headers(struct req *r)
{
    for (struct curl_slist *h = r->hdrs; h != NULL; h = h->next) {
        OPENSSL_cleanse(h->data, strlen(h->data)); /* the bearer token */
    }
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
}

static void req_free(struct req *r)
{
    free_headers(r);
    free(r->path);
    free(r->body);
    buf_deinit(&r->resp);
    free(r);
}

void hms_client_destroy(struct hms_client *hc)
{
    if (hc == NULL) {
        return;
    }
    /* Pending calls are dropped without callbacks: shutdown only. */
    while (hc->head != NULL) {
        struct req *r = hc->head;

        hc->head = r->next;
        req_free(r);
    }
    while (hc->retries.n > 0) {
        req_free(heap_pop(&hc->retries).item);
    }
    heap_deinit(&hc->retries);
    while (hc->active != NULL) {
        struct req *r = hc->active;

        hc->active = r->next;
        curl_multi_remove_handle(hc->multi, r->easy);
        curl_easy_cleanup(r->easy);
        req_free(r);
    }
    if (hc->multi != NULL) {
        curl_multi_cleanup(hc->multi);
    }
    for (size_t i = 0; i < hc->n_pool; i++) {
        curl_easy_cleanup(hc->pool[i]);
    }
    free(hc->pool);
    jwt_token_free(hc->token);
    free(hc);
}

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
    struct req *r = arg;

    if (!buf_append_max(&r->resp, data, size * n, HMS_MAX_BODY)) {
        r->too_large = true;
        return 0; /* curl turns this into CURLE_WRITE_ERROR */
    }
    return size * n;
}

static CURL *easy_get(struct hms_client *hc)
{
    CURL *e = hc->n_pool > 0 ? hc->pool[--hc->n_pool] : curl_easy_init();

    if (e != NULL) {
        curl_easy_reset(e);
    }
    return e;
}

static void easy_put(struct hms_client *hc, CURL *e)
{
    if (hc->n_pool == hc->cap_pool) {
        hc->cap_pool = hc->cap_pool == 0 ? 16 : hc->cap_pool * 2;
        hc->pool = xrealloc(hc->pool, hc->cap_pool * sizeof(*hc->pool));
    }
    hc->pool[hc->n_pool++] = e;
}

static void deliver(struct req *r, enum hw_rc rc, long status, bool deadline);
static void retry_or_deliver(struct hms_client *hc, struct req *r,
                             enum hw_rc rc, long http, curl_off_t retry_after);

/* An idle keep-alive connection gives its TLS buffers back (about 34 KiB
 * each): with 1,000 connections that was most of the worker's RSS. */
static CURLcode on_ssl_ctx(CURL *e, void *ssl_ctx, void *arg)
{
    (void)e;
    (void)arg;
    SSL_CTX_set_mode((SSL_CTX *)ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
    return CURLE_OK;
}

/* The peer's certificate and name are always verified: curl's defaults,
 * set once more so that no reset or default can turn them off; with
 * HMS_API_CA_FILE, against its CAs only, not the system's as well. */
static void set_tls(const struct conf *cf, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (cf->hms_api_ca_file != NULL) {
        curl_easy_setopt(e, CURLOPT_CAINFO, cf->hms_api_ca_file);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    }
}

/* curl would not take the transfer (out of memory; anything else is a
 * misuse that a fresh handle clears): a failed attempt that never left,
 * retried with backoff like a reset, so the call always ends (review
 * B15: it once waited in the active list forever). The handle is not
 * reused; the breaker does not count it, 100ms did not fail. */
static void add_refused(struct hms_client *hc, struct req *r, CURLMcode mc)
{
    snprintf(r->err, sizeof(r->err), "curl_multi_add_handle: %s",
             curl_multi_strerror(mc));
    log_warn("msg=\"transfer not started\" method=%s path=%s attempt=%d "
             "err=\"%s\"",
             r->method, r->path, r->attempts, r->err);
    curl_easy_cleanup(r->easy);
    r->easy = NULL;
    free_headers(r);
    retry_or_deliver(hc, r, HW_ERR_UNAVAILABLE, 0, 0);
}

/* Starts one attempt of r; on a local failure the call ends here, or is
 * retried (add_refused). */
static void start(struct hms_client *hc, struct req *r)
{
    int64_t now = hw_mono_ms(), left = r->deadline - now;
    char *auth, *url;
    CURLMcode mc;
    CURL *e;

    if (left <= 0) {
        snprintf(r->err, sizeof(r->err), "deadline passed before attempt %d",
                 r->attempts + 1);
        deliver(r, HW_ERR_TIMEOUT, 0, true);
        return;
    }
    if (ensure_token(hc, NULL) != HW_OK || (e = easy_get(hc)) == NULL) {
        snprintf(r->err, sizeof(r->err), "cannot prepare the request");
        deliver(r, HW_ERR_FATAL, 0, false);
        return;
    }
    r->easy = e;
    r->token_gen = hc->token_gen;
    r->too_large = false;
    buf_reset(&r->resp);
    r->errbuf[0] = '\0';
    auth = xasprintf("Authorization: Bearer %s", hc->token);
    r->hdrs = curl_slist_append(NULL, auth);
    OPENSSL_cleanse(auth, strlen(auth));
    free(auth);
    r->hdrs = curl_slist_append(r->hdrs, "Content-Type: application/json");
    r->hdrs = curl_slist_append(r->hdrs, "Accept: application/json");
    r->hdrs = curl_slist_append(r->hdrs, "Expect:");
    url = xasprintf("%s%s", hc->cf->hms_api_base, r->path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, hc->protocols);
    set_tls(hc->cf, e);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* replies and bodies are a few KiB: smaller than curl's 16 KiB receive
     * and (over TLS) 64 KiB send buffers, which every pooled handle keeps */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L);
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 16384L); /* curl's least */
    curl_easy_setopt(
        e, CURLOPT_TIMEOUT_MS,
        (long)(left < hc->cf->hms_timeout_ms ? left : hc->cf->hms_timeout_ms));
    curl_easy_setopt(
        e, CURLOPT_CONNECTTIMEOUT_MS,
        (long)(hc->cf->hms_timeout_ms < 5000 ? hc->cf->hms_timeout_ms : 5000));
    if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
                         (long)(r->body != NULL ? strlen(r->body) : 0));
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body != NULL ? r->body : "");
    }
    r->attempts++;
    hc->stats.requests++;
    mc = curl_multi_add_handle(hc->multi, e);
    if (mc != CURLM_OK) {
        add_refused(hc, r, mc);
        return;
    }
    r->prev = NULL;
    r->next = hc->active;
    if (hc->active != NULL) {
        hc->active->prev = r;
    }
    hc->active = r;
    hc->in_flight++;
}

static void enqueue(struct hms_client *hc, struct req *r)
{
    r->next = NULL;
    if (hc->tail != NULL) {
        hc->tail->next = r;
    } else {
        hc->head = r;
    }
    hc->tail = r;
    hc->queued++;
}

/* What stands in a path after these segments: ids and roles become
 * placeholders in a route, so metric series stay few. */
static const char *hole_after(const char *seg, size_t len)
{
    static const struct {
        const char *seg, *hole;
    } holes[] = {{"room", "{id}"},
                 {"rooms", "{id}"},
                 {"active-rooms", "{id}"},
                 {"role", "{role}"}};

    for (size_t i = 0; i < HW_ARRAY_LEN(holes); i++) {
        if (strlen(holes[i].seg) == len &&
            memcmp(holes[i].seg, seg, len) == 0) {
            return holes[i].hole;
        }
    }
    return NULL;
}

/* "POST /room-codes/room/{id}" for POST /room-codes/room/63f0...; the
 * query goes. Once per call, not per attempt. */
static void route_of(const char *method, const char *path, char *out, size_t n)
{
    size_t at = (size_t)snprintf(out, n, "%s ", method);
    const char *hole = NULL; /* what the next segment becomes */

    for (const char *p = path; *p == '/' && at < n;) {
        size_t len = strcspn(p + 1, "/?");
        int k = hole != NULL
                    ? snprintf(out + at, n - at, "/%s", hole)
                    : snprintf(out + at, n - at, "/%.*s", (int)len, p + 1);

        hole = hole != NULL ? NULL : hole_after(p + 1, len);
        at += k > 0 ? (size_t)k : 0;
        p += 1 + len;
    }
}

void hms_client_call(struct hms_client *hc, const char *method,
                     const char *path, const json_t *body, int64_t started_mono,
                     int64_t deadline_mono, hms_done_fn *done, void *arg)
{
    struct req *r = xcalloc(1, sizeof(*r));

    r->hc = hc;
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->path = xstrdup(path);
    route_of(method, path, r->route, sizeof(r->route));
    r->body = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    r->started = started_mono;
    r->deadline = deadline_mono;
    r->done = done;
    r->arg = arg;
    enqueue(hc, r);
}

static void deliver(struct req *r, enum hw_rc rc, long status, bool deadline)
{
    json_t *body =
        r->resp.len > 0 ? json_loadb(r->resp.p, r->resp.len, 0, NULL) : NULL;
    struct hms_result res = {rc, status, NULL, r->err, r->attempts, deadline};

    if (rc == HW_OK && r->resp.len > 0 && !json_is_object(body)) {
        res.rc = HW_ERR_DECODE;
        snprintf(r->err, sizeof(r->err), "reply is not a JSON object");
    }
    res.body = json_is_object(body) ? body : NULL;
    if (res.rc != HW_OK) {
        r->hc->stats.failures++;
        log_warn("msg=\"100ms call failed\" method=%s path=%s http=%ld "
                 "attempts=%d rc=%s err=\"%s\"",
                 r->method, r->path, status, r->attempts, hw_rc_str(res.rc),
                 r->err);
    }
    r->done(r->arg, &res);
    json_decref(body);
    req_free(r);
}

/* Maps a finished transfer to a status code (docs/c-style.md section 14).
 * A 403 is a room's state only when its message says the room is
 * disabled (docs/100ms-api.md section 1.5); every other 403 is a missing
 * permission and is handled like a 401: re-mint, replay once, then
 * HW_ERR_AUTH. */
static enum hw_rc classify_transfer(struct req *r, CURLcode cc, long http)
{
    json_t *body;
    char msg[128];
    bool disabled;

    if (cc == CURLE_WRITE_ERROR && r->too_large) {
        snprintf(r->err, sizeof(r->err), "reply larger than %d bytes",
                 HMS_MAX_BODY);
        return HW_ERR_DECODE;
    }
    if (cc != CURLE_OK) {
        /* errbuf is usually more precise; cut to fit (hence the %.*s) */
        snprintf(r->err, sizeof(r->err), "%s%s%.*s", curl_easy_strerror(cc),
                 r->errbuf[0] != '\0' ? ": " : "", 160,
                 log_text(msg, sizeof(msg), r->errbuf)); /* a peer's names */
        return cc == CURLE_OPERATION_TIMEDOUT ? HW_ERR_TIMEOUT
                                              : HW_ERR_UNAVAILABLE;
    }
    snprintf(r->err, sizeof(r->err), "HTTP %ld", http);
    if (http == 408 || http == 429 || http >= 500) {
        return HW_ERR_UNAVAILABLE;
    }
    if (http == 401 || http == 403) {
        body = json_loadb(r->resp.p, r->resp.len, 0, NULL);
        disabled = http == 403 && hms_reply_says_disabled(body);
        if (json_string_value(json_object_get(body, "message")) != NULL) {
            snprintf(
                r->err, sizeof(r->err), "HTTP %ld \"%s\"", http,
                log_text(msg, sizeof(msg),
                         json_string_value(json_object_get(body, "message"))));
        }
        json_decref(body);
        return disabled ? HW_ERR_INVALID : HW_ERR_AUTH;
    }
    if (http == 404) {
        return HW_ERR_NOT_FOUND;
    }
    return http >= 200 && http < 300 ? HW_OK : HW_ERR_INVALID;
}

/* One attempt in the metrics: route, status (0: no reply), latency. */
static void count_attempt(const struct req *r, long http)
{
    char status[16];
    curl_off_t us = 0;

    snprintf(status, sizeof(status), "%ld", http);
    curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME_T, &us);
    metrics_add(M_HMS_REQUESTS, 1, r->route, status);
    metrics_observe(M_HMS_SECONDS, (double)us / 1e6, r->route);
}

/* How far this host's clock is ahead of 100ms's, from the reply's Date
 * header (1 s resolution). A host more than JWT_BACKDATE_S ahead mints
 * tokens whose iat and nbf are in 100ms's future, and 100ms answers 401
 * (docs/100ms-api.md section 1.3): say so, and count those 401s, rather
 * than let "wrong credentials" take the blame. */
static void note_clock(struct hms_client *hc, CURL *easy, long http)
{
    struct curl_header *date;
    time_t t;

    if (curl_easy_header(easy, "Date", 0, CURLH_HEADER, -1, &date) !=
            CURLHE_OK ||
        (t = curl_getdate(date->value, NULL)) <= 0) {
        return;
    }
    hc->clock_ahead_s = hw_now_ms() / 1000 - (int64_t)t;
    metrics_set(M_CLOCK_SKEW, (double)hc->clock_ahead_s);
    if (llabs(hc->clock_ahead_s) >= HMS_SKEW_WARN_S && !hc->skew_warned) {
        log_warn("msg=\"this host's clock is off: %s 100ms's by %lld s "
                 "(its Date header); tokens are back-dated %d s, so more "
                 "than that ahead gets them refused: sync the clock (NTP)\"",
                 hc->clock_ahead_s > 0 ? "ahead of" : "behind",
                 llabs(hc->clock_ahead_s), JWT_BACKDATE_S);
        hc->skew_warned = true;
    } else if (llabs(hc->clock_ahead_s) < HMS_SKEW_WARN_S) {
        hc->skew_warned = false;
    }
    if (http == 401 && hc->clock_ahead_s > JWT_BACKDATE_S) {
        metrics_add(M_CLOCK_REFUSALS, 1);
    }
}

/* A 429 without Retry-After: the wait its message names, else 0. */
static curl_off_t retry_after_text(const struct req *r)
{
    json_t *body = json_loadb(r->resp.p, r->resp.len, 0, NULL);
    long s = hms_reply_retry_after_s(body);

    json_decref(body);
    return s > 0 ? (curl_off_t)s : 0;
}

static void req_complete(struct hms_client *hc, struct req *r, CURLcode cc)
{
    long http = 0;
    curl_off_t retry_after = 0;
    enum hw_rc rc;

    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &retry_after);
    count_attempt(r, http);
    if (http > 0) {
        note_clock(hc, r->easy, http);
    }
    if (http == 429 && retry_after <= 0) {
        retry_after = retry_after_text(r);
    }
    curl_multi_remove_handle(hc->multi, r->easy);
    easy_put(hc, r->easy);
    r->easy = NULL;
    free_headers(r);
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        hc->active = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    hc->in_flight--;
    rc = classify_transfer(r, cc, http);
    if (hw_rc_is_retriable(rc)) {
        if (++hc->fail_streak == HMS_BREAKER_STREAK) {
            log_warn("msg=\"100ms API failing for every call: pausing\" "
                     "streak=%d",
                     hc->fail_streak);
        }
    } else if (rc != HW_ERR_DECODE && rc != HW_ERR_FATAL) {
        if (hc->fail_streak >= HMS_BREAKER_STREAK) {
            log_info("msg=\"100ms API answering again: resuming\"");
        }
        hc->fail_streak = 0;
        hc->last_answer = hw_mono_ms();
    }
    if (rc == HW_ERR_AUTH && !r->reminted) {
        r->reminted = true; /* contract section 5: re-mint, replay once */
        if (r->token_gen == hc->token_gen &&
            ensure_token(hc, http == 403 ? "403" : "401") != HW_OK) {
            deliver(r, HW_ERR_FATAL, http, false);
            return;
        }
        enqueue(hc, r);
        return;
    }
    retry_or_deliver(hc, r, rc, http, retry_after);
}

/* After a failed or final attempt: the callback, or a retry after the
 * policy's delay when rc is retriable and the budget allows one. */
static void retry_or_deliver(struct hms_client *hc, struct req *r,
                             enum hw_rc rc, long http, curl_off_t retry_after)
{
    int64_t now = hw_mono_ms(), delay;

    if (!hw_rc_is_retriable(rc)) {
        deliver(r, rc, http, false);
        return;
    }
    if (retry_after < 0 || retry_after > hc->pol.budget_ms / 1000 + 1) {
        retry_after = hc->pol.budget_ms / 1000 + 1; /* past the budget anyway */
    }
    delay = retry_delay_ms(&hc->pol, r->retries + 1, now - r->started,
                           (int64_t)retry_after * 1000, retry_rand(&hc->rng));
    if (delay < 0 || now + delay >= r->deadline) {
        deliver(r, rc, http, r->retries < hc->pol.max_retries);
        return;
    }
    r->retries++;
    hc->stats.retries++;
    metrics_add(M_HMS_RETRIES, 1, r->route);
    log_debug("msg=\"retrying\" method=%s path=%s http=%ld retry=%d "
              "delay_ms=%lld err=\"%s\"",
              r->method, r->path, http, r->retries, (long long)delay, r->err);
    heap_push(&hc->retries, now + delay, r);
}

static void start_ready(struct hms_client *hc)
{
    int64_t now = hw_mono_ms();

    while (heap_next_due(&hc->retries) <= now) {
        enqueue(hc, heap_pop(&hc->retries).item);
    }
    while (hc->head != NULL &&
           hc->in_flight < (size_t)hc->cf->hms_max_in_flight) {
        struct req *r = hc->head;

        hc->head = r->next;
        if (hc->head == NULL) {
            hc->tail = NULL;
        }
        hc->queued--;
        start(hc, r);
    }
}

void hms_client_run(struct hms_client *hc, int timeout_ms,
                    struct curl_waitfd *extra, unsigned n_extra)
{
    int64_t next = heap_next_due(&hc->retries), now;
    int running = 0;
    CURLMsg *msg;
    int left;

    start_ready(hc);
    now = hw_mono_ms();
    if (next != INT64_MAX && next - now < timeout_ms) {
        timeout_ms = next > now ? (int)(next - now) : 0;
    }
    curl_multi_poll(hc->multi, extra, n_extra, timeout_ms, NULL);
    curl_multi_perform(hc->multi, &running);
    while ((msg = curl_multi_info_read(hc->multi, &left)) != NULL) {
        struct req *r = NULL;

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        req_complete(hc, r, msg->data.result);
    }
    start_ready(hc);
    metrics_set(M_HMS_IN_FLIGHT, (double)hc->in_flight);
}

int64_t hms_client_clock_ahead_s(const struct hms_client *hc)
{
    return hc->clock_ahead_s;
}

int64_t hms_client_last_answer(const struct hms_client *hc)
{
    return hc->last_answer;
}

bool hms_client_tripped(const struct hms_client *hc)
{
    return hc->fail_streak >= HMS_BREAKER_STREAK;
}

size_t hms_client_pending(const struct hms_client *hc)
{
    return hc->queued + hc->in_flight + hc->retries.n;
}

void hms_client_stats(const struct hms_client *hc, struct hms_client_stats *s)
{
    *s = hc->stats;
}
