/* webhook.c -- the webhook listener (webhook.h). A request is a struct
 * whreq from its headers to its completion: admit() answers at once what
 * the headers decide (403, 404, 405, 401, 413), take_body() collects up to
 * WEBHOOK_MAX_BYTES, finish() checks the envelope and produces, then
 * suspends the connection. From there the request is settled exactly once
 * under wh->lock -- by its delivery report (on_dr) or by its deadline
 * (expire) -- and its connection resumed; answer() replies. A request has
 * two references, libmicrohttpd's (until on_completed) and the producer's
 * (until its report), so a late report never touches a freed request.
 * The producer thread (run) serves librdkafka's reports as they come
 * (waking at least every POLL_MS), expires deadlines and drains on the
 * stop flag. Lock order: wh->lock, then libmicrohttpd's own (suspend and
 * resume are called with wh->lock held, so a report cannot resume a
 * connection before it is suspended). */
#define LOGMOD "webhook"
#include "webhook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "whaccess.h"

#define POLL_MS 50
#define WARM_MS 2000 /* looking the topic up at start, at most */
#define IDLE_TIMEOUT_S 10
/* at stop: how long resumed connections may take to answer */
#define ANSWER_GRACE_MS 2000
#define PEM_MAX (64 * 1024)

enum req_state { REQ_READING, REQ_WAITING, REQ_ANSWERED };

struct whreq {
    struct webhook *wh;
    struct MHD_Connection *mc;
    struct buf body;
    struct webhook_envelope env;
    int64_t t0_us;       /* headers in, monotonic */
    int64_t received_ms; /* headers in, wall clock (hms-received-at) */
    int64_t deadline_ms; /* REQ_WAITING: answered 503 at this time */
    enum req_state state;
    unsigned status;     /* REQ_ANSWERED by a report or a deadline */
    const char *outcome; /* and its metric label */
    int refs;
    struct whreq *prev, *next; /* on wh's waiting list */
};

struct webhook {
    const struct conf *cf;
    volatile sig_atomic_t *stop;
    struct MHD_Daemon *d;
    int port;
    int listen_fd; /* shut down at the drain; closed after the daemon */
    rd_kafka_t *rk;
    rd_kafka_topic_t *topic; /* looked up at start (kafka_warm_topics) */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;      /* the fields below, and every whreq's state */
    struct whreq *head, *tail; /* waiting for a report, oldest first */
    size_t active;             /* requests between headers and completion */
    bool closed;               /* nothing more is produced */
    atomic_bool draining;      /* answers close their connection */
    atomic_bool quit;          /* webhook_stop() asked */
    atomic_bool fatal;         /* the producer is broken */
    char *cert, *key;
    size_t key_len;
};

/* ---- the envelope ----------------------------------------------------- */

static bool copy_field(json_t *obj, const char *name, char *out,
                       const char *where, char *err, size_t err_size)
{
    json_t *v = json_object_get(obj, name);
    size_t len = json_is_string(v) ? json_string_length(v) : 0;

    if (len == 0 || len > WEBHOOK_FIELD_MAX) {
        snprintf(err, err_size, "%s%s: not a string of 1-%d bytes", where, name,
                 WEBHOOK_FIELD_MAX);
        return false;
    }
    memcpy(out, json_string_value(v), len);
    out[len] = '\0';
    return true;
}

enum hw_rc webhook_envelope_parse(const char *body, size_t len,
                                  struct webhook_envelope *out, char *err,
                                  size_t err_size)
{
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    json_t *data = json_object_get(root, "data");
    bool ok = false;

    if (root == NULL) {
        /* je.text may quote the body: only what and where */
        snprintf(err, err_size, "%s (line %d, column %d)",
                 strstr(je.text, "duplicate object key") != NULL
                     ? "a key given twice"
                     : "not JSON",
                 je.line, je.column);
    } else if (!json_is_object(root)) {
        snprintf(err, err_size, "not a JSON object");
    } else if (!json_is_object(data)) {
        snprintf(err, err_size, "data: not an object");
    } else {
        ok = copy_field(root, "id", out->id, "", err, err_size) &&
             copy_field(root, "type", out->type, "", err, err_size) &&
             copy_field(data, "room_id", out->room_id, "data.", err, err_size);
    }
    json_decref(root);
    return ok ? HW_OK : HW_ERR_INVALID;
}

/* ---- answers ---------------------------------------------------------- */

static enum MHD_Result reply(struct webhook *wh, struct MHD_Connection *mc,
                             unsigned status, const char *outcome,
                             const char *text)
{
    char *body = xasprintf("%s\n", text);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;

    metrics_add(M_WEBHOOKS, 1, outcome);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(r, "Allow", "POST");
    }
    if (atomic_load(&wh->draining)) {
        MHD_add_response_header(r, "Connection", "close");
    }
    ret = MHD_queue_response(mc, status, r);
    MHD_destroy_response(r);
    return ret;
}

static const char *peer(struct MHD_Connection *mc, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    return whaccess_addr_str(ci != NULL ? ci->client_addr : NULL, buf, size);
}

/* Every configured header, each compared in full: no early exit. */
static bool secrets_match(const struct conf *cf, struct MHD_Connection *mc)
{
    bool ok = true;

    for (size_t i = 0; i < cf->n_webhook_headers; i++) {
        const struct whaccess_header *h = &cf->webhook_headers[i];

        ok = whaccess_value_matches(
                 &h->value,
                 MHD_lookup_connection_value(mc, MHD_HEADER_KIND, h->name)) &
             ok;
    }
    return ok;
}

static bool too_long(const struct conf *cf, struct MHD_Connection *mc)
{
    const char *cl = MHD_lookup_connection_value(
        mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long n;
    char *end;

    if (cl == NULL) {
        return false; /* chunked, or no body: take_body() bounds it */
    }
    errno = 0;
    n = strtoull(cl, &end, 10);
    return errno != 0 || end == cl ||
           n > (unsigned long long)cf->webhook_max_bytes;
}

/* What the headers alone decide: a status and its outcome, or 0. */
static unsigned admit(const struct webhook *wh, struct MHD_Connection *mc,
                      const char *url, const char *method, const char **outcome,
                      const char **text)
{
    const struct conf *cf = wh->cf;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    if (cf->webhook_cidrs != NULL &&
        !whaccess_addr_allowed(cf->webhook_cidrs, cf->n_webhook_cidrs,
                               ci != NULL ? ci->client_addr : NULL)) {
        *outcome = "forbidden";
        *text = "forbidden: this address is not allowed";
        return MHD_HTTP_FORBIDDEN;
    }
    if (strcmp(url, cf->webhook_path) != 0) {
        *outcome = "not_found";
        *text = "not found";
        return MHD_HTTP_NOT_FOUND;
    }
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        *outcome = "bad_method";
        *text = "POST only";
        return MHD_HTTP_METHOD_NOT_ALLOWED;
    }
    if (!secrets_match(cf, mc)) {
        *outcome = "unauthorized";
        *text = "unauthorized: a secret header is missing or wrong";
        return MHD_HTTP_UNAUTHORIZED;
    }
    if (too_long(cf, mc)) {
        *outcome = "too_large";
        *text = "too large";
        return MHD_HTTP_CONTENT_TOO_LARGE;
    }
    return 0;
}

/* ---- requests --------------------------------------------------------- */

static void req_free(struct whreq *r)
{
    buf_deinit(&r->body);
    free(r);
}

/* Lock held. */
static void unlink_waiting(struct webhook *wh, struct whreq *r)
{
    *(r->prev != NULL ? &r->prev->next : &wh->head) = r->next;
    *(r->next != NULL ? &r->next->prev : &wh->tail) = r->prev;
    r->prev = r->next = NULL;
}

/* The request's answer is decided: its connection resumes and answers.
 * Lock held; r is REQ_WAITING. */
static void settle(struct webhook *wh, struct whreq *r, unsigned status,
                   const char *outcome)
{
    r->state = REQ_ANSWERED;
    r->status = status;
    r->outcome = outcome;
    unlink_waiting(wh, r);
    MHD_resume_connection(r->mc);
}

/* 503 to every request waiting past limit (monotonic ms). Lock held. */
static void expire(struct webhook *wh, int64_t limit)
{
    while (wh->head != NULL && wh->head->deadline_ms <= limit) {
        log_warn("msg=\"webhook not confirmed in time: 503\" id=%s "
                 "timeout_ms=%lld",
                 wh->head->env.id, (long long)wh->cf->webhook_timeout_ms);
        settle(wh, wh->head, MHD_HTTP_SERVICE_UNAVAILABLE, "kafka_timeout");
    }
}

static enum MHD_Result take_body(struct whreq *r, const char *data,
                                 size_t *size)
{
    char addr[64];

    if (!buf_append_max(&r->body, data, *size,
                        (size_t)r->wh->cf->webhook_max_bytes)) {
        /* chunked past the limit: libmicrohttpd cannot answer while the
         * body streams in, so the connection is closed unanswered */
        metrics_add(M_WEBHOOKS, 1, "too_large");
        log_info("msg=\"webhook refused: chunked body too large, closing\" "
                 "peer=%s max_bytes=%lld",
                 peer(r->mc, addr, sizeof(addr)),
                 (long long)r->wh->cf->webhook_max_bytes);
        return MHD_NO;
    }
    *size = 0;
    return MHD_YES;
}

static rd_kafka_headers_t *headers_of(const struct whreq *r)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(3);
    char at[24];

    snprintf(at, sizeof(at), "%lld", (long long)r->received_ms);
    rd_kafka_header_add(h, "hms-webhook-id", -1, r->env.id, -1);
    rd_kafka_header_add(h, "hms-webhook-type", -1, r->env.type, -1);
    rd_kafka_header_add(h, "hms-received-at", -1, at, -1);
    return h;
}

/* Produces the body under the lock, so that its report (which takes the
 * lock) finds the connection suspended. */
static rd_kafka_resp_err_t produce(struct webhook *wh, struct whreq *r)
{
    rd_kafka_headers_t *h = headers_of(r);
    size_t len = r->body.len;
    char *value = buf_take(&r->body);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__STATE; /* closed */

    pthread_mutex_lock(&wh->lock);
    if (!wh->closed) {
        err = rd_kafka_producev(
            wh->rk, RD_KAFKA_V_TOPIC(wh->cf->topic_webhooks),
            RD_KAFKA_V_KEY(r->env.room_id, strlen(r->env.room_id)),
            RD_KAFKA_V_VALUE(value, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_HEADERS(h),
            RD_KAFKA_V_OPAQUE(r), RD_KAFKA_V_END);
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        r->state = REQ_WAITING;
        r->refs++; /* the producer's, until the report */
        r->deadline_ms = hw_mono_ms() + wh->cf->webhook_timeout_ms;
        r->prev = wh->tail;
        *(wh->tail != NULL ? &wh->tail->next : &wh->head) = r;
        wh->tail = r;
        MHD_suspend_connection(r->mc);
    }
    pthread_mutex_unlock(&wh->lock);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        free(value); /* still ours when the produce failed */
        rd_kafka_headers_destroy(h);
    }
    return err;
}

/* The whole body is in: check it, then produce and wait. */
static enum MHD_Result finish(struct webhook *wh, struct whreq *r)
{
    char err[160], text[192], addr[64], id[64], type[64];
    rd_kafka_resp_err_t kerr;

    if (webhook_envelope_parse(r->body.p != NULL ? r->body.p : "", r->body.len,
                               &r->env, err, sizeof(err)) != HW_OK) {
        log_info("msg=\"webhook refused: malformed\" status=400 peer=%s "
                 "err=\"%s\" bytes=%zu",
                 peer(r->mc, addr, sizeof(addr)), err, r->body.len);
        snprintf(text, sizeof(text), "malformed: %s", err);
        return reply(wh, r->mc, MHD_HTTP_BAD_REQUEST, "malformed", text);
    }
    kerr = produce(wh, r);
    if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_warn("msg=\"webhook not stored: 503\" id=%s type=%s err=%s",
                 log_safe(id, sizeof(id), r->env.id),
                 log_safe(type, sizeof(type), r->env.type),
                 rd_kafka_err2name(kerr));
        return reply(wh, r->mc, MHD_HTTP_SERVICE_UNAVAILABLE, "kafka_failed",
                     "not stored: Kafka is unavailable, send it again");
    }
    return MHD_YES;
}

/* Resumed: the report or the deadline decided. */
static enum MHD_Result answer(struct webhook *wh, struct whreq *r)
{
    unsigned status;
    const char *outcome;

    pthread_mutex_lock(&wh->lock);
    status = r->status;
    outcome = r->outcome;
    pthread_mutex_unlock(&wh->lock);
    if (status == MHD_HTTP_OK) {
        metrics_observe(M_WEBHOOK_SECONDS,
                        (double)(hw_mono_us() - r->t0_us) / 1e6);
        return reply(wh, r->mc, status, outcome, "stored");
    }
    return reply(wh, r->mc, status, outcome,
                 "not stored: Kafka did not confirm it, send it again");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
    struct webhook *wh = cls;
    struct whreq *r = *state;
    const char *outcome, *text;
    unsigned status;
    enum req_state st;
    char addr[64];

    (void)version;
    if (r == NULL) {
        status = admit(wh, mc, url, method, &outcome, &text);
        if (status != 0) {
            log_info("msg=\"webhook refused\" status=%u peer=%s", status,
                     peer(mc, addr, sizeof(addr)));
            return reply(wh, mc, status, outcome, text);
        }
        r = xcalloc(1, sizeof(*r));
        r->wh = wh;
        r->mc = mc;
        r->t0_us = hw_mono_us();
        r->received_ms = hw_now_ms();
        r->refs = 1; /* libmicrohttpd's, until on_completed */
        pthread_mutex_lock(&wh->lock);
        wh->active++;
        pthread_mutex_unlock(&wh->lock);
        *state = r;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        return take_body(r, upload, upload_size);
    }
    pthread_mutex_lock(&wh->lock);
    st = r->state;
    pthread_mutex_unlock(&wh->lock);
    return st == REQ_READING ? finish(wh, r) : answer(wh, r);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **state,
                         enum MHD_RequestTerminationCode toe)
{
    struct webhook *wh = cls;
    struct whreq *r = *state;
    bool drop;

    (void)mc;
    (void)toe;
    if (r == NULL) {
        return; /* answered from its headers */
    }
    pthread_mutex_lock(&wh->lock);
    if (r->state == REQ_WAITING) {
        unlink_waiting(wh, r); /* the daemon closed it: nobody to answer */
    }
    r->state = REQ_ANSWERED;
    wh->active--;
    drop = --r->refs == 0;
    pthread_mutex_unlock(&wh->lock);
    if (drop) {
        req_free(r);
    }
    *state = NULL;
}

/* ---- the producer ----------------------------------------------------- */

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct webhook *wh = opaque;
    struct whreq *r = m->_private;
    bool ok = m->err == RD_KAFKA_RESP_ERR_NO_ERROR, late, drop;
    char id[64];

    (void)rk;
    pthread_mutex_lock(&wh->lock);
    late = r->state != REQ_WAITING;
    if (!late) {
        settle(wh, r, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
               ok ? "stored" : "kafka_failed");
    }
    log_safe(id, sizeof(id), r->env.id);
    drop = --r->refs == 0;
    pthread_mutex_unlock(&wh->lock);
    if (!ok && !late) {
        log_warn("msg=\"webhook not stored: 503\" id=%s err=%s", id,
                 rd_kafka_err2name(m->err));
    } else if (!ok && rd_kafka_message_status(m) ==
                          RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED) {
        /* timed out in flight: the broker may have written it anyway */
        log_warn("msg=\"webhook possibly stored after its 503\" id=%s "
                 "err=%s note=\"100ms sends it again: the consumer drops a "
                 "copy by its id\"",
                 id, rd_kafka_err2name(m->err));
    } else if (!ok) {
        log_debug("msg=\"webhook given up after its 503\" id=%s err=%s", id,
                  rd_kafka_err2name(m->err));
    } else if (late) {
        log_warn("msg=\"webhook stored after its answer\" id=%s "
                 "note=\"100ms sends it again: the consumer drops the "
                 "copy by its id\"",
                 id);
    } else {
        log_debug("msg=\"webhook stored\" id=%s partition=%d offset=%lld", id,
                  (int)m->partition, (long long)m->offset);
    }
    if (drop) {
        req_free(r);
    }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct webhook *wh = opaque;
    char safe[256], buf[256];

    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        log_error("msg=\"webhook producer broken: stopping\" err=\"%s\"",
                  log_text(safe, sizeof(safe), buf));
        atomic_store(&wh->fatal, true);
        return;
    }
    log_warn("msg=\"webhook producer error\" err=%s reason=\"%s\"",
             rd_kafka_err2name(err), log_text(safe, sizeof(safe), reason));
}

static rd_kafka_t *producer_new(struct webhook *wh, char *errstr,
                                size_t errstr_size)
{
    char timeout[24];
    const char *const extra[] = {
        "enable.idempotence", "true",  "linger.ms", "0",
        "message.timeout.ms", timeout, NULL};
    rd_kafka_conf_t *kc;
    rd_kafka_t *rk;

    /* linger.ms 0: a sender waits for each message's own report (1 ms
     * made one connection 5x slower here), and batches form anyway while
     * requests are in flight. librdkafka gives up on a message when its
     * answer is due: a webhook answered 503 is rarely stored afterwards */
    snprintf(timeout, sizeof(timeout), "%lld",
             (long long)wh->cf->webhook_timeout_ms);
    kc = kafka_conf_new(wh->cf, "webhooks", extra, errstr, errstr_size);
    if (kc == NULL) {
        return NULL;
    }
    rd_kafka_conf_set_opaque(kc, wh);
    rd_kafka_conf_set_dr_msg_cb(kc, on_dr);
    rd_kafka_conf_set_error_cb(kc, on_error);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
    if (rk == NULL) {
        rd_kafka_conf_destroy(kc); /* still ours on failure */
    }
    return rk;
}

/* ---- life ------------------------------------------------------------- */

/* SIGTERM: stop accepting (new connections are refused), close each
 * connection after its answer. */
static void begin_drain(struct webhook *wh)
{
    int fd = MHD_quiesce_daemon(wh->d);
    size_t waiting = 0;

    atomic_store(&wh->draining, true);
    if (fd != MHD_INVALID_SOCKET) {
        shutdown(fd, SHUT_RDWR);
        wh->listen_fd = fd;
    }
    pthread_mutex_lock(&wh->lock);
    for (const struct whreq *r = wh->head; r != NULL; r = r->next) {
        waiting++;
    }
    pthread_mutex_unlock(&wh->lock);
    log_info("msg=\"webhook listener stopping: no new connections\" "
             "waiting=%zu timeout_ms=%lld",
             waiting, (long long)wh->cf->shutdown_timeout_ms);
}

/* The producer thread: reports, deadlines, the drain. */
static void *run(void *arg)
{
    struct webhook *wh = arg;
    int64_t drain_until = INT64_MAX, now;
    bool raised = false, done = false;

    while (!done) {
        rd_kafka_poll(wh->rk, POLL_MS);
        now = hw_mono_ms();
        if (atomic_load(&wh->fatal) && !raised) {
            raised = true;
            raise(SIGTERM); /* the worker stops too; webhook_stop: exit 1 */
        }
        if (drain_until == INT64_MAX &&
            (__atomic_load_n(wh->stop, __ATOMIC_RELAXED) != 0 ||
             atomic_load(&wh->quit))) {
            begin_drain(wh);
            drain_until = now + wh->cf->shutdown_timeout_ms;
        }
        pthread_mutex_lock(&wh->lock);
        expire(wh, now >= drain_until ? INT64_MAX : now);
        done = atomic_load(&wh->quit) && wh->head == NULL;
        if (done) {
            wh->closed = true; /* a request still arriving: 503 */
        }
        pthread_mutex_unlock(&wh->lock);
    }
    return NULL;
}

static char *read_pem(const char *path, size_t *len, char *errstr,
                      size_t errstr_size, const char *var)
{
    FILE *f = fopen(path, "rb");
    char *buf = xmalloc(PEM_MAX + 1);
    size_t n = f != NULL ? fread(buf, 1, PEM_MAX + 1, f) : 0;

    if (f == NULL || ferror(f) || n == 0 || n > PEM_MAX) {
        snprintf(errstr, errstr_size,
                 "%s: cannot read %s (or empty, or "
                 "over 64 KiB)",
                 var, path);
        OPENSSL_cleanse(buf, PEM_MAX + 1);
        free(buf);
        buf = NULL;
    } else {
        buf[n] = '\0';
        *len = n;
    }
    if (f != NULL) {
        fclose(f);
    }
    return buf;
}

static struct MHD_Daemon *daemon_start(struct webhook *wh)
{
    const struct conf *cf = wh->cf;
    bool v6 = strchr(cf->webhook_host, ':') != NULL;
    struct sockaddr_in sa4 = {0};
    struct sockaddr_in6 sa6 = {0};
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem opts[10];
    size_t n = 0;

    sa4.sin_family = AF_INET;
    sa4.sin_port = htons((uint16_t)cf->webhook_port);
    sa6.sin6_family = AF_INET6;
    sa6.sin6_port = sa4.sin_port;
    if (v6) {
        inet_pton(AF_INET6, cf->webhook_host, &sa6.sin6_addr);
        /* [::] takes IPv4 peers too (as v4-mapped addresses) */
        flags |= IN6_IS_ADDR_UNSPECIFIED(&sa6.sin6_addr) ? MHD_USE_DUAL_STACK
                                                         : MHD_USE_IPv6;
    } else {
        inet_pton(AF_INET, cf->webhook_host, &sa4.sin_addr);
    }
    /* two-argument options: the function as value, its argument as ptr */
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER,
                                        (intptr_t)log_mhd, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0,
                                        v6 ? (void *)&sa6 : (void *)&sa4};
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                (intptr_t)cf->webhook_max_connections, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                        (intptr_t)cf->webhook_max_per_ip, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                        IDLE_TIMEOUT_S, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED,
                                        (intptr_t)on_completed, wh};
    if (wh->cert != NULL) {
        flags |= MHD_USE_TLS;
        opts[n++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, wh->cert};
        opts[n++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, wh->key};
    }
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, wh,
                            MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
}

struct webhook *webhook_start(const struct conf *cf,
                              volatile sig_atomic_t *stop, char *errstr,
                              size_t errstr_size)
{
    struct webhook *wh = xcalloc(1, sizeof(*wh));
    const union MHD_DaemonInfo *info;
    size_t cert_len;

    wh->cf = cf;
    wh->stop = stop;
    wh->listen_fd = -1;
    pthread_mutex_init(&wh->lock, NULL);
    if (cf->webhook_tls_cert_file != NULL) {
        wh->cert = read_pem(cf->webhook_tls_cert_file, &cert_len, errstr,
                            errstr_size, "WEBHOOK_TLS_CERT_FILE");
        wh->key = wh->cert == NULL
                      ? NULL
                      : read_pem(cf->webhook_tls_key_file, &wh->key_len, errstr,
                                 errstr_size, "WEBHOOK_TLS_KEY_FILE");
        if (wh->key == NULL) {
            goto err;
        }
    }
    wh->rk = producer_new(wh, errstr, errstr_size);
    if (wh->rk == NULL) {
        goto err;
    }
    kafka_warm_topics(wh->rk, (const char *[]){cf->topic_webhooks}, 1,
                      &wh->topic, WARM_MS);
    wh->d = daemon_start(wh);
    if (wh->d == NULL) {
        snprintf(errstr, errstr_size,
                 "WEBHOOK_ADDR: cannot listen on %s:%d (in use?)%s",
                 cf->webhook_host, cf->webhook_port,
                 wh->cert != NULL ? " or WEBHOOK_TLS_*_FILE: not a "
                                    "certificate and its private key (PEM)"
                                  : "");
        goto err;
    }
    if (pthread_create(&wh->thread, NULL, run, wh) != 0) {
        snprintf(errstr, errstr_size, "cannot start the webhook thread");
        goto err;
    }
    wh->thread_started = true;
    info = MHD_get_daemon_info(wh->d, MHD_DAEMON_INFO_BIND_PORT);
    wh->port = info != NULL ? info->port : cf->webhook_port;
    log_info("msg=\"webhook listener running\" addr=%s%s%s:%d path=%s "
             "tls=%s topic=%s secret_headers=%zu allowlist=%s",
             strchr(cf->webhook_host, ':') != NULL ? "[" : "", cf->webhook_host,
             strchr(cf->webhook_host, ':') != NULL ? "]" : "", wh->port,
             cf->webhook_path, wh->cert != NULL ? "on" : "off",
             cf->topic_webhooks, cf->n_webhook_headers,
             cf->webhook_cidrs != NULL ? "on" : "off");
    return wh;
err:
    webhook_stop(wh);
    return NULL;
}

int webhook_port(const struct webhook *wh)
{
    return wh->port;
}

/* After the thread: what libmicrohttpd still answers (resumed
 * connections), for at most ANSWER_GRACE_MS. */
static void wait_answered(struct webhook *wh)
{
    int64_t until = hw_mono_ms() + ANSWER_GRACE_MS;
    size_t active;

    do {
        pthread_mutex_lock(&wh->lock);
        active = wh->active;
        pthread_mutex_unlock(&wh->lock);
        if (active > 0) {
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        }
    } while (active > 0 && hw_mono_ms() < until);
}

bool webhook_stop(struct webhook *wh)
{
    bool fatal;

    if (wh == NULL) {
        return false;
    }
    if (wh->thread_started) {
        atomic_store(&wh->quit, true);
        pthread_join(wh->thread, NULL);
        wait_answered(wh);
    }
    if (wh->d != NULL) {
        MHD_stop_daemon(wh->d); /* completes every request left */
    }
    if (wh->listen_fd >= 0) {
        close(wh->listen_fd); /* quiesced: ours to close, after the stop */
    }
    if (wh->rk != NULL) {
        /* reports of what is still out drop the producer's references */
        rd_kafka_purge(wh->rk,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(wh->rk, 1000);
        kafka_topics_free(&wh->topic, 1);
        rd_kafka_destroy(wh->rk);
    }
    fatal = atomic_load(&wh->fatal);
    pthread_mutex_destroy(&wh->lock);
    free(wh->cert);
    if (wh->key != NULL) {
        OPENSSL_cleanse(wh->key, wh->key_len);
        free(wh->key);
    }
    free(wh);
    return fatal;
}
