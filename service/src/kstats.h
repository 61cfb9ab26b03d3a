/* kstats.h -- the consumer's librdkafka statistics, read for operators.
 *
 * DESIGN
 * ------
 * librdkafka emits a JSON document every statistics.interval.ms (the
 * worker sets 5000) through its stats callback, on the consumer thread.
 * kstats_update() reads it with jansson and turns it into: consumer lag
 * per assigned partition (metrics), Kafka readiness (a broker is UP and
 * the group is up), and the "stuck partition" liveness check: a partition
 * with lag whose committed offset has not moved for stuck_ms while the
 * worker was not pausing on purpose. Consumer thread only.
 */
#ifndef KSTATS_H
#define KSTATS_H

#include <stdbool.h>
#include <stdint.h>

struct kstats;

struct kstats *kstats_create(int64_t stuck_ms);
void kstats_destroy(struct kstats *ks);

/* paused: the worker has paused its partitions (back-pressure, a
 * dependency down, shutting down): no progress is expected. */
void kstats_update(struct kstats *ks, const char *json, bool paused,
                   int64_t now_ms);

#endif
