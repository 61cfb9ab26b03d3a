/* engine.c -- the engine thread. engine_main() loops: hand the jobs taken
 * from jobq `in` to the handler, let it resume due jobs, let renew claim
 * the live sessions whose tokens are due (renew.h), then wait on
 * curl's sockets and the Redis fd in one hms_client_run(). After each turn
 * it publishes what the consumer thread reads: atomics (degraded,
 * redis_up, api_up), the halt reason under why_mu, jobs per state to
 * /metrics once a second. Finished jobs go back via jobq `out`, ringing
 * the consumer thread's bell (hw.h) only when `out` was empty: the
 * consumer takes all of it at once, so one wake-up serves a whole batch.
 * Jobs in wake this thread the same way. */
#define LOGMOD "engine"
#include "engine.h"

#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "handler.h"
#include "hms_client.h"
#include "log.h"
#include "metrics.h"
#include "renew.h"

#define LOOP_MAX_WAIT_MS 200
#define REDIS_PING_MS 5000   /* readiness of Redis when no event uses it */
#define STATES_EVERY_MS 1000 /* jobs by handler state, into /metrics */

struct engine {
    pthread_t thread;
    bool started;
    atomic_bool stop, degraded, redis_up, api_up;
    struct jobq in, out;
    int bell; /* the consumer thread's (hw.h): finished jobs are waiting */
    struct hms_client *hc;
    struct cache *cache;
    struct handler *h;
    struct renew *renew; /* live sessions' tokens (renew.h) */
    bool pinging, ping_ok;
    int64_t next_ping, next_states;
    pthread_mutex_t why_mu; /* halted, read by the consumer thread */
    char halted[384];       /* handler_halted(), "" when none */
};

static void on_ping(void *arg, enum hw_rc rc, struct cache_reply *r)
{
    struct engine *e = arg;

    (void)r;
    e->pinging = false;
    e->ping_ok = rc == HW_OK;
}

static void ping_redis(struct engine *e)
{
    int64_t now = hw_mono_ms();

    if (!e->pinging && now >= e->next_ping) {
        e->pinging = true;
        e->next_ping = now + REDIS_PING_MS;
        cache_ping(e->cache, on_ping, e);
    }
}

static void on_finish(void *arg, struct job *j)
{
    struct engine *e = arg;

    if (jobq_push(&e->out, j)) {
        hw_bell_ring(e->bell);
    }
}

/* Waits for curl's sockets and the Redis connection together; every Redis
 * command queued since the last turn has left in one write before. */
static void poll_once(struct engine *e, int wait)
{
    struct curl_waitfd rfd = {0};
    short events = 0;

    cache_flush(e->cache);
    rfd.fd = cache_poll_fd(e->cache, &events);
    rfd.events = (short)(((events & POLLIN) != 0 ? CURL_WAIT_POLLIN : 0) |
                         ((events & POLLOUT) != 0 ? CURL_WAIT_POLLOUT : 0));
    hms_client_run(e->hc, wait, &rfd, rfd.fd >= 0 ? 1 : 0);
    if (rfd.fd >= 0) {
        cache_handle(
            e->cache,
            (short)(((rfd.revents & CURL_WAIT_POLLIN) != 0 ? POLLIN : 0) |
                    ((rfd.revents & CURL_WAIT_POLLOUT) != 0 ? POLLOUT : 0)));
    }
}

/* Jobs by handler state, now and then (a metrics update takes a lock). */
static void publish_states(struct engine *e)
{
    size_t counts[HS_COUNT];
    int64_t now = hw_mono_ms();

    if (now < e->next_states) {
        return;
    }
    e->next_states = now + STATES_EVERY_MS;
    handler_count_states(e->h, counts);
    for (int s = 0; s < HS_COUNT; s++) {
        metrics_set(M_JOBS_STATE, (double)counts[s],
                    handler_state_name((enum handler_state)s));
    }
}

static void publish_halted(struct engine *e)
{
    const char *why = handler_halted(e->h);

    if (why == NULL) {
        why = "";
    }
    if (strcmp(why, e->halted) != 0) { /* rare: no lock per turn otherwise */
        pthread_mutex_lock(&e->why_mu);
        snprintf(e->halted, sizeof(e->halted), "%s", why);
        pthread_mutex_unlock(&e->why_mu);
    }
}

static void *engine_main(void *arg)
{
    struct engine *e = arg;

    while (!atomic_load(&e->stop)) {
        struct job *j = jobq_take(&e->in);
        int64_t due, redis_due, renew_due, now;
        int wait = LOOP_MAX_WAIT_MS;

        while (j != NULL) {
            struct job *next = j->next;

            handler_submit(e->h, j);
            j = next;
        }
        due = handler_tick(e->h);
        renew_due = renew_tick(e->renew);
        due = renew_due < due ? renew_due : due;
        redis_due = cache_tick(e->cache);
        due = redis_due < due ? redis_due : due;
        now = hw_mono_ms();
        if (due != INT64_MAX && due - now < wait) {
            wait = due > now ? (int)(due - now) : 0;
        }
        poll_once(e, wait);
        atomic_store(&e->degraded, handler_degraded(e->h));
        ping_redis(e);
        atomic_store(&e->redis_up, e->ping_ok && handler_redis_up(e->h));
        atomic_store(&e->api_up, handler_api_up(e->h));
        publish_halted(e);
        publish_states(e);
    }
    return NULL;
}

struct engine *engine_start(const struct conf *cf, int bell, char *errstr,
                            size_t errstr_size)
{
    struct engine *e = xcalloc(1, sizeof(*e));

    e->bell = bell;
    atomic_init(&e->redis_up, false);
    pthread_mutex_init(&e->why_mu, NULL);
    atomic_init(&e->api_up, true);
    jobq_init(&e->in);
    jobq_init(&e->out);
    e->hc = hms_client_create(cf, errstr, errstr_size);
    if (e->hc == NULL) {
        goto err;
    }
    e->cache = cache_create(&cf->redis, 2000);
    e->h = handler_create(cf, e->hc, e->cache, on_finish, e);
    e->renew = renew_create(cf, e->cache);
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        snprintf(errstr, errstr_size, "cannot start the engine thread");
        goto err;
    }
    e->started = true;
    return e;
err:
    engine_stop(e);
    return NULL;
}

void engine_submit(struct engine *e, struct job *j)
{
    if (jobq_push(&e->in, j)) {
        hms_client_wakeup(e->hc);
    }
}

struct job *engine_take(struct engine *e)
{
    return jobq_take(&e->out);
}

bool engine_degraded(const struct engine *e)
{
    return atomic_load(&e->degraded);
}

void engine_health(const struct engine *e, bool *redis_up, bool *api_up)
{
    *redis_up = atomic_load(&e->redis_up);
    *api_up = atomic_load(&e->api_up);
}

bool engine_halted(struct engine *e, char *why, size_t n)
{
    pthread_mutex_lock(&e->why_mu);
    snprintf(why, n, "%s", e->halted);
    pthread_mutex_unlock(&e->why_mu);
    return why[0] != '\0';
}

void engine_stop(struct engine *e)
{
    if (e == NULL) {
        return;
    }
    atomic_store(&e->stop, true);
    if (e->started) {
        hms_client_wakeup(e->hc);
        pthread_join(e->thread, NULL);
    }
    handler_destroy(e->h);
    hms_client_destroy(e->hc);
    cache_destroy(e->cache);
    renew_destroy(e->renew); /* after the cache: no callback runs now */
    jobq_deinit(&e->in);
    jobq_deinit(&e->out);
    pthread_mutex_destroy(&e->why_mu);
    free(e);
}
