/* handler.h -- what each event does (docs/contract.md section 3), as
 * asynchronous state machines, run by the engine (engine.h).
 *
 * DESIGN
 * ------
 * One context per job in flight, in one explicit state at a time
 * (enum handler_state; the table atop handler.c): each state issues one
 * 100ms call (or a few in parallel: disabling codes) or one Redis batch,
 * and its reply picks the next state, so thousands of events progress at
 * once on one thread that never waits for either. What a failure leads
 * to is the reaction table of docs/contract.md section 7:
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
 *    why, and the state is retried every HALT_RETRY_MS, so a fix resumes
 *    the worker;
 *  - the event's own data (a key of another type, a rejected request):
 *    dead-lettered with its class.
 * A job ends exactly once, through the finish callback, with its outcome
 * set. Only the engine's thread calls in.
 */
#ifndef HANDLER_H
#define HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "conf.h"
#include "hms_client.h"
#include "job.h"

/* Where a job is in its event's life; the table in handler.c says what
 * each state calls and where each reply leads. */
enum handler_state {
    HS_RESOLVE = 0,   /* a webhook's room: which subject (hms:room:{id}) */
    HS_LOAD,          /* the applied marker and the subject's hash */
    HS_CREATE_ROOM,   /* POST /rooms */
    HS_CODES,         /* POST /room-codes/room/{id} */
    HS_START_HLS,     /* POST /live-streams/room/{id}/start */
    HS_WAIT_HLS,      /* GET /live-streams/{id}, until it runs */
    HS_WRITE_READY,   /* the ready hash and the tokens */
    HS_STOP_HLS,      /* POST /live-streams/room/{id}/stop */
    HS_END_ROOM,      /* POST /active-rooms/{id}/end-room */
    HS_DISABLE_ROOM,  /* POST /rooms/{id} {"enabled": false}, when locking */
    HS_DISABLE_CODES, /* POST /room-codes/code, for every code */
    HS_WRITE_ENDED,   /* the ended hash, tokens gone when locked */
    HS_WRITE_HOOK,    /* a webhook's fields, PUBLISH, the marker */
    HS_SKIP,          /* the marker of an event with nothing to apply */
    HS_MARK,          /* the marker, once the output was delivered */
    HS_COUNT
};

/* "create_room": the name logs and /metrics use. Static. */
const char *handler_state_name(enum handler_state s);

typedef void handler_finish_fn(void *arg, struct job *j);

struct handler *handler_create(const struct conf *cf, struct hms_client *hc,
                               struct cache *cache, handler_finish_fn *finish,
                               void *arg);
/* Finishes nothing: jobs still inside are freed (shutdown only). */
void handler_destroy(struct handler *h);

/* Runs j->req (JOB_RUN from HS_LOAD, JOB_MARK from HS_MARK); the handler
 * owns j until finish. */
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

/* How many jobs are in each state now (parked ones in the state they
 * will retry). */
void handler_count_states(const struct handler *h, size_t counts[HS_COUNT]);

#endif
