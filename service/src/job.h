/* job.h -- one input event on its way through the worker, and the queue
 * that carries jobs between the consumer thread and the engine thread.
 *
 * DESIGN
 * ------
 * The consumer thread creates a job per decoded message and owns it,
 * except while it sits in the engine: handing it over through a jobq
 * transfers ownership, and the consumer never touches a job it sent until
 * it comes back. The engine fills `out`, `outcome` and the error fields.
 * A job asks the engine for one of two things: run the event, or (after
 * its output was delivered) write the applied marker.
 */
#ifndef JOB_H
#define JOB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "event.h"
#include "log.h"

enum job_request { JOB_RUN, JOB_MARK };

enum job_outcome {
    JOB_OUTPUT,    /* produce `out`, then ask for the marker */
    JOB_SKIPPED,   /* nothing to produce; the marker is written */
    JOB_DUPLICATE, /* already applied (marker found): nothing to do */
    JOB_DLQ,       /* terminal: dead-letter with err_class */
    JOB_MARKED,    /* the marker is written: the job is complete */
    JOB_FATAL,     /* stop the worker without storing the offset */
    JOB_ABANDONED  /* its partition was revoked: the new owner redoes it */
};

struct job {
    enum job_request req;
    enum job_outcome outcome;
    struct event in, out;
    char *subject; /* "booking:B1": the ordering key */
    char *topic;
    int32_t partition;
    int64_t offset;
    rd_kafka_message_t *msg; /* the consumer's, for the DLQ */
    const char *err_class;   /* static: decode, validation, hms_rejected... */
    char err[512];
    int attempts;
    uint64_t epoch;           /* job_epoch when it was consumed */
    int64_t consumed_at;      /* hw_mono_ms(), for the event histogram */
    struct job *next;         /* jobq link */
    struct job *subject_next; /* the subject's FIFO (consumer thread) */
};

struct jobq {
    pthread_mutex_t mu;
    struct job *head, *tail;
};

void jobq_init(struct jobq *q);
void jobq_deinit(struct jobq *q);
void jobq_push(struct jobq *q, struct job *j);
/* Takes every queued job, oldest first (a list through ->next). */
struct job *jobq_take(struct jobq *q);

void job_free(struct job *j);

/* Bumped when partitions are revoked with work still in flight: a job of
 * an older epoch may no longer write anything (its events now belong to
 * another worker, which would otherwise race it on the same subject). */
extern _Atomic uint64_t job_epoch;
bool job_stale(const struct job *j);

/* A log line about j: the caller's fields, then topic, partition, offset
 * and subject, so every event-related line carries them. */
#define job_log(lvl, j, ...)                                                   \
    do {                                                                       \
        if ((lvl) >= log_min_level) {                                          \
            job_log_emit((lvl), LOGMOD, (j), __VA_ARGS__);                     \
        }                                                                      \
    } while (0)
void job_log_emit(enum log_level lvl, const char *mod, const struct job *j,
                  const char *fmt, ...) HW_PRINTF(4, 5);

#endif
