/* engine.h -- 100ms calls and Redis for every job.
 *
 * DESIGN
 * ------
 * The pipeline hands jobs over with engine_submit() (the job is the
 * engine's until it comes back) and takes finished ones with
 * engine_take(). The engine has no thread of its own: the consumer thread
 * calls engine_turn() as its only wait, which runs the handler state
 * machines over one poll of curl's sockets, the Redis connection and the
 * caller's bell. It never blocks on 100ms or on Redis (a PING every 5 s
 * keeps Redis readiness current when no event uses it).
 */
#ifndef ENGINE_H
#define ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "job.h"

struct engine *engine_start(const struct conf *cf, char *errstr,
                            size_t errstr_size);
void engine_submit(struct engine *e, struct job *j);
/* Runs what is due, then waits up to max_wait_ms (less when the engine
 * has something due, 0 when jobs are finished) for curl, Redis or bell
 * (readable: the caller has work), and serves what came. */
void engine_turn(struct engine *e, int max_wait_ms, int bell);
/* Finished jobs, oldest first (a list through ->next). */
struct job *engine_take(struct engine *e);
bool engine_degraded(const struct engine *e);

/* Whether Redis answers and the 100ms API is not failing every call (for
 * /readyz). */
void engine_health(const struct engine *e, bool *redis_up, bool *api_up);
/* Whether jobs are halted until a setting is fixed, and why (copied into
 * why[n]). */
bool engine_halted(struct engine *e, char *why, size_t n);
/* Jobs still inside are freed unfinished. */
void engine_stop(struct engine *e);

#endif
