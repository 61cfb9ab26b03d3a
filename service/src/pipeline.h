/* pipeline.h -- a message's way from consumption to a stored offset:
 * decoded and validated, ordered per subject, run by the engine, its
 * output or dead letter produced, its marker written, its offset handed
 * back to be stored.
 *
 * DESIGN
 * ------
 * The consumer thread (worker.c) owns Kafka's consumer and hands each
 * message in with pipeline_take(); the pipeline owns everything after:
 * the codec, the engine (and through it the 100ms client and Redis), the
 * producer, the per-partition offsets and every job. A job is on exactly
 * one list of the pipeline, the list of its place (job.h), and moves only
 * through one function; the reaction to each engine outcome and each
 * produce error is the contract's table (docs/contract.md section 7). An
 * offset is given to the store callback only once every earlier message
 * of its partition is done (offsets.h). What the consumer needs to pace
 * itself: pipeline_wants_pause() (a dependency down, a halt, sends to
 * retry, too many jobs), pipeline_partition_held() (input held for its
 * writer schema: that partition alone waits), pipeline_health() for
 * /readyz. Consumer thread only.
 */
#ifndef PIPELINE_H
#define PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "event.h"

/* offset (last done + 1) may be stored for topic[partition]. */
typedef void pipeline_store_fn(void *arg, const char *topic, int32_t partition,
                               int64_t offset);

/* Creates the codec, the producer and the engine; NULL with errstr on
 * failure. */
struct pipeline *pipeline_create(const struct conf *cf,
                                 pipeline_store_fn *store, void *arg,
                                 char *errstr, size_t errstr_size);
/* Flushes what is being produced (briefly), stops the engine and frees
 * every job: after the consumer is closed. */
void pipeline_destroy(struct pipeline *p);

/* A message of an input topic whose events are of kind; takes m. */
void pipeline_take(struct pipeline *p, rd_kafka_message_t *m, const char *topic,
                   enum event_kind kind);

/* Serves what is ready: engine results, delivery reports, produce
 * retries and held input that are due (a writer schema fetched, or its
 * retry time up); clears the bell first. */
void pipeline_serve(struct pipeline *p);
/* The bell (hw.h) the producer's delivery reports and the registry's
 * fetches (a writer schema fetched) ring; the owner has its consumer queue
 * ring it too. pipeline_wait() is the owner's only wait: the engine's turn
 * (engine.h), which returns when the bell rings, an engine job finishes or
 * max_ms pass; pipeline_wait_ms() is how long the caller may wait at most
 * before calling pipeline_serve() anyway (ms). */
int pipeline_bell(const struct pipeline *p);
void pipeline_wait(struct pipeline *p, int max_ms);
int pipeline_wait_ms(const struct pipeline *p);

/* Whether intake should pause; paused: whether it is now (hysteresis: it
 * pauses at 4 x HMS_MAX_IN_FLIGHT jobs or MAX_HELD_MB of inputs, resumes
 * below half of both). */
bool pipeline_wants_pause(const struct pipeline *p, bool paused);
/* Whether topic[partition] has input held for its writer schema (the
 * registry's answer not in yet, or the registry down): its later messages
 * would only be held behind it, so the owner should pause it alone. */
bool pipeline_partition_held(const struct pipeline *p, const char *topic,
                             int32_t partition);
/* Jobs alive, and the bytes of their inputs (key + value). */
size_t pipeline_live(const struct pipeline *p);
size_t pipeline_held_bytes(const struct pipeline *p);

/* The partitions of parts go to another worker: their jobs under way are
 * served until none is left or until passes (no new input meanwhile),
 * then the rest is abandoned (no marker, no offset), held input dropped
 * and their offsets forgotten. */
void pipeline_revoke(struct pipeline *p,
                     const rd_kafka_topic_partition_list_t *parts,
                     int64_t until);
/* Stopping: held input, which cannot finish, is dropped (redelivered
 * after the restart). */
void pipeline_stop(struct pipeline *p);
/* Something is broken beyond an event (a fatal Kafka error, a bug): the
 * worker must stop without storing more. */
bool pipeline_fatal(const struct pipeline *p);

/* For /readyz and /metrics: Redis and the 100ms API usable; whether the
 * pipeline is halted until a setting is fixed, and why (in why[n]). Also
 * updates the gauges of jobs by place. */
bool pipeline_health(struct pipeline *p, bool *redis_up, bool *api_up,
                     char *why, size_t n);

#endif
