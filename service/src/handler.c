/* handler.c -- what each event does (docs/contract.md section 3): one
 * explicit state machine per job, run by the engine (engine.h).
 *
 * Each state makes one call -- a 100ms request, or one Redis batch -- and
 * its reply picks the next state. Top to bottom, as an event goes:
 *
 *  state          call                               reply: next state
 *  -------------  ---------------------------------  -------------------------
 *  load           Redis: EXISTS marker, HGETALL      marker there: done
 *                 the subject's hash                 (duplicate); a value not
 *                                                    of the worker's shape
 *                                                    (room_id, code:*,
 *                                                    role:*; frontends share
 *                                                    Redis): DLQ
 *                                                    redis_tampered;
 *                                                    PHYSICAL, or
 *                                                    the subject ended: skip;
 *                                                    session-ended: stop_hls
 *                                                    (a stream's room),
 *                                                    end_room (a booking's),
 *                                                    write_ended (none: a
 *                                                    tombstone); else
 *                                                    create_room
 *  create_room    POST /rooms (an upsert by name)    ok: codes; 403 "disabled":
 *                                                    skip
 *  codes          POST /room-codes/room/{id}         ok: start_hls (a stream
 *                                                    with hls) or write_ready;
 *                                                    a role the template
 *                                                    lacks: DLQ validation;
 *                                                    404: codes again after
 *                                                    500 ms, twice; 403
 *                                                    "disabled": skip
 *  start_hls      POST /live-streams/room/{id}/start running: write_ready with
 *                 (no HMS_SUBDOMAIN: no call, 100ms  the URL; starting:
 *                 requires a meeting_url)            wait_hls; else
 *                                                    write_ready without (a
 *                                                    warning and a metric);
 *                                                    a webhook's: write_hook
 *  wait_hls       GET /live-streams/{stream id},     running: write_ready with
 *                 every second                       the URL; starting: again,
 *                                                    until HMS_HLS_WAIT_MS;
 *                                                    else write_ready without
 *  write_ready    Redis: MULTI hash, tokens EXEC     done (output: video-ready;
 *                                                    a URL is watched until
 *                                                    its stream stops,
 *                                                    hlswatch.h)
 *  stop_hls       POST /live-streams/room/{id}/stop  end_room (a failure is a
 *                                                    warning)
 *  end_room       POST /active-rooms/{id}/end-room   ok, 404, 403 "disabled":
 *                                                    disable_room (lock) or
 *                                                    write_ended
 *  disable_room   POST /rooms/{id} {enabled: false}  ok: disable_codes
 *                 (end-room locks nothing when no
 *                 session runs)
 *  disable_codes  POST /room-codes/code, each code   all ok or 404: write_ended
 *  write_ended    Redis: MULTI ended hash EXEC       done (output: video-ended)
 *  resolve        Redis: GET hms:room:{room_id}      (a webhook) a subject:
 *                                                    load; none: skip; not
 *                                                    booking:/stream:{id}:
 *                                                    DLQ redis_tampered
 *  write_hook     Redis: MULTI hash fields (hls.*:   done (output:
 *                 compared in a script), PUBLISH     video-session); reached
 *                 EXEC                               from load when the hash
 *                                                    exists and the worker
 *                                                    applies the type, else
 *                                                    skip; from start_hls
 *                                                    after the stream host's
 *                                                    join (on_join) or an
 *                                                    hls.failure (retried);
 *                                                    a booking's late
 *                                                    session close (cleanup):
 *                                                    disable_room (lock) or
 *                                                    write_ended
 *  skip           Redis: SET marker                  done (skipped)
 *  mark           Redis: SET marker                  done (marked)
 *
 * A job starts at load (JOB_RUN; a webhook at resolve) or at mark
 * (JOB_MARK: its output has been delivered). Any other reply stays in the state
 * (docs/contract.md section 7 has the whole table):
 *  - a 100ms call (call_failed): 408, 429, 5xx and transport errors were
 *    already retried by hms_client (backoff, HMS_RETRY_MAX, the event's
 *    deadline); then the event is dead-lettered (hms_retries, deadline) if
 *    the API answered anything since the event began, else it waits: the
 *    state is entered again in 2 s with a fresh deadline, one probe call
 *    tests the API, fetching pauses. A 401, or a 403 not saying "disabled",
 *    that the re-mint and replay did not cure: halt. Any other 4xx:
 *    dead-letter hms_rejected. start_hls, wait_hls and stop_hls go on
 *    after any failure but the token's (a warning).
 *  - a Redis batch (redis_ok): wait (down, READONLY, LOADING, OOM...),
 *    halt (refused credentials or permission: NOAUTH, WRONGPASS, NOPERM, a
 *    refused AUTH; a Redis Cluster or a refused SELECT), dead-letter
 *    redis_wrongtype, or, refused for a reason nobody knows, retried
 *    twice, then redis_rejected or halt.
 * Waiting and halting park the job and enter the same state again later,
 * with the event's clocks stopped meanwhile. Every move goes through go(),
 * which counts jobs per state (for /metrics) and stops a job whose
 * partition was revoked before it writes anything more.
 */
#define LOGMOD "handler"
#include "handler.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "hlswatch.h"
#include "hookev.h"
#include "hms_reply.h"
#include "jwt.h"
#include "log.h"
#include "metrics.h"
#include "rules.h"

#define REDIS_RETRY_MS 1000
#define REDIS_REFUSALS 3  /* unknown error replies before it is the event's */
#define API_RETRY_MS 2000 /* while the breaker is open: a probe per job */
#define CODES_404_RETRIES 2
#define CODES_404_WAIT_MS 500
#define HLS_POLL_MS 1000    /* wait_hls: starting -> running takes seconds */
#define HOOK_USERS_MAX 1000 /* users whose attendance a subject keeps */

struct handler {
    const struct conf *cf;
    struct hms_client *hc;
    struct cache *cache;
    struct hlswatch *watch; /* published HLS URLs, until their streams stop */
    handler_finish_fn *finish;
    void *arg;
    struct heap parked; /* due -> struct ctx */
    struct ctx *all;    /* every context, for shutdown */
    size_t in_state[HS_COUNT];
    size_t api_waiting; /* jobs parked because the 100ms API is down */
    size_t halted;      /* jobs parked until a setting is fixed */
    char halt_why[384]; /* the latest reason, while halted > 0 */
    bool redis_down, probing;
};

struct ctx {
    struct handler *h;
    struct job *j;
    enum handler_state state;  /* HS_COUNT until the first go() */
    enum handler_state resume; /* parked: the state to enter again */
    int64_t born, started, deadline, parked_at, entered; /* mono ms */
    bool api_wait; /* parked because the API is down */
    bool halted;   /* counted in h->halted until a retry gets through */
    int redis_refusals;
    int64_t refused_at; /* mono ms of the first refusal */
    bool applied;       /* load: the event's marker exists */
    json_t *hash;       /* load: the subject's Redis hash before this event */
    json_t *codes;      /* codes: the enabled codes from 100ms */
    char *room_id, *room_name, *hls_url;
    char *hls_id;       /* start_hls: the stream, while it starts */
    char *subject;      /* resolve: a webhook's "booking:{id}" */
    bool hls_retry;     /* an hls.failure that starts the stream again */
    bool hls_gave_up;   /* an hls.failure past HMS_HLS_RETRIES */
    bool cleanup;       /* a session.close.success that ends its booking */
    bool lock;          /* ending: lock and disable the room */
    const char *reason; /* ending: why (NULL: "session ended") */
    int64_t hook_at;    /* write_hook: when it happened, by 100ms's clock */
    int64_t hls_wait;   /* start_hls: mono ms when waiting for it ends */
    int codes_404, pending;
    struct hms_result failed; /* disable_codes: the first failure */
    char failed_err[256];
    struct ctx *prev, *next; /* handler->all */
};

typedef void hms_reply_fn(struct ctx *c, const struct hms_result *r);

static size_t fields_with(const json_t *hash, const char *prefix, bool strip,
                          const char **out, size_t at);

/* ---- the states ------------------------------------------------------ */

static void resolve(struct ctx *c);
static void resolved(struct ctx *c);
static void load(struct ctx *c);
static void loaded(struct ctx *c);
static void create_room(struct ctx *c);
static void room_created(struct ctx *c, const struct hms_result *r);
static void codes(struct ctx *c);
static void codes_created(struct ctx *c, const struct hms_result *r);
static void start_hls(struct ctx *c);
static void hls_started(struct ctx *c, const struct hms_result *r);
static void wait_hls(struct ctx *c);
static void on_stream_status(struct ctx *c, const struct hms_result *r);
static void write_ready(struct ctx *c);
static void ready_written(struct ctx *c);
static void stop_hls(struct ctx *c);
static void hls_stopped(struct ctx *c, const struct hms_result *r);
static void end_room(struct ctx *c);
static void room_ended(struct ctx *c, const struct hms_result *r);
static void disable_room(struct ctx *c);
static void room_disabled_now(struct ctx *c, const struct hms_result *r);
static void disable_codes(struct ctx *c);
static void code_disabled(struct ctx *c, const struct hms_result *r);
static void write_ended(struct ctx *c);
static void ended_written(struct ctx *c);
static void write_hook(struct ctx *c);
static void hook_written(struct ctx *c);
static void skip(struct ctx *c);
static void skipped(struct ctx *c);
static void mark(struct ctx *c);
static void marked(struct ctx *c);

/* enter issues the state's call; its reply comes to hms_reply (a 100ms
 * state) or redis_reply (a Redis state, after redis_ok()). */
static const struct state_def {
    const char *name, *what; /* for metrics; for error texts */
    void (*enter)(struct ctx *c);
    hms_reply_fn *hms_reply;
    void (*redis_reply)(struct ctx *c);
} states[HS_COUNT] = {
    [HS_RESOLVE] = {"resolve", "find the room's subject", resolve, NULL,
                    resolved},
    [HS_LOAD] = {"load", "read the subject", load, NULL, loaded},
    [HS_CREATE_ROOM] = {"create_room", "create room", create_room, room_created,
                        NULL},
    [HS_CODES] = {"codes", "create room codes", codes, codes_created, NULL},
    [HS_START_HLS] = {"start_hls", "start HLS", start_hls, hls_started, NULL},
    [HS_WAIT_HLS] = {"wait_hls", "read the HLS stream", wait_hls,
                     on_stream_status, NULL},
    [HS_WRITE_READY] = {"write_ready", "write the ready room", write_ready,
                        NULL, ready_written},
    [HS_STOP_HLS] = {"stop_hls", "stop HLS", stop_hls, hls_stopped, NULL},
    [HS_END_ROOM] = {"end_room", "end room", end_room, room_ended, NULL},
    [HS_DISABLE_ROOM] = {"disable_room", "disable room", disable_room,
                         room_disabled_now, NULL},
    [HS_DISABLE_CODES] = {"disable_codes", "disable room code", disable_codes,
                          code_disabled, NULL},
    [HS_WRITE_ENDED] = {"write_ended", "write the ended room", write_ended,
                        NULL, ended_written},
    [HS_WRITE_HOOK] = {"write_hook", "write what 100ms reported", write_hook,
                       NULL, hook_written},
    [HS_SKIP] = {"skip", "mark the skipped event", skip, NULL, skipped},
    [HS_MARK] = {"mark", "mark the applied event", mark, NULL, marked},
};

const char *handler_state_name(enum handler_state s)
{
    return s < HS_COUNT ? states[s].name : "none";
}

/* ---- life of a job ---------------------------------------------------- */

struct handler *handler_create(const struct conf *cf, struct hms_client *hc,
                               struct cache *cache, handler_finish_fn *finish,
                               void *arg)
{
    struct handler *h = xcalloc(1, sizeof(*h));

    h->cf = cf;
    h->hc = hc;
    h->cache = cache;
    h->finish = finish;
    h->arg = arg;
    h->watch = hlswatch_create(cf, hc, cache);
    if (cf->hms_subdomain == NULL) {
        log_warn("msg=\"HMS_SUBDOMAIN is unset: no join links, and "
                 "stream-started events with hls get no HLS stream (100ms "
                 "requires a meeting_url on the template's subdomain)\"");
    }
    return h;
}

static void ctx_free(struct ctx *c)
{
    json_decref(c->hash);
    json_decref(c->codes);
    free(c->room_id);
    free(c->room_name);
    free(c->hls_url);
    free(c->hls_id);
    free(c->subject);
    free(c);
}

void handler_destroy(struct handler *h)
{
    if (h == NULL) {
        return;
    }
    while (h->all != NULL) {
        struct ctx *c = h->all;

        h->all = c->next;
        job_free(c->j);
        ctx_free(c);
    }
    heap_deinit(&h->parked);
    hlswatch_destroy(h->watch);
    free(h);
}

static void go(struct ctx *c, enum handler_state to);

void handler_submit(struct handler *h, struct job *j)
{
    struct ctx *c = xcalloc(1, sizeof(*c));

    c->h = h;
    c->j = j;
    c->state = HS_COUNT;
    c->born = c->started = hw_mono_ms();
    c->deadline = c->started + h->cf->event_deadline_ms;
    c->next = h->all;
    if (h->all != NULL) {
        h->all->prev = c;
    }
    h->all = c;
    go(c, j->req == JOB_MARK            ? HS_MARK
          : j->in.kind == EVENT_WEBHOOK ? HS_RESOLVE
                                        : HS_LOAD);
}

/* c got past whatever halted it (or ends): intake may resume once no
 * event is halted any more. */
static void unhalt_job(struct ctx *c)
{
    struct handler *h = c->h;

    if (!c->halted) {
        return;
    }
    c->halted = false;
    if (--h->halted == 0) {
        log_info("msg=\"resuming: the cause of the halt is gone\" "
                 "was=\"%s\"",
                 h->halt_why);
        h->halt_why[0] = '\0';
    }
}

/* The job leaves the handler with its outcome; the context goes. */
static void done(struct ctx *c, enum job_outcome outcome)
{
    struct handler *h = c->h;
    struct job *j = c->j;

    unhalt_job(c);
    if (c->state < HS_COUNT) {
        h->in_state[c->state]--;
    }
    j->outcome = outcome;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        h->all = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    ctx_free(c);
    h->finish(h->arg, j);
}

/* The one way from state to state: counted, logged, and not at all for a
 * job whose partition went to another worker (it writes nothing more). */
static void go(struct ctx *c, enum handler_state to)
{
    struct handler *h = c->h;

    if (c->state < HS_COUNT) {
        h->in_state[c->state]--;
    }
    c->state = to;
    c->entered = hw_mono_ms();
    h->in_state[to]++;
    if (job_stale(c->j)) {
        job_log(LL_INFO, c->j, "msg=\"abandoned: partition revoked\"");
        done(c, JOB_ABANDONED);
        return;
    }
    job_log(LL_DEBUG, c->j, "msg=\"state\" state=%s", states[to].name);
    states[to].enter(c);
}

static void dlq(struct ctx *c, const char *cls, const char *fmt, ...)
    HW_PRINTF(3, 4);

static void dlq(struct ctx *c, const char *cls, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->j->err, sizeof(c->j->err), fmt, ap);
    va_end(ap);
    c->j->err_class = cls;
    job_log(LL_WARN, c->j, "msg=\"dead-lettering\" class=%s state=%s", cls,
            states[c->state].name);
    done(c, JOB_DLQ);
}

static void fatal(struct ctx *c, const char *what)
{
    snprintf(c->j->err, sizeof(c->j->err), "%s", what);
    job_log(LL_ERROR, c->j, "msg=\"fatal\" err=\"%s\" state=%s", what,
            states[c->state].name);
    done(c, JOB_FATAL);
}

/* Nothing to apply (PHYSICAL, an ended subject, a disabled room): the
 * marker only. */
static void skip_because(struct ctx *c, const char *why)
{
    snprintf(c->j->err, sizeof(c->j->err), "%s", why);
    go(c, HS_SKIP);
}

/* A value the worker reads back from its own key (field of key) lacks the
 * shape the worker writes there (rules_hash_tampered): frontends share
 * this Redis, so anyone may have written it, and it must reach no 100ms
 * call, token or key. Dead-lettered redis_tampered (docs/contract.md
 * section 7) with a warning that names the key and the field, never the
 * value; nothing is called or written, the offset moves on. */
static void tampered(struct ctx *c, const char *key, const char *field)
{
    char f[80];

    log_safe(f, sizeof(f), field != NULL ? field : "-");
    job_log(LL_WARN, c->j,
            "msg=\"a hash value the worker did not write: nothing sent to "
            "100ms\" key=%s field=%s",
            key, f);
    dlq(c, "redis_tampered",
        "redis: %s: %s%s lacks the shape the worker writes (another client "
        "wrote it? see Redis ACLs in README.md)",
        key, field != NULL ? "field " : "the value", field != NULL ? f : "");
}

/* Parks c until delay_ms from now, then enters its state again; the
 * event's clocks stop meanwhile (docs/contract.md section 7: no deadline
 * while a dependency is down). */
static void park(struct ctx *c, int64_t delay_ms)
{
    c->resume = c->state;
    c->parked_at = hw_mono_ms();
    heap_push(&c->h->parked, c->parked_at + delay_ms, c);
}

/* Redis is down (connection failed, lost, silent): the state is entered
 * again at once, and its call waits in the cache for the next connection
 * attempt (cache.h: one backoff for all events, no timer per event). The
 * wait since the state was entered (its call) counts as parked: its
 * clocks stop. A Redis that answers with an error (LOADING, OOM,
 * READONLY) is tried again after REDIS_RETRY_MS. */
static void park_for_redis(struct ctx *c)
{
    if (cache_down(c->h->cache)) {
        park(c, 0);
        c->parked_at = c->entered;
    } else {
        park(c, REDIS_RETRY_MS);
    }
}

/* Nothing will work until someone changes a setting (credentials, a
 * permission, Redis Cluster): park the job with its offset unstored,
 * stop intake (handler_degraded), say why (handler_halted), and enter the
 * state again every HALT_RETRY_MS, so that a fixed setting resumes the
 * worker without a restart (docs/contract.md section 7, "halt"). */
static void halt_job(struct ctx *c, const char *fmt, ...) HW_PRINTF(2, 3);

static void halt_job(struct ctx *c, const char *fmt, ...)
{
    struct handler *h = c->h;
    char why[sizeof(h->halt_why)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (h->halted == 0) { /* once per halt, not per event or retry */
        job_log(LL_ERROR, c->j,
                "msg=\"halted: intake stopped\" why=\"%s\" state=%s "
                "retry_ms=%lld",
                why, states[c->state].name, (long long)h->cf->halt_retry_ms);
    }
    snprintf(h->halt_why, sizeof(h->halt_why), "%s", why);
    if (!c->halted) {
        c->halted = true;
        h->halted++;
    }
    park(c, h->cf->halt_retry_ms);
}

int64_t handler_tick(struct handler *h)
{
    int64_t now = hw_mono_ms();

    while (heap_next_due(&h->parked) <= now) {
        struct ctx *c = heap_pop(&h->parked).item;

        c->started += now - c->parked_at;
        c->deadline += now - c->parked_at;
        if (c->api_wait) {
            c->api_wait = false;
            h->api_waiting--;
        }
        go(c, c->resume);
    }
    now = hlswatch_tick(h->watch);
    return now < heap_next_due(&h->parked) ? now : heap_next_due(&h->parked);
}

bool handler_degraded(const struct handler *h)
{
    return h->redis_down || h->api_waiting > 0 || h->halted > 0 ||
           hms_client_tripped(h->hc);
}

const char *handler_halted(const struct handler *h)
{
    return h->halted > 0 ? h->halt_why : NULL;
}

bool handler_redis_up(const struct handler *h)
{
    return !h->redis_down;
}

bool handler_api_up(const struct handler *h)
{
    return h->api_waiting == 0 && !hms_client_tripped(h->hc);
}

void handler_count_states(const struct handler *h, size_t counts[HS_COUNT])
{
    memcpy(counts, h->in_state, sizeof(h->in_state));
}

/* ---- 100ms calls ------------------------------------------------------- */

static void on_hms(void *arg, const struct hms_result *r)
{
    struct ctx *c = arg;

    if (r->rc != HW_ERR_AUTH) {
        unhalt_job(c); /* 100ms took the token: whatever halted c is gone */
    }
    states[c->state].hms_reply(c, r);
}

/* The state's call: method on base + the formatted path, with body
 * (taken), within the event's deadline. */
static void call(struct ctx *c, const char *method, json_t *body,
                 const char *fmt, ...) HW_PRINTF(4, 5);

static void call(struct ctx *c, const char *method, json_t *body,
                 const char *fmt, ...)
{
    char *path;
    va_list ap;

    va_start(ap, fmt);
    path = xvasprintf(fmt, ap);
    va_end(ap);
    hms_client_call(c->h->hc, method, path, body, c->started, c->deadline,
                    on_hms, c);
    json_decref(body);
    free(path);
}

/* A 403 that says the room is disabled: the room's state, not a missing
 * permission (hms_client turns every other 403 into HW_ERR_AUTH). */
static bool room_disabled(const struct hms_result *r)
{
    return r->status == 403 && hms_reply_says_disabled(r->body);
}

static void on_probe(void *arg, const struct hms_result *r)
{
    struct handler *h = arg;

    (void)r; /* hms_client notes whether the API answered */
    h->probing = false;
}

/* One cheap read that no per-subject problem can fail: if it is answered
 * while events wait, the API is up and their failures are their own. */
static void probe_api(struct handler *h)
{
    int64_t now = hw_mono_ms();

    if (!h->probing) {
        h->probing = true;
        hms_client_call(h->hc, "GET", "/rooms?limit=10", NULL, now,
                        now + h->cf->hms_timeout_ms, on_probe, h);
    }
}

/* The state's call failed for good (see the table atop): wait, halt,
 * dead-letter or stop. */
static void call_failed(struct ctx *c, const struct hms_result *r)
{
    const char *what = states[c->state].what;

    c->j->attempts = r->attempts;
    if (hw_rc_is_retriable(r->rc) &&
        hms_client_last_answer(c->h->hc) < c->born) {
        job_log(LL_INFO, c->j, "msg=\"100ms API not answering, event waits\"");
        c->started = hw_mono_ms(); /* park() shifts both by the wait */
        c->deadline = c->started + c->h->cf->event_deadline_ms;
        c->api_wait = true;
        c->h->api_waiting++;
        park(c, API_RETRY_MS);
        probe_api(c->h);
    } else if (r->rc == HW_ERR_AUTH && r->status == 403) {
        halt_job(c,
                 "100ms refuses to %s (%s): the management token lacks the "
                 "permission: check that HMS_ACCESS_KEY and the app secret "
                 "belong to the workspace of HMS_TEMPLATE_ID and may manage "
                 "rooms",
                 what, r->err);
    } else if (r->rc == HW_ERR_AUTH &&
               hms_client_clock_ahead_s(c->h->hc) > JWT_BACKDATE_S) {
        halt_job(c,
                 "100ms rejects the management token to %s (%s): this "
                 "host's clock is %lld s ahead of 100ms's (its Date header), "
                 "so the token's iat and nbf are in the future: sync the "
                 "clock (NTP)",
                 what, r->err, (long long)hms_client_clock_ahead_s(c->h->hc));
    } else if (r->rc == HW_ERR_AUTH) {
        halt_job(
            c,
            "100ms rejects the management token to %s (%s): HMS_ACCESS_KEY "
            "or the app secret is wrong, or this host's clock is off",
            what, r->err);
    } else if (r->rc == HW_ERR_FATAL) {
        fatal(c, r->err);
    } else if (hw_rc_is_retriable(r->rc)) {
        dlq(c, r->deadline ? "deadline" : "hms_retries",
            "%s: %s after %d attempts", what, r->err, r->attempts);
    } else {
        const char *msg =
            json_string_value(json_object_get(r->body, "message"));
        char safe[256]; /* 100ms's words: escaped like every peer's */

        dlq(c, "hms_rejected", "%s: HTTP %ld %s", what, r->status,
            msg != NULL ? log_text(safe, sizeof(safe), msg) : r->err);
    }
}

/* ---- Redis batches ----------------------------------------------------- */

/* A Redis result (docs/contract.md section 7, Redis rows): true when it
 * succeeded; otherwise c is parked (to enter its state again), halted,
 * dead-lettered or ended, and the caller returns. */
static bool redis_ok(struct ctx *c, enum hw_rc rc)
{
    struct handler *h = c->h;
    const char *err = cache_errstr(h->cache);

    switch (rc) {
    case HW_OK:
        if (c->state != HS_LOAD) { /* a replica or a full Redis still reads */
            h->redis_down = false;
        }
        unhalt_job(c);
        return true;
    case HW_ERR_AUTH:
        halt_job(c,
                 "redis refuses the worker (%s): check the user and password "
                 "of REDIS_URL and its ACL (the worker needs read, write and "
                 "MULTI/EXEC on ~hms:*)",
                 err);
        return false;
    case HW_ERR_CONFIG:
        if (strncmp(err, "TLS: ", 5) == 0) { /* rediss://, cachetls.h */
            halt_job(c,
                     "redis TLS refused (%s): check REDIS_TLS_CA_FILE (unset: "
                     "the system's trust store), that the host of REDIS_URL "
                     "is a name on Redis's certificate, that its port speaks "
                     "TLS, and REDIS_TLS_CERT_FILE if Redis wants a client "
                     "certificate",
                     err + 5);
            return false;
        }
        halt_job(
            c,
            "redis refuses the setup (%s): Redis Cluster is not supported "
            "(point REDIS_URL at a standalone or primary/replica endpoint) "
            "and the database of REDIS_URL must exist",
            err);
        return false;
    case HW_ERR_INVALID: /* WRONGTYPE: another writer owns the key */
        dlq(c, "redis_wrongtype", "redis: %s", err);
        return false;
    case HW_ERR_REFUSED: /* unknown: retried, then its own if others */
        if (c->redis_refusals++ == 0) {
            c->refused_at = hw_mono_ms();
            job_log(LL_WARN, c->j, "msg=\"redis refused, retrying\" err=\"%s\"",
                    err);
        }
        if (c->redis_refusals < REDIS_REFUSALS) { /* others write meanwhile? */
            park(c, REDIS_RETRY_MS);
        } else if (cache_last_ok(h->cache) >= c->refused_at) {
            /* >=: a write answered in the same millisecond as the refusal
             * (pipelined right behind it) shows Redis takes writes too */
            dlq(c, "redis_rejected", "redis: %s", err);
        } else {
            halt_job(c,
                     "redis refuses the worker's writes (%s), an error the "
                     "worker does not know: see the redis log",
                     err);
        }
        return false;
    case HW_ERR_FATAL:
        fatal(c, err);
        return false;
    case HW_ERR_DECODE:
    case HW_ERR_NOT_FOUND:
    case HW_ERR_TIMEOUT:
    case HW_ERR_UNAVAILABLE:
        break;
    }
    if (!h->redis_down) {
        job_log(LL_WARN, c->j, "msg=\"redis unavailable, waiting\" err=\"%s\"",
                err);
    }
    h->redis_down = true;
    park_for_redis(c);
    return false;
}

/* Every Redis batch answers here (load also brings the marker and the
 * hash). */
static void on_redis(void *arg, enum hw_rc rc, struct cache_reply *r)
{
    struct ctx *c = arg;

    c->applied = r->exists;
    if (c->state == HS_RESOLVE) {
        free(c->subject);
        c->subject = r->value;
        r->value = NULL;
    }
    if (r->hash != NULL) {
        json_decref(c->hash);
        c->hash = r->hash;
        r->hash = NULL;
    }
    if (redis_ok(c, rc)) {
        states[c->state].redis_reply(c);
    }
}

/* ---- load ------------------------------------------------------------- */

/* The subject the job writes: its own, or a webhook's room's. */
static enum subject_kind subj_kind(const struct ctx *c)
{
    return c->subject != NULL
               ? (strncmp(c->subject, "stream:", 7) == 0 ? SUBJECT_STREAM
                                                         : SUBJECT_BOOKING)
               : event_subject_kind(&c->j->in);
}

static const char *subj_id(const struct ctx *c)
{
    return c->subject != NULL ? strchr(c->subject, ':') + 1
                              : event_subject_id(&c->j->in);
}

static void load(struct ctx *c)
{
    cache_load(c->h->cache, c->j->in.event_id, subj_kind(c), subj_id(c),
               on_redis, c);
}

/* ---- webhooks ------------------------------------------------------------ */

static void resolve(struct ctx *c)
{
    cache_resolve_room(c->h->cache, hookev_str(&c->j->in, "room_id"), on_redis,
                       c);
}

static void resolved(struct ctx *c)
{
    enum subject_kind kind;
    const char *id;

    if (c->subject == NULL) {
        metrics_add(M_HOOKS_FOREIGN, 1);
        skip_because(c, "not a room of this worker");
    } else if (!rules_subject_parse(c->subject, &kind, &id)) {
        char *key = cache_key_room(hookev_str(&c->j->in, "room_id"));

        tampered(c, key, NULL);
        free(key);
    } else {
        go(c, HS_LOAD);
    }
}

/* When the webhook says it happened; hls.failure has only the
 * envelope's timestamp. */
static int64_t hook_time_ms(const struct event *in, enum hook_type type)
{
    static const char *const fields[] = {
        [HOOK_SESSION_OPEN] = "session_started_at",
        [HOOK_SESSION_CLOSE] = "session_stopped_at",
        [HOOK_PEER_JOIN] = "joined_at",
        [HOOK_PEER_LEAVE] = "left_at",
        [HOOK_RECORDING] = "session_stopped_at",
        [HOOK_HLS_STARTED] = "started_at",
        [HOOK_HLS_STOPPED] = "stopped_at",
        [HOOK_HLS_FAILURE] = NULL,
        [HOOK_BEAM_RECORDING] = "stopped_at",
    };

    return hookev_time_ms(in, fields[type]);
}

static int64_t hash_ms(const json_t *hash, const char *field)
{
    const char *v = json_string_value(json_object_get(hash, field));

    return v != NULL ? strtoll(v, NULL, 10) : INT64_MIN;
}

/* A join of the stream's host: a listed user (role:{user}) in the role
 * their token has. */
static bool host_joined(const struct ctx *c)
{
    const char *u = hookev_str(&c->j->in, "user_id");
    const char *role = hookev_str(&c->j->in, "role");
    char *field;
    bool yes;

    if (u == NULL || role == NULL) {
        return false;
    }
    field = xasprintf("role:%s", u);
    yes = rules_hash_is(c->hash, field, role);
    free(field);
    return yes;
}

/* Whether this webhook starts the stream's HLS: the host's join
 * (HMS_HLS_START=on_join: the composer is not left alone, and stops after
 * 5 minutes alone), or a failure while the stream should run, at most
 * HMS_HLS_RETRIES times. Only for a stream that asked for HLS, still
 * ready, with nothing playing. */
static bool hook_starts_hls(struct ctx *c)
{
    const struct conf *cf = c->h->cf;
    const struct event *in = &c->j->in;
    const char *err = hookev_str(in, "error_type");
    int64_t tries = hash_ms(c->hash, "hls_retries");

    if (subj_kind(c) != SUBJECT_STREAM ||
        !rules_hash_is(c->hash, "hls_requested", "1") ||
        !rules_hash_is(c->hash, "status", "ready") ||
        json_object_get(c->hash, "hls_url") != NULL) {
        return false;
    }
    if (hookev_type(in) == HOOK_PEER_JOIN) {
        return cf->hls_on_join && host_joined(c);
    }
    if (hookev_type(in) != HOOK_HLS_FAILURE ||
        (err != NULL && strcmp(err, "BEAM_STOPPED") == 0) ||
        (cf->hls_on_join &&
         !rules_hash_is(c->hash, "session_status", "live"))) {
        return false; /* stopped on purpose, or nobody to stream */
    }
    c->hls_gave_up = (tries < 0 ? 0 : tries) >= cf->hms_hls_retries;
    c->hls_retry = !c->hls_gave_up;
    return c->hls_retry;
}

/* A booking's session that closed once the booking's window was over:
 * the room is cleaned up (CLEANUP_ON_CLOSE) as a session-ended would, so
 * "clean up after the consultation" needs no event of its own. */
static bool closes_booking(const struct ctx *c, int64_t at)
{
    int64_t ends = hash_ms(c->hash, "ends_at");

    return c->h->cf->cleanup != CLEANUP_OFF &&
           hookev_type(&c->j->in) == HOOK_SESSION_CLOSE &&
           subj_kind(c) == SUBJECT_BOOKING &&
           rules_hash_is(c->hash, "status", "ready") &&
           json_is_string(json_object_get(c->hash, "room_id")) &&
           ends != INT64_MIN && at >= ends;
}

/* A webhook whose subject is known and whose hash exists: what it
 * changes, if the worker applies its type. */
static void webhook_loaded(struct ctx *c)
{
    const struct event *in = &c->j->in;
    int64_t at = hook_time_ms(in, hookev_type(in));

    if (c->hash == NULL) {
        skip_because(c, "the subject's hash is gone");
    } else if (hookev_type(in) == HOOK_OTHER) {
        skip_because(c, "a webhook type the worker does not apply");
    } else if (at == INT64_MIN) {
        dlq(c, "validation", "webhook %s: no valid time", hookev_type_name(in));
    } else if (hook_starts_hls(c)) {
        c->room_id = xstrdup(hookev_str(in, "room_id"));
        go(c, HS_START_HLS);
    } else {
        c->cleanup = closes_booking(c, at);
        go(c, HS_WRITE_HOOK);
    }
}

/* session-ended: what the hash says there is to end. */
static void end_what_is_there(struct ctx *c)
{
    const char *room = json_string_value(json_object_get(c->hash, "room_id"));

    if (room == NULL) { /* never provisioned, or a tombstone already */
        c->reason = c->j->in.reason;
        go(c, HS_WRITE_ENDED);
        return;
    }
    c->room_id = xstrdup(room);
    c->lock = c->j->in.lock;
    c->reason = c->j->in.reason;
    /* a stream's HLS may run without its URL published (still starting,
     * or given up): stop whatever runs */
    go(c, c->j->in.subject_kind == SUBJECT_STREAM ? HS_STOP_HLS : HS_END_ROOM);
}

static void loaded(struct ctx *c)
{
    const struct event *in = &c->j->in;
    const char *status = json_string_value(json_object_get(c->hash, "status"));
    const char *bad = rules_hash_tampered(c->hash);

    if (c->applied) {
        job_log(LL_INFO, c->j, "msg=\"duplicate, already applied\"");
        done(c, JOB_DUPLICATE);
    } else if (bad != NULL) {
        char *key = cache_key_subject(subj_kind(c), subj_id(c));

        tampered(c, key, bad);
        free(key);
    } else if (in->kind == EVENT_WEBHOOK) {
        webhook_loaded(c);
    } else if (in->kind == EVENT_BOOKING_CREATED && in->physical) {
        skip_because(c, "PHYSICAL booking");
    } else if (in->kind == EVENT_SESSION_ENDED) {
        end_what_is_there(c);
    } else if (status != NULL && strcmp(status, "ended") == 0) {
        skip_because(c, "the subject has ended");
    } else {
        c->room_name =
            rules_room_name(event_subject_kind(in), event_subject_id(in));
        go(c, HS_CREATE_ROOM);
    }
}

/* ---- booking-created and stream-started --------------------------------- */

static void create_room(struct ctx *c)
{
    const struct event *in = &c->j->in;
    const char *tpl =
        in->template_id != NULL ? in->template_id : c->h->cf->hms_template_id;
    char *desc = in->kind == EVENT_STREAM_STARTED
                     ? xasprintf("Stream %s%s%s", in->stream_id,
                                 in->title != NULL ? ": " : "",
                                 in->title != NULL ? in->title : "")
                     : xasprintf("Booking %s", in->booking_id);
    json_t *body = json_pack("{s:s, s:s, s:s}", "name", c->room_name,
                             "description", desc, "template_id", tpl);

    rules_room_options(in, body); /* region, size, duration: when set */
    /* Upsert by name: a repeat with the same payload is harmless. */
    call(c, "POST", body, "/rooms");
    free(desc);
}

static void room_created(struct ctx *c, const struct hms_result *r)
{
    const char *id = hms_reply_room_id(r->body);

    if (room_disabled(r)) { /* undocumented on create: the safe reading */
        skip_because(c, "room is disabled (ended)");
    } else if (r->rc != HW_OK) {
        call_failed(c, r);
    } else if (id == NULL) {
        dlq(c, "hms_rejected", "create room: reply without a valid id");
    } else {
        c->room_id = xstrdup(id);
        go(c, HS_CODES);
    }
}

static void codes(struct ctx *c)
{
    /* All-roles create returns the existing codes on repeat. */
    call(c, "POST", NULL, "/room-codes/room/%s", c->room_id);
}

static void codes_created(struct ctx *c, const struct hms_result *r)
{
    const struct event *in = &c->j->in;

    if (r->rc == HW_ERR_NOT_FOUND && c->codes_404 < CODES_404_RETRIES) {
        c->codes_404++; /* a room not visible yet: a public sample waits */
        park(c, CODES_404_WAIT_MS);
    } else if (room_disabled(r)) {
        skip_because(c, "room is disabled (ended)");
    } else if (r->rc != HW_OK) {
        call_failed(c, r);
    } else {
        c->codes = hms_reply_enabled_codes(r->body);
        if (rules_missing_role(in, c->codes) != NULL) {
            dlq(c, "validation", "role is not a role of the room's template");
        } else {
            /* on_join: the host's peer.join.success starts it */
            go(c, in->kind == EVENT_STREAM_STARTED && in->hls &&
                          !c->h->cf->hls_on_join
                      ? HS_START_HLS
                      : HS_WRITE_READY);
        }
    }
}

/* After HLS was started (or not): a provisioning writes its room, a
 * webhook what it reported (the URL comes with hls.started.success). */
static enum handler_state after_hls(const struct ctx *c)
{
    return c->j->in.kind == EVENT_WEBHOOK ? HS_WRITE_HOOK : HS_WRITE_READY;
}

static void start_hls(struct ctx *c)
{
    const struct conf *cf = c->h->cf;

    if (cf->hms_subdomain == NULL) { /* 100ms requires a meeting_url */
        metrics_add(M_HLS_SKIPPED, 1);
        job_log(LL_WARN, c->j,
                "msg=\"no HLS: HMS_SUBDOMAIN is unset, so there is no "
                "meeting_url for the composer\"");
        go(c, after_hls(c));
        return;
    }
    /* the documented composer page (docs/100ms-api.md section 2.4) */
    call(c, "POST",
         json_pack("{s:o}", "meeting_url",
                   json_sprintf("https://%s.app.100ms.live/preview/%s/%s"
                                "?skip_preview=true",
                                cf->hms_subdomain, c->room_id,
                                cf->hms_hls_composer_role)),
         "/live-streams/room/%s/start", c->room_id);
}

/* No URL will be published: video-ready goes out without one
 * (docs/contract.md section 3), with a warning and a metric. */
static void without_hls(struct ctx *c, const char *why,
                        const struct hms_result *r)
{
    const char *status = json_string_value(json_object_get(r->body, "status"));
    char text[64];

    metrics_add(M_HLS_FAILURES, 1);
    job_log(LL_WARN, c->j,
            "msg=\"no HLS: %s, continuing without\" http=%ld err=\"%s\" "
            "status=\"%s\"",
            why, r->status, r->err,
            log_text(text, sizeof(text), status != NULL ? status : "-"));
    go(c, after_hls(c));
}

/* A stream reply of start_hls or wait_hls: publish a running stream,
 * wait for a starting one, give up on any other. */
static void on_stream_status(struct ctx *c, const struct hms_result *r)
{
    const char *url = hms_reply_hls_url(r->body);
    enum hms_hls_status st = hms_reply_stream_status(r->body);

    if (r->rc == HW_ERR_AUTH || r->rc == HW_ERR_FATAL) {
        call_failed(c, r);
    } else if (r->rc != HW_OK) {
        without_hls(c, "100ms refused or did not answer", r);
    } else if (c->j->in.kind == EVENT_WEBHOOK) {
        go(c, HS_WRITE_HOOK); /* hls.started.success will bring the URL */
    } else if (st == HLS_RUNNING && url != NULL) {
        c->hls_url = xstrdup(url);
        go(c, HS_WRITE_READY);
    } else if (st != HLS_STARTING || c->hls_id == NULL) {
        without_hls(c, "the stream is not running", r);
    } else if (hw_mono_ms() >= c->hls_wait) {
        without_hls(c, "the stream did not run within HMS_HLS_WAIT_MS", r);
    } else if (c->state == HS_WAIT_HLS) {
        park(c, HLS_POLL_MS); /* its clocks stop; hls_wait does not */
    } else {
        go(c, HS_WAIT_HLS);
    }
}

static void hls_started(struct ctx *c, const struct hms_result *r)
{
    const char *id = hms_reply_stream_id(r->body);

    if (r->rc == HW_OK && id != NULL) {
        c->hls_id = xstrdup(id);
        c->hls_wait = hw_mono_ms() + c->h->cf->hms_hls_wait_ms;
    }
    on_stream_status(c, r);
}

/* The stream as it is now: starting, then running, or failed when the
 * composer cannot join (docs/100ms-api.md section 9, point 3). */
static void wait_hls(struct ctx *c)
{
    call(c, "GET", NULL, "/live-streams/%s", c->hls_id);
}

static void fill_codes(struct ctx *c, struct event *out)
{
    const char *sub = c->h->cf->hms_subdomain;
    const json_t *code;
    size_t i;

    out->codes = xcalloc(json_array_size(c->codes) + 1, sizeof(*out->codes));
    json_array_foreach(c->codes, i, code)
    {
        const char *s = json_string_value(json_object_get(code, "code"));

        out->codes[i].role =
            xstrdup(json_string_value(json_object_get(code, "role")));
        out->codes[i].code = xstrdup(s);
        out->codes[i].join_url =
            sub != NULL
                ? xasprintf("https://%s.app.100ms.live/meeting/%s", sub, s)
                : NULL;
    }
    out->n_codes = json_array_size(c->codes);
}

/* The fields every output has, in out (the job's, or its second); false
 * (c ended) when no event id could be drawn: an output without one would
 * break its consumers' de-duplication. */
static bool output_base(struct ctx *c, struct event *out, enum event_kind kind)
{
    const struct event *in = &c->j->in;
    char id[JWT_UUID_LEN + 1];

    event_clear(out);
    if (jwt_uuid4(id) != HW_OK) {
        fatal(c, "no random bytes for an event id (RAND_bytes failed)");
        return false;
    }
    out->kind = kind;
    out->event_id = xstrdup(id);
    out->causation_id = xstrdup(in->event_id);
    out->occurred_at = hw_now_ms();
    out->subject_kind = subj_kind(c); /* a webhook's: its room's subject */
    out->subject_id = xstrdup(subj_id(c));
    return true;
}

/* Mints the holders' tokens and writes the hash, the tokens and the
 * removal of stale ones in one MULTI/EXEC; the output is filled here,
 * its room fields once the write is in. */
static void write_ready(struct ctx *c)
{
    const struct conf *cf = c->h->cf;
    const struct event *in = &c->j->in;
    struct event *out = &c->j->out;
    struct participant host;
    const struct participant *ps;
    size_t n = rules_holders(in, &host, &ps);
    struct cache_token *toks = NULL;
    const char **stale = NULL;
    /* what the previous provisioning wrote goes; what 100ms reported
     * (session, attendance) stays */
    const char **old = xcalloc(json_object_size(c->hash) + 1, sizeof(char *));
    size_t n_old = fields_with(c->hash, "code:", false, old, 0);
    int64_t now_ms = hw_now_ms(), now_s = now_ms / 1000;
    enum hw_rc rc = HW_OK;

    if (!output_base(c, out, EVENT_VIDEO_READY)) {
        free(old);
        return;
    }
    n_old = fields_with(c->hash, "link:", false, old, n_old);
    n_old = fields_with(c->hash, "role:", false, old, n_old);
    n_old = fields_with(c->hash, "hls_requested", false, old, n_old);
    n_old = fields_with(c->hash, "ends_at", false, old, n_old);
    if (!cf->hls_on_join) { /* on_join: hls.* webhooks own the URL */
        n_old = fields_with(c->hash, "hls_url", false, old, n_old);
        n_old = fields_with(c->hash, "hls_stream_id", false, old, n_old);
    }
    fill_codes(c, out);
    toks = xcalloc(n + 1, sizeof(*toks));
    for (size_t i = 0; i < n && rc == HW_OK; i++) {
        char *jwt = NULL;

        toks[i] =
            (struct cache_token){ps[i].user_id, ps[i].role, NULL,
                                 rules_token_exp(cf, in, ps[i].role, now_s)};
        rc =
            jwt_mint_app(&cf->hms_app_secret, cf->hms_access_key, c->room_id,
                         ps[i].user_id, ps[i].role, now_s, toks[i].exp_s, &jwt);
        toks[i].jwt = jwt;
    }
    if (rc == HW_OK) {
        struct cache_ready r = {
            .kind = event_subject_kind(in),
            .subject_id = event_subject_id(in),
            .room_id = c->room_id,
            .room_name = c->room_name,
            .event_id = in->event_id,
            .hls_url = c->hls_url,
            .hls_stream_id = c->hls_id,
            .hls_requested = in->kind == EVENT_STREAM_STARTED && in->hls,
            .ends_at_ms = in->kind == EVENT_BOOKING_CREATED &&
                                  in->ends_at != EVENT_NO_TIME
                              ? in->ends_at
                              : 0,
            .codes = out->codes,
            .n_codes = out->n_codes,
            .tokens = toks,
            .n_tokens = n,
            .now_ms = now_ms,
            .expire_at_s = rules_hash_expiry(cf, in, now_s),
            .old_fields = old,
            .n_old = n_old};

        r.n_stale = rules_stale_users(c->hash, c->room_id, ps, n, &stale);
        r.stale_users = stale;
        out->expires_at = hw_sat_mul(r.expire_at_s, 1000);
        cache_put_ready(c->h->cache, &r, on_redis, c);
    }
    for (size_t i = 0; i < n; i++) {
        jwt_token_free((char *)(uintptr_t)toks[i].jwt);
    }
    free(toks);
    free(stale);
    free(old);
    if (rc != HW_OK) {
        fatal(c, "cannot mint app tokens");
    }
}

static void ready_written(struct ctx *c)
{
    struct event *out = &c->j->out;
    struct participant host;
    const struct participant *ps;

    out->room_id = xstrdup(c->room_id);
    out->room_name = xstrdup(c->room_name);
    out->cache_key = cache_key_subject(out->subject_kind, out->subject_id);
    out->hls_url = c->hls_url != NULL ? xstrdup(c->hls_url) : NULL;
    job_log(LL_INFO, c->j, "msg=\"room ready\" room_id=%s codes=%zu tokens=%zu",
            c->room_id, out->n_codes, rules_holders(&c->j->in, &host, &ps));
    if (c->hls_url != NULL && !c->h->cf->webhook_events) {
        /* with webhooks, hls.stopped.success clears it */
        hlswatch_add(c->h->watch, out->subject_kind, out->subject_id, c->hls_id,
                     c->hls_url);
    }
    done(c, JOB_OUTPUT);
}

/* ---- session-ended ------------------------------------------------------ */

static void stop_hls(struct ctx *c)
{
    call(c, "POST", NULL, "/live-streams/room/%s/stop", c->room_id);
}

static void hls_stopped(struct ctx *c, const struct hms_result *r)
{
    if (r->rc == HW_ERR_AUTH || r->rc == HW_ERR_FATAL) {
        call_failed(c, r);
        return;
    }
    if (r->rc != HW_OK && r->rc != HW_ERR_NOT_FOUND) {
        job_log(LL_WARN, c->j,
                "msg=\"HLS stop failed, ending anyway\" http=%ld "
                "err=\"%s\"",
                r->status, r->err);
    }
    go(c, HS_END_ROOM);
}

static void end_room(struct ctx *c)
{
    call(c, "POST",
         json_pack("{s:s, s:b}", "reason",
                   c->reason != NULL ? c->reason : "session ended", "lock",
                   c->lock),
         "/active-rooms/%s/end-room", c->room_id);
}

static void room_ended(struct ctx *c, const struct hms_result *r)
{
    /* 404 "no active session" and a disabled room count as success
     * (docs/contract.md section 3) */
    if (r->rc != HW_OK && r->rc != HW_ERR_NOT_FOUND && !room_disabled(r)) {
        call_failed(c, r);
    } else {
        go(c, c->lock ? HS_DISABLE_ROOM : HS_WRITE_ENDED);
    }
}

/* Locking disables the room itself, session or not: end-room locks only
 * a running session's room (docs/100ms-api.md section 9, point 5), and
 * app tokens handed out would still join an enabled one. */
static void disable_room(struct ctx *c)
{
    call(c, "POST", json_pack("{s:b}", "enabled", 0), "/rooms/%s", c->room_id);
}

static void room_disabled_now(struct ctx *c, const struct hms_result *r)
{
    if (r->rc != HW_OK) {
        call_failed(c, r); /* 404 too: our room, unknown to 100ms */
    } else {
        go(c, HS_DISABLE_CODES);
    }
}

/* Disables every code of the hash at once; 404 counts as done. */
static void disable_codes(struct ctx *c)
{
    const char *key;
    json_t *v;

    c->pending = 1; /* held until every call is issued */
    c->failed.rc = HW_OK;
    json_object_foreach(c->hash, key, v)
    {
        if (strncmp(key, "code:", 5) == 0 && json_is_string(v)) {
            c->pending++;
            call(c, "POST",
                 json_pack("{s:s, s:b}", "code", json_string_value(v),
                           "enabled", 0),
                 "/room-codes/code");
        }
    }
    code_disabled(c, &(struct hms_result){HW_OK, 200, NULL, "", 0, false});
}

static void code_disabled(struct ctx *c, const struct hms_result *r)
{
    if (r->rc != HW_OK && r->rc != HW_ERR_NOT_FOUND && c->failed.rc == HW_OK) {
        c->failed = *r; /* the first failure decides */
        snprintf(c->failed_err, sizeof(c->failed_err), "%s", r->err);
        c->failed.err = c->failed_err;
        c->failed.body = NULL;
    }
    if (--c->pending > 0) {
        return;
    }
    if (c->failed.rc != HW_OK) {
        call_failed(c, &c->failed);
    } else {
        go(c, HS_WRITE_ENDED);
    }
}

/* The hash fields of one prefix ("code:", "link:", "role:"). */
static size_t fields_with(const json_t *hash, const char *prefix, bool strip,
                          const char **out, size_t at)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)(uintptr_t)hash, key, v)
    {
        if (strncmp(key, prefix, strlen(prefix)) == 0) {
            out[at++] = strip ? key + strlen(prefix) : key;
        }
    }
    return at;
}

/* status=ended in one MULTI/EXEC; when locked, the tokens, codes and
 * links go too. No hash: a tombstone. */
static void write_ended(struct ctx *c)
{
    const struct conf *cf = c->h->cf;
    size_t cap = json_object_size(c->hash) + 1;
    const char **users = xcalloc(cap, sizeof(char *));
    const char **fields = xcalloc(cap, sizeof(char *));
    struct cache_ended e = {
        subj_kind(c),
        subj_id(c),
        c->room_id,
        c->j->in.event_id,
        c->lock,
        c->hash == NULL,
        users,
        0,
        fields,
        0,
        hw_now_ms(),
        c->hash == NULL ? cf->cache_default_ttl_s : cf->cache_grace_s};

    if (c->lock) {
        e.n_users = fields_with(c->hash, "role:", true, users, 0);
        e.n_fields = fields_with(c->hash, "code:", false, fields, 0);
        e.n_fields = fields_with(c->hash, "link:", false, fields, e.n_fields);
        e.n_fields = fields_with(c->hash, "role:", false, fields, e.n_fields);
    }
    cache_put_ended(c->h->cache, &e, on_redis, c);
    free(users);
    free(fields);
}

static void ended_written(struct ctx *c)
{
    struct job *j = c->j;
    /* a webhook's cleanup has its video-session first */
    struct event *out = j->out.event_id != NULL
                            ? (j->then = xcalloc(1, sizeof(*j->then)))
                            : &j->out;

    if (!output_base(c, out, EVENT_VIDEO_ENDED)) {
        return;
    }
    out->room_id = c->room_id != NULL ? xstrdup(c->room_id) : NULL;
    out->reason = c->reason != NULL ? xstrdup(c->reason) : NULL;
    job_log(LL_INFO, j, "msg=\"ended\" room_id=%s lock=%d tombstone=%d",
            c->room_id != NULL ? c->room_id : "-", c->lock, c->hash == NULL);
    done(c, JOB_OUTPUT);
}

/* ---- write_hook: what a webhook changes (docs/contract.md section 4) ---- */

struct hook_write {
    const char *set[16]; /* field, value pairs */
    size_t n_set;
    const char **del; /* n_del of 4 + the hash's fields */
    size_t n_del;
    char *own[8]; /* formatted strings to free */
    size_t n_own;
    const char *hls_op, *hls_url, *hls_stream_id; /* struct cache_hook */
};

static const char *own(struct hook_write *w, char *s)
{
    w->own[w->n_own++] = s;
    return s;
}

static void set_field(struct hook_write *w, const char *field,
                      const char *value)
{
    w->set[2 * w->n_set] = field;
    w->set[2 * w->n_set + 1] = value;
    w->n_set++;
}

static size_t users_known(const json_t *hash)
{
    const char *key;
    json_t *v;
    size_t n = 0;

    json_object_foreach((json_t *)(uintptr_t)hash, key, v)
    {
        n += strncmp(key, "joined:", 7) == 0;
    }
    return n;
}

/* A session's state: open writes it unless that session already closed
 * (webhooks may come out of order); close always. Whether it wrote. */
static bool session_fields(struct ctx *c, struct hook_write *w, bool open,
                           int64_t at)
{
    const char *sid = hookev_str(&c->j->in, "session_id");
    const char *known =
        json_string_value(json_object_get(c->hash, "session_id"));
    const char *status =
        json_string_value(json_object_get(c->hash, "session_status"));
    int64_t started = hookev_time_ms(&c->j->in, "session_started_at");

    if (open && known != NULL && sid != NULL && strcmp(known, sid) == 0 &&
        status != NULL && strcmp(status, "ended") == 0) {
        return false; /* its close came first */
    }
    if (sid != NULL) {
        set_field(w, "session_id", sid);
    }
    set_field(w, "session_status", open ? "live" : "ended");
    set_field(w, open ? "session_started_at" : "session_ended_at",
              own(w, xasprintf("%lld", (long long)at)));
    if (!open && started != INT64_MIN) { /* a close that came first too */
        set_field(w, "session_started_at",
                  own(w, xasprintf("%lld", (long long)started)));
    }
    if (open) {
        w->del[w->n_del++] = "session_ended_at";
    } else { /* a closed session has nobody in it */
        w->n_del = fields_with(c->hash, "present:", false, w->del, w->n_del);
    }
    return true;
}

/* Attendance per user: joined:{u} the first join, left:{u} the last
 * leave, present:{u} the join time of the presence now (gone when they
 * leave); a join older than the last leave is stale. At most
 * HOOK_USERS_MAX users per subject. */
static bool peer_fields(struct ctx *c, struct hook_write *w, bool join,
                        int64_t at)
{
    const char *u = hookev_str(&c->j->in, "user_id");
    const char *joined, *left, *present;

    if (u == NULL) {
        u = hookev_str(&c->j->in, "peer_id");
    }
    if (u == NULL) {
        return false;
    }
    joined = own(w, xasprintf("joined:%s", u));
    left = own(w, xasprintf("left:%s", u));
    present = own(w, xasprintf("present:%s", u));
    if (json_object_get(c->hash, joined) == NULL &&
        users_known(c->hash) >= HOOK_USERS_MAX) {
        return false;
    }
    if (join) {
        if (hash_ms(c->hash, joined) == INT64_MIN ||
            at < hash_ms(c->hash, joined)) {
            set_field(w, joined, own(w, xasprintf("%lld", (long long)at)));
        }
        if (at > hash_ms(c->hash, left)) {
            set_field(w, present, own(w, xasprintf("%lld", (long long)at)));
        }
    } else {
        if (at > hash_ms(c->hash, left)) {
            set_field(w, left, own(w, xasprintf("%lld", (long long)at)));
        }
        if (at >= hash_ms(c->hash, present)) {
            w->del[w->n_del++] = present;
        }
    }
    return true;
}

/* The room's recording, the newest (recording.success comes after its
 * session closed, beam.recording.success after a browser recording
 * stopped; an older one arriving late is dropped). */
static void recording_fields(struct ctx *c, struct hook_write *w, int64_t at)
{
    const struct event *in = &c->j->in;
    const char *path = hookev_path(in, "recording_path");
    const char *url = hookev_url(in, "recording_presigned_url");
    int64_t secs = hookev_count(in, "duration");

    if (at < hash_ms(c->hash, "recording_at")) {
        return;
    }
    set_field(w, "recording_at", own(w, xasprintf("%lld", (long long)at)));
    w->del[w->n_del++] = "recording_path";
    w->del[w->n_del++] = "recording_url";
    w->del[w->n_del++] = "recording_duration_s";
    if (path != NULL) {
        set_field(w, "recording_path", path);
    }
    if (url != NULL) {
        set_field(w, "recording_url", url);
    }
    if (secs >= 0) {
        set_field(w, "recording_duration_s",
                  own(w, xasprintf("%lld", (long long)secs)));
    }
}

/* A stream's start or stop: decided in Redis (cache_hook.hls_op). The
 * stream is known by its beam_id (inferred: the live stream's id), else
 * by its URL. */
static void hls_fields(struct ctx *c, struct hook_write *w, bool started)
{
    const struct event *in = &c->j->in;

    w->hls_url = hookev_url(in, "url");
    w->hls_stream_id = hookev_str(in, "beam_id");
    if (w->hls_stream_id == NULL) {
        w->hls_stream_id = w->hls_url;
    }
    if (w->hls_stream_id != NULL && (w->hls_url != NULL || !started)) {
        w->hls_op = started ? "start" : "stop";
    }
}

/* The composer could not stream: noted, and either started again
 * (hook_starts_hls: hls_retries counts it) or, past HMS_HLS_RETRIES,
 * given up and reported. */
static void hls_failure_fields(struct ctx *c, struct hook_write *w, int64_t at)
{
    const char *err = hookev_str(&c->j->in, "error_type");
    int64_t tries = hash_ms(c->hash, "hls_retries");

    set_field(w, "hls_failed_at", own(w, xasprintf("%lld", (long long)at)));
    set_field(w, "hls_error", err != NULL ? err : "unknown");
    if (c->hls_retry) {
        set_field(
            w, "hls_retries",
            own(w, xasprintf("%lld", (long long)(tries < 0 ? 1 : tries + 1))));
    } else if (c->hls_gave_up) {
        metrics_add(M_HLS_FAILURES, 1);
        job_log(LL_WARN, c->j,
                "msg=\"HLS failed again: given up\" retries=%lld "
                "error_type=\"%s\"",
                (long long)c->h->cf->hms_hls_retries,
                err != NULL ? err : "unknown");
    }
}

static void write_hook(struct ctx *c)
{
    const struct event *in = &c->j->in;
    enum hook_type type = hookev_type(in);
    struct hook_write w = {
        .del = xcalloc(json_object_size(c->hash) + 4, sizeof(char *))};
    int64_t at = hook_time_ms(in, type);
    enum cache_renew renew = CACHE_RENEW_KEEP; /* the tokens: renew.h */
    json_t *msg;
    char *text;

    c->hook_at = at;
    if (type == HOOK_SESSION_OPEN || type == HOOK_SESSION_CLOSE) {
        if (session_fields(c, &w, type == HOOK_SESSION_OPEN, at)) {
            renew = type == HOOK_SESSION_OPEN ? CACHE_RENEW_START
                                              : CACHE_RENEW_STOP;
        }
    } else if (type == HOOK_RECORDING || type == HOOK_BEAM_RECORDING) {
        recording_fields(c, &w, at);
    } else if (type == HOOK_HLS_STARTED || type == HOOK_HLS_STOPPED) {
        hls_fields(c, &w, type == HOOK_HLS_STARTED);
    } else if (type == HOOK_HLS_FAILURE) {
        hls_failure_fields(c, &w, at);
    } else if (!peer_fields(c, &w, type == HOOK_PEER_JOIN, at)) {
        metrics_add(M_HOOKS_UNTRACKED, 1);
    }
    msg = json_pack("{s:s, s:s, s:I, s:s?}", "type", hookev_type_name(in),
                    "webhook_id", in->event_id, "at", (json_int_t)at, "user_id",
                    hookev_str(in, "user_id"));
    text = json_dumps(msg, JSON_COMPACT);
    cache_put_hook(c->h->cache,
                   &(struct cache_hook){.kind = subj_kind(c),
                                        .subject_id = subj_id(c),
                                        .event_id = in->event_id,
                                        .message = text,
                                        .set = w.set,
                                        .n_set = w.n_set,
                                        .del = w.del,
                                        .n_del = w.n_del,
                                        .now_ms = hw_now_ms(),
                                        .hls_op = w.hls_op,
                                        .hls_url = w.hls_url,
                                        .hls_stream_id = w.hls_stream_id,
                                        .hls_at = at,
                                        .renew = renew},
                   on_redis, c);
    free(text);
    json_decref(msg);
    for (size_t i = 0; i < w.n_own; i++) {
        free(w.own[i]);
    }
    free(w.del);
}

static const struct session_map *session_row(enum hook_type hook);
static bool session_output(struct ctx *c, const struct session_map *m);

static void hook_written(struct ctx *c)
{
    const struct session_map *m = session_row(hookev_type(&c->j->in));

    job_log(LL_INFO, c->j, "msg=\"webhook applied\" type=%s subject=%s",
            hookev_type_name(&c->j->in), c->subject);
    if (m == NULL) { /* a bug: a type applied but missing from the table */
        job_log(LL_ERROR, c->j,
                "msg=\"no video-session type for this webhook type: applied "
                "without its event\" type=%s",
                hookev_type_name(&c->j->in));
        go(c, HS_MARK);
    } else if (!session_output(c, m)) {
        return;
    } else if (c->cleanup) { /* what a session-ended with lock would do,
                              * but end-room: the session is over */
        c->room_id =
            xstrdup(json_string_value(json_object_get(c->hash, "room_id")));
        c->lock = c->h->cf->cleanup == CLEANUP_LOCK;
        c->reason = "the session closed after the booking's window";
        metrics_add(M_CLEANUPS, 1);
        job_log(LL_INFO, c->j, "msg=\"cleaning up: %s\" lock=%d", c->reason,
                c->lock);
        go(c, c->lock ? HS_DISABLE_ROOM : HS_WRITE_ENDED);
    } else {
        done(c, JOB_OUTPUT); /* marked once it is delivered */
    }
}

/* ---- video-session: what a webhook told, as applied ------------------- */

/* What each webhook type the worker applies becomes: the record's type,
 * whether it names a user (and role), and the data fields its url,
 * duration_s and reason come from (NULL: null). */
static const struct session_map {
    enum hook_type hook;
    enum session_type type;
    bool user;
    const char *url, *duration, *reason;
} session_map[] = {
    {HOOK_SESSION_OPEN, VS_SESSION_STARTED, false, NULL, NULL, NULL},
    {HOOK_SESSION_CLOSE, VS_SESSION_ENDED, false, NULL, "session_duration",
     NULL},
    {HOOK_PEER_JOIN, VS_PEER_JOINED, true, NULL, NULL, NULL},
    {HOOK_PEER_LEAVE, VS_PEER_LEFT, true, NULL, "duration", "reason"},
    {HOOK_RECORDING, VS_RECORDING_READY, false, "recording_presigned_url",
     "duration", NULL},
    {HOOK_BEAM_RECORDING, VS_RECORDING_READY, false, "recording_presigned_url",
     "duration", NULL},
    {HOOK_HLS_STARTED, VS_HLS_STARTED, false, "url", NULL, NULL},
    {HOOK_HLS_STOPPED, VS_HLS_STOPPED, false, "url", "duration", "reason"},
    {HOOK_HLS_FAILURE, VS_HLS_FAILED, false, NULL, NULL, "error_type"},
};

static const struct session_map *session_row(enum hook_type hook)
{
    for (size_t i = 0; i < HW_ARRAY_LEN(session_map); i++) {
        if (session_map[i].hook == hook) {
            return &session_map[i];
        }
    }
    return NULL;
}

static char *dup_opt(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

/* Fills the video-session output of an applied webhook (row m): caused
 * by the webhook (its envelope id), about its room's subject, whether or
 * not the write changed anything (consumers de-duplicate on
 * causation_id). The user is the hash's {user} (peer_fields): data.user_id,
 * else data.peer_id. false when c ended (no event id could be drawn). */
static bool session_output(struct ctx *c, const struct session_map *m)
{
    const struct event *in = &c->j->in;
    struct event *out = &c->j->out;
    const char *user = hookev_str(in, "user_id");
    int64_t secs = m->duration != NULL ? hookev_count(in, m->duration) : -1;

    if (!output_base(c, out, EVENT_VIDEO_SESSION)) {
        return false;
    }
    if (user == NULL) {
        user = hookev_str(in, "peer_id");
    }
    out->room_id = dup_opt(hookev_str(in, "room_id"));
    out->session_id = dup_opt(hookev_str(in, "session_id"));
    out->session_type = m->type;
    out->at = c->hook_at;
    out->user_id = m->user ? dup_opt(user) : NULL;
    out->role = m->user ? dup_opt(hookev_str(in, "role")) : NULL;
    out->url = m->url != NULL ? dup_opt(hookev_url(in, m->url)) : NULL;
    out->duration_s = secs >= 0 ? secs : EVENT_NO_TIME;
    out->reason = m->reason != NULL ? dup_opt(hookev_str(in, m->reason)) : NULL;
    return true;
}

/* ---- markers ------------------------------------------------------------ */

static void skip(struct ctx *c)
{
    cache_mark(c->h->cache, c->j->in.event_id, on_redis, c);
}

static void skipped(struct ctx *c)
{
    job_log(LL_INFO, c->j, "msg=\"skipped\" reason=\"%s\"", c->j->err);
    done(c, JOB_SKIPPED);
}

static void mark(struct ctx *c)
{
    cache_mark(c->h->cache, c->j->in.event_id, on_redis, c);
}

static void marked(struct ctx *c)
{
    done(c, JOB_MARKED);
}
