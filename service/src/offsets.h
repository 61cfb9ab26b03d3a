/* offsets.h -- the highest contiguous completed offset per partition.
 *
 * DESIGN
 * ------
 * Events of one partition finish out of order (different subjects run in
 * parallel), but an offset may only be stored once every earlier message
 * of its partition is done: otherwise a crash would skip the unfinished
 * ones. Each partition keeps its in-flight offsets in arrival order (a
 * ring; Kafka delivers them ascending); offsets_done() marks one and
 * reports the new store point when the front of the ring became done.
 * Pure bookkeeping, no Kafka calls; one thread.
 */
#ifndef OFFSETS_H
#define OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct offsets;

struct offsets *offsets_create(void);
void offsets_destroy(struct offsets *o);

/* A message was handed out. Offsets of a partition must ascend. */
void offsets_begin(struct offsets *o, const char *topic, int32_t partition,
                   int64_t offset);

/* The message is finished. Returns true and sets *store (the offset to
 * store: last contiguous done + 1) when the store point advanced. An
 * offset unknown to the tracker (its partition was revoked) is ignored. */
bool offsets_done(struct offsets *o, const char *topic, int32_t partition,
                  int64_t offset, int64_t *store);

/* Forgets a partition (revoked) or everything (partition NULL topic). */
void offsets_forget(struct offsets *o, const char *topic, int32_t partition);

/* Messages begun and not yet done, over all partitions. */
size_t offsets_in_flight(const struct offsets *o);

#endif
