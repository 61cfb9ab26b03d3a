/* engine.c -- 100ms calls and Redis for every job, on the consumer
 * thread. engine_turn() is the thread's only wait: it hands the jobs
 * submitted since the last turn to the handler, lets it resume due jobs,
 * lets renew claim the live sessions whose tokens are due (renew.h),
 * sends the Redis commands queued meanwhile, then waits on curl's
 * sockets, the Redis fd and the caller's bell (hw.h: Kafka's queues ring
 * it) in one hms_client_run(). Finished jobs wait in `out` for
 * engine_take().
 *
 * One thread, by measurement (issue 16): at 100 bookings/s the worker's
 * CPU went mostly to waking threads (45 % in the kernel, 20 % in context
 * switches alone), and an engine thread of its own cost four wake-ups a
 * booking (job in, result out, marker in, marker out). Everything here is
 * non-blocking, so Kafka, curl and Redis share one loop, as redis and
 * pgbouncer run theirs; more throughput is more processes. */
#define LOGMOD "engine"
#include "engine.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "handler.h"
#include "hms_client.h"
#include "log.h"
#include "metrics.h"
#include "renew.h"

#define REDIS_PING_MS 5000   /* readiness of Redis when no event uses it */
#define STATES_EVERY_MS 1000 /* jobs by handler state, into /metrics */

struct engine {
    struct jobq out; /* finished, for engine_take() */
    struct hms_client *hc;
    struct cache *cache;
    struct handler *h;
    struct renew *renew; /* live sessions' tokens (renew.h) */
    bool pinging, ping_ok;
    int64_t next_ping, next_states;
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

    jobq_push(&e->out, j);
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

void engine_turn(struct engine *e, int max_wait_ms, int bell)
{
    int64_t due = handler_tick(e->h), renew_due, redis_due, now;
    struct curl_waitfd fds[2] = {{bell, CURL_WAIT_POLLIN, 0}};
    short events = 0;
    int wait = max_wait_ms;

    renew_due = renew_tick(e->renew);
    due = renew_due < due ? renew_due : due;
    redis_due = cache_tick(e->cache);
    due = redis_due < due ? redis_due : due;
    ping_redis(e);
    now = hw_mono_ms();
    if (due != INT64_MAX && due - now < wait) {
        wait = due > now ? (int)(due - now) : 0;
    }
    if (e->out.head != NULL) { /* finished meanwhile: the caller's now */
        wait = 0;
    }
    cache_flush(e->cache); /* every command queued since the last turn */
    fds[1].fd = cache_poll_fd(e->cache, &events);
    fds[1].events = (short)(((events & POLLIN) != 0 ? CURL_WAIT_POLLIN : 0) |
                            ((events & POLLOUT) != 0 ? CURL_WAIT_POLLOUT : 0));
    hms_client_run(e->hc, wait, fds, fds[1].fd >= 0 ? 2 : 1);
    if (fds[1].fd >= 0) {
        cache_handle(
            e->cache,
            (short)(((fds[1].revents & CURL_WAIT_POLLIN) != 0 ? POLLIN : 0) |
                    ((fds[1].revents & CURL_WAIT_POLLOUT) != 0 ? POLLOUT : 0)));
    }
    publish_states(e);
}

struct engine *engine_start(const struct conf *cf, char *errstr,
                            size_t errstr_size)
{
    struct engine *e = xcalloc(1, sizeof(*e));

    e->hc = hms_client_create(cf, errstr, errstr_size);
    if (e->hc == NULL) {
        goto err;
    }
    e->cache = cache_create(&cf->redis, 2000);
    e->h = handler_create(cf, e->hc, e->cache, on_finish, e);
    e->renew = renew_create(cf, e->cache);
    return e;
err:
    engine_stop(e);
    return NULL;
}

void engine_submit(struct engine *e, struct job *j)
{
    handler_submit(e->h, j); /* its calls start at the next engine_turn() */
}

struct job *engine_take(struct engine *e)
{
    return jobq_take(&e->out);
}

bool engine_degraded(const struct engine *e)
{
    return handler_degraded(e->h);
}

void engine_health(const struct engine *e, bool *redis_up, bool *api_up)
{
    *redis_up = e->ping_ok && handler_redis_up(e->h);
    *api_up = handler_api_up(e->h);
}

bool engine_halted(struct engine *e, char *why, size_t n)
{
    const char *h = handler_halted(e->h);

    snprintf(why, n, "%s", h != NULL ? h : "");
    return why[0] != '\0';
}

void engine_stop(struct engine *e)
{
    if (e == NULL) {
        return;
    }
    handler_destroy(e->h);
    hms_client_destroy(e->hc);
    cache_destroy(e->cache);
    renew_destroy(e->renew); /* after the cache: no callback runs now */
    jobq_deinit(&e->out);
    free(e);
}
