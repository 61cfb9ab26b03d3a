/* health.c -- liveness and readiness state: process-wide, no object.
 * loop_at and up[] are atomics the consumer thread writes (every loop
 * turn, every statistics document); the stuck and halted texts share one
 * mutex. The admin listener's thread reads them all in health_live() and
 * health_ready(). health_set_up() also sets hms_worker_dependency_up. */
#define LOGMOD "health"
#include "health.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "metrics.h"

static const char *const dep_names[HEALTH_DEPS] = {"kafka", "redis", "hms_api"};
static atomic_llong loop_at;
static atomic_bool up[HEALTH_DEPS];
static pthread_mutex_t stuck_lock = PTHREAD_MUTEX_INITIALIZER;
static char stuck[256];
static char halted[512]; /* under stuck_lock too */

void health_loop_turned(int64_t now_ms)
{
    atomic_store(&loop_at, now_ms);
}

void health_set_up(enum health_dep d, bool is_up)
{
    atomic_store(&up[d], is_up);
    metrics_set(M_UP, is_up ? 1 : 0, dep_names[d]);
}

void health_set_stuck(const char *what)
{
    pthread_mutex_lock(&stuck_lock);
    snprintf(stuck, sizeof(stuck), "%s", what != NULL ? what : "");
    pthread_mutex_unlock(&stuck_lock);
}

void health_set_halted(const char *why)
{
    pthread_mutex_lock(&stuck_lock);
    snprintf(halted, sizeof(halted), "%s", why != NULL ? why : "");
    pthread_mutex_unlock(&stuck_lock);
}

bool health_live(int64_t now_ms, char *why, size_t n)
{
    int64_t at = atomic_load(&loop_at);
    bool ok = true;

    if (at == 0 || now_ms - at > HEALTH_LOOP_STALE_MS) {
        snprintf(why, n, "the poll loop has not turned for %lld ms",
                 (long long)(at == 0 ? -1 : now_ms - at));
        return false;
    }
    pthread_mutex_lock(&stuck_lock);
    if (stuck[0] != '\0') {
        snprintf(why, n, "%s", stuck);
        ok = false;
    }
    pthread_mutex_unlock(&stuck_lock);
    return ok;
}

bool health_ready(char *why, size_t n)
{
    size_t at = 0;

    why[0] = '\0';
    pthread_mutex_lock(&stuck_lock);
    if (halted[0] != '\0') {
        int k = snprintf(why, n, "halted: %s", halted);

        at = k > 0 ? (size_t)k : 0;
    }
    pthread_mutex_unlock(&stuck_lock);
    for (int d = 0; d < HEALTH_DEPS && at < n; d++) {
        if (!atomic_load(&up[d]) && at < n) {
            int k = snprintf(why + at, n - at, "%s%s down", at > 0 ? ", " : "",
                             dep_names[d]);
            at += k > 0 ? (size_t)k : 0;
        }
    }
    return why[0] == '\0';
}
