/* health.h -- what /healthz and /readyz answer.
 *
 * DESIGN
 * ------
 * The consumer thread reports, the admin listener's thread reads: plain
 * atomics plus one short text behind a mutex, process-wide like the
 * metrics. Liveness fails when the poll loop has not turned for
 * HEALTH_LOOP_STALE_MS, or when a partition that has lag stored no offset
 * for longer than an event may legitimately take (reported by kstats.c;
 * pauses for back-pressure or a dependency do not count): "green but
 * stuck" is restarted. Readiness is whether Kafka, Redis and the 100ms
 * API are usable now, and whether the worker is halted until a setting is
 * fixed (it then stays alive, so liveness holds: a restart fixes
 * nothing).
 */
#ifndef HEALTH_H
#define HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEALTH_LOOP_STALE_MS 30000

enum health_dep { HEALTH_KAFKA = 0, HEALTH_REDIS, HEALTH_HMS_API, HEALTH_DEPS };

void health_loop_turned(int64_t now_ms);
void health_set_up(enum health_dep d, bool up);
/* what: e.g. "booking-created[2] has lag and stored nothing for 190 s";
 * NULL: nothing is stuck. */
void health_set_stuck(const char *what);

/* why: e.g. "100ms refuses to create room (HTTP 403 ...): ..."; NULL:
 * not halted. */
void health_set_halted(const char *why);

/* true when alive / ready; otherwise why, in why[n]. */
bool health_live(int64_t now_ms, char *why, size_t n);
bool health_ready(char *why, size_t n);

#endif
