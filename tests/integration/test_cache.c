/* test_cache.c -- the Redis key schema against a real redis-server
 * (REDIS_URL): one MULTI/EXEC per write, TTLs, stale tokens, lock,
 * tombstones, markers, and recovery after the connection drops; the same
 * over TLS (REDIS_TLS_URL, verified against STACK_CA_FILE), TLS
 * refusals reported as such, a SELECT that cannot be queued (hiredis's
 * redisAsyncCommand wrapped at link time: -Wl,--wrap, this binary only),
 * and one connection backoff for all batches while Redis is down. */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "cache.h"
#include "metrics.h"
#include "testhelp.h"

#include <hiredis/async.h>

/* The linker's --wrap name: cache.c's AUTH and SELECT land here. */
int __wrap_redisAsyncCommand(redisAsyncContext *ac, redisCallbackFn *fn,
                             void *priv, const char *fmt, ...);

static int refuse_cmds; /* how many of the next commands are not queued */

int __wrap_redisAsyncCommand(redisAsyncContext *ac, redisCallbackFn *fn,
                             void *priv, const char *fmt, ...)
{
    va_list ap;
    int rc;

    if (refuse_cmds > 0) {
        refuse_cmds--;
        return REDIS_ERR; /* as hiredis does out of memory */
    }
    va_start(ap, fmt);
    rc = redisvAsyncCommand(ac, fn, priv, fmt, ap);
    va_end(ap);
    return rc;
}

static redisContext *raw; /* an independent connection to look with */
static int64_t now_ms;

static long long integer(const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(raw, fmt, arg);
    long long v =
        r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -99;

    freeReplyObject(r);
    return v;
}

static char *string(const char *fmt, const char *a, const char *b)
{
    redisReply *r = redisCommand(raw, fmt, a, b);
    char *v =
        r != NULL && r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;

    freeReplyObject(r);
    return v;
}

static long long stat_calls(const char *cmd)
{
    redisReply *r = redisCommand(raw, "INFO commandstats");
    char key[64];
    const char *p;
    long long v = 0;

    snprintf(key, sizeof(key), "cmdstat_%s:calls=", cmd);
    p = r != NULL && r->str != NULL ? strstr(r->str, key) : NULL;
    if (p != NULL) {
        v = strtoll(p + strlen(key), NULL, 10);
    }
    freeReplyObject(r);
    return v;
}

static void check_str(const char *key, const char *field, const char *want)
{
    char *got = string("HGET %s %s", key, field);

    CHECK_STR(got, want);
    free(got);
}

static void test_ready_and_reprovision(struct cache *c)
{
    struct room_code codes[] = {{"host", "aaa-bbbb-ccc", "https://x/aaa"},
                                {"guest", "ddd-eeee-fff", NULL}};
    struct cache_token toks[] = {{"alice", "host", "jwt-a", 0},
                                 {"bob", "guest", "jwt-b", 0}};
    const char *stale[] = {"bob"};
    struct cache_ready r = {SUBJECT_BOOKING,
                            "it-B1",
                            "room1",
                            "bk-it-B1",
                            "ev1",
                            NULL,
                            codes,
                            2,
                            toks,
                            2,
                            NULL,
                            0,
                            now_ms,
                            now_ms / 1000 + 7200,
                            NULL,
                            0,
                            NULL,
                            false,
                            0};
    const char *old[] = {"role:bob", "code:guest"};
    long long multi = stat_calls("multi"), exec = stat_calls("exec");
    json_t *h = NULL;
    char *tok;

    toks[0].exp_s = toks[1].exp_s = now_ms / 1000 + 3600;
    CHECK(cache_write_ready(c, &r) == HW_OK);
    CHECK_INT(stat_calls("multi") - multi, 1);
    CHECK_INT(stat_calls("exec") - exec, 1);
    check_str("hms:booking:it-B1", "status", "ready");
    check_str("hms:booking:it-B1", "room_id", "room1");
    check_str("hms:booking:it-B1", "code:host", "aaa-bbbb-ccc");
    check_str("hms:booking:it-B1", "link:host", "https://x/aaa");
    check_str("hms:booking:it-B1", "role:bob", "guest");
    CHECK_INT(integer("HEXISTS hms:booking:it-B1 %s", "link:guest"), 0);
    CHECK(integer("TTL %s", "hms:booking:it-B1") > 7100);
    tok = string("GET %s", "hms:token:room1:alice", NULL);
    CHECK_STR(tok, "jwt-a");
    free(tok);
    CHECK(integer("TTL %s", "hms:token:room1:alice") > 3500 &&
          integer("TTL %s", "hms:token:room1:alice") <= 3540);
    CHECK(cache_get_subject(c, SUBJECT_BOOKING, "it-B1", &h) == HW_OK);
    CHECK_STR(json_string_value(json_object_get(h, "role:alice")), "host");
    json_decref(h);
    /* re-provisioned without bob: his token and role field go, the old
     * fields named go, what a webhook wrote stays */
    CHECK_INT(integer("HSET hms:booking:it-B1 %s 1", "joined:carol"), 1);
    r.n_tokens = 1;
    r.stale_users = stale;
    r.n_stale = 1;
    r.event_id = "ev2";
    r.old_fields = old;
    r.n_old = 2;
    r.n_codes = 1;
    CHECK(cache_write_ready(c, &r) == HW_OK);
    CHECK_INT(integer("EXISTS %s", "hms:token:room1:bob"), 0);
    CHECK_INT(integer("HEXISTS hms:booking:it-B1 %s", "role:bob"), 0);
    CHECK_INT(integer("HEXISTS hms:booking:it-B1 %s", "code:guest"), 0);
    check_str("hms:booking:it-B1", "joined:carol", "1");
    check_str("hms:booking:it-B1", "event_id", "ev2");
}

static void test_ended(struct cache *c)
{
    const char *users[] = {"alice"};
    const char *fields[] = {"code:host", "code:guest", "link:host"};
    struct cache_ended e = {SUBJECT_BOOKING, "it-B1", "room1", "ev3",  true,
                            false,           users,   1,       fields, 3,
                            now_ms,          86400};
    json_t *h = NULL;

    CHECK(cache_write_ended(c, &e) == HW_OK);
    check_str("hms:booking:it-B1", "status", "ended");
    check_str("hms:booking:it-B1", "room_id", "room1");
    CHECK_INT(integer("HEXISTS hms:booking:it-B1 %s", "code:host"), 0);
    CHECK_INT(integer("EXISTS %s", "hms:token:room1:alice"), 0);
    CHECK(integer("TTL %s", "hms:booking:it-B1") > 86000);
    /* never provisioned: a tombstone */
    e.subject_id = "it-never";
    e.tombstone = true;
    e.lock = false;
    e.ttl_s = 604800;
    CHECK(cache_write_ended(c, &e) == HW_OK);
    CHECK(cache_get_subject(c, SUBJECT_BOOKING, "it-never", &h) == HW_OK);
    CHECK_INT(json_object_size(h), 4);
    CHECK_STR(json_string_value(json_object_get(h, "status")), "ended");
    json_decref(h);
    CHECK(cache_get_subject(c, SUBJECT_STREAM, "it-none", &h) == HW_OK);
    CHECK(h == NULL);
}

static void hls(struct cache *c, const char *op, const char *id,
                const char *url, int64_t at)
{
    struct cache_hook h = {.kind = SUBJECT_STREAM,
                           .subject_id = "it-S1",
                           .event_id = "w",
                           .message = "{}",
                           .now_ms = now_ms,
                           .hls_op = op,
                           .hls_url = url,
                           .hls_stream_id = id,
                           .hls_at = at};

    CHECK(cache_write_hook(c, &h) == HW_OK);
}

/* hls.* webhooks are not ordered with the subject's events: whatever the
 * order, a stopped stream's URL never stays, a running one's never goes
 * (contract section 3, webhook). */
static void test_hls_by_comparison(struct cache *c)
{
    struct cache_ready r = {.kind = SUBJECT_STREAM,
                            .subject_id = "it-S1",
                            .room_id = "room2",
                            .room_name = "ls-it-S1",
                            .event_id = "ev1",
                            .hls_url = "https://x/u1",
                            .hls_stream_id = "st1",
                            .now_ms = now_ms,
                            .expire_at_s = now_ms / 1000 + 600};

    CHECK(cache_write_ready(c, &r) == HW_OK);
    check_str("hms:stream:it-S1", "hls_url", "https://x/u1");
    check_str("hms:stream:it-S1", "hls_stream_id", "st1");
    hls(c, "stop", "st1", "https://x/u1", 2);
    CHECK_INT(integer("HEXISTS hms:stream:it-S1 %s", "hls_url"), 0);
    hls(c, "start", "st1", "https://x/u1", 1); /* its start, late */
    CHECK_INT(integer("HEXISTS hms:stream:it-S1 %s", "hls_url"), 0);
    CHECK(cache_write_ready(c, &r) == HW_OK); /* a provisioning, late */
    CHECK_INT(integer("HEXISTS hms:stream:it-S1 %s", "hls_url"), 0);
    hls(c, "start", "st2", "https://x/u2", 3);
    hls(c, "stop", "st1", "https://x/u1", 2); /* the old one's, again */
    check_str("hms:stream:it-S1", "hls_url", "https://x/u2");
    hls(c, "stop", "https://x/u2", "https://x/u2", 4); /* by URL: no id */
    check_str("hms:stream:it-S1", "hls_url", "https://x/u2"); /* not it */
    hls(c, "stop", "st2", "https://x/u2", 4);
    CHECK_INT(integer("HEXISTS hms:stream:it-S1 %s", "hls_url"), 0);
    CHECK_INT(integer("HSET hms:stream:it-S1 status %s", "ended"), 0);
    hls(c, "start", "st3", "https://x/u3", 5); /* an ended room plays none */
    CHECK_INT(integer("HEXISTS hms:stream:it-S1 %s", "hls_url"), 0);
    CHECK(integer("TTL %s", "hms:stream:it-S1") > 500);
}

static void test_marker_and_reconnect(struct cache *c)
{
    bool exists = true;
    redisReply *r;

    CHECK(cache_marker_exists(c, "it-ev9", &exists) == HW_OK && !exists);
    CHECK(cache_mark_applied(c, "it-ev9") == HW_OK);
    CHECK(cache_marker_exists(c, "it-ev9", &exists) == HW_OK && exists);
    CHECK(integer("TTL %s", "hms:event:it-ev9") > 604000);
    /* kill our connection from the server side: one failure, then fine */
    r = redisCommand(raw, "CLIENT KILL TYPE normal SKIPME yes");
    freeReplyObject(r);
    CHECK(cache_marker_exists(c, "it-ev9", &exists) == HW_ERR_UNAVAILABLE);
    CHECK(strlen(cache_errstr(c)) > 0);
    CHECK(cache_marker_exists(c, "it-ev9", &exists) == HW_OK && exists);
}

static void pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&t, NULL);
}

struct answer {
    bool done;
    enum hw_rc rc;
};

static void on_answer(void *arg, enum hw_rc rc, struct cache_reply *r)
{
    struct answer *a = arg;

    (void)r;
    a->done = true;
    a->rc = rc;
}

/* The owner's thread busy for longer than the timeout (10,000 tokens to
 * mint on a slow machine) while the reply waits in the socket: that is not
 * Redis's silence. It once dropped the connection, and every big event
 * after it, for good. */
static void test_busy_owner_is_no_timeout(const struct conf *cf)
{
    struct cache *c = cache_create(&cf->redis, 200);
    struct answer a = {false, HW_OK};
    short events;
    int fd;

    cache_ping(c, on_answer, &a);
    for (int i = 0; i < 50 && (fd = cache_poll_fd(c, &events)) >= 0 &&
                    (events & POLLOUT) != 0;
         i++) {
        cache_handle(c, POLLOUT); /* connect, then send */
        pause_ms(10);
    }
    pause_ms(400); /* busy elsewhere; the PONG arrives meanwhile */
    cache_tick(c);
    /* over TLS the handshake's next flight was waiting instead: it goes
     * on (the PONG takes more turns of the loop), no timeout either */
    for (int i = 0; i < 100 && !a.done; i++) {
        struct pollfd p = {cache_poll_fd(c, &events), 0, 0};

        p.events = events;
        if (poll(&p, p.fd >= 0 ? 1 : 0, 20) > 0) {
            cache_handle(c, p.revents);
        }
        cache_tick(c);
    }
    CHECK(a.done && a.rc == HW_OK);
    cache_destroy(c);
}

/* A Redis error reply is a peer's text: in the error text (logged, on
 * /readyz) its quotes and backslashes are escaped (log.h), so it cannot
 * end a logfmt field. (Redis itself turns CR and LF into spaces.) */
static void test_error_text_escaped(const struct conf *cf)
{
    static const char script[] =
        "return redis.error_reply('ERR no \"such\" thing \\\\ here')";
    struct cache *c = cache_create(&cf->redis, 2000);
    struct answer a = {false, HW_OK};
    short events;

    cache_script(c, script, NULL, 0, NULL, 0, on_answer, &a);
    for (int i = 0; i < 200 && !a.done; i++) {
        struct pollfd p = {cache_poll_fd(c, &events), 0, 0};

        p.events = events;
        if (poll(&p, p.fd >= 0 ? 1 : 0, 20) > 0) {
            cache_handle(c, p.revents);
        }
        cache_tick(c);
    }
    CHECK(a.done && a.rc != HW_OK);
    CHECK(strstr(cache_errstr(c), "no _such_ thing _ here") != NULL);
    CHECK(strchr(cache_errstr(c), '"') == NULL);
    CHECK(strchr(cache_errstr(c), '\\') == NULL);
    cache_destroy(c);
}

/* rediss:// refused clearly, as a setup to fix (HW_ERR_CONFIG with the
 * cause), not as Redis down: a certificate the trust store does not know
 * (no REDIS_TLS_CA_FILE: the system's store, which lacks the stack's CA);
 * a port that does not speak TLS is named as the likely cause. */
static void test_tls_refused(const char *tls_url, const char *plain_port)
{
    const char *env[] = {"HMS_ACCESS_KEY=x", "HMS_APP_SECRET=x",
                         "HMS_TEMPLATE_ID=x", NULL, NULL};
    char url[256];
    struct conf cf = {0};
    struct cache *c;
    bool exists;

    snprintf(url, sizeof(url), "REDIS_URL=%s", tls_url);
    env[3] = url;
    CHECK(conf_load(&cf, env) == HW_OK);
    c = cache_create(&cf.redis, 2000);
    CHECK(cache_exists(c, "k", &exists) == HW_ERR_CONFIG);
    CHECK(strncmp(cache_errstr(c), "TLS: Redis's certificate is not accepted",
                  40) == 0);
    CHECK(cache_exists(c, "k", &exists) == HW_ERR_CONFIG); /* each time */
    cache_destroy(c);
    conf_deinit(&cf);
    snprintf(url, sizeof(url), "REDIS_URL=rediss://127.0.0.1:%s/0", plain_port);
    CHECK(conf_load(&cf, env) == HW_OK);
    c = cache_create(&cf.redis, 300);
    /* Redis waits for the rest of a "command" that never ends: a silence,
     * which could be the network's too, so retriable; the text says it */
    CHECK(cache_exists(c, "k", &exists) == HW_ERR_UNAVAILABLE);
    CHECK(strstr(cache_errstr(c), "TLS: no answer to the handshake") != NULL);
    cache_destroy(c);
    conf_deinit(&cf);
}

/* A SELECT hiredis does not queue (review B15) must not let the writes
 * go to database 0: the connection is dropped, the call is Redis
 * unavailable (wait), and the next one reconnects and selects. */
static void test_select_not_queued(const char *plain_port)
{
    const char *env[] = {"HMS_ACCESS_KEY=x", "HMS_APP_SECRET=x",
                         "HMS_TEMPLATE_ID=x", NULL, NULL};
    char url[256];
    struct conf cf = {0};
    struct cache *c;
    redisReply *r;

    snprintf(url, sizeof(url), "REDIS_URL=redis://127.0.0.1:%s/3", plain_port);
    env[3] = url;
    CHECK(conf_load(&cf, env) == HW_OK);
    c = cache_create(&cf.redis, 2000);
    freeReplyObject(redisCommand(raw, "SELECT 0"));
    freeReplyObject(redisCommand(raw, "DEL %s", "hms:event:it-sel"));
    refuse_cmds = 1;
    CHECK(cache_mark_applied(c, "it-sel") == HW_ERR_UNAVAILABLE);
    CHECK(strstr(cache_errstr(c), "SELECT") != NULL);
    CHECK(integer("EXISTS %s", "hms:event:it-sel") == 0); /* not in db 0 */
    CHECK(cache_mark_applied(c, "it-sel") == HW_OK);
    CHECK(integer("EXISTS %s", "hms:event:it-sel") == 0);
    r = redisCommand(raw, "SELECT 3");
    freeReplyObject(r);
    CHECK(integer("EXISTS %s", "hms:event:it-sel") == 1);
    freeReplyObject(redisCommand(raw, "DEL %s", "hms:event:it-sel"));
    freeReplyObject(redisCommand(raw, "SELECT 0"));
    cache_destroy(c);
    conf_deinit(&cf);
}

/* hms_worker_redis_connects_total, from the metrics page. */
static long long connects(void)
{
    static const char needle[] = "\nhms_worker_redis_connects_total ";
    char *text = metrics_render();
    const char *at = strstr(text, needle);
    long long n = at != NULL ? strtoll(at + strlen(needle), NULL, 10) : -1;

    free(text);
    return n;
}

/* Redis down (a port nobody listens on, by a name): 100 batches, each
 * made again as soon as it fails (as the handler does while cache_down()),
 * make one connection attempt per backoff step, not one per batch. */
static void test_one_backoff_for_all(void)
{
    const char *env[] = {"HMS_ACCESS_KEY=x", "HMS_APP_SECRET=x",
                         "HMS_TEMPLATE_ID=x", "REDIS_URL=redis://localhost:1/0",
                         NULL};
    struct conf cf = {0};
    struct cache *c;
    struct answer a[100] = {{false, HW_OK}};
    long long n0 = connects();
    int64_t end;
    int failures = 0;

    CHECK(conf_load(&cf, env) == HW_OK);
    c = cache_create(&cf.redis, 2000);
    for (size_t i = 0; i < HW_ARRAY_LEN(a); i++) {
        cache_ping(c, on_answer, &a[i]);
    }
    CHECK_INT(connects() - n0, 1); /* the first tried; the others wait */
    end = hw_mono_ms() + 1000;
    while (hw_mono_ms() < end) {
        short events;
        struct pollfd p = {cache_poll_fd(c, &events), 0, 0};

        p.events = events;
        if (poll(&p, p.fd >= 0 ? 1 : 0, 5) > 0) {
            cache_handle(c, p.revents);
        }
        cache_tick(c);
        for (size_t i = 0; i < HW_ARRAY_LEN(a); i++) {
            if (a[i].done) {
                failures += a[i].rc == HW_ERR_UNAVAILABLE;
                CHECK(cache_down(c));
                a[i].done = false;
                cache_ping(c, on_answer, &a[i]); /* at once */
            }
        }
    }
    /* steps from 50-100 ms doubling: at most 6 attempts in a second */
    CHECK(connects() - n0 >= 2 && connects() - n0 <= 6);
    CHECK(failures >= 100 && failures <= 600);
    CHECK(strstr(cache_errstr(c), "connect") != NULL);
    cache_destroy(c);
    conf_deinit(&cf);
}

/* Every test over url; raw looks at database db of the same server. */
static void run_all(const char *url, const char *ca_file, int db)
{
    const char *env[] = {"HMS_ACCESS_KEY=x",
                         "HMS_APP_SECRET=x",
                         "HMS_TEMPLATE_ID=x",
                         NULL,
                         NULL,
                         NULL};
    char url_var[256], ca_var[256];
    struct conf cf = {0};
    struct cache *c;
    redisReply *r = redisCommand(raw, "SELECT %d", db);

    CHECK(r != NULL && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    snprintf(url_var, sizeof(url_var), "REDIS_URL=%s", url);
    env[3] = url_var;
    if (ca_file != NULL) {
        snprintf(ca_var, sizeof(ca_var), "REDIS_TLS_CA_FILE=%s", ca_file);
        env[4] = ca_var;
    }
    CHECK(conf_load(&cf, env) == HW_OK);
    c = cache_create(&cf.redis, 2000);
    test_ready_and_reprovision(c);
    test_ended(c);
    test_hls_by_comparison(c);
    test_marker_and_reconnect(c);
    test_busy_owner_is_no_timeout(&cf);
    test_error_text_escaped(&cf);
    cache_destroy(c);
    conf_deinit(&cf);
}

/* REDIS_URL; with REDIS_TLS_URL and STACK_CA_FILE (the local stack), all
 * again over TLS (database 1, so that nothing is left from the first
 * pass), by name and by IP address, and the refusals. */
int main(void)
{
    const char *plain = getenv("REDIS_URL"), *tls = getenv("REDIS_TLS_URL");
    const char *ca = getenv("STACK_CA_FILE");
    char url[256], port[16];
    struct conf cf = {0};
    const char *env[] = {"HMS_ACCESS_KEY=x", "HMS_APP_SECRET=x",
                         "HMS_TEMPLATE_ID=x", url, NULL};

    snprintf(url, sizeof(url), "REDIS_URL=%s", plain);
    if (conf_load(&cf, env) != HW_OK) {
        return 2;
    }
    raw = redisConnect(cf.redis.host, cf.redis.port);
    CHECK(raw != NULL && raw->err == 0);
    snprintf(port, sizeof(port), "%d", cf.redis.port);
    now_ms = hw_now_ms();
    run_all(plain, NULL, 0);
    test_select_not_queued(port);
    test_one_backoff_for_all();
    if (tls != NULL && ca != NULL && strrchr(tls, '/') != NULL) {
        snprintf(url, sizeof(url), "%.*s/1", (int)(strrchr(tls, '/') - tls),
                 tls); /* rediss://localhost:PORT/1 */
        run_all(url, ca, 1);
        snprintf(url, sizeof(url), "rediss://127.0.0.1%.*s/2",
                 (int)(strrchr(tls, '/') - strrchr(tls, ':')),
                 strrchr(tls, ':'));
        run_all(url, ca, 2); /* the certificate's IP address entry */
        test_tls_refused(tls, port);
    } else {
        fprintf(stderr, "REDIS_TLS_URL or STACK_CA_FILE unset: no TLS\n");
        CHECK(getenv("STACK_DIR") == NULL); /* the stack has them */
    }
    redisFree(raw);
    conf_deinit(&cf);
    return TEST_REPORT();
}
