/* handler.h -- what each event does (docs/contract.md section 3), as
 * asynchronous state machines on the engine thread.
 *
 * DESIGN
 * ------
 * One context per job in flight; each step issues one 100ms call (or a
 * few in parallel, e.g. disabling codes) or one Redis batch, and its
 * callback runs the next step, so thousands of events progress at once
 * on one thread that never waits for either. What a failure leads to is
 * the reaction table of docs/contract.md section 7:
 *  - Redis down or refusing for a while (READONLY, LOADING, OOM...): the
 *    job is parked and retried (its deadline clock stopped) and
 *    handler_degraded() tells the consumer to stop fetching;
 *  - the 100ms API: an event whose calls outlived their retries is
 *    dead-lettered only if the API answered anything since the event
 *    began (others succeed: the failure is its own); otherwise it is
 *    parked with a fresh deadline, the API probed with one cheap read,
 *    and fetching paused (a circuit breaker);
 *  - a setting that someone must change (100ms refusing the token after a
 *    re-mint, Redis refusing our user or being a cluster): the job halts,
 *    parked with its offset unstored, intake stops, handler_halted() says
 *    why, and the step is retried every 30 s, so a fix resumes the worker;
 *  - the event's own data (a key of another type, a rejected request):
 *    dead-lettered with its class.
 * A job ends exactly once, through the finish callback, with its outcome
 * set. Only the engine thread calls in.
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

/* A dependency is failing or a job is halted: stop taking new work. */
bool handler_degraded(const struct handler *h);
/* Why jobs are halted (a setting to change), or NULL. Valid until the
 * next call into the handler. */
const char *handler_halted(const struct handler *h);
/* The parts of degraded, for readiness. */
bool handler_redis_up(const struct handler *h);
bool handler_api_up(const struct handler *h);

/* Jobs inside the handler. */
size_t handler_active(const struct handler *h);

/* "bk-<id>" / "ls-<id>" when id matches ^[a-z0-9._:-]{1,64}$ and does
 * not start with "x-", else "bk-x-" / "ls-x-" and the first 16 bytes of
 * SHA-256(id) in hex: distinct ids never share a room, though 100ms
 * compares names case-insensitively. malloc'd. */
char *handler_room_name(enum subject_kind kind, const char *id);

#endif
