/* worker.c -- the consumer loop: messages in, jobs through the engine,
 * results out, offsets stored only once a result is safely out.
 *
 * A job is always on exactly one list of the worker, the list of its
 * place (job.h): NEW -> (HELD while the schema registry is down) ->
 * WAITING behind an earlier event of its subject, or ENGINE -> TO_SEND /
 * PRODUCING -> ENGINE again for the applied marker -> gone. move() is the
 * only way between places, release() the only way out. What each outcome
 * and each produce error leads to is docs/contract.md section 7; a
 * setting someone must fix (no permission to write a topic, a registry
 * refusing us) halts intake with the reason on /readyz, and the work is
 * retried every HALT_RETRY_MS, so a fix resumes the worker.
 */
#define LOGMOD "worker"
#include "worker.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "engine.h"
#include "health.h"
#include "kafka.h"
#include "kstats.h"
#include "log.h"
#include "metrics.h"
#include "offsets.h"
#include "producer.h"
#include "registry.h"
#include "smap.h"

#define POLL_BATCH 500
#define PRODUCE_RETRY_MS 1000
#define HELD_RETRY_MS 1000 /* input waiting for the schema registry */

static const char *const place_names[JOB_PLACES] = {
    "new", "held", "waiting", "engine", "to_send", "producing"};

/* What halted the worker on this thread's side (the engine has its own). */
enum halt_source { HALT_KAFKA, HALT_REGISTRY, HALT_SOURCES };

struct subj {
    struct job *head, *tail; /* head: the one in progress */
};

struct worker {
    const struct conf *cf;
    rd_kafka_t *rk;
    rd_kafka_queue_t *cq;
    int pipe[2];
    struct producer *prod;
    struct codec *codec;
    struct engine *engine;
    struct offsets *offsets;
    struct smap *subjects;
    rd_kafka_topic_partition_list_t *assigned;
    bool paused, stopping, fatal, closing;
    size_t max_jobs;
    struct job_list at[JOB_PLACES]; /* every live job, by place */
    int64_t send_at;                /* TO_SEND is tried again; 0: empty */
    int64_t held_retry_at;
    char halted[HALT_SOURCES][384]; /* why, "" when not */
    struct kstats *kstats;
    struct registry *registry; /* NULL: no SCHEMA_REGISTRY_URL */
};

/* ---- places --------------------------------------------------------- */

static size_t live(const struct worker *w)
{
    size_t n = 0;

    for (int p = 0; p < JOB_PLACES; p++) {
        n += w->at[p].n;
    }
    return n;
}

/* The one way a job changes place. */
static void move(struct worker *w, struct job *j, enum job_place to)
{
    job_list_remove(&w->at[j->place], j);
    j->place = to;
    job_list_push(&w->at[to], j);
}

/* The one way out: the job is forgotten (its offset stays as it is). */
static void release(struct worker *w, struct job *j)
{
    job_list_remove(&w->at[j->place], j);
    job_free(j);
}

static void to_engine(struct worker *w, struct job *j, enum job_request req)
{
    j->req = req;
    move(w, j, JOB_ENGINE);
    engine_submit(w->engine, j); /* the engine's until it comes back */
}

/* ---- halting: a setting someone must fix ------------------------------ */

static void halt(struct worker *w, enum halt_source src, const char *fmt, ...)
    HW_PRINTF(3, 4);

static void halt(struct worker *w, enum halt_source src, const char *fmt, ...)
{
    char why[sizeof(w->halted[0])];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (w->halted[src][0] == '\0') { /* once per halt, not per job */
        log_error("msg=\"halted: intake stopped\" why=\"%s\" retry_ms=%lld",
                  why, (long long)w->cf->halt_retry_ms);
    }
    snprintf(w->halted[src], sizeof(w->halted[src]), "%s", why);
}

static void unhalt(struct worker *w, enum halt_source src)
{
    if (w->halted[src][0] != '\0') {
        log_info("msg=\"resuming: the cause of the halt is gone\" was=\"%s\"",
                 w->halted[src]);
        w->halted[src][0] = '\0';
    }
}

/* ---- completion and per-subject order -------------------------------- */

static void store_offset(struct worker *w, const struct job *j)
{
    rd_kafka_topic_partition_list_t *l;
    int64_t store;
    rd_kafka_resp_err_t err;

    if (job_stale(j) ||
        !offsets_done(w->offsets, j->topic, j->partition, j->offset, &store)) {
        return;
    }
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, j->topic, j->partition)->offset =
        store;
    err = rd_kafka_offsets_store(w->rk, l);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        job_log(LL_DEBUG, j, "msg=\"offset not stored\" err=%s",
                rd_kafka_err2name(err)); /* revoked meanwhile */
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Takes j off its subject's FIFO; the next job starts if run_next, else
 * (stopping) the jobs behind it are released: they will never run. */
static void detach(struct worker *w, struct job *j, bool run_next)
{
    struct subj *s =
        j->subject != NULL ? smap_get(w->subjects, j->subject) : NULL;

    if (s == NULL || s->head != j) {
        return;
    }
    s->head = j->subject_next;
    while (!run_next && s->head != NULL) {
        struct job *next = s->head->subject_next;

        release(w, s->head);
        s->head = next;
    }
    if (s->head == NULL) {
        smap_del(w->subjects, j->subject);
        free(s);
    } else {
        to_engine(w, s->head, JOB_RUN);
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
static void complete(struct worker *w, struct job *j)
{
    count_done(j);
    store_offset(w, j);
    detach(w, j, true);
    release(w, j);
}

/* Something is broken beyond this event (a bug, a fatal Kafka error):
 * stop the worker without storing j's offset. */
static void give_up(struct worker *w, struct job *j)
{
    w->fatal = true;
    detach(w, j, false);
    release(w, j);
}

static void dispatch(struct worker *w, struct job *j)
{
    struct subj *s = smap_get(w->subjects, j->subject);

    if (s != NULL) {
        s->tail->subject_next = j; /* waits for the subject's earlier ones */
        s->tail = j;
        move(w, j, JOB_WAITING);
        return;
    }
    s = xcalloc(1, sizeof(*s));
    s->head = s->tail = j;
    smap_put(w->subjects, j->subject, s);
    to_engine(w, j, JOB_RUN);
}

/* ---- producing ------------------------------------------------------ */

static void send_later(struct worker *w, struct job *j)
{
    move(w, j, JOB_TO_SEND);
    if (w->send_at == 0) {
        w->send_at = hw_mono_ms() + (w->halted[HALT_KAFKA][0] != '\0'
                                         ? w->cf->halt_retry_ms
                                         : PRODUCE_RETRY_MS);
    }
}

static void produce(struct worker *w, struct job *j);

/* What becomes of j after a produce attempt (report false) or its
 * delivery report (docs/contract.md section 7, Kafka produce rows). */
static void produced(struct worker *w, struct job *j, enum hw_rc rc,
                     const char *err, bool report)
{
    const char *topic = j->outcome == JOB_DLQ
                            ? w->cf->topic_dlq
                            : kafka_output_topic(w->cf, j->out.kind);

    switch (rc) {
    case HW_OK:
        if (!report) {
            move(w, j, JOB_PRODUCING);
            return;
        }
        unhalt(w, HALT_KAFKA);
        if (j->outcome == JOB_DLQ) {
            job_log(LL_INFO, j, "msg=\"dead-lettered\" class=%s form=%d",
                    j->err_class, (int)j->dlq_form);
            complete(w, j);
        } else {
            to_engine(w, j, JOB_MARK); /* contract 3: marker after delivery */
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
            complete(w, j);
            return;
        }
        produce(w, j);
        return;
    case HW_ERR_UNAVAILABLE:
    case HW_ERR_TIMEOUT:
        job_log(LL_WARN, j, "msg=\"produce failed, will retry\" err=%s", err);
        send_later(w, j);
        return;
    case HW_ERR_AUTH:
        halt(w, HALT_KAFKA,
             "kafka refuses to let the worker write %s (%s): grant its "
             "principal WRITE on the topic",
             topic, err);
        break;
    case HW_ERR_CONFIG:
        halt(w, HALT_KAFKA, "kafka: topic %s does not exist (%s): create it",
             topic, err);
        break;
    case HW_ERR_FATAL:
        job_log(LL_ERROR, j, "msg=\"producer broken, stopping\" err=%s", err);
        w->fatal = true; /* kept on TO_SEND: destroy frees it */
        break;
    case HW_ERR_REFUSED:
    case HW_ERR_DECODE:
    case HW_ERR_NOT_FOUND:
        halt(w, HALT_KAFKA, "kafka refuses to let the worker write %s (%s)",
             topic, err);
        break;
    }
    send_later(w, j);
}

static void produce(struct worker *w, struct job *j)
{
    char errstr[256];
    struct buf b = {0};
    enum hw_rc rc;

    if (j->outcome == JOB_DLQ) {
        rc = producer_dlq(w->prod, j);
        produced(w, j, rc, producer_errstr(w->prod), false);
        return;
    }
    rc = codec_encode_for(w->codec, &j->out,
                          kafka_output_topic(w->cf, j->out.kind), &b, errstr,
                          sizeof(errstr));
    if (rc == HW_OK) {
        unhalt(w, HALT_REGISTRY);
        rc = producer_output(w->prod, j, b.p, b.len);
        buf_deinit(&b);
        produced(w, j, rc, producer_errstr(w->prod), false);
        return;
    }
    buf_deinit(&b);
    if (rc == HW_ERR_UNAVAILABLE) {
        job_log(LL_WARN, j,
                "msg=\"schema registry down, will retry\" err=\"%s\"", errstr);
        send_later(w, j);
    } else if (rc == HW_ERR_AUTH || rc == HW_ERR_INVALID) {
        halt(w, HALT_REGISTRY,
             "the schema registry refuses our output schema (%s): check the "
             "credentials in SCHEMA_REGISTRY_URL and the subject's "
             "compatibility",
             errstr);
        send_later(w, j);
    } else {
        job_log(LL_ERROR, j, "msg=\"cannot encode output\" err=\"%s\"", errstr);
        give_up(w, j); /* a bug: stop rather than lose the result */
    }
}

static void on_delivery(void *arg, struct job *j, enum hw_rc rc,
                        const char *err)
{
    struct worker *w = arg;

    if (w->closing) {
        job_free(j); /* shutting down: the lists are gone or going */
        return;
    }
    produced(w, j, rc, err, true);
}

/* Sends what waits in TO_SEND once it is due; a failure puts a job back
 * at the end, so each is tried once per round. */
static void retry_sends(struct worker *w)
{
    size_t n = w->at[JOB_TO_SEND].n;

    if (n == 0 || hw_mono_ms() < w->send_at) {
        return;
    }
    w->send_at = 0;
    while (n-- > 0 && !w->fatal) {
        produce(w, w->at[JOB_TO_SEND].head);
    }
}

/* ---- results from the engine ---------------------------------------- */

static void on_results(struct worker *w)
{
    struct job *j = engine_take(w->engine);

    while (j != NULL) {
        struct job *next = j->next;

        switch (j->outcome) {
        case JOB_OUTPUT:
        case JOB_DLQ:
            produce(w, j);
            break;
        case JOB_SKIPPED:
        case JOB_DUPLICATE:
        case JOB_MARKED:
            complete(w, j);
            break;
        case JOB_ABANDONED: /* not ours any more: no offset, no marker */
            detach(w, j, true);
            release(w, j);
            break;
        case JOB_FATAL:
            job_log(LL_ERROR, j, "msg=\"stopping: fatal\" err=\"%s\"", j->err);
            give_up(w, j); /* its offset stays unstored */
            break;
        }
        j = next;
    }
}

/* ---- messages in ---------------------------------------------------- */

static struct job *job_for(struct worker *w, rd_kafka_message_t *m)
{
    struct job *j = xcalloc(1, sizeof(*j));

    j->topic = xstrdup(rd_kafka_topic_name(m->rkt));
    j->partition = m->partition;
    j->offset = m->offset;
    j->msg = m;
    j->attempts = 1;
    j->consumed_at = hw_mono_ms();
    atomic_init(&j->revoked, false);
    j->place = JOB_NEW;
    job_list_push(&w->at[JOB_NEW], j);
    return j;
}

static void dead_letter(struct worker *w, struct job *j, const char *cls,
                        const char *err)
{
    j->outcome = JOB_DLQ;
    j->err_class = cls;
    snprintf(j->err, sizeof(j->err), "%s", err);
    job_log(LL_WARN, j, "msg=\"dead-lettering\" class=%s err=\"%s\"", cls, err);
    produce(w, j);
}

/* Decodes, validates and dispatches j (NEW or HELD); false when the
 * schema registry is down or refuses us: j must wait where it is (it is
 * not the message's fault). */
static bool admit(struct worker *w, struct job *j)
{
    char errstr[512];
    enum event_kind kind = EVENT_KIND_COUNT;
    rd_kafka_message_t *m = j->msg;
    enum hw_rc rc;

    kafka_topic_kind(w->cf, j->topic, &kind);
    rc = codec_decode(w->codec, kind, m->payload, m->len, &j->in, errstr,
                      sizeof(errstr));
    if (rc == HW_ERR_UNAVAILABLE || rc == HW_ERR_AUTH) {
        event_clear(&j->in);
        if (rc == HW_ERR_AUTH) {
            halt(w, HALT_REGISTRY,
                 "the schema registry refuses the worker (%s): check the "
                 "credentials in SCHEMA_REGISTRY_URL",
                 errstr);
        } else if (w->at[JOB_HELD].n == 0) {
            job_log(LL_WARN, j,
                    "msg=\"schema registry down, holding input\" err=\"%s\"",
                    errstr);
        }
        return false;
    }
    unhalt(w, HALT_REGISTRY);
    if (rc != HW_OK) {
        dead_letter(w, j, rc == HW_ERR_NOT_FOUND ? "unknown_schema" : "decode",
                    errstr);
        return true;
    }
    if (event_validate(&j->in, hw_now_ms(), errstr, sizeof(errstr)) != HW_OK) {
        dead_letter(w, j, "validation", errstr);
        return true;
    }
    j->subject = xasprintf(
        "%s:%s",
        event_subject_kind(&j->in) == SUBJECT_STREAM ? "stream" : "booking",
        event_subject_id(&j->in));
    job_log(LL_DEBUG, j, "msg=\"event in\" kind=%s", event_kind_name(kind));
    dispatch(w, j);
    return true;
}

/* The registry may be back: admit held messages, oldest first. admit()
 * moves each one off the held list, or leaves it there and says wait. */
static void retry_held(struct worker *w)
{
    if (w->at[JOB_HELD].n == 0 || hw_mono_ms() < w->held_retry_at) {
        return;
    }
    while (w->at[JOB_HELD].head != NULL) {
        if (!admit(w, w->at[JOB_HELD].head)) {
            w->held_retry_at =
                hw_mono_ms() + (w->halted[HALT_REGISTRY][0] != '\0'
                                    ? w->cf->halt_retry_ms
                                    : HELD_RETRY_MS);
            return;
        }
    }
    log_info("msg=\"schema registry back, input resumed\"");
}

static void on_message(struct worker *w, rd_kafka_message_t *m)
{
    enum event_kind kind = EVENT_KIND_COUNT;
    struct job *j;

    if (!kafka_topic_kind(w->cf, rd_kafka_topic_name(m->rkt), &kind)) {
        rd_kafka_message_destroy(m); /* not ours: cannot happen */
        return;
    }
    j = job_for(w, m);
    metrics_add(M_EVENTS_CONSUMED, 1, j->topic);
    offsets_begin(w->offsets, j->topic, j->partition, j->offset);
    /* behind a held message, everything waits: order is kept */
    if (w->at[JOB_HELD].n > 0 || !admit(w, j)) {
        if (w->at[JOB_HELD].n == 0) {
            w->held_retry_at = hw_mono_ms() + HELD_RETRY_MS;
        }
        move(w, j, JOB_HELD);
    }
}

static void on_kafka_error(struct worker *w, rd_kafka_message_t *m)
{
    char safe[256];

    log_at(m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? LL_ERROR
                                                             : LL_WARN,
           "msg=\"consumer error\" err=%s topic=%s text=\"%s\"",
           rd_kafka_err2name(m->err),
           m->rkt != NULL ? rd_kafka_topic_name(m->rkt) : "-",
           log_text(safe, sizeof(safe), rd_kafka_message_errstr(m)));
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        w->fatal = true;
    }
    rd_kafka_message_destroy(m);
}

/* ---- partitions: assignment and back-pressure ------------------------ */

static void drop_assigned(struct worker *w)
{
    if (w->assigned != NULL) { /* librdkafka's destroy refuses NULL */
        rd_kafka_topic_partition_list_destroy(w->assigned);
        w->assigned = NULL;
    }
}

static bool in_parts(const rd_kafka_topic_partition_list_t *parts,
                     const struct job *j)
{
    return rd_kafka_topic_partition_list_find(parts, j->topic, j->partition) !=
           NULL;
}

/* Jobs of parts that are under way (held input is not: it waits for the
 * registry, not for us). */
static size_t jobs_in(const struct worker *w,
                      const rd_kafka_topic_partition_list_t *parts)
{
    size_t n = 0;

    for (int p = JOB_WAITING; p < JOB_PLACES; p++) {
        for (const struct job *j = w->at[p].head; j != NULL; j = j->link_next) {
            n += in_parts(parts, j);
        }
    }
    return n;
}

/* Serves results and delivery reports (no new messages) until no job of
 * parts is alive or until passes. */
static void drain(struct worker *w,
                  const rd_kafka_topic_partition_list_t *parts, int64_t until)
{
    while (jobs_in(w, parts) > 0 && !w->fatal && hw_mono_ms() < until) {
        struct pollfd fds[2] = {{engine_fd(w->engine), POLLIN, 0},
                                {producer_fd(w->prod), POLLIN, 0}};

        poll(fds, 2, 100);
        on_results(w);
        producer_poll(w->prod);
        retry_sends(w);
    }
}

/* The partitions of parts are another worker's now: their held input is
 * dropped (it was never started), every other job of theirs may write
 * nothing more (the engine abandons it, its offset is not stored). */
static void revoke_jobs(struct worker *w,
                        const rd_kafka_topic_partition_list_t *parts)
{
    size_t n = 0;

    for (int p = 0; p < JOB_PLACES; p++) {
        struct job *next;

        for (struct job *j = w->at[p].head; j != NULL; j = next) {
            next = j->link_next;
            if (!in_parts(parts, j)) {
                continue;
            }
            n++;
            atomic_store(&j->revoked, true);
            if (j->place == JOB_HELD) {
                release(w, j);
            }
        }
    }
    if (n > 0) {
        log_warn("msg=\"abandoning unfinished events of revoked partitions\" "
                 "jobs=%zu",
                 n);
    }
}

/* Refreshes w->assigned from librdkafka, and makes sure none of it is
 * left paused from before (librdkafka keeps an application pause across
 * a rebalance): flow_control() pauses again if it should. */
static void track_assignment(struct worker *w)
{
    drop_assigned(w);
    if (rd_kafka_assignment(w->rk, &w->assigned) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        w->assigned = NULL;
    } else if (w->assigned->cnt == 0) {
        drop_assigned(w);
    } else {
        rd_kafka_resume_partitions(w->rk, w->assigned);
    }
    w->paused = false;
}

static void assign(struct worker *w,
                   const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_resp_err_t err = rd_kafka_assign(w->rk, parts);

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_error("msg=\"%s failed\" err=%s",
                  parts != NULL ? "assign" : "unassign",
                  rd_kafka_err2name(err));
    }
    track_assignment(w);
}

/* Eager rebalancing only: conf.c refuses the cooperative assignor, which
 * librdkafka 2.0.2 cannot run safely (README, "Scaling out"). */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct worker *w = opaque;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_info("msg=\"partitions assigned\" count=%d", parts->cnt);
        assign(w, parts);
        return;
    }
    log_info("msg=\"partitions revoked\" count=%d jobs=%zu", parts->cnt,
             live(w));
    /* Finish what is in flight first (bounded), so that the next owner
     * does not run the same subjects at the same time and our offsets
     * are stored before the commit (docs/kafka-local.md section 8,
     * pitfall 4). */
    if (!w->stopping && !rd_kafka_assignment_lost(rk)) {
        drain(w, parts, hw_mono_ms() + w->cf->shutdown_timeout_ms);
        rd_kafka_commit(rk, NULL, 0);
    }
    revoke_jobs(w, parts);
    for (int i = 0; i < parts->cnt; i++) {
        offsets_forget(w->offsets, parts->elems[i].topic,
                       parts->elems[i].partition);
    }
    assign(w, NULL);
}

static bool halted(const struct worker *w)
{
    for (int s = 0; s < HALT_SOURCES; s++) {
        if (w->halted[s][0] != '\0') {
            return true;
        }
    }
    return false;
}

static void flow_control(struct worker *w)
{
    size_t n = live(w);
    /* Hysteresis: pause at max_jobs, resume below half of it. */
    bool want = w->stopping || engine_degraded(w->engine) || halted(w) ||
                w->at[JOB_TO_SEND].n > 0 || /* Kafka refuses our outputs */
                w->at[JOB_HELD].n > 0 ||    /* the schema registry is down */
                n >= (w->paused ? w->max_jobs / 2 : w->max_jobs);

    if (w->assigned == NULL || want == w->paused) {
        return;
    }
    if (want) {
        rd_kafka_pause_partitions(w->rk, w->assigned);
    } else {
        rd_kafka_resume_partitions(w->rk, w->assigned);
    }
    w->paused = want;
    metrics_set(M_PAUSED, want ? w->assigned->cnt : 0);
    log_debug("msg=\"%s\" jobs=%zu degraded=%d", want ? "paused" : "resumed", n,
              engine_degraded(w->engine));
}

/* The loop turned: liveness, dependencies, halts, gauges. */
static void report_health(struct worker *w)
{
    bool redis_up, api_up;
    char why[sizeof(w->halted[0])];
    const char *halt = NULL;

    health_loop_turned(hw_mono_ms());
    engine_health(w->engine, &redis_up, &api_up);
    health_set_up(HEALTH_REDIS, redis_up);
    health_set_up(HEALTH_HMS_API, api_up);
    for (int s = 0; s < HALT_SOURCES && halt == NULL; s++) {
        halt = w->halted[s][0] != '\0' ? w->halted[s] : NULL;
    }
    if (halt == NULL && engine_halted(w->engine, why, sizeof(why))) {
        halt = why;
    }
    health_set_halted(halt);
    metrics_set(M_HALTED, halt != NULL ? 1 : 0);
    metrics_set(M_JOBS, (double)live(w));
    for (int p = JOB_HELD; p < JOB_PLACES; p++) {
        metrics_set(M_JOBS_AT, (double)w->at[p].n, place_names[p]);
    }
    metrics_set(M_ASSIGNED, w->assigned != NULL ? w->assigned->cnt : 0);
}

static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    struct worker *w = opaque;

    (void)rk;
    (void)len;
    kstats_update(w->kstats, json, w->paused, hw_mono_ms());
    return 0; /* librdkafka frees json */
}

/* ---- life ----------------------------------------------------------- */

static bool subscribe(struct worker *w, char *errstr, size_t n)
{
    const char *topics[] = {w->cf->topic_booking_created,
                            w->cf->topic_stream_started,
                            w->cf->topic_session_ended};
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(3);
    rd_kafka_resp_err_t err;

    for (int i = 0; i < 3; i++) {
        rd_kafka_topic_partition_list_add(l, topics[i], RD_KAFKA_PARTITION_UA);
    }
    err = rd_kafka_subscribe(w->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, n, "subscribe: %s", rd_kafka_err2str(err));
        return false;
    }
    return true;
}

struct worker *worker_create(const struct conf *cf, char *errstr,
                             size_t errstr_size)
{
    const char *const extra[] = {"group.id",
                                 cf->kafka_group_id,
                                 "enable.auto.offset.store",
                                 "false",
                                 "enable.auto.commit",
                                 "true",
                                 "auto.offset.reset",
                                 "earliest",
                                 "allow.auto.create.topics",
                                 "false",
                                 "statistics.interval.ms",
                                 "5000",
                                 NULL};
    struct worker *w = xcalloc(1, sizeof(*w));
    rd_kafka_conf_t *kc;

    w->cf = cf;
    w->pipe[0] = w->pipe[1] = -1;
    w->max_jobs = (size_t)cf->hms_max_in_flight * 4;
    /* an event may take EVENT_DEADLINE_MS; a partition is stuck after more */
    w->kstats = kstats_create(cf->event_deadline_ms + 60000);
    w->offsets = offsets_create();
    w->subjects = smap_create();
    w->codec = codec_create(errstr, errstr_size);
    if (w->codec == NULL) {
        goto err;
    }
    if (cf->schema_registry_url != NULL) {
        w->registry = registry_create(cf);
        codec_use_registry(w->codec, w->registry);
    }
    w->prod = producer_create(cf, on_delivery, w, errstr, errstr_size);
    if (w->prod == NULL) {
        goto err;
    }
    kc = kafka_conf_new(cf, "consumer", extra, errstr, errstr_size);
    if (kc == NULL) {
        goto err;
    }
    rd_kafka_conf_set_opaque(kc, w);
    rd_kafka_conf_set_rebalance_cb(kc, on_rebalance);
    rd_kafka_conf_set_stats_cb(kc, on_stats);
    w->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size);
    if (w->rk == NULL) {
        rd_kafka_conf_destroy(kc); /* still ours on failure */
        goto err;
    }
    rd_kafka_poll_set_consumer(w->rk);
    if (!kafka_wake_pipe(w->pipe)) {
        snprintf(errstr, errstr_size, "pipe failed");
        goto err;
    }
    w->cq = rd_kafka_queue_get_consumer(w->rk);
    rd_kafka_queue_io_event_enable(w->cq, w->pipe[1], "1", 1);
    w->engine = engine_start(cf, errstr, errstr_size);
    if (w->engine == NULL || !subscribe(w, errstr, errstr_size)) {
        goto err;
    }
    return w;
err:
    worker_destroy(w);
    return NULL;
}

/* One turn: wait for any source, then serve them all. */
static void turn(struct worker *w)
{
    struct pollfd fds[3] = {{w->pipe[0], POLLIN, 0},
                            {engine_fd(w->engine), POLLIN, 0},
                            {producer_fd(w->prod), POLLIN, 0}};
    int wait = w->send_at != 0 ? PRODUCE_RETRY_MS : 500;
    char drain_buf[64];

    poll(fds, 3, w->paused ? 100 : wait);
    while (read(w->pipe[0], drain_buf, sizeof(drain_buf)) > 0) {
    }
    on_results(w);
    producer_poll(w->prod);
    retry_sends(w);
    retry_held(w);
    flow_control(w);
    for (int i = 0; i < POLL_BATCH; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, 0);

        if (m == NULL) {
            break;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            on_kafka_error(w, m);
        } else if (w->stopping) {
            rd_kafka_message_destroy(m); /* redelivered after restart */
        } else {
            on_message(w, m);
        }
    }
    if (producer_fatal(w->prod) != NULL) {
        log_error("msg=\"kafka producer fatal error\" err=\"%s\"",
                  producer_fatal(w->prod));
        w->fatal = true;
    }
    report_health(w);
}

/* Frees the jobs of a place the consumer thread owns. */
static void free_place(struct worker *w, enum job_place p)
{
    while (w->at[p].head != NULL) {
        release(w, w->at[p].head);
    }
}

int worker_run(struct worker *w, volatile sig_atomic_t *stop)
{
    int64_t give_up_at = 0;

    log_info("msg=\"worker running\" group=%s max_in_flight=%lld",
             w->cf->kafka_group_id, (long long)w->cf->hms_max_in_flight);
    while (!w->fatal) {
        if (*stop && !w->stopping) {
            w->stopping = true;
            give_up_at = hw_mono_ms() + w->cf->shutdown_timeout_ms;
            log_info("msg=\"stopping: finishing in-flight work\" jobs=%zu "
                     "timeout_ms=%lld",
                     live(w), (long long)w->cf->shutdown_timeout_ms);
            free_place(w, JOB_HELD); /* never started: redelivered */
        }
        if (w->stopping && (live(w) == 0 || hw_mono_ms() >= give_up_at)) {
            break;
        }
        turn(w);
    }
    if (live(w) > 0) {
        log_warn("msg=\"abandoning unfinished events\" jobs=%zu "
                 "note=\"redelivered after restart\"",
                 live(w));
    }
    return w->fatal ? 1 : 0;
}

static void free_subject(void *value, void *arg)
{
    (void)arg;
    free(value);
}

void worker_destroy(struct worker *w)
{
    bool closed_cleanly = true;

    if (w == NULL) {
        return;
    }
    if (w->rk != NULL) {
        rd_kafka_resp_err_t err = rd_kafka_consumer_close(w->rk); /* commits */

        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_warn("msg=\"consumer close\" err=%s", rd_kafka_err2name(err));
        }
        /* After a fatal consumer error (e.g. fenced), librdkafka 2.0.2's
         * destroy waits forever for partition references it leaked
         * (librdkafka #4486, #4674); the process exits right after, so the
         * consumer is left to the exit instead of hanging it. */
        closed_cleanly = err != RD_KAFKA_RESP_ERR__FATAL;
    }
    w->closing = true;
    /* PRODUCING jobs are freed by their delivery reports (closing), ENGINE
     * ones by the engine; the lists are not looked at again after this */
    producer_destroy(w->prod, 2000);
    engine_stop(w->engine);
    free_place(w, JOB_NEW);
    free_place(w, JOB_HELD);
    free_place(w, JOB_WAITING);
    free_place(w, JOB_TO_SEND);
    if (w->subjects != NULL) {
        smap_each(w->subjects, free_subject, NULL);
    }
    if (w->cq != NULL) {
        rd_kafka_queue_destroy(w->cq);
    }
    if (w->rk != NULL && closed_cleanly) {
        rd_kafka_destroy(w->rk);
    }
    for (int i = 0; i < 2; i++) {
        if (w->pipe[i] >= 0) {
            close(w->pipe[i]);
        }
    }
    drop_assigned(w);
    codec_destroy(w->codec);
    registry_destroy(w->registry); /* after the codec, which uses it */
    offsets_destroy(w->offsets);
    smap_destroy(w->subjects);
    kstats_destroy(w->kstats);
    free(w);
}
