/* pipeline.c -- jobs from pipeline_take() to the store callback.
 *
 * Places (job.h), each one list of struct pipeline, and the one way
 * between them, move():
 *
 *   new -> held (its writer schema is not fetched yet, or behind a held
 *               message of its partition) -> waiting / engine / DLQ
 *   new -> waiting (behind an earlier event of its subject) -> engine
 *   new -> engine -> to_send / producing -> engine (the marker) -> gone
 *   new -> to_send / producing (a dead letter) -> gone
 *
 * release() is the only way out. A subject's events form a FIFO (struct
 * subj, in an smap by "booking:<id>" / "stream:<id>") whose head alone is
 * in the engine. produced() is the reaction to every produce result and
 * delivery report (docs/contract.md section 7, Kafka produce rows): a
 * dead letter the broker refuses is sent smaller, an output it refuses
 * dead-letters its input, a missing permission or topic halts (intake
 * stops, /readyz says why, the send is tried again every HALT_RETRY_MS).
 * The engine has halts of its own (handler.c); pipeline_health() merges
 * both.
 *
 * Held input (review B10): the registry fetches writer schemas on a
 * thread of its own and rings the bell when one is in, so a message
 * whose schema id is new waits on the held list while everything else
 * goes on. Its partition's later messages are held behind it (per
 * partition order; held_parts counts each partition's held jobs, and
 * worker.c pauses those partitions); other partitions are not held.
 * retry_held() walks the list oldest first whenever a fetch has ended or
 * HELD_RETRY_MS has passed, admitting every job whose schema is in and
 * whose partition has nothing held before it.
 */
#define LOGMOD "pipeline"
#include "pipeline.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "engine.h"
#include "hookev.h"
#include "job.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "offsets.h"
#include "producer.h"
#include "registry.h"
#include "rules.h"
#include "smap.h"

#define PRODUCE_RETRY_MS 1000
#define HELD_RETRY_MS 1000 /* input waiting for the schema registry */

static const char *const place_names[JOB_PLACES] = {
    "new", "held", "waiting", "engine", "to_send", "producing"};

/* What halted the pipeline on this thread's side. */
enum halt_source {
    HALT_KAFKA,
    HALT_REGISTRY, /* output schemas refused */
    HALT_SCHEMA,   /* fetching input schemas refused */
    HALT_SOURCES
};

struct subj {
    struct job *head, *tail; /* head: the one in progress */
};

/* A partition with held jobs, in held_parts by part_key(). */
struct held_part {
    size_t n;       /* its jobs on the held list */
    unsigned stuck; /* the retry_held() pass in which one stayed held */
};

struct pipeline {
    const struct conf *cf;
    pipeline_store_fn *store;
    void *store_arg;
    struct codec *codec;
    struct registry *registry; /* NULL: no SCHEMA_REGISTRY_URL */
    struct producer *prod;
    struct engine *engine;
    int bell; /* hw.h: Kafka's queues and the registry's fetches ring it */
    struct offsets *offsets;
    struct smap *subjects;
    struct smap *held_parts;        /* "topic/partition" -> held_part */
    struct job_list at[JOB_PLACES]; /* every live job, by place */
    size_t max_jobs;
    size_t held_bytes, max_bytes; /* inputs' key + value, alive now; cap */
    int64_t send_at;              /* TO_SEND is tried again; 0: empty */
    int64_t held_retry_at;
    unsigned held_pass;    /* retry_held() passes */
    unsigned fetches_seen; /* registry_fetches_done() at the last pass */
    char halted[HALT_SOURCES][384]; /* why, "" when not */
    bool fatal, closing;
};

/* ---- places ----------------------------------------------------------- */

size_t pipeline_live(const struct pipeline *p)
{
    size_t n = 0;

    for (int pl = 0; pl < JOB_PLACES; pl++) {
        n += p->at[pl].n;
    }
    return n;
}

size_t pipeline_held_bytes(const struct pipeline *p)
{
    return p->held_bytes;
}

static void part_key(char *key, size_t n, const char *topic, int32_t partition)
{
    snprintf(key, n, "%s/%d", topic, (int)partition);
}

static struct held_part *held_part(const struct pipeline *p, const char *topic,
                                   int32_t partition)
{
    char key[320];

    part_key(key, sizeof(key), topic, partition);
    return smap_get(p->held_parts, key);
}

/* Counts j's partition's held jobs as j goes on (+1) or off (-1) the
 * held list. */
static void count_held(struct pipeline *p, const struct job *j, int by)
{
    char key[320];
    struct held_part *hp;

    part_key(key, sizeof(key), j->topic, j->partition);
    hp = smap_get(p->held_parts, key);
    if (hp == NULL) {
        hp = xcalloc(1, sizeof(*hp));
        smap_put(p->held_parts, key, hp);
    }
    if (by > 0) {
        hp->n++;
    } else {
        hp->n--;
    }
    if (hp->n == 0) {
        smap_del(p->held_parts, key);
        free(hp);
    }
}

/* The one way a job changes place. */
static void move(struct pipeline *p, struct job *j, enum job_place to)
{
    if (j->place == JOB_HELD) {
        count_held(p, j, -1);
    }
    job_list_remove(&p->at[j->place], j);
    j->place = to;
    job_list_push(&p->at[to], j);
    if (to == JOB_HELD) {
        count_held(p, j, 1);
    }
}

/* The one way out: the job is forgotten (its offset stays as it is). */
static void release(struct pipeline *p, struct job *j)
{
    if (j->place == JOB_HELD) {
        count_held(p, j, -1);
    }
    p->held_bytes -= j->bytes;
    job_list_remove(&p->at[j->place], j);
    job_free(j);
}

static void to_engine(struct pipeline *p, struct job *j, enum job_request req)
{
    j->req = req;
    move(p, j, JOB_ENGINE);
    engine_submit(p->engine, j); /* the engine's until it comes back */
}

/* ---- halting: a setting someone must fix ------------------------------ */

static void halt(struct pipeline *p, enum halt_source src, const char *fmt, ...)
    HW_PRINTF(3, 4);

static void halt(struct pipeline *p, enum halt_source src, const char *fmt, ...)
{
    char why[sizeof(p->halted[0])];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (p->halted[src][0] == '\0') { /* once per halt, not per job */
        log_error("msg=\"halted: intake stopped\" why=\"%s\" retry_ms=%lld",
                  why, (long long)p->cf->halt_retry_ms);
    }
    snprintf(p->halted[src], sizeof(p->halted[src]), "%s", why);
}

static void unhalt(struct pipeline *p, enum halt_source src)
{
    if (p->halted[src][0] != '\0') {
        log_info("msg=\"resuming: the cause of the halt is gone\" was=\"%s\"",
                 p->halted[src]);
        p->halted[src][0] = '\0';
    }
}

static const char *halted(const struct pipeline *p)
{
    for (int s = 0; s < HALT_SOURCES; s++) {
        if (p->halted[s][0] != '\0') {
            return p->halted[s];
        }
    }
    return NULL;
}

/* ---- completion and per-subject order -------------------------------- */

static void store_if_contiguous(struct pipeline *p, const struct job *j)
{
    int64_t store;

    if (!job_stale(j) &&
        offsets_done(p->offsets, j->topic, j->partition, j->offset, &store)) {
        p->store(p->store_arg, j->topic, j->partition, store);
    }
}

/* Takes j off its subject's FIFO; the next job starts if run_next, else
 * (stopping) the jobs behind it are released: they will never run. */
static void detach(struct pipeline *p, struct job *j, bool run_next)
{
    struct subj *s =
        j->subject != NULL ? smap_get(p->subjects, j->subject) : NULL;

    if (s == NULL || s->head != j) {
        return;
    }
    s->head = j->subject_next;
    while (!run_next && s->head != NULL) {
        struct job *next = s->head->subject_next;

        release(p, s->head);
        s->head = next;
    }
    if (s->head == NULL) {
        smap_del(p->subjects, j->subject);
        free(s);
    } else {
        to_engine(p, s->head, JOB_RUN);
    }
}

/* The finished event in the metrics: outcome, DLQ class, time held. */
static void count_done(const struct job *j)
{
    const char *outcome = j->outcome == JOB_DLQ         ? "dlq"
                          : j->outcome == JOB_SKIPPED   ? "skipped"
                          : j->outcome == JOB_DUPLICATE ? "duplicate"
                                                        : "succeeded";

    metrics_add(M_EVENTS_DONE, 1, j->topic, outcome,
                j->outcome == JOB_DLQ ? j->err_class : "");
    metrics_observe(M_EVENT_SECONDS,
                    (double)(hw_mono_ms() - j->consumed_at) / 1000, j->topic);
}

/* The job is done for good: its offset may move, its subject's next job
 * may start. */
static void job_done(struct pipeline *p, struct job *j)
{
    count_done(j);
    store_if_contiguous(p, j);
    detach(p, j, true);
    release(p, j);
}

/* Something is broken beyond this event (a bug, a fatal Kafka error):
 * stop the worker without storing j's offset. */
static void give_up(struct pipeline *p, struct job *j)
{
    p->fatal = true;
    detach(p, j, false);
    release(p, j);
}

static void dispatch(struct pipeline *p, struct job *j)
{
    struct subj *s = smap_get(p->subjects, j->subject);

    if (s != NULL) {
        s->tail->subject_next = j; /* waits for the subject's earlier ones */
        s->tail = j;
        move(p, j, JOB_WAITING);
        return;
    }
    s = xcalloc(1, sizeof(*s));
    s->head = s->tail = j;
    smap_put(p->subjects, j->subject, s);
    to_engine(p, j, JOB_RUN);
}

/* ---- producing -------------------------------------------------------- */

static void send_later(struct pipeline *p, struct job *j)
{
    move(p, j, JOB_TO_SEND);
    if (p->send_at == 0) {
        p->send_at = hw_mono_ms() + (p->halted[HALT_KAFKA][0] != '\0'
                                         ? p->cf->halt_retry_ms
                                         : PRODUCE_RETRY_MS);
    }
}

static void produce(struct pipeline *p, struct job *j);

/* What becomes of j after a produce attempt (report false) or its
 * delivery report (docs/contract.md section 7, Kafka produce rows). */
static void produced(struct pipeline *p, struct job *j, enum hw_rc rc,
                     const char *err, bool report)
{
    const char *topic = j->outcome == JOB_DLQ
                            ? p->cf->topic_dlq
                            : kafka_output_topic(p->cf, j->out.kind);

    switch (rc) {
    case HW_OK:
        if (!report) {
            move(p, j, JOB_PRODUCING);
            return;
        }
        unhalt(p, HALT_KAFKA);
        if (j->outcome == JOB_DLQ) {
            job_log(LL_INFO, j, "msg=\"dead-lettered\" class=%s form=%d",
                    j->err_class, (int)j->dlq_form);
            job_done(p, j);
        } else if (j->then != NULL) { /* its second output, in order */
            event_clear(&j->out);
            j->out = *j->then;
            free(j->then);
            j->then = NULL;
            produce(p, j);
        } else {
            to_engine(p, j, JOB_MARK); /* contract 3: marker after delivery */
        }
        return;
    case HW_ERR_INVALID: /* the broker refuses this message */
        if (j->outcome != JOB_DLQ) {
            j->outcome = JOB_DLQ; /* the input goes to the DLQ instead */
            j->err_class = "output_rejected";
            snprintf(j->err, sizeof(j->err), "%s refused the output: %s", topic,
                     err);
            job_log(LL_WARN, j, "msg=\"dead-lettering\" class=%s err=\"%s\"",
                    j->err_class, j->err);
        } else if (j->dlq_form + 1 < DLQ_FORMS) {
            j->dlq_form++;
            job_log(LL_WARN, j,
                    "msg=\"dead letter refused, sending it smaller\" "
                    "err=%s form=%d",
                    err, (int)j->dlq_form);
        } else {
            job_log(LL_ERROR, j,
                    "msg=\"dead letter refused even bare: skipped\" err=%s "
                    "class=%s",
                    err, j->err_class);
            metrics_add(M_DLQ_DROPPED, 1, j->topic);
            job_done(p, j);
            return;
        }
        produce(p, j);
        return;
    case HW_ERR_UNAVAILABLE:
    case HW_ERR_TIMEOUT:
        job_log(LL_WARN, j, "msg=\"produce failed, will retry\" err=%s", err);
        send_later(p, j);
        return;
    case HW_ERR_AUTH:
        halt(p, HALT_KAFKA,
             "kafka refuses to let the worker write %s (%s): grant its "
             "principal WRITE on the topic",
             topic, err);
        break;
    case HW_ERR_CONFIG:
        halt(p, HALT_KAFKA, "kafka: topic %s does not exist (%s): create it",
             topic, err);
        break;
    case HW_ERR_FATAL:
        job_log(LL_ERROR, j, "msg=\"producer broken, stopping\" err=%s", err);
        p->fatal = true; /* kept on TO_SEND: destroy frees it */
        break;
    case HW_ERR_REFUSED:
    case HW_ERR_DECODE:
    case HW_ERR_NOT_FOUND:
        halt(p, HALT_KAFKA, "kafka refuses to let the worker write %s (%s)",
             topic, err);
        break;
    }
    send_later(p, j);
}

static void produce(struct pipeline *p, struct job *j)
{
    char errstr[256];
    struct buf b = {0};
    enum hw_rc rc;

    if (j->outcome == JOB_DLQ) {
        rc = producer_dlq(p->prod, j);
        produced(p, j, rc, producer_errstr(p->prod), false);
        return;
    }
    rc = codec_encode_for(p->codec, &j->out,
                          kafka_output_topic(p->cf, j->out.kind), &b, errstr,
                          sizeof(errstr));
    if (rc == HW_OK) {
        unhalt(p, HALT_REGISTRY);
        rc = producer_output(p->prod, j, b.p, b.len);
        buf_deinit(&b);
        produced(p, j, rc, producer_errstr(p->prod), false);
        return;
    }
    buf_deinit(&b);
    if (rc == HW_ERR_UNAVAILABLE) {
        job_log(LL_WARN, j,
                "msg=\"schema registry down, will retry\" err=\"%s\"", errstr);
        send_later(p, j);
    } else if (rc == HW_ERR_AUTH || rc == HW_ERR_INVALID) {
        halt(p, HALT_REGISTRY,
             "the schema registry refuses our output schema (%s): check the "
             "credentials in SCHEMA_REGISTRY_URL and the subject's "
             "compatibility",
             errstr);
        send_later(p, j);
    } else {
        job_log(LL_ERROR, j, "msg=\"cannot encode output\" err=\"%s\"", errstr);
        give_up(p, j); /* a bug: stop rather than lose the result */
    }
}

static void on_delivery(void *arg, struct job *j, enum hw_rc rc,
                        const char *err)
{
    struct pipeline *p = arg;

    if (p->closing) {
        job_free(j); /* shutting down: the lists are gone or going */
        return;
    }
    produced(p, j, rc, err, true);
}

/* Sends what waits in TO_SEND once it is due; a failure puts a job back
 * at the end, so each is tried once per round. */
static void retry_sends(struct pipeline *p)
{
    size_t n = p->at[JOB_TO_SEND].n;

    if (n == 0 || hw_mono_ms() < p->send_at) {
        return;
    }
    p->send_at = 0;
    while (n-- > 0 && !p->fatal) {
        produce(p, p->at[JOB_TO_SEND].head);
    }
}

/* ---- results from the engine ------------------------------------------- */

static void on_results(struct pipeline *p)
{
    struct job *j = engine_take(p->engine);

    while (j != NULL) {
        struct job *next = j->next;

        switch (j->outcome) {
        case JOB_OUTPUT:
        case JOB_DLQ:
            produce(p, j);
            break;
        case JOB_SKIPPED:
        case JOB_DUPLICATE:
        case JOB_MARKED:
            job_done(p, j);
            break;
        case JOB_ABANDONED: /* not ours any more: no offset, no marker */
            detach(p, j, true);
            release(p, j);
            break;
        case JOB_FATAL:
            job_log(LL_ERROR, j, "msg=\"stopping: fatal\" err=\"%s\"", j->err);
            give_up(p, j); /* its offset stays unstored */
            break;
        }
        j = next;
    }
}

/* ---- messages in ------------------------------------------------------- */

static void dead_letter(struct pipeline *p, struct job *j, const char *cls,
                        const char *err)
{
    j->outcome = JOB_DLQ;
    j->err_class = cls;
    snprintf(j->err, sizeof(j->err), "%s", err);
    job_log(LL_WARN, j, "msg=\"dead-lettering\" class=%s err=\"%s\"", cls, err);
    produce(p, j);
}

/* Decodes, validates and dispatches j (NEW or HELD): HW_OK. When its
 * writer schema is not fetched yet or the schema registry is down
 * (HW_ERR_UNAVAILABLE), or refuses us (HW_ERR_AUTH), j must wait where it
 * is (it is not the message's fault). */
static enum hw_rc admit(struct pipeline *p, struct job *j)
{
    char errstr[512];
    enum hw_rc rc =
        j->kind == EVENT_WEBHOOK
            ? hookev_decode(j->msg->payload, j->msg->len, &j->in, errstr,
                            sizeof(errstr))
            : codec_decode(p->codec, j->kind, j->msg->payload, j->msg->len,
                           &j->in, errstr, sizeof(errstr));

    if (rc == HW_ERR_UNAVAILABLE || rc == HW_ERR_AUTH) {
        event_clear(&j->in);
        if (rc == HW_ERR_AUTH) {
            halt(p, HALT_SCHEMA,
                 "the schema registry refuses the worker (%s): check the "
                 "credentials in SCHEMA_REGISTRY_URL",
                 errstr);
        } else { /* the registry's thread logs an outage */
            job_log(LL_DEBUG, j, "msg=\"holding input\" err=\"%s\"", errstr);
        }
        return rc;
    }
    if (rc != HW_OK) {
        dead_letter(p, j, rc == HW_ERR_NOT_FOUND ? "unknown_schema" : "decode",
                    errstr);
        return HW_OK;
    }
    if (event_validate(&j->in, hw_now_ms(), errstr, sizeof(errstr)) != HW_OK) {
        dead_letter(p, j, "validation", errstr);
        return HW_OK;
    }
    /* a subject's room name: what 100ms's webhooks name it by too */
    j->subject = j->kind == EVENT_WEBHOOK
                     ? hookev_order_key(&j->in)
                     : rules_room_name(event_subject_kind(&j->in),
                                       event_subject_id(&j->in));
    job_log(LL_DEBUG, j, "msg=\"event in\" kind=%s", event_kind_name(j->kind));
    dispatch(p, j);
    return HW_OK;
}

/* A fetch ended or the retry time is up: admit held messages, oldest
 * first. admit() moves each one off the held list, or leaves it there
 * and says wait, and then the rest of its partition waits too. */
static void retry_held(struct pipeline *p)
{
    unsigned fetches =
        p->registry != NULL ? registry_fetches_done(p->registry) : 0;
    bool refused = false; /* the registry refuses us, in this pass */
    struct job *next;

    if (p->at[JOB_HELD].n == 0) {
        unhalt(p, HALT_SCHEMA); /* nothing waits for it any more */
        return;
    }
    if (fetches == p->fetches_seen && hw_mono_ms() < p->held_retry_at) {
        return;
    }
    p->fetches_seen = fetches;
    p->held_pass++;
    for (struct job *j = p->at[JOB_HELD].head; j != NULL; j = next) {
        struct held_part *hp = held_part(p, j->topic, j->partition);
        enum hw_rc rc;

        next = j->link_next; /* admit() takes j off the list, no other */
        if (hp->stuck == p->held_pass) {
            continue; /* behind one of its partition that waits */
        }
        if ((rc = admit(p, j)) != HW_OK) {
            hp->stuck = p->held_pass;
            refused |= rc == HW_ERR_AUTH;
        }
    }
    if (!refused) {
        unhalt(p, HALT_SCHEMA);
    }
    p->held_retry_at =
        hw_mono_ms() + (refused ? p->cf->halt_retry_ms : HELD_RETRY_MS);
}

void pipeline_take(struct pipeline *p, rd_kafka_message_t *m, const char *topic,
                   enum event_kind kind)
{
    struct job *j = xcalloc(1, sizeof(*j));

    j->topic = xstrdup(topic);
    j->kind = kind;
    j->partition = m->partition;
    j->offset = m->offset;
    j->msg = m;
    j->bytes = m->len + m->key_len;
    p->held_bytes += j->bytes;
    j->attempts = 1;
    j->consumed_at = hw_mono_ms();
    j->place = JOB_NEW;
    job_list_push(&p->at[JOB_NEW], j);
    metrics_add(M_EVENTS_CONSUMED, 1, j->topic);
    offsets_begin(p->offsets, j->topic, j->partition, j->offset);
    /* behind a held message of its partition, it waits: order is kept */
    if (pipeline_partition_held(p, j->topic, j->partition) ||
        admit(p, j) != HW_OK) {
        if (p->at[JOB_HELD].n == 0) {
            p->held_retry_at = hw_mono_ms() + HELD_RETRY_MS;
        }
        move(p, j, JOB_HELD);
    }
}

bool pipeline_partition_held(const struct pipeline *p, const char *topic,
                             int32_t partition)
{
    return p->at[JOB_HELD].n > 0 && held_part(p, topic, partition) != NULL;
}

/* ---- serving the owner's loop ------------------------------------------ */

void pipeline_serve(struct pipeline *p)
{
    hw_bell_clear(p->bell); /* before serving: a ring after it wakes again */
    on_results(p);
    producer_poll(p->prod);
    retry_sends(p);
    retry_held(p);
    if (producer_fatal(p->prod) != NULL && !p->fatal) {
        log_error("msg=\"kafka producer fatal error\" err=\"%s\"",
                  producer_fatal(p->prod));
        p->fatal = true;
    }
}

int pipeline_bell(const struct pipeline *p)
{
    return p->bell;
}

void pipeline_wait(struct pipeline *p, int max_ms)
{
    engine_turn(p->engine, max_ms, p->bell);
}

int pipeline_wait_ms(const struct pipeline *p)
{
    return p->send_at != 0 || p->at[JOB_HELD].n > 0 ? PRODUCE_RETRY_MS : 500;
}

bool pipeline_wants_pause(const struct pipeline *p, bool paused)
{
    return engine_degraded(p->engine) || halted(p) != NULL ||
           p->at[JOB_TO_SEND].n > 0 || /* Kafka refuses our outputs */
           pipeline_live(p) >= (paused ? p->max_jobs / 2 : p->max_jobs) ||
           p->held_bytes >= (paused ? p->max_bytes / 2 : p->max_bytes);
}

bool pipeline_fatal(const struct pipeline *p)
{
    return p->fatal;
}

bool pipeline_health(struct pipeline *p, bool *redis_up, bool *api_up,
                     char *why, size_t n)
{
    const char *own = halted(p);

    engine_health(p->engine, redis_up, api_up);
    for (int pl = JOB_HELD; pl < JOB_PLACES; pl++) {
        metrics_set(M_JOBS_AT, (double)p->at[pl].n, place_names[pl]);
    }
    if (own != NULL) {
        snprintf(why, n, "%s", own);
        return true;
    }
    return engine_halted(p->engine, why, n);
}

/* ---- partitions leaving ------------------------------------------------ */

static bool in_parts(const rd_kafka_topic_partition_list_t *parts,
                     const struct job *j)
{
    return rd_kafka_topic_partition_list_find(parts, j->topic, j->partition) !=
           NULL;
}

/* Jobs of parts that are under way (held input is not: it waits for the
 * registry, not for us). */
static size_t under_way(const struct pipeline *p,
                        const rd_kafka_topic_partition_list_t *parts)
{
    size_t n = 0;

    for (int pl = JOB_WAITING; pl < JOB_PLACES; pl++) {
        for (const struct job *j = p->at[pl].head; j != NULL;
             j = j->link_next) {
            n += in_parts(parts, j);
        }
    }
    return n;
}

void pipeline_revoke(struct pipeline *p,
                     const rd_kafka_topic_partition_list_t *parts,
                     int64_t until)
{
    size_t n = 0;

    while (under_way(p, parts) > 0 && !p->fatal && hw_mono_ms() < until) {
        engine_turn(p->engine, 100, p->bell); /* the revoked jobs' calls */
        hw_bell_clear(p->bell);
        on_results(p);
        producer_poll(p->prod);
        retry_sends(p);
    }
    for (int pl = 0; pl < JOB_PLACES; pl++) {
        struct job *next;

        for (struct job *j = p->at[pl].head; j != NULL; j = next) {
            next = j->link_next;
            if (!in_parts(parts, j)) {
                continue;
            }
            n++;
            j->revoked = true;
            if (j->place == JOB_HELD) {
                release(p, j); /* never started */
            }
        }
    }
    if (n > 0) {
        log_warn("msg=\"abandoning unfinished events of revoked partitions\" "
                 "jobs=%zu",
                 n);
    }
    for (int i = 0; i < parts->cnt; i++) {
        offsets_forget(p->offsets, parts->elems[i].topic,
                       parts->elems[i].partition);
    }
}

/* Frees the jobs of a place the consumer thread owns. */
static void free_place(struct pipeline *p, enum job_place pl)
{
    while (p->at[pl].head != NULL) {
        release(p, p->at[pl].head);
    }
}

void pipeline_stop(struct pipeline *p)
{
    free_place(p, JOB_HELD);
}

/* ---- life --------------------------------------------------------------- */

struct pipeline *pipeline_create(const struct conf *cf,
                                 pipeline_store_fn *store, void *arg,
                                 char *errstr, size_t errstr_size)
{
    struct pipeline *p = xcalloc(1, sizeof(*p));

    p->cf = cf;
    p->store = store;
    p->store_arg = arg;
    p->max_jobs = (size_t)cf->hms_max_in_flight * 4;
    p->max_bytes = (size_t)cf->max_held_mb << 20;
    p->offsets = offsets_create();
    p->subjects = smap_create();
    p->held_parts = smap_create();
    p->bell = hw_bell_open();
    if (p->bell < 0) {
        snprintf(errstr, errstr_size, "eventfd failed");
        goto err;
    }
    p->codec = codec_create(errstr, errstr_size);
    if (p->codec == NULL) {
        goto err;
    }
    if (cf->schema_registry_url != NULL) {
        p->registry = registry_create(cf, p->bell, errstr, errstr_size);
        if (p->registry == NULL) {
            goto err;
        }
        codec_use_registry(p->codec, p->registry);
    }
    p->prod = producer_create(cf, p->bell, on_delivery, p, errstr, errstr_size);
    if (p->prod == NULL) {
        goto err;
    }
    p->engine = engine_start(cf, errstr, errstr_size);
    if (p->engine == NULL) {
        goto err;
    }
    return p;
err:
    pipeline_destroy(p);
    return NULL;
}

static void free_subject(void *value, void *arg)
{
    (void)arg;
    free(value);
}

void pipeline_destroy(struct pipeline *p)
{
    if (p == NULL) {
        return;
    }
    p->closing = true;
    /* PRODUCING jobs are freed by their delivery reports (closing), ENGINE
     * ones by the engine; those lists are not looked at again */
    producer_destroy(p->prod, 2000);
    engine_stop(p->engine);
    free_place(p, JOB_NEW);
    free_place(p, JOB_HELD);
    free_place(p, JOB_WAITING);
    free_place(p, JOB_TO_SEND);
    if (p->subjects != NULL) {
        smap_each(p->subjects, free_subject, NULL);
    }
    codec_destroy(p->codec);
    registry_destroy(p->registry); /* after the codec, which uses it */
    offsets_destroy(p->offsets);
    smap_destroy(p->subjects);
    smap_destroy(p->held_parts); /* empty: the held jobs are freed */
    if (p->bell >= 0) {
        close(p->bell);
    }
    free(p);
}
