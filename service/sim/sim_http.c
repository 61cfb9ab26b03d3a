/* sim_http.c -- libmicrohttpd glue of hms-sim. MHD calls on_sim_request()
 * several times per request: to start it, with each body chunk (capped),
 * then to route it and draw its fault; an injected delay or hang suspends
 * the connection, and the call after it is resumed goes on (finish()
 * answers, or drops a hung one). timer_main(), one thread, resumes
 * suspended connections from a min-heap under h->mu.
 *
 * Every response goes through send_resp(), which sets the Date header
 * from the simulator's clock (real time + the clock offset), so a client
 * can compare its clock with the server's. libmicrohttpd 0.9.75 adds
 * "Date" itself only when the response has none: "Date header is added
 * automatically unless already set by [MHD_add_response_header]"
 * (microhttpd.h); ours is the only one. */
#define LOGMOD "sim_http"
#include "sim_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "heap.h"
#include "log.h"

#define BODY_MAX (1024 * 1024)
#define CONN_LIMIT 16384
#define IDLE_TIMEOUT_S 300

struct sim_http {
    struct MHD_Daemon *d;
    struct sim_api *api;
    struct sim_admin *adm;
    int port;
    /* the resume timer */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct heap timers; /* due -> suspended MHD_Connection */
    size_t peak;
    bool stopping;
};

enum phase { PH_NEW, PH_DELAYED, PH_HUNG };

/* Per request; freed by on_completed. */
struct conn {
    char *body;
    size_t len, cap;
    bool too_large;
    enum phase phase;
    struct sim_call call;
    struct fault_action fa;
    json_t *query;
};

/* ---- the resume timer ---------------------------------------------- */

static void *timer_main(void *arg)
{
    struct sim_http *h = arg;

    pthread_mutex_lock(&h->mu);
    for (;;) {
        int64_t now = hw_mono_ms();

        if (h->timers.n > 0 &&
            (h->stopping || heap_next_due(&h->timers) <= now)) {
            MHD_resume_connection(heap_pop(&h->timers).item);
            continue;
        }
        if (h->stopping) {
            break;
        }
        if (h->timers.n == 0) {
            pthread_cond_wait(&h->cv, &h->mu);
        } else {
            int64_t wait = heap_next_due(&h->timers) - now;
            struct timespec ts;

            hw_mono_deadline(&ts, wait);
            pthread_cond_timedwait(&h->cv, &h->mu, &ts);
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* Suspends conn for ms; false when shutting down (answer at once). */
static bool suspend_for(struct sim_http *h, struct MHD_Connection *conn,
                        int64_t ms)
{
    bool ok;

    pthread_mutex_lock(&h->mu);
    ok = !h->stopping;
    if (ok) {
        MHD_suspend_connection(conn);
        heap_push(&h->timers, hw_mono_ms() + ms, conn);
        if (h->timers.n > h->peak) {
            h->peak = h->timers.n;
            sim_admin_set_suspended_peak(h->adm, h->peak);
        }
        pthread_cond_signal(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    return ok;
}

/* ---- requests ------------------------------------------------------- */

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind,
                               const char *key, const char *value)
{
    (void)kind;
    json_object_set_new(cls, key, json_string(value != NULL ? value : ""));
    return MHD_YES;
}

/* RFC 9110 IMF-fixdate of ms, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (the
 * process never calls setlocale: day and month names are English). */
static void http_date(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static enum MHD_Result send_resp(struct sim_http *h, struct MHD_Connection *mc,
                                 struct sim_resp *r, const char *ctype,
                                 const char *retry_after)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(r->body), r->body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;
    char date[64];

    r->body = NULL; /* resp owns it */
    http_date(sim_api_now_ms(h->api), date, sizeof(date));
    MHD_add_response_header(resp, MHD_HTTP_HEADER_DATE, date);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (retry_after != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    }
    ret = MHD_queue_response(mc, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Answers with the injected status (429 or 5xx) without applying. */
static enum MHD_Result send_fault(struct sim_http *h, struct MHD_Connection *mc,
                                  const struct fault_action *fa, int64_t now_ms)
{
    struct sim_resp r = {0, NULL};
    char retry[64], msg[96];
    const char *ra = NULL;

    if (fa->status == 429) {
        /* documented: the wait is in the message text, and no Retry-After
         * header is documented anywhere (analytics/replay-webhook-
         * events.mdx; docs/100ms-api.md section 3): one only on request */
        snprintf(msg, sizeof(msg),
                 "rate limit exceeded, retry after %lld seconds",
                 (long long)fa->retry_after_s);
        sim_resp_error(&r, 429, msg, NULL);
        if (fa->retry_after_header == RETRY_AFTER_DATE) {
            http_date(now_ms + fa->retry_after_s * 1000, retry, sizeof(retry));
            ra = retry;
        } else if (fa->retry_after_header == RETRY_AFTER_SECONDS) {
            snprintf(retry, sizeof(retry), "%lld",
                     (long long)fa->retry_after_s);
            ra = retry;
        }
    } else if (fa->status == 401) {
        sim_resp_error(&r, 401, "Token validation error",
                       "injected by hms-sim");
    } else if (fa->status == 403) {
        /* 100ms documents 403 as "the token lacks permission" without a
         * message text (docs/100ms-api.md section 1.5): any text that does
         * not say "disabled" */
        sim_resp_error(&r, 403, "Forbidden", "injected by hms-sim");
    } else if (fa->status == 404) {
        /* a room not visible yet right after its creation; 100ms documents
         * no such delay, a public sample waits 2 s (docs/100ms-api.md
         * section 9, point 8) */
        sim_resp_error(&r, 404, "Room not found", "injected by hms-sim");
    } else if (fa->html_body) {
        r.status = fa->status;
        r.body = xasprintf("<html><body><h1>%d Bad Gateway</h1></body></html>",
                           fa->status);
        return send_resp(h, mc, &r, "text/html", NULL);
    } else {
        sim_resp_error(&r, fa->status, "Internal error", "injected by hms-sim");
    }
    return send_resp(h, mc, &r, "application/json", ra);
}

static enum MHD_Result finish(struct sim_http *h, struct MHD_Connection *mc,
                              struct conn *c, const struct sim_req *req)
{
    struct sim_resp r = {0, NULL};
    const char *fault = sim_fault_kind_str(c->fa.kind);

    switch (c->fa.kind) {
    case FAULT_DROP:
        sim_admin_record(h->adm, req, &c->call, 0, fault, c->fa.delay_ms);
        return MHD_NO;
    case FAULT_HANG:
        sim_admin_record(h->adm, req, &c->call, 0, fault, c->fa.delay_ms);
        c->phase = PH_HUNG;
        return suspend_for(h, mc, c->fa.hang_ms) ? MHD_YES : MHD_NO;
    case FAULT_STATUS:
        sim_admin_record(h->adm, req, &c->call, c->fa.status, fault,
                         c->fa.delay_ms);
        return send_fault(h, mc, &c->fa, req->now_ms);
    case FAULT_DROP_AFTER:
        sim_api_apply(h->api, req, &c->call, &r);
        sim_admin_record(h->adm, req, &c->call, 0, fault, c->fa.delay_ms);
        free(r.body);
        return MHD_NO;
    case FAULT_NONE:
        break;
    }
    sim_api_apply(h->api, req, &c->call, &r);
    sim_admin_record(h->adm, req, &c->call, r.status, fault, c->fa.delay_ms);
    return send_resp(h, mc, &r, "application/json", NULL);
}

static bool append_body(struct conn *c, const char *data, size_t n)
{
    if (c->too_large || c->len + n > BODY_MAX) {
        c->too_large = true;
        return false;
    }
    if (c->len + n + 1 > c->cap) {
        c->cap = (c->len + n + 1) * 2;
        c->body = xrealloc(c->body, c->cap);
    }
    memcpy(c->body + c->len, data, n);
    c->len += n;
    c->body[c->len] = '\0';
    return true;
}

static enum MHD_Result on_sim_request(void *cls, struct MHD_Connection *mc,
                                      const char *url, const char *method,
                                      const char *version, const char *upload,
                                      size_t *upload_size, void **con_cls)
{
    struct sim_http *h = cls;
    struct conn *c = *con_cls;
    struct sim_req req;
    struct sim_resp r = {0, NULL};

    (void)version;
    if (c == NULL) {
        *con_cls = c = xcalloc(1, sizeof(*c));
        c->query = json_object();
        MHD_get_connection_values(mc, MHD_GET_ARGUMENT_KIND, add_arg, c->query);
        return MHD_YES;
    }
    if (*upload_size > 0) {
        append_body(c, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (c->phase == PH_HUNG) {
        return MHD_NO; /* the hang is over: drop the connection */
    }
    req = (struct sim_req){
        method,
        url,
        c->query,
        MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
                                    MHD_HTTP_HEADER_AUTHORIZATION),
        c->body != NULL ? c->body : "",
        c->len,
        sim_api_now_ms(h->api)};
    if (c->too_large) {
        /* a cap of the simulator's, not a 100ms rule */
        sim_resp_error(&r, 413, "Request body too large", NULL);
        return send_resp(h, mc, &r, "application/json", NULL);
    }
    if (sim_admin_owns(url)) {
        sim_admin_handle(h->adm, &req, &r);
        return send_resp(h, mc, &r, "application/json", NULL);
    }
    if (c->phase == PH_NEW) {
        sim_api_route(h->api, &req, &c->call);
        sim_admin_decide(h->adm, &c->call, &c->fa);
        if (c->fa.delay_ms > 0 && suspend_for(h, mc, c->fa.delay_ms)) {
            c->phase = PH_DELAYED;
            return MHD_YES;
        }
    }
    return finish(h, mc, c, &req);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn *c = *con_cls;

    (void)cls;
    (void)mc;
    (void)toe;
    if (c != NULL) {
        free(c->body);
        json_decref(c->query);
        free(c);
        *con_cls = NULL;
    }
}

/* Every connection accepted (with TLS: one handshake each, as this
 * server keeps no session cache and sends no tickets), for /__sim/stats:
 * how well a client reuses its connections. */
static void on_connection(void *cls, struct MHD_Connection *mc,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)mc;
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        sim_admin_count_connection(((struct sim_http *)cls)->adm);
    }
}

struct sim_http *sim_http_start(const struct sim_conf *cf, struct sim_api *api,
                                struct sim_admin *adm, char *errstr,
                                size_t errstr_size)
{
    struct sim_http *h = xcalloc(1, sizeof(*h));
    struct sockaddr_in sa = {0};
    const union MHD_DaemonInfo *info;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL},
                                    {MHD_OPTION_END, 0, NULL},
                                    {MHD_OPTION_END, 0, NULL}};
    pthread_condattr_t ca;

    h->api = api;
    h->adm = adm;
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca,
                              CLOCK_MONOTONIC); /* timer_main waits on it */
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cf->port);
    if (inet_pton(AF_INET, cf->host, &sa.sin_addr) != 1) {
        snprintf(errstr, errstr_size, "--listen: %s is not an IPv4 address",
                 cf->host);
        goto err;
    }
    if (cf->tls_cert_pem != NULL) {
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                         cf->tls_cert_pem};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
                                         cf->tls_key_pem};
    }
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_sim_request, h, MHD_OPTION_EXTERNAL_LOGGER,
        log_mhd, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)cf->threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_ARRAY, tls,
        MHD_OPTION_END);
    if (h->d == NULL) {
        snprintf(errstr, errstr_size, "cannot listen on %s:%d (in use?)%s",
                 cf->host, cf->port,
                 cf->tls_cert_pem != NULL ? " or --tls-cert/--tls-key: not a "
                                            "certificate and its key (PEM)"
                                          : "");
        goto err;
    }
    info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info != NULL ? info->port : cf->port;
    if (pthread_create(&h->thread, NULL, timer_main, h) != 0) {
        snprintf(errstr, errstr_size, "cannot start the timer thread");
        goto err;
    }
    h->thread_started = true;
    return h;
err:
    sim_http_stop(h);
    return NULL;
}

int sim_http_port(const struct sim_http *h)
{
    return h->port;
}

void sim_http_stop(struct sim_http *h)
{
    if (h == NULL) {
        return;
    }
    pthread_mutex_lock(&h->mu);
    h->stopping = true; /* the timer resumes every suspended connection */
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    if (h->thread_started) {
        pthread_join(h->thread, NULL);
    }
    if (h->d != NULL) {
        MHD_stop_daemon(h->d);
    }
    heap_deinit(&h->timers);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
