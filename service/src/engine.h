/* engine.h -- the engine thread: 100ms calls and Redis for every job.
 *
 * DESIGN
 * ------
 * The consumer thread hands jobs over with engine_submit() (the job is
 * the engine's until it comes back) and takes finished ones with
 * engine_take(); the engine rings the consumer's bell (hw.h) when some
 * are waiting, the same bell librdkafka's queues ring. Inside, one thread runs
 * the handler state machines over one poll of curl's sockets and the Redis
 * connection: it never blocks on 100ms or on Redis (a PING every 5 s keeps
 * Redis readiness current when no event uses it). engine_degraded() and
 * engine_health() are readable from any thread.
 */
#ifndef ENGINE_H
#define ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "job.h"

struct engine *engine_start(const struct conf *cf, int bell, char *errstr,
                            size_t errstr_size);
void engine_submit(struct engine *e, struct job *j);
/* Finished jobs, oldest first (a list through ->next). */
struct job *engine_take(struct engine *e);
bool engine_degraded(const struct engine *e);

/* Whether Redis answers and the 100ms API is not failing every call (the
 * engine's view after its last turn; for /readyz). Any thread. */
void engine_health(const struct engine *e, bool *redis_up, bool *api_up);
/* Whether jobs are halted until a setting is fixed, and why (copied into
 * why[n]). Any thread. */
bool engine_halted(struct engine *e, char *why, size_t n);
/* Stops the thread; jobs still inside are freed unfinished. */
void engine_stop(struct engine *e);

#endif
