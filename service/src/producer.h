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
 * section 7; a dead letter the broker refuses is sent again smaller
 * (job.h, enum job_dlq_form). Not thread-safe: the consumer thread owns
 * it.
 */
#ifndef PRODUCER_H
#define PRODUCER_H

#include <stddef.h>

#include "conf.h"
#include "hw.h"
#include "job.h"

/* A delivery report: rc is producer_classify() of librdkafka's error,
 * err its name ("" on success). */
typedef void producer_dr_fn(void *arg, struct job *j, enum hw_rc rc,
                            const char *err);

/* bell (hw.h) is rung when delivery reports are waiting. */
struct producer *producer_create(const struct conf *cf, int bell,
                                 producer_dr_fn *dr, void *arg, char *errstr,
                                 size_t errstr_size);
/* Flushes for at most flush_ms, then frees. */
void producer_destroy(struct producer *p, int flush_ms);

/* Both return producer_classify() of the immediate result; the name of
 * librdkafka's error is then producer_errstr(). */

/* value: the encoded output of j, keyed by its subject id. */
enum hw_rc producer_output(struct producer *p, struct job *j, const void *value,
                           size_t len) HW_MUSTCHECK;
/* j->msg to the DLQ with j->err_class, j->err and j->attempts, in the
 * form j->dlq_form: whole, without the value, or bare (provenance headers
 * only, with hms-value-dropped, hms-key-dropped and hms-headers-dropped
 * saying what was left out). */
enum hw_rc producer_dlq(struct producer *p, struct job *j) HW_MUSTCHECK;

/* Serves delivery reports (callbacks run here). */
void producer_poll(struct producer *p);

/* What a produce or delivery error means (docs/contract.md section 7,
 * Kafka produce rows): HW_OK; HW_ERR_UNAVAILABLE, it may heal by itself
 * (broker down, timeouts, leadership moves, a full queue): send again;
 * HW_ERR_INVALID, the broker refuses this message (too large, invalid);
 * HW_ERR_AUTH, no permission to write the topic; HW_ERR_CONFIG, the topic
 * does not exist; HW_ERR_FATAL, the idempotent producer is broken (a
 * restart is the recovery); HW_ERR_REFUSED, anything else. */
enum hw_rc producer_classify(rd_kafka_resp_err_t err);

/* The name of the last immediate produce error. */
const char *producer_errstr(const struct producer *p);

/* A fatal (idempotence) error, or NULL. */
const char *producer_fatal(struct producer *p);

#endif
