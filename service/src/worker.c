/* worker.c -- the consumer loop. See worker.h. */
#define LOGMOD "worker"
#include "worker.h"

#include <poll.h>
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
    size_t jobs, max_jobs;
    struct job *to_produce; /* outputs or dead letters to send (again) */
    int64_t produce_at;
    struct kstats *kstats;
    struct registry *registry;    /* NULL: no SCHEMA_REGISTRY_URL */
    struct job *held, *held_tail; /* waiting for the registry, in order */
    int64_t held_retry_at;
};

/* ---- completion and per-subject order -------------------------------- */

static void store_offset(struct worker *w, const struct job *j)
{
    rd_kafka_topic_partition_list_t *l;
    int64_t store;
    rd_kafka_resp_err_t err;

    if (!offsets_done(w->offsets, j->topic, j->partition, j->offset, &store)) {
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

/* Takes j off its subject's FIFO; the next job starts if run_next. */
static void detach(struct worker *w, struct job *j, bool run_next)
{
    struct subj *s =
        j->subject != NULL ? smap_get(w->subjects, j->subject) : NULL;

    if (s == NULL || s->head != j) {
        return;
    }
    s->head = j->subject_next;
    if (!run_next) { /* stopping: the jobs behind it will never run */
        while (s->head != NULL) {
            struct job *next = s->head->subject_next;

            w->jobs--;
            job_free(s->head);
            s->head = next;
        }
    }
    if (s->head == NULL) {
        smap_del(w->subjects, j->subject);
        free(s);
    } else {
        s->head->req = JOB_RUN;
        engine_submit(w->engine, s->head);
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
    w->jobs--;
    job_free(j);
}

static void dispatch(struct worker *w, struct job *j)
{
    struct subj *s = smap_get(w->subjects, j->subject);

    if (s != NULL) {
        s->tail->subject_next = j; /* waits for the subject's earlier ones */
        s->tail = j;
        return;
    }
    s = xcalloc(1, sizeof(*s));
    s->head = s->tail = j;
    smap_put(w->subjects, j->subject, s);
    j->req = JOB_RUN;
    engine_submit(w->engine, j);
}

/* ---- producing ------------------------------------------------------ */

static void produce_later(struct worker *w, struct job *j)
{
    j->next = w->to_produce;
    w->to_produce = j;
    if (w->produce_at == 0) {
        w->produce_at = hw_mono_ms() + PRODUCE_RETRY_MS;
    }
}

static void produce(struct worker *w, struct job *j)
{
    char errstr[256];
    struct buf b = {0};
    enum hw_rc rc;

    if (j->outcome == JOB_DLQ) {
        rc = producer_dlq(w->prod, j);
    } else if ((rc = codec_encode_for(
                    w->codec, &j->out, kafka_output_topic(w->cf, j->out.kind),
                    &b, errstr, sizeof(errstr))) == HW_ERR_UNAVAILABLE) {
        job_log(LL_WARN, j,
                "msg=\"schema registry down, will retry\" "
                "err=\"%s\"",
                errstr);
        buf_deinit(&b);
        produce_later(w, j);
        return;
    } else if (rc != HW_OK) {
        job_log(LL_ERROR, j, "msg=\"cannot encode output\" err=\"%s\"", errstr);
        w->fatal = true; /* a bug: stop rather than lose the result */
        buf_deinit(&b);
        detach(w, j, false);
        w->jobs--;
        job_free(j);
        return;
    } else {
        rc = producer_output(w->prod, j, b.p, b.len);
    }
    buf_deinit(&b);
    if (rc == HW_ERR_FATAL) {
        job_log(LL_ERROR, j, "msg=\"cannot produce, stopping\"");
        w->fatal = true;
        produce_later(w, j); /* kept, so that destroy frees it */
    } else if (rc != HW_OK) {
        job_log(LL_WARN, j, "msg=\"produce failed, will retry\" rc=%s",
                hw_rc_str(rc));
        produce_later(w, j);
    }
}

static void on_delivery(void *arg, struct job *j, rd_kafka_resp_err_t err)
{
    struct worker *w = arg;

    if (w->closing) {
        job_free(j); /* shutting down: the engine is gone or going */
        return;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        bool again = producer_retriable(err);

        job_log(again ? LL_WARN : LL_ERROR, j,
                "msg=\"delivery failed%s\" err=%s",
                again ? ", will retry" : ", stopping", rd_kafka_err2name(err));
        w->fatal |= !again;
        produce_later(w, j);
    } else if (j->outcome == JOB_DLQ) {
        job_log(LL_INFO, j, "msg=\"dead-lettered\" class=%s", j->err_class);
        complete(w, j);
    } else {
        j->req = JOB_MARK; /* contract 3: the marker only after delivery */
        engine_submit(w->engine, j);
    }
}

static void retry_produce(struct worker *w)
{
    struct job *j = w->to_produce;

    if (w->produce_at == 0 || hw_mono_ms() < w->produce_at) {
        return;
    }
    w->to_produce = NULL;
    w->produce_at = 0;
    while (j != NULL) {
        struct job *next = j->next;

        produce(w, j);
        j = next;
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
            w->jobs--;
            job_free(j);
            break;
        case JOB_FATAL:
            job_log(LL_ERROR, j, "msg=\"stopping: fatal\" err=\"%s\"", j->err);
            w->fatal = true;
            detach(w, j, false);
            w->jobs--;
            job_free(j); /* its offset stays unstored */
            break;
        }
        j = next;
    }
}

/* ---- messages in ---------------------------------------------------- */

static struct job *job_for(rd_kafka_message_t *m)
{
    struct job *j = xcalloc(1, sizeof(*j));

    j->topic = xstrdup(rd_kafka_topic_name(m->rkt));
    j->partition = m->partition;
    j->offset = m->offset;
    j->msg = m;
    j->attempts = 1;
    j->epoch = atomic_load(&job_epoch);
    j->consumed_at = hw_mono_ms();
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

/* Decodes, validates and dispatches j; false when the schema registry
 * is down: j must wait (it is not the message's fault). */
static bool admit(struct worker *w, struct job *j)
{
    char errstr[512];
    enum event_kind kind = EVENT_KIND_COUNT;
    rd_kafka_message_t *m = j->msg;
    enum hw_rc rc;

    kafka_topic_kind(w->cf, j->topic, &kind);
    rc = codec_decode(w->codec, kind, m->payload, m->len, &j->in, errstr,
                      sizeof(errstr));
    if (rc == HW_ERR_UNAVAILABLE) {
        event_clear(&j->in);
        if (w->held == NULL) {
            job_log(LL_WARN, j,
                    "msg=\"schema registry down, holding input\" "
                    "err=\"%s\"",
                    errstr);
        }
        return false;
    }
    if (rc != HW_OK) {
        dead_letter(w, j, rc == HW_ERR_NOT_FOUND ? "unknown_schema" : "decode",
                    errstr);
        return true;
    }
    if (event_validate(&j->in, errstr, sizeof(errstr)) != HW_OK) {
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

static void hold(struct worker *w, struct job *j)
{
    j->next = NULL;
    if (w->held == NULL) {
        w->held = j;
        w->held_retry_at = hw_mono_ms() + HELD_RETRY_MS;
    } else {
        w->held_tail->next = j;
    }
    w->held_tail = j;
}

/* The registry may be back: admit held messages, oldest first. */
static void retry_held(struct worker *w)
{
    if (w->held == NULL || hw_mono_ms() < w->held_retry_at) {
        return;
    }
    while (w->held != NULL) {
        struct job *j = w->held;

        if (!admit(w, j)) {
            w->held_retry_at = hw_mono_ms() + HELD_RETRY_MS;
            return;
        }
        w->held = j->next;
        j->next = NULL;
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
    j = job_for(m);
    metrics_add(M_EVENTS_CONSUMED, 1, j->topic);
    offsets_begin(w->offsets, j->topic, j->partition, j->offset);
    w->jobs++;
    /* behind a held message, everything waits: order is kept */
    if (w->held != NULL || !admit(w, j)) {
        hold(w, j);
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
           log_safe(safe, sizeof(safe), rd_kafka_message_errstr(m)));
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

/* Serves results and delivery reports (no new messages) until no job is
 * alive or until passes. */
static void drain(struct worker *w, int64_t until)
{
    while (w->jobs > 0 && !w->fatal && hw_mono_ms() < until) {
        struct pollfd fds[2] = {{engine_fd(w->engine), POLLIN, 0},
                                {producer_fd(w->prod), POLLIN, 0}};

        poll(fds, 2, 100);
        on_results(w);
        producer_poll(w->prod);
        retry_produce(w);
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

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct worker *w = opaque;
    const char *proto = rd_kafka_rebalance_protocol(rk);
    bool coop = proto != NULL && strcmp(proto, "COOPERATIVE") == 0;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_info("msg=\"partitions assigned\" count=%d", parts->cnt);
        if (coop) {
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        } else {
            rd_kafka_assign(rk, parts);
        }
        track_assignment(w);
        return;
    }
    log_info("msg=\"partitions revoked\" count=%d jobs=%zu", parts->cnt,
             w->jobs);
    /* Finish what is in flight first (bounded), so that the next owner
     * does not run the same subjects at the same time and our offsets
     * are stored before the commit (docs/kafka-local.md section 8,
     * pitfall 4). */
    if (!w->stopping && !rd_kafka_assignment_lost(rk)) {
        drain(w, hw_mono_ms() + w->cf->shutdown_timeout_ms);
        rd_kafka_commit(rk, NULL, 0);
    }
    if (w->jobs > 0) { /* what is left now belongs to the next owner */
        atomic_fetch_add(&job_epoch, 1);
        log_warn("msg=\"abandoning unfinished events of revoked partitions\" "
                 "jobs=%zu",
                 w->jobs);
    }
    for (int i = 0; i < parts->cnt; i++) {
        offsets_forget(w->offsets, parts->elems[i].topic,
                       parts->elems[i].partition);
    }
    if (coop) {
        rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
    } else {
        rd_kafka_assign(rk, NULL);
    }
    track_assignment(w);
}

static void flow_control(struct worker *w)
{
    /* Hysteresis: pause at max_jobs, resume below half of it. */
    bool want = w->stopping || engine_degraded(w->engine) ||
                w->to_produce != NULL || /* Kafka refuses our outputs */
                w->held != NULL ||       /* the schema registry is down */
                w->jobs >= (w->paused ? w->max_jobs / 2 : w->max_jobs);

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
    log_debug("msg=\"%s\" jobs=%zu degraded=%d", want ? "paused" : "resumed",
              w->jobs, engine_degraded(w->engine));
}

/* The loop turned: liveness, dependencies, gauges. */
static void report_health(struct worker *w)
{
    bool redis_up, api_up;

    health_loop_turned(hw_mono_ms());
    engine_health(w->engine, &redis_up, &api_up);
    health_set_up(HEALTH_REDIS, redis_up);
    health_set_up(HEALTH_HMS_API, api_up);
    metrics_set(M_JOBS, (double)w->jobs);
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
    int wait = w->produce_at != 0 ? PRODUCE_RETRY_MS : 500;
    char drain[64];

    poll(fds, 3, w->paused ? 100 : wait);
    while (read(w->pipe[0], drain, sizeof(drain)) > 0) {
    }
    on_results(w);
    producer_poll(w->prod);
    retry_produce(w);
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

int worker_run(struct worker *w, volatile sig_atomic_t *stop)
{
    int64_t give_up = 0;

    log_info("msg=\"worker running\" group=%s max_in_flight=%lld",
             w->cf->kafka_group_id, (long long)w->cf->hms_max_in_flight);
    while (!w->fatal) {
        if (*stop && !w->stopping) {
            w->stopping = true;
            give_up = hw_mono_ms() + w->cf->shutdown_timeout_ms;
            log_info("msg=\"stopping: finishing in-flight work\" jobs=%zu "
                     "timeout_ms=%lld",
                     w->jobs, (long long)w->cf->shutdown_timeout_ms);
        }
        if (w->stopping && (w->jobs == 0 || hw_mono_ms() >= give_up)) {
            break;
        }
        turn(w);
    }
    if (w->jobs > 0) {
        log_warn("msg=\"abandoning unfinished events\" jobs=%zu "
                 "note=\"redelivered after restart\"",
                 w->jobs);
    }
    return w->fatal ? 1 : 0;
}

/* Heads live in the engine or the producer; the jobs behind them are
 * ours to free. Main thread only, before the engine stops. */
static void free_waiting(void *value, void *arg)
{
    struct subj *s = value;
    struct job *j = s->head->subject_next;

    (void)arg;
    while (j != NULL) {
        struct job *next = j->subject_next;

        job_free(j);
        j = next;
    }
    free(s);
}

/* A ->next list of jobs (outputs to send, input held for the registry). */
static void free_jobs(struct job *j)
{
    while (j != NULL) {
        struct job *next = j->next;

        job_free(j);
        j = next;
    }
}

void worker_destroy(struct worker *w)
{
    if (w == NULL) {
        return;
    }
    smap_each(w->subjects, free_waiting, NULL);
    if (w->rk != NULL) {
        rd_kafka_resp_err_t err = rd_kafka_consumer_close(w->rk); /* commits */

        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_warn("msg=\"consumer close\" err=%s", rd_kafka_err2name(err));
        }
    }
    w->closing = true;
    producer_destroy(w->prod, 2000);
    engine_stop(w->engine);
    free_jobs(w->to_produce);
    if (w->cq != NULL) {
        rd_kafka_queue_destroy(w->cq);
    }
    if (w->rk != NULL) {
        rd_kafka_destroy(w->rk);
    }
    for (int i = 0; i < 2; i++) {
        if (w->pipe[i] >= 0) {
            close(w->pipe[i]);
        }
    }
    drop_assigned(w);
    free_jobs(w->held);
    codec_destroy(w->codec);
    registry_destroy(w->registry); /* after the codec, which uses it */
    offsets_destroy(w->offsets);
    smap_destroy(w->subjects);
    kstats_destroy(w->kstats);
    free(w);
}
