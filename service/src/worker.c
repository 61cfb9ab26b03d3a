/* worker.c -- the consumer thread's loop around Kafka's consumer: one
 * wait, pipeline_wait() (the engine's turn: curl, Redis and the bell that
 * librdkafka's consumer and producer queues ring, hw.h), then messages in
 * to the pipeline, offsets out
 * of it (store_offset, the pipeline's store callback), the partitions
 * paused or resumed as the pipeline wants (flow_control: all of them, or
 * only those whose input is held for its writer schema, hold_partitions),
 * the rebalance
 * callback (eager only), health and gauges once per turn. Everything
 * about a message after it is read is pipeline.c's. An assignment or
 * revocation librdkafka refuses (review B15) halts: what it still has
 * stays paused, /readyz says why, and the same call is made again every
 * HALT_RETRY_MS until it is taken or a new rebalance replaces it;
 * refused for a fatal error, the worker stops.
 */
#define LOGMOD "worker"
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "kafka.h"
#include "kstats.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"

#define POLL_BATCH 500

struct worker {
    const struct conf *cf;
    rd_kafka_t *rk;
    rd_kafka_queue_t *cq;
    struct pipeline *pipeline;
    rd_kafka_topic_partition_list_t *assigned;
    /* paused alone because the pipeline holds their input (while not all
     * are paused); NULL or empty: none */
    rd_kafka_topic_partition_list_t *held;
    bool paused, stopping, fatal;
    bool more; /* the last turn took a full batch: more may be queued */
    struct kstats *kstats;
    /* Kafka refuses our login or TLS (error callback): why, "" when not;
     * a halt on /readyz until an assignment or a message shows it fixed */
    char refused[384];
    /* an assignment (or, with retry_parts NULL, a revocation) librdkafka
     * refused: made again at retry_at; why is the halt's reason */
    bool assign_pending;
    rd_kafka_topic_partition_list_t *retry_parts;
    int64_t retry_at;
    char assign_why[192];
};

/* The pipeline's store callback: offset (last done + 1) of a partition. */
static void store_offset(void *arg, const char *topic, int32_t partition,
                         int64_t offset)
{
    struct worker *w = arg;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t err;

    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    err = rd_kafka_offsets_store(w->rk, l);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_debug("msg=\"offset not stored\" topic=%s partition=%d err=%s",
                  topic, (int)partition, rd_kafka_err2name(err));
    }
    rd_kafka_topic_partition_list_destroy(l); /* revoked meanwhile */
}

static void on_message(struct worker *w, rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    enum event_kind kind = EVENT_KIND_COUNT;

    if (!kafka_topic_kind(w->cf, topic, &kind)) {
        rd_kafka_message_destroy(m); /* not ours: cannot happen */
        return;
    }
    pipeline_take(w->pipeline, m, topic, kind);
}

/* librdkafka's error callback, served by rd_kafka_consumer_poll() on this
 * thread (the main queue is forwarded to the consumer's). A refused login
 * or TLS handshake is a setting to fix: the worker halts, alive, with the
 * reason on /readyz (main.c), rather than logging a retry forever. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct worker *w = opaque;
    char safe[256];

    (void)rk;
    log_text(safe, sizeof(safe), reason);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        log_error("msg=\"kafka consumer fatal error\" reason=\"%s\"", safe);
        w->fatal = true;
    } else if (!kafka_setup_refused(err)) {
        log_warn("msg=\"kafka consumer error\" err=%s reason=\"%s\"",
                 rd_kafka_err2name(err), safe);
    } else {
        if (w->refused[0] == '\0') { /* once per halt */
            log_error("msg=\"halted: kafka refuses the worker\" err=%s "
                      "reason=\"%s\"",
                      rd_kafka_err2name(err), safe);
        }
        snprintf(w->refused, sizeof(w->refused), "%s: %s",
                 err == RD_KAFKA_RESP_ERR__SSL
                     ? "kafka TLS handshake failed (check "
                       "KAFKA_PROP_SSL_CA_LOCATION and the brokers' "
                       "certificates)"
                     : "kafka refuses the SASL login (check "
                       "KAFKA_PROP_SASL_MECHANISM, _USERNAME, _PASSWORD "
                       "or _PASSWORD_FILE)",
                 safe);
    }
}

/* Kafka served us: whatever it refused before is fixed. */
static void kafka_accepts(struct worker *w)
{
    if (w->refused[0] != '\0') {
        log_info("msg=\"resuming: kafka accepts the worker again\" was=\"%s\"",
                 w->refused);
        w->refused[0] = '\0';
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
    if (w->held != NULL) {
        rd_kafka_topic_partition_list_destroy(w->held);
        w->held = NULL;
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

static void drop_pending(struct worker *w)
{
    if (w->retry_parts != NULL) {
        rd_kafka_topic_partition_list_destroy(w->retry_parts);
        w->retry_parts = NULL;
    }
    w->assign_pending = false;
}

/* Sets the assignment (parts NULL: none). Refused, it is kept to be made
 * again (retry_assign), and what librdkafka still assigns is paused:
 * after a refused revocation those partitions may be another member's. */
static void assign(struct worker *w,
                   const rd_kafka_topic_partition_list_t *parts)
{
    const char *what = parts != NULL ? "assignment" : "revocation";
    rd_kafka_resp_err_t err = rd_kafka_assign(w->rk, parts);
    bool was_pending = w->assign_pending;

    drop_pending(w);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        log_error("msg=\"kafka refused the partition %s: fatal error, "
                  "stopping\"",
                  what);
        w->fatal = true;
    } else if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(w->assign_why, sizeof(w->assign_why),
                 "kafka refused the partition %s (%s): tried again every "
                 "%lld ms",
                 what, rd_kafka_err2name(err), (long long)w->cf->halt_retry_ms);
        log_error("msg=\"halted: %s\"", w->assign_why);
        w->assign_pending = true;
        w->retry_parts =
            parts != NULL ? rd_kafka_topic_partition_list_copy(parts) : NULL;
        w->retry_at = hw_mono_ms() + w->cf->halt_retry_ms;
    } else if (was_pending) {
        log_info("msg=\"resuming: kafka took the partition %s\"", what);
    }
    track_assignment(w);
    if (w->assign_pending && w->assigned != NULL) {
        rd_kafka_pause_partitions(w->rk, w->assigned);
        w->paused = true;
    }
}

static void retry_assign(struct worker *w)
{
    rd_kafka_topic_partition_list_t *parts = w->retry_parts;

    if (!w->assign_pending || hw_mono_ms() < w->retry_at) {
        return;
    }
    w->retry_parts = NULL; /* ours now: assign() copies it if refused */
    assign(w, parts);
    if (parts != NULL) {
        rd_kafka_topic_partition_list_destroy(parts);
    }
}

/* Eager rebalancing only: conf.c refuses the cooperative assignor, which
 * librdkafka 2.0.2 cannot run safely (README, "Scaling out"). */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct worker *w = opaque;
    bool lost = rd_kafka_assignment_lost(rk);

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_info("msg=\"partitions assigned\" count=%d", parts->cnt);
        kafka_accepts(w);
        assign(w, parts);
        return;
    }
    log_info("msg=\"partitions revoked\" count=%d jobs=%zu", parts->cnt,
             pipeline_live(w->pipeline));
    /* Finish what is in flight first (bounded), so that the next owner
     * does not run the same subjects at the same time and our offsets
     * are stored before the commit (docs/kafka-local.md section 8,
     * pitfall 4); lost or stopping: at once. */
    pipeline_revoke(
        w->pipeline, parts,
        w->stopping || lost ? 0 : hw_mono_ms() + w->cf->shutdown_timeout_ms);
    if (!w->stopping && !lost) {
        rd_kafka_commit(rk, NULL, 0);
    }
    assign(w, NULL);
}

static bool in_list(const rd_kafka_topic_partition_list_t *l,
                    const rd_kafka_topic_partition_t *e)
{
    return l != NULL && rd_kafka_topic_partition_list_find(
                            l, e->topic, e->partition) != NULL;
}

/* Pauses (pause) or resumes the one partition e, and tracks it in held. */
static void hold_one(struct worker *w, const rd_kafka_topic_partition_t *e,
                     bool pause)
{
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);

    rd_kafka_topic_partition_list_add(one, e->topic, e->partition);
    if (pause) {
        rd_kafka_pause_partitions(w->rk, one);
        if (w->held == NULL) {
            w->held = rd_kafka_topic_partition_list_new(1);
        }
        rd_kafka_topic_partition_list_add(w->held, e->topic, e->partition);
    } else {
        rd_kafka_resume_partitions(w->rk, one);
        rd_kafka_topic_partition_list_del(w->held, e->topic, e->partition);
    }
    rd_kafka_topic_partition_list_destroy(one);
    log_debug("msg=\"%s\" topic=%s partition=%d why=held_input",
              pause ? "paused" : "resumed", e->topic, (int)e->partition);
}

/* While not all are paused: a partition whose input is held for its
 * writer schema is paused alone (what it would deliver would only be
 * held behind it, review B10), and resumed once nothing of it is held. */
static void hold_partitions(struct worker *w)
{
    for (int i = 0; i < w->assigned->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &w->assigned->elems[i];
        bool want =
            pipeline_partition_held(w->pipeline, e->topic, e->partition);

        if (want != in_list(w->held, e)) {
            hold_one(w, e, want);
        }
    }
    metrics_set(M_PAUSED, w->held != NULL ? w->held->cnt : 0);
}

/* Resumes every assigned partition but those paused alone (held). */
static void resume_all(struct worker *w)
{
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new(w->assigned->cnt);

    for (int i = 0; i < w->assigned->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &w->assigned->elems[i];

        if (!in_list(w->held, e)) {
            rd_kafka_topic_partition_list_add(l, e->topic, e->partition);
        }
    }
    rd_kafka_resume_partitions(w->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

static void flow_control(struct worker *w)
{
    bool want = w->stopping || w->assign_pending ||
                pipeline_wants_pause(w->pipeline, w->paused);

    if (w->assigned == NULL) {
        return;
    }
    if (want != w->paused) {
        if (want) {
            rd_kafka_pause_partitions(w->rk, w->assigned);
        } else {
            resume_all(w);
        }
        w->paused = want;
        metrics_set(M_PAUSED, want ? w->assigned->cnt : 0);
        log_debug("msg=\"%s\" jobs=%zu", want ? "paused" : "resumed",
                  pipeline_live(w->pipeline));
    }
    if (!w->paused) {
        hold_partitions(w);
    }
}

/* The loop turned: liveness, dependencies, halts, gauges. */
static void report_health(struct worker *w)
{
    bool redis_up, api_up, halted;
    char why[384];

    health_loop_turned(hw_mono_ms());
    halted = pipeline_health(w->pipeline, &redis_up, &api_up, why, sizeof(why));
    if (!halted && w->refused[0] != '\0') {
        snprintf(why, sizeof(why), "%s", w->refused);
        halted = true;
    }
    if (!halted && w->assign_pending) {
        snprintf(why, sizeof(why), "%s", w->assign_why);
        halted = true;
    }
    health_set_up(HEALTH_REDIS, redis_up);
    health_set_up(HEALTH_HMS_API, api_up);
    health_set_halted(halted ? why : NULL);
    metrics_set(M_HALTED, halted ? 1 : 0);
    metrics_set(M_JOBS, (double)pipeline_live(w->pipeline));
    metrics_set(M_HELD_BYTES, (double)pipeline_held_bytes(w->pipeline));
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
                            w->cf->topic_session_ended, w->cf->topic_webhooks};
    int n_topics = w->cf->webhook_events ? 4 : 3;
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new(n_topics);
    rd_kafka_resp_err_t err;

    for (int i = 0; i < n_topics; i++) {
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
    char prefetch_kb[24];
    /* librdkafka's prefetch (64 MiB by default) is memory the budget of
     * MAX_HELD_MB does not see: a quarter of it more, at most */
    /* fetch.wait.max.ms: one fetch is in flight per broker, and a
     * partition that becomes fetchable (assigned, resumed) joins only the
     * next one: with the default 500 ms, a start, rebalance or resume
     * held a partition's first messages for up to half a second while the
     * broker waited on the other (idle) partitions */
    const char *const extra[] = {"fetch.wait.max.ms",
                                 "100",
                                 "queued.max.messages.kbytes",
                                 prefetch_kb,
                                 "group.id",
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

    snprintf(prefetch_kb, sizeof(prefetch_kb), "%lld",
             (long long)(cf->max_held_mb * 1024 / 4 > 1024
                             ? cf->max_held_mb * 1024 / 4
                             : 1024));
    w->cf = cf;
    /* an event may take EVENT_DEADLINE_MS; a partition is stuck after more */
    w->kstats = kstats_create(cf->event_deadline_ms + 60000);
    w->pipeline = pipeline_create(cf, store_offset, w, errstr, errstr_size);
    if (w->pipeline == NULL) {
        goto err;
    }
    kc = kafka_conf_new(cf, "consumer", extra, errstr, errstr_size);
    if (kc == NULL) {
        goto err;
    }
    rd_kafka_conf_set_opaque(kc, w);
    rd_kafka_conf_set_rebalance_cb(kc, on_rebalance);
    rd_kafka_conf_set_stats_cb(kc, on_stats);
    rd_kafka_conf_set_error_cb(kc, on_error);
    w->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size);
    if (w->rk == NULL) {
        rd_kafka_conf_destroy(kc); /* still ours on failure */
        goto err;
    }
    rd_kafka_poll_set_consumer(w->rk);
    w->cq = rd_kafka_queue_get_consumer(w->rk);
    rd_kafka_queue_io_event_enable(w->cq, pipeline_bell(w->pipeline),
                                   &HW_BELL_PAYLOAD, sizeof(HW_BELL_PAYLOAD));
    if (!subscribe(w, errstr, errstr_size)) {
        goto err;
    }
    return w;
err:
    worker_destroy(w);
    return NULL;
}

/* One turn: the engine's turn, which waits for curl, Redis or the bell
 * (every Kafka source rings it), then serve them all. After a full batch
 * the queue may hold more, which librdkafka does not ring for again: the
 * next turn does not wait. */
static void turn(struct worker *w)
{
    pipeline_wait(w->pipeline, w->more     ? 0
                               : w->paused ? 100
                                           : pipeline_wait_ms(w->pipeline));
    pipeline_serve(w->pipeline);
    retry_assign(w);
    flow_control(w);
    w->more = false;
    for (int i = 0; i < POLL_BATCH; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, 0);

        if (m == NULL) {
            break;
        }
        w->more = i == POLL_BATCH - 1;
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            on_kafka_error(w, m);
        } else if (w->stopping) {
            rd_kafka_message_destroy(m); /* redelivered after restart */
        } else {
            kafka_accepts(w);
            on_message(w, m);
        }
    }
    w->fatal |= pipeline_fatal(w->pipeline);
    report_health(w);
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
                     pipeline_live(w->pipeline),
                     (long long)w->cf->shutdown_timeout_ms);
            pipeline_stop(w->pipeline);
        }
        if (w->stopping &&
            (pipeline_live(w->pipeline) == 0 || hw_mono_ms() >= give_up_at)) {
            break;
        }
        turn(w);
    }
    if (pipeline_live(w->pipeline) > 0) {
        log_warn("msg=\"abandoning unfinished events\" jobs=%zu "
                 "note=\"redelivered after restart\"",
                 pipeline_live(w->pipeline));
    }
    return w->fatal ? 1 : 0;
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
    if (w->cq != NULL) { /* the bell goes with the pipeline */
        rd_kafka_queue_io_event_enable(w->cq, -1, NULL, 0);
    }
    pipeline_destroy(w->pipeline); /* every job, and their messages */
    if (w->cq != NULL) {
        rd_kafka_queue_destroy(w->cq);
    }
    if (w->rk != NULL && closed_cleanly) {
        rd_kafka_destroy(w->rk);
    }
    drop_assigned(w);
    drop_pending(w);
    kstats_destroy(w->kstats);
    free(w);
}
