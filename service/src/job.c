/* job.c -- the small things every job needs: its place list (a doubly
 * linked list through link_prev/link_next, O(1) removal from anywhere,
 * used by pipeline.c), the jobq finished jobs wait in (a FIFO through
 * `next`, taken whole by the reader), the revoked flag, and the log line
 * that names a job's topic, partition, offset, subject and event id. */
#include "job.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

bool job_stale(const struct job *j)
{
    return j->revoked;
}

void job_list_push(struct job_list *l, struct job *j)
{
    j->link_next = NULL;
    j->link_prev = l->tail;
    if (l->tail != NULL) {
        l->tail->link_next = j;
    } else {
        l->head = j;
    }
    l->tail = j;
    l->n++;
}

void job_list_remove(struct job_list *l, struct job *j)
{
    if (j->link_prev != NULL) {
        j->link_prev->link_next = j->link_next;
    } else {
        l->head = j->link_next;
    }
    if (j->link_next != NULL) {
        j->link_next->link_prev = j->link_prev;
    } else {
        l->tail = j->link_prev;
    }
    j->link_prev = j->link_next = NULL;
    l->n--;
}

void jobq_deinit(struct jobq *q)
{
    struct job *j = jobq_take(q);

    while (j != NULL) {
        struct job *next = j->next;

        job_free(j);
        j = next;
    }
}

void jobq_push(struct jobq *q, struct job *j)
{
    j->next = NULL;
    if (q->tail != NULL) {
        q->tail->next = j;
    } else {
        q->head = j;
    }
    q->tail = j;
}

struct job *jobq_take(struct jobq *q)
{
    struct job *all = q->head;

    q->head = q->tail = NULL;
    return all;
}

void job_free(struct job *j)
{
    if (j == NULL) {
        return;
    }
    event_clear(&j->in);
    event_clear(&j->out);
    if (j->then != NULL) {
        event_clear(j->then);
        free(j->then);
    }
    free(j->subject);
    free(j->topic);
    if (j->msg != NULL) {
        rd_kafka_message_destroy(j->msg);
    }
    free(j);
}

void job_log_emit(enum log_level lvl, const char *mod, const struct job *j,
                  const char *fmt, ...)
{
    char msg[512], subject[160], event_id[80];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_emit(lvl, mod,
             "%s topic=%s partition=%d offset=%lld subject=%s event_id=%s", msg,
             j->topic, (int)j->partition, (long long)j->offset,
             log_safe(subject, sizeof(subject),
                      j->subject != NULL ? j->subject : "-"),
             log_safe(event_id, sizeof(event_id),
                      j->in.event_id != NULL ? j->in.event_id : "-"));
}
