/* job.h -- one input event on its way through the worker, the lists the
 * pipeline keeps jobs on, and the queue finished jobs wait in.
 *
 * DESIGN
 * ------
 * The pipeline creates a job per message and owns it, except while it is
 * in the engine (one thread runs both, engine.c says why): engine_submit()
 * transfers it, and the pipeline touches nothing of a job it sent but its
 * place-list links and, on a revoke, its `revoked` flag, until it comes
 * back through a jobq. The engine
 * fills `out`, `outcome` and the error fields. A job asks the engine for one of
 * two things: run the event, or (after its output was delivered) write the
 * applied marker.
 *
 * Where a job is is explicit: `place` names it, and each place is one
 * list (as a connection's state is the list it is on in pgbouncer). Two
 * links, two owners: `link` belongs to the consumer thread's place lists
 * (pipeline.c moves a job between them in one function), `next` to the
 * jobq the job travels in, so no list can splice another.
 */
#ifndef JOB_H
#define JOB_H

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

/* Where a job is (pipeline.c); each place is one job_list there. */
enum job_place {
    JOB_NEW,       /* just consumed, not yet placed */
    JOB_HELD,      /* waiting for the schema registry, in consumed order */
    JOB_WAITING,   /* behind an earlier event of its subject */
    JOB_ENGINE,    /* the engine's until it comes back (jobq, handler) */
    JOB_TO_SEND,   /* its output or dead letter waits to be produced again */
    JOB_PRODUCING, /* produced, waiting for the delivery report */
    JOB_PLACES
};

/* The form of a dead letter: a copy the broker refuses is sent again
 * smaller (contract section 7). */
enum job_dlq_form {
    DLQ_FULL,     /* original key, value and headers */
    DLQ_NO_VALUE, /* the value left out */
    DLQ_BARE,     /* provenance headers only: no key, value or headers */
    DLQ_FORMS
};

struct job {
    enum event_kind kind; /* of the input topic */
    enum job_request req;
    enum job_outcome outcome;
    struct event in, out;
    /* a second output, produced once `out` is delivered (a webhook that
     * also ends its room: video-session, then video-ended); NULL: none */
    struct event *then;
    char *subject; /* "bk-b1", its room's name: the ordering key */
    char *topic;
    int32_t partition;
    int64_t offset;
    rd_kafka_message_t *msg; /* the consumer's, for the DLQ */
    size_t bytes;            /* msg's key and value, held against a budget */
    const char *err_class;   /* static: decode, validation, hms_rejected... */
    char err[512];
    int attempts;
    enum job_dlq_form dlq_form;
    int64_t consumed_at; /* hw_mono_ms(), for the event histogram */
    /* set by the pipeline when the job's partition is revoked; read by
     * the engine, which then writes nothing more for it */
    bool revoked;
    enum job_place place;              /* consumer thread */
    struct job *link_prev, *link_next; /* its place's job_list (consumer) */
    struct job *subject_next;          /* the subject's FIFO (consumer) */
    struct job *next;                  /* the jobq it travels in */
};

/* A doubly linked list of jobs through ->link_*: one per place. */
struct job_list {
    struct job *head, *tail;
    size_t n;
};

void job_list_push(struct job_list *l, struct job *j);
void job_list_remove(struct job_list *l, struct job *j);

/* A FIFO through ->next, taken whole by its reader. */
struct jobq {
    struct job *head, *tail;
};

void jobq_deinit(struct jobq *q); /* frees what is left */
void jobq_push(struct jobq *q, struct job *j);
/* Takes every queued job, oldest first (a list through ->next). */
struct job *jobq_take(struct jobq *q);

void job_free(struct job *j);

/* Its partition was revoked: the job may no longer write anything (its
 * event now belongs to another worker, which would otherwise race it on
 * the same subject). */
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
