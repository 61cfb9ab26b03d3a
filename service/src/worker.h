/* worker.h -- the consumer thread: Kafka in, jobs to the engine, results
 * out, offsets stored only after the result is safely out.
 *
 * DESIGN
 * ------
 * The thread that calls worker_run() owns the consumer, the producer, the
 * codec (all avro-c work) and the offsets. It poll()s librdkafka's queues
 * (io events), the engine's eventfd and the producer's reports together;
 * the one blocking call it makes is to the schema registry, for a schema
 * id it has not seen (at most REGISTRY_TIMEOUT_MS). Each message becomes a
 * job; jobs of one subject (booking or stream id, across all three
 * topics) form a FIFO and only its head is in the engine, so a subject's
 * events apply in order while different subjects run in parallel. A job's
 * offset is stored once its output (or dead letter) has a successful delivery
 * report and its applied marker is written, as the highest contiguous completed
 * offset of its partition (offsets.h). Back-pressure: when too many jobs are
 * alive, or the engine reports Redis down, every partition is paused
 * (the loop keeps polling). A setting someone must fix (refused
 * credentials or permissions: 100ms, Redis, Kafka, the registry) halts
 * intake the same way, with the reason on /readyz, and is retried every
 * 30 s. SIGTERM/SIGINT (the stop flag): stop fetching, let jobs finish
 * until SHUTDOWN_TIMEOUT_MS, close the consumer (which commits), exit 0. A
 * fatal outcome (a Kafka fatal error, a bug) stops the worker without
 * storing the offset: exit 1.
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
