/* producer.h -- results and dead letters out to Kafka.
 *
 * DESIGN
 * ------
 * One idempotent producer (acks=all, in-order, no duplicates on retry)
 * for video-ready, video-ended and the DLQ. Every message carries its job
 * as opaque; the delivery report hands the job back through the callback
 * from producer_poll(), on the consumer thread, which decides what comes
 * next (marker, offset, or a later retry). Dead letters keep the original
 * key, value and headers and add the provenance headers of docs/contract.md
 * section 7. Not thread-safe: the consumer thread owns it.
 */
#ifndef PRODUCER_H
#define PRODUCER_H

#include <stddef.h>

#include "conf.h"
#include "hw.h"
#include "job.h"

typedef void producer_dr_fn(void *arg, struct job *j, rd_kafka_resp_err_t err);

struct producer *producer_create(const struct conf *cf, producer_dr_fn *dr,
                                 void *arg, char *errstr, size_t errstr_size);
/* Flushes for at most flush_ms, then frees. */
void producer_destroy(struct producer *p, int flush_ms);

/* value: the encoded output of j, keyed by its subject id. */
enum hw_rc producer_output(struct producer *p, struct job *j, const void *value,
                           size_t len) HW_MUSTCHECK;
/* j->msg to the DLQ with j->err_class, j->err and j->attempts. */
enum hw_rc producer_dlq(struct producer *p, struct job *j) HW_MUSTCHECK;

/* Serves delivery reports (callbacks run here). */
void producer_poll(struct producer *p);
/* A descriptor that becomes readable when reports are waiting. */
int producer_fd(const struct producer *p);
/* Messages not yet delivered. */
int producer_pending(const struct producer *p);
/* Whether a delivery failure may heal by itself (broker down, timeouts,
 * leadership moves) or needs a human (message too large, no permission):
 * the first is retried, the second stops the worker. */
bool producer_retriable(rd_kafka_resp_err_t err);

/* Whether a delivery failure may heal by itself (broker down, timeouts,
 * leadership moves) or needs a human (message too large, no permission):
 * the first is retried, the second stops the worker. */
bool producer_retriable(rd_kafka_resp_err_t err);

/* A fatal (idempotence) error, or NULL. */
const char *producer_fatal(struct producer *p);

#endif
