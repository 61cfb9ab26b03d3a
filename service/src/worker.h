/* worker.h -- the consumer thread: Kafka in, the pipeline, offsets stored
 * only after the result is safely out.
 *
 * DESIGN
 * ------
 * The thread that calls worker_run() owns Kafka's consumer and the
 * pipeline (pipeline.h), which owns everything after a message is read:
 * the codec, the engine, the producer, the offsets, every job. One
 * wait, the engine's turn, covers librdkafka's queues (io events ringing
 * one bell), curl's sockets and Redis together (and the schema registry's
 * fetch thread, which fetches writer schemas of ids not seen before and
 * rings the bell). It blocks on the schema registry only to register an
 * output schema (at most REGISTRY_TIMEOUT_MS a call, again on each retry
 * while the registry is down); a revoke runs engine turns while the
 * revoked partitions' work finishes (at most SHUTDOWN_TIMEOUT_MS).
 * Back-pressure: when the pipeline wants it (too many jobs, a dependency
 * down, a halt, sends to retry) every assigned partition is paused and the
 * loop keeps polling; a partition whose input waits for its writer schema
 * is paused alone. Rebalancing is eager (the cooperative assignor is
 * refused at start): a revoke finishes the revoked partitions' work,
 * bounded, then commits.
 * SIGTERM/SIGINT (the stop flag): stop fetching, let jobs finish until
 * SHUTDOWN_TIMEOUT_MS, close the consumer (which commits), exit 0. A fatal
 * outcome (a Kafka fatal error, a bug) stops the worker without storing
 * the offset: exit 1.
 */
#ifndef WORKER_H
#define WORKER_H

#include <signal.h>
#include <stddef.h>

#include "conf.h"

struct worker *worker_create(const struct conf *cf, char *errstr,
                             size_t errstr_size);
/* Runs until *stop is set (or a fatal error); the process exit code. */
int worker_run(struct worker *w, volatile sig_atomic_t *stop);
void worker_destroy(struct worker *w);

#endif
