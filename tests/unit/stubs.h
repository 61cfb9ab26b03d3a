/* stubs.h -- link-time stubs that stand in for modules in the tests of the
 * code above them (docs/c-style.md section 20, "seams by linking"): the
 * 100ms client and the Redis cache under the handler (hms_client_stubs.c,
 * cache_stubs.c), the engine and the producer under the pipeline
 * (engine_stubs.c, producer_stubs.c). Every call is recorded, and the test
 * answers it when it likes, so each transition of a state machine runs
 * without a network and without waiting. */
#ifndef STUBS_H
#define STUBS_H

#include <stdbool.h>
#include <stddef.h>

#include "cache.h"
#include "hms_client.h"

#define STUB_MAX 64

/* ---- 100ms ---- */
struct stub_call {
    char method[8], path[256];
    json_t *body; /* a copy; NULL when none */
    hms_done_fn *done;
    void *arg;
    bool answered;
    int64_t deadline; /* the event's, as passed (mono ms) */
};
extern struct stub_call stub_calls[STUB_MAX];
extern size_t stub_n_calls;
extern int64_t stub_last_answer;   /* hms_client_last_answer() */
extern int64_t stub_clock_ahead_s; /* hms_client_clock_ahead_s() */

/* Answers call i: rc and status as hms_client would give them, body JSON
 * text (NULL: none), deadline as on its result. */
void stub_hms_answer(size_t i, enum hw_rc rc, long status, const char *body,
                     bool deadline);

/* ---- Redis ---- */
enum stub_op_kind {
    OP_LOAD,
    OP_MARK,
    OP_READY,
    OP_ENDED,
    OP_CLEAR_HLS,
    OP_RESOLVE, /* answered with the subject as the "hash" text */
    OP_HOOK
};
struct stub_op {
    enum stub_op_kind kind;
    cache_done_fn *fn;
    void *arg;
    bool answered;
    /* what the batch would write */
    char room_id[64];
    char url[256]; /* cache_clear_hls; cache_put_ready's hls_url; the
                    * PUBLISHed message of cache_put_hook */
    char fields[512], dels[256]; /* cache_put_hook: "f=v;...", "f;..." */
    char hls[256];               /* cache_put_hook: "op id url at" */
    size_t n_tokens, n_stale, n_users, n_fields;
    bool lock, tombstone;
    int64_t expire_at_s;
    enum cache_renew renew; /* cache_put_hook: hms:renew in, out or kept */
};
extern struct stub_op stub_ops[STUB_MAX];
extern size_t stub_n_ops;
extern int64_t stub_last_ok; /* cache_last_ok() */
extern bool stub_cache_down; /* cache_down() */

/* Answers op i with rc; for a load, whether the marker exists and the
 * hash as JSON text (NULL: none). */
void stub_redis_answer(size_t i, enum hw_rc rc, bool exists, const char *hash);

/* Forgets every recorded call and op. */
void stubs_reset(void);

/* ---- the engine ---- */
#include "job.h"
extern struct job *stub_engine_jobs[STUB_MAX]; /* submitted, in order */
extern size_t stub_engine_n;
extern bool stub_engine_degraded;
/* The engine is done with j: outcome o, to be taken by engine_take(). */
void stub_engine_finish(struct job *j, enum job_outcome o);

/* ---- the producer ---- */
struct stub_send {
    struct job *j;
    bool dlq;
    enum job_dlq_form form;
    bool reported;
    enum event_kind kind; /* of the output, when not dlq */
};
extern struct stub_send stub_sends[STUB_MAX];
extern size_t stub_n_sends;
/* What the next produce calls return (then HW_OK). */
void stub_produce_returns(enum hw_rc rc, int times);
/* The delivery report of send i. */
void stub_deliver(size_t i, enum hw_rc rc);
void stub_producer_reset(void);

#endif
