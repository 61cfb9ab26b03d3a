/* cache.c -- Redis key schema, pipelined MULTI/EXEC writes, one
 * asynchronous connection (hiredis 1.4.1, deps/hiredis; RESP2: no HELLO is
 * sent, so no RESP3 type arrives). Each call builds a struct batch and
 * submit() queues it on hiredis as one struct op; hiredis's event hooks
 * only set want_read/want_write for the owner's poll (the engine
 * thread's), and on_redis_reply() folds each reply into its op, done at
 * the last one. rediss:// puts TLS under the same connection (cachetls.h:
 * our SSL, the host name checked); a certificate refused or a peer that
 * does not speak TLS is HW_ERR_CONFIG with "TLS: ..." in the error text,
 * not an outage. AUTH and SELECT lead every connection; one hiredis
 * will not queue drops it (Redis unavailable), so nothing runs
 * unauthenticated or in database 0. Tools and tests wait for the same
 * batches in wait_sync().
 *
 * Reconnecting: one backoff, the cache's, however many batches wait. A
 * connection that fails or goes before Redis gave one good reply makes
 * the next attempt wait (retry_backoff_ms: 100 ms doubling to 2 s, equal
 * jitter); one that had answered is made again at once. Batches that come
 * while no connection may be tried are held (c->waiting) and sent on the
 * next attempt, so they share its outcome: a down Redis sees one
 * connection attempt per step, not one per batch. cache_down() tells the
 * callers that a failure was the connection's, so they need no timer of
 * their own. The host is resolved here, once (a blocking getaddrinfo on
 * the owner's thread, which hiredis would otherwise run at every
 * redisAsyncConnect), and the numeric address is reused; it is resolved
 * again only after a connection to it failed, so a DNS lookup happens at
 * most once per backoff step. Resolving off the thread would also spare
 * that one lookup, at the price of a thread and its hand-over; a Redis
 * host is a name that changes on failover at most. */
#define LOGMOD "cache"
#include "cache.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/hiredis_ssl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "cachetls.h"
#include "metrics.h"
#include "retry.h"

#define CONNECT_BASE_MS 100 /* the backoff after a failed connection */
#define CONNECT_CAP_MS 2000

struct op;

struct cache {
    const struct conf_redis *cf; /* borrowed: the config outlives us */
    int timeout_ms;
    redisAsyncContext *ac;
    SSL_CTX *tls_ctx;   /* rediss://: made at the first connection */
    SSL *ssl;           /* our reference to the connection's SSL, or NULL */
    enum hw_rc conn_rc; /* why the last connection could not open */
    enum hw_rc lost_rc; /* why this connection went, read once; HW_OK */
    bool want_read, want_write, closing;
    bool reconnect;      /* drop the connection at the next tick */
    enum hw_rc login_rc; /* HW_OK, or why AUTH/SELECT was refused */
    size_t in_flight;    /* ops sent, replies not all in */
    int64_t progress_ms; /* last reply, or when in_flight left 0 */
    int64_t last_ok_ms;  /* a write last succeeded */
    struct op *failed;   /* ops that could not be sent: completed by tick */
    struct op *waiting, **waiting_end; /* held for the next attempt, FIFO */
    bool down;               /* the connection failed or went: no answer */
    bool answered;           /* this connection gave a good reply */
    bool gone;               /* it went: settle_gone() has not run */
    int64_t failures;        /* connections failed in a row (backoff step) */
    int64_t next_connect_ms; /* no attempt before (hw_mono_ms) */
    uint64_t rnd;            /* retry_rand()'s state: the backoff's jitter */
    char addr[64];           /* the host's numeric address; "": resolve */
    char err[256];
};

/* A command and its arguments, owned (struct batch). */
struct cmd {
    int argc;
    char **argv;
    size_t *lens;
};

/* Commands sent as one pipeline. */
struct batch {
    struct cmd *cmds;
    size_t n;
};

/* What a command's reply means, by command name. */
enum reply_kind { R_STATUS, R_EXISTS, R_HASH, R_EXEC, R_STRING, R_JSON };

/* One batch in flight: replies arrive in order, one per command. */
struct op {
    struct cache *c;
    cache_done_fn *fn;
    void *arg;
    enum reply_kind *kinds;
    size_t n, at; /* commands sent, replies in */
    enum hw_rc rc;
    struct cache_reply r;
    int64_t sent_us; /* for the latency histogram */
    bool is_write;   /* its success says Redis takes our writes */
    bool drop;       /* a reply said: reconnect before the next batch */
    struct batch b;  /* the commands, until sent (held in c->waiting) */
    struct op *next; /* c->failed or c->waiting */
};

/* ---- a batch of commands, sent as one pipeline ---------------------- */

static void batch_cmd(struct batch *b, const char *name)
{
    b->cmds = xrealloc(b->cmds, (b->n + 1) * sizeof(*b->cmds));
    b->cmds[b->n++] = (struct cmd){0, NULL, NULL};
    if (name != NULL) {
        struct cmd *c = &b->cmds[b->n - 1];

        c->argv = xmalloc(sizeof(char *));
        c->lens = xmalloc(sizeof(size_t));
        c->argv[0] = xstrdup(name);
        c->lens[0] = strlen(name);
        c->argc = 1;
    }
}

/* Appends one argument to the last command; takes ownership of s. */
static void batch_own(struct batch *b, char *s)
{
    struct cmd *c = &b->cmds[b->n - 1];

    c->argv = xrealloc(c->argv, (size_t)(c->argc + 1) * sizeof(char *));
    c->lens = xrealloc(c->lens, (size_t)(c->argc + 1) * sizeof(size_t));
    c->argv[c->argc] = s;
    c->lens[c->argc++] = strlen(s);
}

static void batch_arg(struct batch *b, const char *s)
{
    batch_own(b, xstrdup(s));
}

static void batch_argf(struct batch *b, const char *fmt, ...) HW_PRINTF(2, 3);

static void batch_argf(struct batch *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    batch_own(b, xvasprintf(fmt, ap));
    va_end(ap);
}

/* Every argument is cleansed: some are app tokens (cache_put_ready,
 * renew.c's cache_script), and telling them apart costs more than the
 * cleanse. hiredis' own formatted copy is freed by hiredis, uncleansed. */
static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        for (int a = 0; a < b->cmds[i].argc; a++) {
            OPENSSL_cleanse(b->cmds[i].argv[a], b->cmds[i].lens[a]);
            free(b->cmds[i].argv[a]);
        }
        free(b->cmds[i].argv);
        free(b->cmds[i].lens);
    }
    free(b->cmds);
    b->cmds = NULL;
    b->n = 0;
}

/* ---- the connection ------------------------------------------------- */

static void ev_add_read(void *p)
{
    ((struct cache *)p)->want_read = true;
}
static void ev_del_read(void *p)
{
    ((struct cache *)p)->want_read = false;
}
static void ev_add_write(void *p)
{
    ((struct cache *)p)->want_write = true;
}
static void ev_del_write(void *p)
{
    ((struct cache *)p)->want_write = false;
}

/* A connection attempt failed, or a connection went before Redis gave it
 * one good reply: the next attempt waits a backoff step, and goes to the
 * host's address as resolved anew. */
static void connect_failed(struct cache *c)
{
    int64_t wait;

    c->down = true;
    c->failures++;
    c->addr[0] = '\0';
    wait = retry_backoff_ms(CONNECT_BASE_MS, CONNECT_CAP_MS, c->failures,
                            retry_rand(&c->rnd));
    c->next_connect_ms = hw_mono_ms() + wait;
    if (c->failures == 1) { /* then once a step: debug */
        log_warn("msg=\"redis connection failed, retrying with backoff\" "
                 "err=\"%s\" retry_ms=%lld",
                 c->err, (long long)wait);
    } else {
        log_debug("msg=\"redis connection failed\" err=\"%s\" failures=%lld "
                  "retry_ms=%lld",
                  c->err, (long long)c->failures, (long long)wait);
    }
}

static void ev_cleanup(void *p)
{
    struct cache *c = p;

    c->want_read = c->want_write = false;
    c->ac = NULL;   /* hiredis frees it: never touch it again */
    c->gone = true; /* hiredis may call this before the ops' callbacks,
                     * which bring the error text: settled later */
}

/* After a connection went: the next attempt at once if Redis had
 * answered on it, else after a backoff step. */
static void settle_gone(struct cache *c)
{
    if (!c->gone) {
        return;
    }
    c->gone = false;
    if (c->answered) {
        c->failures = 0;
        c->next_connect_ms = 0;
    } else {
        connect_failed(c);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct cache *c = ac->ev.data;
    char safe[201]; /* hiredis's text holds the peer's words: escaped */

    if (status != REDIS_OK) {
        snprintf(c->err, sizeof(c->err), "connect: %s",
                 log_text(safe, sizeof(safe), ac->errstr));
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct cache *c = ac->ev.data;
    char safe[201];

    /* after the replies' callbacks: a TLS cause stays the error text */
    if (status != REDIS_OK && !c->closing && c->lost_rc != HW_ERR_CONFIG) {
        snprintf(c->err, sizeof(c->err), "connection lost: %s",
                 log_text(safe, sizeof(safe), ac->errstr));
    }
}

/* A reply (r, or NULL: none) came: Redis is up, its failures are its
 * replies'; a good one resets the backoff. */
static void heard(struct cache *c, const redisReply *r)
{
    if (r != NULL) {
        c->down = false;
        c->answered |= r->type != REDIS_REPLY_ERROR;
    }
}

static void on_login(redisAsyncContext *ac, void *reply, void *priv)
{
    struct cache *c = ac->ev.data;
    const redisReply *r = reply;
    char safe[201]; /* Redis's words, escaped (log.h) and cut */

    heard(c, r);
    if (r != NULL && r->type == REDIS_REPLY_ERROR && c->login_rc == HW_OK) {
        c->login_rc = priv != NULL ? HW_ERR_CONFIG : HW_ERR_AUTH;
        snprintf(c->err, sizeof(c->err), "%s refused: %s",
                 priv != NULL ? "SELECT" : "AUTH",
                 log_text(safe, sizeof(safe), r->str));
    }
}

/* Queues AUTH and SELECT ahead of everything else. False when hiredis
 * did not take one (out of memory): the caller drops the connection, as
 * the commands after it would run unauthenticated or in database 0. */
static bool login(struct cache *c)
{
    size_t len;
    const char *pw = secret_reveal(&c->cf->password, &len);
    static int select_tag;
    int rc = REDIS_OK;
    char safe[201];

    c->login_rc = HW_OK;
    if (len > 0 && c->cf->user != NULL) {
        rc = redisAsyncCommand(c->ac, on_login, NULL, "AUTH %s %b", c->cf->user,
                               pw, len);
    } else if (len > 0) {
        rc = redisAsyncCommand(c->ac, on_login, NULL, "AUTH %b", pw, len);
    }
    if (rc != REDIS_OK) {
        snprintf(c->err, sizeof(c->err), "AUTH not queued: %s",
                 c->ac->errstr[0] != '\0'
                     ? log_text(safe, sizeof(safe), c->ac->errstr)
                     : "out of memory");
        return false;
    }
    if (c->cf->db != 0 &&
        redisAsyncCommand(c->ac, on_login, &select_tag, "SELECT %d",
                          c->cf->db) != REDIS_OK) {
        snprintf(c->err, sizeof(c->err), "SELECT not queued: %s",
                 c->ac->errstr[0] != '\0'
                     ? log_text(safe, sizeof(safe), c->ac->errstr)
                     : "out of memory");
        return false;
    }
    return true;
}

/* Puts TLS under the new connection (its TCP connect still in progress):
 * our SSL, bound to the host, handed to hiredis; we keep a reference to
 * read why a handshake failed once hiredis has freed its own. */
static bool start_tls(struct cache *c)
{
    char err[200];
    SSL *ssl;

    if (c->tls_ctx == NULL) {
        c->tls_ctx = cachetls_ctx_create(c->cf, err, sizeof(err));
    }
    ssl = c->tls_ctx != NULL
              ? cachetls_ssl_create(c->tls_ctx, c->cf->host, err, sizeof(err))
              : NULL;
    if (ssl == NULL) {
        snprintf(c->err, sizeof(c->err), "TLS: %s", err);
        c->conn_rc = HW_ERR_CONFIG;
        return false;
    }
    SSL_up_ref(ssl);
    if (redisInitiateSSL(&c->ac->c, ssl) != REDIS_OK) {
        c->conn_rc = cachetls_refused(ssl, err, sizeof(err))
                         ? HW_ERR_CONFIG
                         : HW_ERR_UNAVAILABLE;
        snprintf(c->err, sizeof(c->err), "%s",
                 c->conn_rc == HW_ERR_CONFIG
                     ? err
                     : log_text(err, sizeof(err), c->ac->c.errstr));
        SSL_free(ssl); /* not taken: both references are ours */
        SSL_free(ssl);
        return false;
    }
    c->ssl = ssl;
    return true;
}

/* Drops the connection: every op in flight completes unavailable (or
 * with the TLS cause). */
static void drop(struct cache *c)
{
    if (c->ac != NULL) {
        redisAsyncFree(c->ac); /* calls ev_cleanup: c->ac = NULL */
        c->ac = NULL;
    }
    SSL_free(c->ssl); /* hiredis has freed its reference */
    c->ssl = NULL;
}

/* The host's numeric address into c->addr, unless it is known (see the
 * design comment): IPv4 first, then IPv6, as hiredis asks; after failures
 * the next of the host's addresses. */
static bool resolve_host(struct cache *c)
{
    struct addrinfo hints = {0}, *res = NULL, *p;
    size_t n = 0, pick;
    int rv;
    char safe[128];

    if (c->addr[0] != '\0') {
        return true;
    }
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    rv = getaddrinfo(c->cf->host, NULL, &hints, &res);
    if (rv != 0) {
        hints.ai_family = AF_INET6;
        rv = getaddrinfo(c->cf->host, NULL, &hints, &res);
    }
    if (rv == 0) {
        for (p = res; p != NULL; p = p->ai_next) {
            n++;
        }
        pick = (size_t)(c->failures % (int64_t)n);
        for (p = res; pick > 0; p = p->ai_next) {
            pick--;
        }
        rv = getnameinfo(p->ai_addr, p->ai_addrlen, c->addr, sizeof(c->addr),
                         NULL, 0, NI_NUMERICHOST);
        freeaddrinfo(res);
    }
    if (rv != 0) {
        c->addr[0] = '\0';
        snprintf(c->err, sizeof(c->err), "resolve %s: %s",
                 log_text(safe, sizeof(safe), c->cf->host), gai_strerror(rv));
        return false;
    }
    return true;
}

/* The connection, or false: not yet (the backoff, or why the last attempt
 * failed: c->conn_rc, c->err) or this attempt failed at once. */
static bool connect_lazily(struct cache *c)
{
    char safe[201];

    if (c->ac != NULL) {
        return true;
    }
    drop(c); /* the last connection's SSL, kept until now */
    settle_gone(c);
    if (hw_mono_ms() < c->next_connect_ms) {
        return false; /* this step's failure: c->conn_rc, c->err */
    }
    c->conn_rc = HW_ERR_UNAVAILABLE;
    c->lost_rc = HW_OK;
    c->answered = false;
    metrics_add(M_REDIS_CONNECTS, 1);
    if (!resolve_host(c)) {
        connect_failed(c);
        return false;
    }
    c->ac = redisAsyncConnect(c->addr, c->cf->port);
    if (c->ac == NULL || c->ac->err != 0) {
        snprintf(c->err, sizeof(c->err), "connect: %s",
                 c->ac != NULL ? log_text(safe, sizeof(safe), c->ac->errstr)
                               : "out of memory");
        redisAsyncFree(c->ac); /* no cleanup hook set yet */
        c->ac = NULL;
        connect_failed(c);
        return false;
    }
    c->ac->ev.data = c;
    c->ac->ev.addRead = ev_add_read;
    c->ac->ev.delRead = ev_del_read;
    c->ac->ev.addWrite = ev_add_write;
    c->ac->ev.delWrite = ev_del_write;
    c->ac->ev.cleanup = ev_cleanup;
    if (c->cf->tls && !start_tls(c)) {
        drop(c);
        return false;
    }
    redisAsyncSetConnectCallback(c->ac, on_connect);
    redisAsyncSetDisconnectCallback(c->ac, on_disconnect);
    if (!login(c)) {
        drop(c);      /* not connected yet: no callback overwrites c->err */
        return false; /* conn_rc: unavailable, a wait and a new connection */
    }
    return true;
}

struct cache *cache_create(const struct conf_redis *cf, int timeout_ms)
{
    struct cache *c = xcalloc(1, sizeof(*c));

    c->cf = cf;
    c->timeout_ms = timeout_ms;
    c->waiting_end = &c->waiting;
    c->rnd = (uint64_t)hw_mono_us() | 1; /* never 0 */
    return c;
}

static void op_free(struct op *o)
{
    batch_free(&o->b);
    json_decref(o->r.hash);
    json_decref(o->r.json);
    free(o->r.value);
    free(o->kinds);
    free(o);
}

void cache_destroy(struct cache *c)
{
    if (c == NULL) {
        return;
    }
    c->closing = true; /* ops complete silently: their owners are gone */
    drop(c);
    SSL_CTX_free(c->tls_ctx);
    while (c->failed != NULL) {
        struct op *o = c->failed;

        c->failed = o->next;
        op_free(o);
    }
    while (c->waiting != NULL) {
        struct op *o = c->waiting;

        c->waiting = o->next;
        op_free(o);
    }
    free(c);
}

const char *cache_errstr(const struct cache *c)
{
    return c->err;
}

bool cache_down(const struct cache *c)
{
    return c->down;
}

int cache_poll_fd(const struct cache *c, short *events)
{
    *events =
        (short)((c->want_read ? POLLIN : 0) | (c->want_write ? POLLOUT : 0));
    return c->ac != NULL && *events != 0 ? c->ac->c.fd : -1;
}

void cache_handle(struct cache *c, short revents)
{
    if (c->ssl != NULL) {
        ERR_clear_error(); /* what TLS fails with is read from it alone */
    }
    if (c->ac != NULL && (revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
        redisAsyncHandleRead(c->ac);
    }
    if (c->ac != NULL && (revents & (POLLOUT | POLLERR)) != 0) {
        redisAsyncHandleWrite(c->ac);
    }
}

void cache_flush(struct cache *c)
{
    if (c->ac != NULL && c->want_write && (c->ac->c.flags & REDIS_CONNECTED) &&
        (c->ssl == NULL || SSL_is_init_finished(c->ssl))) {
        cache_handle(c, POLLOUT);
    }
}

static void op_complete(struct op *o)
{
    struct cache *c = o->c;

    if (o->rc != HW_OK) {
        metrics_add(M_REDIS_ERRORS, 1);
    } else {
        metrics_observe(M_REDIS_SECONDS,
                        (double)(hw_mono_us() - o->sent_us) / 1e6);
        if (o->is_write) {
            c->last_ok_ms = hw_mono_ms();
        }
    }
    if (!c->closing) {
        o->fn(o->arg, o->rc, &o->r);
    }
    op_free(o);
}

/* Whether replies were waiting in the socket, read now: the owner's thread
 * may have been busy for longer than the timeout (minting 10,000 tokens on
 * a slow machine), which is no silence of Redis's. */
static bool replies_waiting(struct cache *c)
{
    struct pollfd p = {c->ac != NULL ? c->ac->c.fd : -1, POLLIN, 0};
    int64_t before = c->progress_ms;
    bool handshake = c->ssl != NULL && !SSL_is_init_finished(c->ssl);

    if (p.fd >= 0 && poll(&p, 1, 0) > 0) {
        cache_handle(c, p.revents);
        if (handshake) { /* Redis answered our TLS handshake: not silent */
            c->progress_ms = hw_mono_ms();
        }
    }
    return c->progress_ms != before;
}

static void send_waiting(struct cache *c);

int64_t cache_tick(struct cache *c)
{
    int64_t now = hw_mono_ms(), due;

    if (c->reconnect) { /* not inside a reply callback: here */
        c->reconnect = false;
        log_info("msg=\"reconnecting to redis\" err=\"%s\"", c->err);
        drop(c);
    }
    if (c->in_flight > 0 && now - c->progress_ms >= c->timeout_ms &&
        !replies_waiting(c)) {
        bool handshake = c->ssl != NULL && !SSL_is_init_finished(c->ssl);

        snprintf(c->err, sizeof(c->err), "%s within %d ms%s",
                 handshake ? "TLS: no answer to the handshake" : "no reply",
                 c->timeout_ms,
                 handshake ? " (is the port of REDIS_URL a TLS port?)" : "");
        c->lost_rc = HW_ERR_UNAVAILABLE; /* the cause: keep the text */
        c->down = true;
        drop(c);
    }
    settle_gone(c);
    if (c->ac == NULL && c->waiting != NULL && now >= c->next_connect_ms) {
        send_waiting(c); /* this step's attempt */
    }
    while (c->failed != NULL) {
        struct op *o = c->failed;

        c->failed = o->next;
        op_complete(o);
    }
    due = c->in_flight > 0 ? c->progress_ms + c->timeout_ms : INT64_MAX;
    if (c->waiting != NULL && c->next_connect_ms < due) {
        due = c->next_connect_ms;
    }
    return due;
}

/* ---- ops: a batch sent as one pipeline -------------------------------- */

static enum reply_kind reply_kind(const char *name)
{
    return strcmp(name, "EXISTS") == 0    ? R_EXISTS
           : strcmp(name, "HGETALL") == 0 ? R_HASH
           : strcmp(name, "GET") == 0     ? R_STRING
           : strcmp(name, "EXEC") == 0    ? R_EXEC
           : strcmp(name, "EVAL") == 0    ? R_JSON
                                          : R_STATUS;
}

/* What an error reply means (docs/contract.md section 7, Redis rows), by
 * its first word. drop: the connection is worth nothing as it is (a
 * primary that became a replica keeps its clients; refused credentials
 * stay refused until a new AUTH). Anything else: HW_ERR_REFUSED. */
static const struct {
    const char *word;
    enum hw_rc rc;
    bool drop;
} error_kinds[] = {
    {"READONLY", HW_ERR_UNAVAILABLE, true}, /* failover: reconnect */
    {"MASTERDOWN", HW_ERR_UNAVAILABLE, true},
    {"LOADING", HW_ERR_UNAVAILABLE, false}, /* back off */
    {"BUSY", HW_ERR_UNAVAILABLE, false},
    {"TRYAGAIN", HW_ERR_UNAVAILABLE, false},
    {"OOM", HW_ERR_UNAVAILABLE, false},
    {"NOAUTH", HW_ERR_AUTH, true}, /* stop: credentials */
    {"WRONGPASS", HW_ERR_AUTH, true},
    {"NOPERM", HW_ERR_AUTH, true},
    {"MOVED", HW_ERR_CONFIG, true}, /* stop: Redis Cluster */
    {"ASK", HW_ERR_CONFIG, true},
    {"CROSSSLOT", HW_ERR_CONFIG, true},
    {"CLUSTERDOWN", HW_ERR_CONFIG, true},
    {"WRONGTYPE", HW_ERR_INVALID, false}, /* this event's key: DLQ */
};

static enum hw_rc classify_error(const char *msg, bool *drop)
{
    size_t len = strcspn(msg, " ");

    for (size_t i = 0; i < HW_ARRAY_LEN(error_kinds); i++) {
        if (strlen(error_kinds[i].word) == len &&
            memcmp(error_kinds[i].word, msg, len) == 0) {
            *drop = error_kinds[i].drop;
            return error_kinds[i].rc;
        }
    }
    *drop = false;
    return HW_ERR_REFUSED;
}

/* A script's reply as JSON; NULL past depth 4 or for an error inside. */
static json_t *reply_json(const redisReply *r, int depth)
{
    json_t *a;

    switch (r->type) {
    case REDIS_REPLY_INTEGER:
        return json_integer(r->integer);
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        return json_stringn_nocheck(r->str, r->len);
    case REDIS_REPLY_NIL:
        return json_null();
    case REDIS_REPLY_ARRAY:
        if (depth >= 4) {
            return NULL;
        }
        a = json_array();
        for (size_t i = 0; i < r->elements; i++) {
            json_t *v = reply_json(r->element[i], depth + 1);

            if (v == NULL) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, v);
        }
        return a;
    default:
        return NULL;
    }
}

static enum hw_rc read_reply(struct op *o, enum reply_kind kind,
                             const redisReply *r)
{
    char safe[201]; /* Redis's words, escaped (log.h) and cut */

    switch (kind) {
    case R_EXISTS:
        o->r.exists = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
        return HW_OK;
    case R_HASH:
        if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
            return HW_ERR_UNAVAILABLE;
        }
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            if (o->r.hash == NULL) {
                o->r.hash = json_object();
            }
            json_object_set_new(o->r.hash, r->element[i]->str,
                                json_stringn_nocheck(r->element[i + 1]->str,
                                                     r->element[i + 1]->len));
        }
        return HW_OK;
    case R_EXEC:
        if (r->type != REDIS_REPLY_ARRAY) {
            return HW_ERR_UNAVAILABLE; /* nil: the transaction was aborted */
        }
        /* EXEC applies the commands that did not fail: one that failed
         * makes the whole write a failure of this event, which redoes it
         * in full or dead-letters it */
        for (size_t i = 0; i < r->elements; i++) {
            if (r->element[i]->type == REDIS_REPLY_ERROR) {
                snprintf(o->c->err, sizeof(o->c->err), "in EXEC: %s",
                         log_text(safe, sizeof(safe), r->element[i]->str));
                return classify_error(r->element[i]->str, &o->drop);
            }
        }
        return HW_OK;
    case R_STRING: /* nil: no such key */
        if (r->type == REDIS_REPLY_STRING) {
            o->r.value = xasprintf("%.*s", (int)r->len, r->str);
        }
        return HW_OK;
    case R_JSON:
        o->r.json = reply_json(r, 0);
        return o->r.json != NULL ? HW_OK : HW_ERR_UNAVAILABLE;
    case R_STATUS:
        return HW_OK;
    }
    return HW_ERR_UNAVAILABLE;
}

/* Why the connection went (asked for each op it fails): a TLS refusal
 * (HW_ERR_CONFIG) or an outage, read once per connection, so the first
 * cause stays the error text (a timeout's too: cache_tick). */
static enum hw_rc connection_lost(struct cache *c, const redisAsyncContext *ac)
{
    char why[200];

    if (c->lost_rc != HW_OK) {
        return c->lost_rc;
    }
    c->lost_rc = HW_ERR_UNAVAILABLE;
    c->down = true; /* before the ops' callbacks read cache_down() */
    if (c->ssl != NULL && cachetls_refused(c->ssl, why, sizeof(why))) {
        snprintf(c->err, sizeof(c->err), "%s", why);
        c->lost_rc = HW_ERR_CONFIG;
    } else {
        snprintf(c->err, sizeof(c->err), "connection lost%s%s",
                 ac->errstr[0] != '\0' ? ": " : "",
                 log_text(why, sizeof(why), ac->errstr));
    }
    return c->lost_rc;
}

/* One reply of an op; every command gets one, NULL when the connection
 * went away. The first failure of a batch decides its result. */
static void on_redis_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct op *o = priv;
    struct cache *c = o->c;
    const redisReply *r = reply;
    enum hw_rc rc = HW_OK;
    bool drop = false;
    char safe[201]; /* Redis's words, escaped (log.h) and cut */

    (void)ac;
    c->progress_ms = hw_mono_ms();
    heard(c, r);
    if (r == NULL) {
        rc = connection_lost(c, ac);
    } else if (c->login_rc != HW_OK) {
        rc = c->login_rc; /* AUTH or SELECT refused: nothing here counts */
        drop = true;
    } else if (r->type == REDIS_REPLY_ERROR) {
        rc = classify_error(r->str, &drop);
        if (o->rc == HW_OK) {
            snprintf(c->err, sizeof(c->err), "%s: %s",
                     o->kinds[o->at] == R_EXEC ? "EXEC" : "command",
                     log_text(safe, sizeof(safe), r->str));
        }
    } else {
        rc = read_reply(o, o->kinds[o->at], r);
    }
    if (o->rc == HW_OK) {
        o->rc = rc;
    }
    o->drop |= drop;
    if (++o->at == o->n) {
        c->in_flight--;
        if (o->drop) {
            c->reconnect = true;
        }
        op_complete(o);
    }
}

/* Sends the op's batch (freed) on the connection, or completes it from
 * cache_tick() when nothing could be sent. */
static void send_op(struct cache *c, struct op *o)
{
    struct batch *b = &o->b;

    o->sent_us = hw_mono_us();
    if (connect_lazily(c)) {
        for (size_t i = 0; i < b->n; i++) {
            o->kinds[o->n] = reply_kind(b->cmds[i].argv[0]);
            if (redisAsyncCommandArgv(c->ac, on_redis_reply, o, b->cmds[i].argc,
                                      (const char **)(void *)b->cmds[i].argv,
                                      b->cmds[i].lens) != REDIS_OK) {
                o->rc = HW_ERR_UNAVAILABLE;
                break;
            }
            o->n++;
        }
    } else {
        o->rc = c->conn_rc; /* HW_ERR_CONFIG: TLS refused at once */
    }
    batch_free(b);
    if (o->n == 0) {
        if (o->rc == HW_OK) {
            o->rc = HW_ERR_UNAVAILABLE;
        }
        o->next = c->failed;
        c->failed = o;
        return;
    }
    if (c->in_flight++ == 0) {
        c->progress_ms = hw_mono_ms();
    }
}

/* The held ops, in the order they came, on this step's attempt: all on
 * the new connection, or all failed with it. */
static void send_waiting(struct cache *c)
{
    struct op *o = c->waiting;

    c->waiting = NULL;
    c->waiting_end = &c->waiting;
    while (o != NULL) {
        struct op *next = o->next;

        o->next = NULL;
        send_op(c, o);
        o = next;
    }
}

/* Queues the batch (consumed); fn runs once every reply is in, or from
 * cache_tick() when nothing could be sent. Without a connection it is
 * held until the backoff allows the next attempt. Returns the op (for
 * flags set before any reply can arrive). */
static struct op *submit(struct cache *c, struct batch *b, cache_done_fn *fn,
                         void *arg)
{
    struct op *o = xcalloc(1, sizeof(*o));

    o->c = c;
    o->fn = fn;
    o->arg = arg;
    o->kinds = xcalloc(b->n, sizeof(*o->kinds));
    o->rc = HW_OK;
    o->b = *b; /* the op owns the commands now */
    *b = (struct batch){NULL, 0};
    if (c->ac != NULL) {
        send_op(c, o);
        return o;
    }
    *c->waiting_end = o;
    c->waiting_end = &o->next;
    settle_gone(c);
    if (hw_mono_ms() >= c->next_connect_ms) {
        send_waiting(c);
    }
    return o;
}

/* ---- waiting, for the synchronous calls ------------------------------- */

struct sync {
    bool done, exists;
    enum hw_rc rc;
    json_t *hash;
};

static void on_sync(void *arg, enum hw_rc rc, struct cache_reply *r)
{
    struct sync *s = arg;

    s->done = true;
    s->rc = rc;
    s->exists = r->exists;
    s->hash = r->hash;
    r->hash = NULL;
}

static enum hw_rc wait_sync(struct cache *c, struct sync *s)
{
    while (!s->done) {
        short events;
        int fd = cache_poll_fd(c, &events);
        struct pollfd p = {fd, events, 0};

        cache_tick(c);
        if (s->done) {
            break;
        }
        if (poll(&p, fd >= 0 ? 1 : 0, 50) > 0) {
            cache_handle(c, p.revents);
        }
    }
    return s->rc;
}

/* ---- keys ----------------------------------------------------------- */

char *cache_key_subject(enum subject_kind kind, const char *id)
{
    return xasprintf("hms:%s:%s", kind == SUBJECT_STREAM ? "stream" : "booking",
                     id);
}

char *cache_key_token(const char *room_id, const char *user_id)
{
    return xasprintf("hms:token:%s:%s", room_id, user_id);
}

char *cache_key_event(const char *event_id)
{
    return xasprintf("hms:event:%s", event_id);
}

char *cache_key_room(const char *room_id)
{
    return xasprintf("hms:room:%s", room_id);
}

/* ---- operations ----------------------------------------------------- */

void cache_load(struct cache *c, const char *event_id, enum subject_kind kind,
                const char *id, cache_done_fn *fn, void *arg)
{
    struct batch b = {0};

    batch_cmd(&b, "EXISTS");
    batch_own(&b, cache_key_event(event_id));
    batch_cmd(&b, "HGETALL");
    batch_own(&b, cache_key_subject(kind, id));
    submit(c, &b, fn, arg);
}

void cache_ping(struct cache *c, cache_done_fn *fn, void *arg)
{
    struct batch b = {0};

    batch_cmd(&b, "PING");
    submit(c, &b, fn, arg);
}

int64_t cache_last_ok(const struct cache *c)
{
    return c->last_ok_ms;
}

void cache_mark(struct cache *c, const char *event_id, cache_done_fn *fn,
                void *arg)
{
    struct batch b = {0};

    batch_cmd(&b, "SET");
    batch_own(&b, cache_key_event(event_id));
    batch_arg(&b, "1");
    batch_arg(&b, "EX");
    batch_argf(&b, "%d", CACHE_MARKER_TTL_S);
    submit(c, &b, fn, arg)->is_write = true;
}

/* A stream starts (its URL published) unless the subject ended or that
 * stream's stop is already known; a stop removes the URL only while it is that
 * stream's (by id, or by URL for one published without an id). Compared in
 * Redis, so an hls.* webhook and a provisioning or another webhook of the room
 * running at the same time cannot leave the URL of a stopped stream. */
static void hls_change(struct batch *b, const char *key, const char *op,
                       const char *url, const char *stream_id, int64_t at)
{
    static const char script[] =
        "local h = KEYS[1] "
        "if redis.call('EXISTS', h) == 0 then return 0 end "
        "if ARGV[1] == 'start' then "
        "  if redis.call('HGET', h, 'status') == 'ended' or "
        "     redis.call('HGET', h, 'hls_stopped_id') == ARGV[3] then "
        "    return 0 end "
        "  redis.call('HSET', h, 'hls_url', ARGV[2], 'hls_stream_id', ARGV[3], "
        "             'hls_started_at', ARGV[4]) "
        "  redis.call('HDEL', h, 'hls_retries') "
        "  return 1 end "
        "redis.call('HSET', h, 'hls_stopped_id', ARGV[3], 'hls_stopped_at', "
        "           ARGV[4]) "
        "local id = redis.call('HGET', h, 'hls_stream_id') "
        "if id == ARGV[3] or "
        "   (not id and redis.call('HGET', h, 'hls_url') == ARGV[2]) then "
        "  redis.call('HDEL', h, 'hls_url', 'hls_stream_id', 'hls_started_at') "
        "  return 1 end "
        "return 0";

    batch_cmd(b, "EVAL");
    batch_arg(b, script);
    batch_arg(b, "1");
    batch_arg(b, key);
    batch_arg(b, op);
    batch_arg(b, url != NULL ? url : "");
    batch_arg(b, stream_id);
    batch_argf(b, "%lld", (long long)at);
}

void cache_put_ready(struct cache *c, const struct cache_ready *r,
                     cache_done_fn *fn, void *arg)
{
    struct batch b = {0};
    char *key = cache_key_subject(r->kind, r->subject_id);

    batch_cmd(&b, "MULTI");
    if (r->n_old > 0) {
        batch_cmd(&b, "HDEL");
        batch_arg(&b, key);
        for (size_t i = 0; i < r->n_old; i++) {
            batch_arg(&b, r->old_fields[i]);
        }
    }
    batch_cmd(&b, "HSET");
    batch_arg(&b, key);
    batch_arg(&b, "status");
    batch_arg(&b, "ready");
    batch_arg(&b, "room_id");
    batch_arg(&b, r->room_id);
    batch_arg(&b, "room_name");
    batch_arg(&b, r->room_name);
    batch_arg(&b, "event_id");
    batch_arg(&b, r->event_id);
    batch_arg(&b, "updated_at");
    batch_argf(&b, "%lld", (long long)r->now_ms);
    for (size_t i = 0; i < r->n_codes; i++) {
        batch_argf(&b, "code:%s", r->codes[i].role);
        batch_arg(&b, r->codes[i].code);
        if (r->codes[i].join_url != NULL) {
            batch_argf(&b, "link:%s", r->codes[i].role);
            batch_arg(&b, r->codes[i].join_url);
        }
    }
    for (size_t i = 0; i < r->n_tokens; i++) {
        batch_argf(&b, "role:%s", r->tokens[i].user_id);
        batch_arg(&b, r->tokens[i].role);
    }
    if (r->hls_url != NULL && r->hls_stream_id == NULL) {
        batch_arg(&b, "hls_url");
        batch_arg(&b, r->hls_url);
    }
    if (r->hls_requested) {
        batch_arg(&b, "hls_requested");
        batch_arg(&b, "1");
    }
    if (r->ends_at_ms > 0) {
        batch_arg(&b, "ends_at");
        batch_argf(&b, "%lld", (long long)r->ends_at_ms);
    }
    if (r->hls_url != NULL && r->hls_stream_id != NULL) {
        /* its hls.stopped.success may have come already */
        hls_change(&b, key, "start", r->hls_url, r->hls_stream_id, r->now_ms);
    }
    batch_cmd(&b, "EXPIREAT");
    batch_arg(&b, key);
    batch_argf(&b, "%lld", (long long)r->expire_at_s);
    batch_cmd(&b, "SET"); /* the room's subject, living as long as its hash */
    batch_own(&b, cache_key_room(r->room_id));
    batch_argf(&b, "%s:%s", r->kind == SUBJECT_STREAM ? "stream" : "booking",
               r->subject_id);
    batch_cmd(&b, "EXPIREAT"); /* not SET EXAT: Redis < 6.2 has none */
    batch_own(&b, cache_key_room(r->room_id));
    batch_argf(&b, "%lld", (long long)r->expire_at_s);
    for (size_t i = 0; i < r->n_tokens; i++) {
        int64_t ttl = r->tokens[i].exp_s - 60 - r->now_ms / 1000;

        batch_cmd(&b, "SET");
        batch_own(&b, cache_key_token(r->room_id, r->tokens[i].user_id));
        batch_arg(&b, r->tokens[i].jwt);
        batch_arg(&b, "EX");
        batch_argf(&b, "%lld", (long long)(ttl > 0 ? ttl : 1));
    }
    for (size_t i = 0; i < r->n_stale; i++) {
        batch_cmd(&b, "DEL");
        batch_own(&b, cache_key_token(r->room_id, r->stale_users[i]));
    }
    batch_cmd(&b, "EXEC");
    free(key);
    submit(c, &b, fn, arg)->is_write = true;
}

void cache_put_ended(struct cache *c, const struct cache_ended *e,
                     cache_done_fn *fn, void *arg)
{
    struct batch b = {0};
    char *key = cache_key_subject(e->kind, e->subject_id);

    batch_cmd(&b, "MULTI");
    if (e->tombstone) {
        batch_cmd(&b, "DEL");
        batch_arg(&b, key);
    }
    for (size_t i = 0; e->lock && i < e->n_users; i++) {
        batch_cmd(&b, "DEL");
        batch_own(&b, cache_key_token(e->room_id, e->users[i]));
    }
    if (e->lock && e->n_fields > 0) {
        batch_cmd(&b, "HDEL");
        batch_arg(&b, key);
        for (size_t i = 0; i < e->n_fields; i++) {
            batch_arg(&b, e->fields[i]);
        }
    }
    batch_cmd(&b, "HDEL"); /* an ended room plays nothing */
    batch_arg(&b, key);
    batch_arg(&b, "hls_url");
    batch_arg(&b, "hls_stream_id");
    batch_cmd(&b, "HSET");
    batch_arg(&b, key);
    batch_arg(&b, "status");
    batch_arg(&b, "ended");
    batch_arg(&b, "ended_at");
    batch_argf(&b, "%lld", (long long)e->now_ms);
    batch_arg(&b, "event_id");
    batch_arg(&b, e->event_id);
    batch_arg(&b, "updated_at");
    batch_argf(&b, "%lld", (long long)e->now_ms);
    batch_cmd(&b, "EXPIRE");
    batch_arg(&b, key);
    batch_argf(&b, "%lld", (long long)e->ttl_s);
    if (e->room_id != NULL) {
        batch_cmd(&b, "EXPIRE");
        batch_own(&b, cache_key_room(e->room_id));
        batch_argf(&b, "%lld", (long long)e->ttl_s);
    }
    batch_cmd(&b, "ZREM"); /* an ended subject's tokens are renewed no more */
    batch_arg(&b, CACHE_KEY_RENEW);
    batch_argf(&b, "%s:%s", e->kind == SUBJECT_STREAM ? "stream" : "booking",
               e->subject_id);
    batch_cmd(&b, "EXEC");
    free(key);
    submit(c, &b, fn, arg)->is_write = true;
}

void cache_clear_hls(struct cache *c, enum subject_kind kind, const char *id,
                     const char *url, cache_done_fn *fn, void *arg)
{
    /* compare and delete in one step: a provisioning in between may have
     * written a new URL, which stays */
    static const char script[] =
        "if redis.call('HGET', KEYS[1], 'hls_url') == ARGV[1] then "
        "return redis.call('HDEL', KEYS[1], 'hls_url') end return 0";
    struct batch b = {0};

    batch_cmd(&b, "EVAL");
    batch_arg(&b, script);
    batch_arg(&b, "1");
    batch_own(&b, cache_key_subject(kind, id));
    batch_arg(&b, url);
    submit(c, &b, fn, arg)->is_write = true;
}

void cache_resolve_room(struct cache *c, const char *room_id, cache_done_fn *fn,
                        void *arg)
{
    struct batch b = {0};

    batch_cmd(&b, "GET");
    batch_own(&b, cache_key_room(room_id));
    submit(c, &b, fn, arg);
}

void cache_put_hook(struct cache *c, const struct cache_hook *h,
                    cache_done_fn *fn, void *arg)
{
    struct batch b = {0};
    char *key = cache_key_subject(h->kind, h->subject_id);

    batch_cmd(&b, "MULTI");
    if (h->hls_op != NULL) { /* first: the hash as it was */
        hls_change(&b, key, h->hls_op, h->hls_url, h->hls_stream_id, h->hls_at);
    }
    if (h->n_del > 0) {
        batch_cmd(&b, "HDEL");
        batch_arg(&b, key);
        for (size_t i = 0; i < h->n_del; i++) {
            batch_arg(&b, h->del[i]);
        }
    }
    batch_cmd(&b, "HSET");
    batch_arg(&b, key);
    for (size_t i = 0; i < h->n_set; i++) {
        batch_arg(&b, h->set[2 * i]);
        batch_arg(&b, h->set[2 * i + 1]);
    }
    batch_arg(&b, "updated_at");
    batch_argf(&b, "%lld", (long long)h->now_ms);
    batch_cmd(&b, "PUBLISH");
    batch_argf(&b, "hms:events:%s:%s",
               h->kind == SUBJECT_STREAM ? "stream" : "booking", h->subject_id);
    batch_arg(&b, h->message);
    if (h->renew != CACHE_RENEW_KEEP) { /* renew.h */
        batch_cmd(&b, h->renew == CACHE_RENEW_START ? "ZADD" : "ZREM");
        batch_arg(&b, CACHE_KEY_RENEW);
        if (h->renew == CACHE_RENEW_START) {
            batch_argf(&b, "%lld", (long long)h->now_ms);
        }
        batch_argf(&b, "%s:%s",
                   h->kind == SUBJECT_STREAM ? "stream" : "booking",
                   h->subject_id);
    }
    batch_cmd(&b, "EXEC"); /* the marker follows the output (cache_mark) */
    free(key);
    submit(c, &b, fn, arg)->is_write = true;
}

void cache_script(struct cache *c, const char *script, const char *const *keys,
                  size_t n_keys, const char *const *args, size_t n_args,
                  cache_done_fn *fn, void *arg)
{
    struct batch b = {0};

    batch_cmd(&b, "EVAL");
    batch_arg(&b, script);
    batch_argf(&b, "%zu", n_keys);
    for (size_t i = 0; i < n_keys; i++) {
        batch_arg(&b, keys[i]);
    }
    for (size_t i = 0; i < n_args; i++) {
        batch_arg(&b, args[i]);
    }
    submit(c, &b, fn, arg)->is_write = true;
}

/* ---- the same, waiting for the reply (tools, tests) ------------------- */

enum hw_rc cache_get_subject(struct cache *c, enum subject_kind kind,
                             const char *id, json_t **out)
{
    struct sync s = {0};
    struct batch b = {0};

    batch_cmd(&b, "HGETALL");
    batch_own(&b, cache_key_subject(kind, id));
    submit(c, &b, on_sync, &s);
    wait_sync(c, &s);
    *out = s.hash;
    return s.rc;
}

enum hw_rc cache_exists(struct cache *c, const char *key, bool *exists)
{
    struct sync s = {0};
    struct batch b = {0};

    batch_cmd(&b, "EXISTS");
    batch_arg(&b, key);
    submit(c, &b, on_sync, &s);
    *exists = wait_sync(c, &s) == HW_OK && s.exists;
    return s.rc;
}

enum hw_rc cache_marker_exists(struct cache *c, const char *event_id,
                               bool *exists)
{
    char *key = cache_key_event(event_id);
    enum hw_rc rc = cache_exists(c, key, exists);

    free(key);
    return rc;
}

enum hw_rc cache_mark_applied(struct cache *c, const char *event_id)
{
    struct sync s = {0};

    cache_mark(c, event_id, on_sync, &s);
    return wait_sync(c, &s);
}

enum hw_rc cache_write_ready(struct cache *c, const struct cache_ready *r)
{
    struct sync s = {0};

    cache_put_ready(c, r, on_sync, &s);
    return wait_sync(c, &s);
}

enum hw_rc cache_write_ended(struct cache *c, const struct cache_ended *e)
{
    struct sync s = {0};

    cache_put_ended(c, e, on_sync, &s);
    return wait_sync(c, &s);
}

enum hw_rc cache_write_hook(struct cache *c, const struct cache_hook *h)
{
    struct sync s = {0};

    cache_put_hook(c, h, on_sync, &s);
    return wait_sync(c, &s);
}
