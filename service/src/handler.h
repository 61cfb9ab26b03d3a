/* handler.h -- what each event does (docs/contract.md section 3), as
 * asynchronous state machines on the engine thread.
 *
 * DESIGN
 * ------
 * One context per job in flight; each step issues one 100ms call (or a
 * few in parallel, e.g. disabling codes) and its callback runs the next
 * step, so thousands of events progress at once on one thread. Redis
 * calls are synchronous and short; when Redis is down the job is parked
 * and retried (its deadline clock stopped) and handler_degraded() tells
 * the consumer to stop fetching. The same for the 100ms API: an event
 * whose calls outlived their retries is dead-lettered only if the API
 * answered anything since the event began (others succeed: the failure is
 * its own); otherwise it is parked with a fresh deadline, the API probed
 * with one cheap read, and fetching paused (a circuit breaker). A job ends
 * exactly once, through the finish callback, with its outcome set. Only the
 * engine thread calls in.
 */
#ifndef HANDLER_H
#define HANDLER_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "conf.h"
#include "hms_client.h"
#include "job.h"

typedef void handler_finish_fn(void *arg, struct job *j);

struct handler *handler_create(const struct conf *cf, struct hms_client *hc,
                               struct cache *cache, handler_finish_fn *finish,
                               void *arg);
/* Finishes nothing: jobs still inside are freed (shutdown only). */
void handler_destroy(struct handler *h);

/* Runs j->req (JOB_RUN or JOB_MARK); the handler owns j until finish. */
void handler_submit(struct handler *h, struct job *j);

/* Resumes parked jobs that are due; the next due time (mono ms) or
 * INT64_MAX. */
int64_t handler_tick(struct handler *h);

/* A dependency (Redis) is failing: stop taking new work. */
bool handler_degraded(const struct handler *h);
/* The parts of degraded, for readiness. */
bool handler_redis_up(const struct handler *h);
bool handler_api_up(const struct handler *h);

/* Jobs inside the handler. */
size_t handler_active(const struct handler *h);

/* "bk-<id>" / "ls-<id>" when id matches ^[A-Za-z0-9._:-]{1,64}$, else
 * "bk-x-" / "ls-x-" and the first 16 bytes of SHA-256(id) in hex.
 * malloc'd. */
char *handler_room_name(enum subject_kind kind, const char *id);

#endif
