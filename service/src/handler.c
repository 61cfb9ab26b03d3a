/* handler.c -- provisioning and ending, step by step. See handler.h. */
#define LOGMOD "handler"
#include "handler.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "heap.h"
#include "hms_reply.h"
#include "jwt.h"
#include "log.h"
#include "metrics.h"

#define DAY_S 86400
#define TOKEN_MAX_S (90 * DAY_S)
#define REDIS_RETRY_MS 1000
#define REDIS_REFUSALS 3  /* unknown error replies before it is the event's */
#define API_RETRY_MS 2000 /* while the breaker is open: a probe per job */
#define CODES_404_RETRIES 2
#define CODES_404_WAIT_MS 500

struct ctx;
typedef void step_fn(struct ctx *c);
typedef void reply_fn(struct ctx *c, const struct hms_result *r);

struct handler {
    const struct conf *cf;
    struct hms_client *hc;
    struct cache *cache;
    handler_finish_fn *finish;
    void *arg;
    struct heap parked; /* due -> struct ctx */
    struct ctx *all;    /* every context, for shutdown */
    size_t active;
    size_t api_waiting; /* jobs parked because the 100ms API is down */
    size_t halted;      /* jobs parked until a setting is fixed */
    char halt_why[384]; /* the latest reason, while halted > 0 */
    bool redis_down, probing;
};

struct ctx {
    struct handler *h;
    struct job *j;
    int64_t born, started, deadline, parked_at;
    bool api_wait; /* parked because the API is down */
    bool halted;   /* counted in h->halted until a retry gets through */
    int redis_refusals;
    int64_t refused_at; /* mono ms of the first refusal */
    step_fn *resume;
    step_fn *step; /* the step whose call is out: re-run if the API was down */
    reply_fn *on_reply;
    json_t *hash;  /* the subject's Redis hash before this event */
    json_t *codes; /* enabled codes from 100ms */
    char *room_id, *room_name, *hls_url;
    int codes_404, pending;
    step_fn *redis_then; /* runs when the Redis call is answered */
    enum hw_rc redis_rc;
    bool applied;             /* cache_load: the event's marker exists */
    struct hms_result failed; /* first failure among parallel calls */
    char failed_err[256];
    struct ctx *prev, *next; /* handler->all */
};

/* ---- life of a context ---------------------------------------------- */

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
    return h;
}

static void ctx_free(struct ctx *c)
{
    json_decref(c->hash);
    json_decref(c->codes);
    free(c->room_id);
    free(c->room_name);
    free(c->hls_url);
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
    free(h);
}

/* c got past whatever halted it (or ends): intake may resume once no
 * event is halted any more. */
static void unhalt(struct ctx *c)
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

static void done(struct ctx *c, enum job_outcome outcome)
{
    struct handler *h = c->h;
    struct job *j = c->j;

    unhalt(c);
    j->outcome = outcome;
    h->active--;
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

static void dlq(struct ctx *c, const char *cls, const char *fmt, ...)
    HW_PRINTF(3, 4);

static void dlq(struct ctx *c, const char *cls, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->j->err, sizeof(c->j->err), fmt, ap);
    va_end(ap);
    c->j->err_class = cls;
    job_log(LL_WARN, c->j, "msg=\"dead-lettering\" class=%s", cls);
    done(c, JOB_DLQ);
}

static void fatal(struct ctx *c, const char *what)
{
    snprintf(c->j->err, sizeof(c->j->err), "%s", what);
    job_log(LL_ERROR, c->j, "msg=\"fatal\" err=\"%s\"", what);
    done(c, JOB_FATAL);
}

/* Parks c until delay_ms from now, then runs step; the event's clocks
 * stop meanwhile (docs/contract.md section 7: no deadline while paused). */
static void park(struct ctx *c, step_fn *step, int64_t delay_ms)
{
    c->resume = step;
    c->parked_at = hw_mono_ms();
    heap_push(&c->h->parked, c->parked_at + delay_ms, c);
}

/* Nothing will work until someone changes a setting (credentials, a
 * permission, Redis Cluster): park the event with its offset unstored,
 * stop intake (handler_degraded), say why (handler_halted), and try the
 * step again every HALT_RETRY_MS, so that a fixed setting resumes the
 * worker without a restart (docs/contract.md section 7, "stop"). */
static void halt(struct ctx *c, step_fn *retry, const char *fmt, ...)
    HW_PRINTF(3, 4);

static void halt(struct ctx *c, step_fn *retry, const char *fmt, ...)
{
    struct handler *h = c->h;
    char why[sizeof(h->halt_why)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (retry == NULL) { /* a step that forgot to name itself: a bug */
        fatal(c, why);
        return;
    }
    if (h->halted == 0) { /* once per halt, not per event or retry */
        job_log(LL_ERROR, c->j,
                "msg=\"halted: intake stopped\" why=\"%s\" "
                "retry_ms=%lld",
                why, (long long)h->cf->halt_retry_ms);
    }
    snprintf(h->halt_why, sizeof(h->halt_why), "%s", why);
    if (!c->halted) {
        c->halted = true;
        h->halted++;
    }
    park(c, retry, h->cf->halt_retry_ms);
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
        c->resume(c);
    }
    return heap_next_due(&h->parked);
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

size_t handler_active(const struct handler *h)
{
    return h->active;
}

/* A Redis result (docs/contract.md section 7, Redis rows): true when it
 * succeeded; otherwise c is parked (to run retry later), halted,
 * dead-lettered or ended, and the caller returns. */
static bool redis_ok(struct ctx *c, enum hw_rc rc, step_fn *retry)
{
    struct handler *h = c->h;
    const char *err = cache_errstr(h->cache);

    switch (rc) {
    case HW_OK:
        h->redis_down = false;
        unhalt(c);
        return true;
    case HW_ERR_AUTH:
        halt(c, retry,
             "redis refuses the worker (%s): check the user and password "
             "of REDIS_URL and its ACL (the worker needs read, write and "
             "MULTI/EXEC on ~hms:*)",
             err);
        return false;
    case HW_ERR_CONFIG:
        halt(c, retry,
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
            park(c, retry, REDIS_RETRY_MS);
        } else if (cache_last_ok(h->cache) > c->refused_at) {
            dlq(c, "redis_rejected", "redis: %s", err);
        } else {
            halt(c, retry,
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
    park(c, retry, REDIS_RETRY_MS);
    return false;
}

/* Every Redis call answers here: c->redis_then runs with the result in
 * c->redis_rc (and, for cache_load, c->applied and c->hash). */
static void on_redis(void *arg, enum hw_rc rc, struct cache_reply *r)
{
    struct ctx *c = arg;

    c->redis_rc = rc;
    c->applied = r->exists;
    if (r->hash != NULL) {
        json_decref(c->hash);
        c->hash = r->hash;
        r->hash = NULL;
    }
    c->redis_then(c);
}

static void *then(struct ctx *c, step_fn *next)
{
    c->redis_then = next;
    return c;
}

/* ---- 100ms calls ---------------------------------------------------- */

static void on_reply(void *arg, const struct hms_result *r)
{
    struct ctx *c = arg;

    if (r->rc != HW_ERR_AUTH) {
        unhalt(c); /* 100ms took the token: whatever halted c is gone */
    }
    c->on_reply(c, r);
}

/* A 403 that says the room is disabled: the room's state, not a missing
 * permission (hms_client turns every other 403 into HW_ERR_AUTH). */
static bool room_disabled(const struct hms_result *r)
{
    return r->status == 403 && hms_reply_says_disabled(r->body);
}

static void call(struct ctx *c, const char *method, json_t *body,
                 reply_fn *next, const char *fmt, ...) HW_PRINTF(5, 6);

static void call(struct ctx *c, const char *method, json_t *body,
                 reply_fn *next, const char *fmt, ...)
{
    char *path;
    va_list ap;

    va_start(ap, fmt);
    path = xvasprintf(fmt, ap);
    va_end(ap);
    c->on_reply = next;
    hms_client_call(c->h->hc, method, path, body, c->started, c->deadline,
                    on_reply, c);
    json_decref(body);
    free(path);
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

/* A call failed for good: halt on refused credentials; if the whole API
 * is down (the breaker is open), not this event's fault: park it and
 * re-run the step with a fresh deadline later; else dead-letter. */
static void call_failed(struct ctx *c, const char *what,
                        const struct hms_result *r)
{
    c->j->attempts = r->attempts;
    if (hw_rc_is_retriable(r->rc) && c->step != NULL &&
        hms_client_last_answer(c->h->hc) < c->born) {
        job_log(LL_INFO, c->j, "msg=\"100ms API not answering, event waits\"");
        c->started = hw_mono_ms(); /* park() shifts both by the wait */
        c->deadline = c->started + c->h->cf->event_deadline_ms;
        c->api_wait = true;
        c->h->api_waiting++;
        park(c, c->step, API_RETRY_MS);
        probe_api(c->h);
    } else if (r->rc == HW_ERR_AUTH && r->status == 403) {
        halt(c, c->step,
             "100ms refuses to %s (%s): the management token lacks the "
             "permission: check that HMS_ACCESS_KEY and the app secret "
             "belong to the workspace of HMS_TEMPLATE_ID and may manage "
             "rooms",
             what, r->err);
    } else if (r->rc == HW_ERR_AUTH) {
        halt(c, c->step,
             "100ms rejects the management token to %s (%s): HMS_ACCESS_KEY "
             "or the app secret is wrong, or this host's clock is off",
             what, r->err);
    } else if (r->rc == HW_ERR_FATAL) {
        fatal(c, r->err);
    } else if (hw_rc_is_retriable(r->rc)) {
        dlq(c, r->deadline ? "deadline" : "hms_retries",
            "%s: %s after %d "
            "attempts",
            what, r->err, r->attempts);
    } else {
        const char *msg =
            json_string_value(json_object_get(r->body, "message"));

        dlq(c, "hms_rejected", "%s: HTTP %ld %s", what, r->status,
            msg != NULL ? msg : r->err);
    }
}

/* ---- names, times, tokens ------------------------------------------- */

char *handler_room_name(enum subject_kind kind, const char *id)
{
    /* 100ms names are case-insensitive (docs/100ms-api.md section 2.1):
     * "B1" and "b1" would share a room, so only lower case stays as it is;
     * and "x-" starts the hashed names, so an id that does is hashed too */
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz0123456789._:-";
    const char *prefix = kind == SUBJECT_STREAM ? "ls" : "bk";
    size_t len = strlen(id);
    unsigned char md[SHA256_DIGEST_LENGTH];
    char hex[33];

    if (len >= 1 && len <= 64 && strspn(id, ok) == len &&
        strncmp(id, "x-", 2) != 0) {
        return xasprintf("%s-%s", prefix, id);
    }
    SHA256((const unsigned char *)id, len, md);
    for (int i = 0; i < 16; i++) {
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
    return xasprintf("%s-x-%s", prefix, hex);
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* docs/contract.md section 5: a booking's tokens must work when it happens. */
static int64_t token_exp(const struct conf *cf, const struct event *ev,
                         const char *role, int64_t now_s)
{
    int64_t ttl = conf_app_token_ttl(cf, role), exp = now_s + ttl;

    /* times are validated (event.h), and saturate anyway */
    if (ev->kind == EVENT_BOOKING_CREATED && ev->ends_at != EVENT_NO_TIME) {
        exp = max64(now_s + ttl,
                    hw_sat_add(ev->ends_at / 1000, cf->hms_token_grace_s));
    } else if (ev->kind == EVENT_BOOKING_CREATED) {
        exp = hw_sat_add(max64(now_s, ev->starts_at / 1000), ttl);
    }
    return exp < now_s + TOKEN_MAX_S ? exp : now_s + TOKEN_MAX_S;
}

/* docs/contract.md section 4: when the subject's hash expires (seconds). */
static int64_t hash_expiry(const struct conf *cf, const struct event *ev,
                           int64_t now_s)
{
    if (ev->kind == EVENT_BOOKING_CREATED && ev->ends_at != EVENT_NO_TIME) {
        return max64(hw_sat_add(ev->ends_at / 1000, cf->cache_grace_s),
                     now_s + 3600);
    }
    return now_s + cf->cache_default_ttl_s;
}

/* ---- shared steps --------------------------------------------------- */

/* Its partition went to another worker: write nothing more. */
static bool abandoned(struct ctx *c)
{
    if (!job_stale(c->j)) {
        return false;
    }
    job_log(LL_INFO, c->j, "msg=\"abandoned: partition revoked\"");
    done(c, JOB_ABANDONED);
    return true;
}

static void skip_marked(struct ctx *c);

/* Nothing to apply (PHYSICAL, ended subject, disabled room): mark it. */
static void skip(struct ctx *c)
{
    if (!abandoned(c)) {
        cache_mark(c->h->cache, c->j->in.event_id, on_redis,
                   then(c, skip_marked));
    }
}

static void skip_marked(struct ctx *c)
{
    if (redis_ok(c, c->redis_rc, skip)) {
        job_log(LL_INFO, c->j, "msg=\"skipped\" reason=\"%s\"", c->j->err);
        done(c, JOB_SKIPPED);
    }
}

static void skip_because(struct ctx *c, const char *why)
{
    snprintf(c->j->err, sizeof(c->j->err), "%s", why);
    skip(c);
}

/* The fields every output has; false (c ended) when no event id could be
 * drawn: an output without one would break its consumers' de-duplication. */
static bool output_base(struct ctx *c, enum event_kind kind)
{
    struct event *out = &c->j->out;
    const struct event *in = &c->j->in;
    char id[JWT_UUID_LEN + 1];

    if (jwt_uuid4(id) != HW_OK) {
        fatal(c, "no random bytes for an event id (RAND_bytes failed)");
        return false;
    }
    out->kind = kind;
    out->event_id = xstrdup(id);
    out->causation_id = xstrdup(in->event_id);
    out->occurred_at = hw_now_ms();
    out->subject_kind = event_subject_kind(in);
    out->subject_id = xstrdup(event_subject_id(in));
    return true;
}

/* ---- booking-created and stream-started ------------------------------ */

static void step_codes(struct ctx *c);
static void step_write_ready(struct ctx *c);
static void ready_written(struct ctx *c);

static void on_room(struct ctx *c, const struct hms_result *r)
{
    const char *id = hms_reply_room_id(r->body);

    if (room_disabled(r)) { /* undocumented on create: the safe reading */
        skip_because(c, "room is disabled (ended)");
    } else if (r->rc != HW_OK) {
        call_failed(c, "create room", r);
    } else if (id == NULL) {
        dlq(c, "hms_rejected", "create room: reply without a valid id");
    } else {
        c->room_id = xstrdup(id);
        step_codes(c);
    }
}

static void step_create_room(struct ctx *c)
{
    const struct event *in = &c->j->in;
    const char *tpl =
        in->template_id != NULL ? in->template_id : c->h->cf->hms_template_id;
    char *desc = in->kind == EVENT_STREAM_STARTED
                     ? xasprintf("Stream %s%s%s", in->stream_id,
                                 in->title != NULL ? ": " : "",
                                 in->title != NULL ? in->title : "")
                     : xasprintf("Booking %s", in->booking_id);

    c->step = step_create_room;
    /* Upsert by name: a repeat with the same payload is harmless. */
    call(c, "POST",
         json_pack("{s:s, s:s, s:s}", "name", c->room_name, "description", desc,
                   "template_id", tpl),
         on_room, "/rooms");
    free(desc);
}

/* contract section 2: every role must be a role of the room's template. */
static const char *bad_role(const struct ctx *c)
{
    const struct event *in = &c->j->in;

    if (in->kind == EVENT_STREAM_STARTED) {
        return hms_reply_has_role(c->codes, in->host_role) ? NULL
                                                           : in->host_role;
    }
    for (size_t i = 0; i < in->n_participants; i++) {
        if (!hms_reply_has_role(c->codes, in->participants[i].role)) {
            return in->participants[i].role;
        }
    }
    return NULL;
}

static void on_hls(struct ctx *c, const struct hms_result *r)
{
    const char *url = hms_reply_hls_url(r->body);

    if (r->rc == HW_OK && url != NULL) {
        c->hls_url = xstrdup(url);
    } else if (r->rc == HW_ERR_AUTH || r->rc == HW_ERR_FATAL) {
        call_failed(c, "start HLS", r);
        return;
    } else {
        /* contract section 3: video-ready still goes out, without hls_url,
         * with a warning and a metric */
        metrics_add(M_HLS_FAILURES, 1);
        job_log(LL_WARN, c->j,
                "msg=\"HLS start failed, continuing without\" "
                "http=%ld err=\"%s\"",
                r->status, r->err);
    }
    step_write_ready(c);
}

static void step_hls(struct ctx *c)
{
    const struct conf *cf = c->h->cf;
    json_t *body = json_object();

    c->step = step_hls;
    if (cf->hms_subdomain != NULL) {
        json_object_set_new(
            body, "meeting_url",
            json_sprintf("https://%s.app.100ms.live/preview/%s/%s"
                         "?skip_preview=true",
                         cf->hms_subdomain, c->room_id,
                         cf->hms_hls_composer_role));
    }
    call(c, "POST", body, on_hls, "/live-streams/room/%s/start", c->room_id);
}

static void on_codes(struct ctx *c, const struct hms_result *r)
{
    const char *role;

    if (r->rc == HW_ERR_NOT_FOUND && c->codes_404 < CODES_404_RETRIES) {
        c->codes_404++; /* 100ms documents a short initialisation delay */
        park(c, step_codes, CODES_404_WAIT_MS);
        return;
    }
    if (room_disabled(r)) {
        skip_because(c, "room is disabled (ended)");
        return;
    }
    if (r->rc != HW_OK) {
        call_failed(c, "create room codes", r);
        return;
    }
    c->codes = hms_reply_enabled_codes(r->body);
    role = bad_role(c);
    if (role != NULL) {
        dlq(c, "validation", "role is not a role of the room's template");
        return;
    }
    if (c->j->in.kind == EVENT_STREAM_STARTED && c->j->in.hls) {
        step_hls(c);
    } else {
        step_write_ready(c);
    }
}

static void step_codes(struct ctx *c)
{
    c->step = step_codes;
    /* All-roles create returns the existing codes on repeat. */
    call(c, "POST", NULL, on_codes, "/room-codes/room/%s", c->room_id);
}

/* The participants that get a token: everyone, or a stream's host. */
static size_t holders(const struct event *in, struct participant *host,
                      const struct participant **list)
{
    if (in->kind == EVENT_STREAM_STARTED) {
        *host = (struct participant){in->host_user_id, in->host_display_name,
                                     in->host_role};
        *list = host;
        return 1;
    }
    *list = in->participants;
    return in->n_participants;
}

/* Users holding a token in the old hash but absent now: their tokens go. */
static size_t stale_users(const struct ctx *c, const struct participant *ps,
                          size_t n, const char ***out)
{
    const char *key;
    json_t *v;
    size_t count = 0;

    *out = xcalloc(json_object_size(c->hash) + 1, sizeof(char *));
    if (strcmp(json_string_value(json_object_get(c->hash, "room_id")) != NULL
                   ? json_string_value(json_object_get(c->hash, "room_id"))
                   : "",
               c->room_id) != 0) {
        return 0;
    }
    json_object_foreach(c->hash, key, v)
    {
        bool listed = false;

        if (strncmp(key, "role:", 5) != 0) {
            continue;
        }
        for (size_t i = 0; i < n && !listed; i++) {
            listed = strcmp(ps[i].user_id, key + 5) == 0;
        }
        if (!listed) {
            (*out)[count++] = key + 5;
        }
    }
    return count;
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

static void step_write_ready(struct ctx *c)
{
    if (abandoned(c)) {
        return;
    }
    const struct conf *cf = c->h->cf;
    const struct event *in = &c->j->in;
    struct event *out = &c->j->out;
    struct participant host;
    const struct participant *ps;
    size_t n = holders(in, &host, &ps);
    struct cache_token *toks = xcalloc(n + 1, sizeof(*toks));
    const char **stale = NULL;
    int64_t now_ms = hw_now_ms(), now_s = now_ms / 1000;
    enum hw_rc rc = HW_OK;

    event_clear(out);
    if (!output_base(c, EVENT_VIDEO_READY)) {
        free(toks);
        return;
    }
    fill_codes(c, out);
    for (size_t i = 0; i < n && rc == HW_OK; i++) {
        char *jwt = NULL;

        toks[i] = (struct cache_token){ps[i].user_id, ps[i].role, NULL,
                                       token_exp(cf, in, ps[i].role, now_s)};
        rc =
            jwt_mint_app(&cf->hms_app_secret, cf->hms_access_key, c->room_id,
                         ps[i].user_id, ps[i].role, now_s, toks[i].exp_s, &jwt);
        toks[i].jwt = jwt;
    }
    if (rc == HW_OK) {
        struct cache_ready r = {event_subject_kind(in),
                                event_subject_id(in),
                                c->room_id,
                                c->room_name,
                                in->event_id,
                                c->hls_url,
                                out->codes,
                                out->n_codes,
                                toks,
                                n,
                                NULL,
                                0,
                                now_ms,
                                hash_expiry(cf, in, now_s)};

        r.n_stale = stale_users(c, ps, n, &stale);
        r.stale_users = stale;
        out->expires_at = hw_sat_mul(r.expire_at_s, 1000);
        cache_put_ready(c->h->cache, &r, on_redis, then(c, ready_written));
    }
    for (size_t i = 0; i < n; i++) {
        jwt_token_free((char *)(uintptr_t)toks[i].jwt);
    }
    free(toks);
    free(stale);
    if (rc != HW_OK) {
        fatal(c, "cannot mint app tokens");
    }
}

static void ready_written(struct ctx *c)
{
    struct event *out = &c->j->out;
    struct participant host;
    const struct participant *ps;

    if (redis_ok(c, c->redis_rc, step_write_ready)) {
        out->room_id = xstrdup(c->room_id);
        out->room_name = xstrdup(c->room_name);
        out->cache_key = cache_key_subject(out->subject_kind, out->subject_id);
        out->hls_url = c->hls_url != NULL ? xstrdup(c->hls_url) : NULL;
        job_log(LL_INFO, c->j,
                "msg=\"room ready\" room_id=%s codes=%zu tokens=%zu",
                c->room_id, out->n_codes, holders(&c->j->in, &host, &ps));
        done(c, JOB_OUTPUT);
    }
}

/* ---- session-ended --------------------------------------------------- */

static void step_end_room(struct ctx *c);
static void ended_written(struct ctx *c);

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

static void step_write_ended(struct ctx *c)
{
    if (abandoned(c)) {
        return;
    }
    const struct conf *cf = c->h->cf;
    const struct event *in = &c->j->in;
    size_t cap = json_object_size(c->hash) + 1;
    const char **users = xcalloc(cap, sizeof(char *));
    const char **fields = xcalloc(cap, sizeof(char *));
    struct cache_ended e = {in->subject_kind,
                            in->subject_id,
                            c->room_id,
                            in->event_id,
                            in->lock,
                            c->hash == NULL,
                            users,
                            0,
                            fields,
                            0,
                            hw_now_ms(),
                            c->hash == NULL ? cf->cache_default_ttl_s
                                            : cf->cache_grace_s};

    if (in->lock) {
        e.n_users = fields_with(c->hash, "role:", true, users, 0);
        e.n_fields = fields_with(c->hash, "code:", false, fields, 0);
        e.n_fields = fields_with(c->hash, "link:", false, fields, e.n_fields);
        e.n_fields = fields_with(c->hash, "role:", false, fields, e.n_fields);
    }
    cache_put_ended(c->h->cache, &e, on_redis, then(c, ended_written));
    free(users);
    free(fields);
}

static void ended_written(struct ctx *c)
{
    const struct event *in = &c->j->in;

    if (redis_ok(c, c->redis_rc, step_write_ended)) {
        event_clear(&c->j->out);
        if (!output_base(c, EVENT_VIDEO_ENDED)) {
            return;
        }
        c->j->out.room_id = c->room_id != NULL ? xstrdup(c->room_id) : NULL;
        c->j->out.reason = in->reason != NULL ? xstrdup(in->reason) : NULL;
        job_log(LL_INFO, c->j, "msg=\"ended\" room_id=%s lock=%d tombstone=%d",
                c->room_id != NULL ? c->room_id : "-", in->lock,
                c->hash == NULL);
        done(c, JOB_OUTPUT);
    }
}

static void on_disabled(struct ctx *c, const struct hms_result *r)
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
        call_failed(c, "disable room code", &c->failed);
    } else {
        step_write_ended(c);
    }
}

/* Disables every code of the hash at once; 404 counts as done. */
static void step_disable_codes(struct ctx *c)
{
    const char *key;
    json_t *v;

    c->step = step_disable_codes;
    c->pending = 1; /* held until every call is issued */
    c->failed.rc = HW_OK;
    json_object_foreach(c->hash, key, v)
    {
        if (strncmp(key, "code:", 5) == 0 && json_is_string(v)) {
            c->pending++;
            call(c, "POST",
                 json_pack("{s:s, s:b}", "code", json_string_value(v),
                           "enabled", 0),
                 on_disabled, "/room-codes/code");
        }
    }
    on_disabled(c, &(struct hms_result){HW_OK, 200, NULL, "", 0, false});
}

static void on_ended(struct ctx *c, const struct hms_result *r)
{
    /* 404 "no active session" and a disabled room count as success
     * (docs/contract.md section 3) */
    if (r->rc != HW_OK && r->rc != HW_ERR_NOT_FOUND && !room_disabled(r)) {
        call_failed(c, "end room", r);
    } else if (c->j->in.lock) {
        step_disable_codes(c);
    } else {
        step_write_ended(c);
    }
}

static void step_end_room(struct ctx *c)
{
    const struct event *in = &c->j->in;

    c->step = step_end_room;
    call(c, "POST",
         json_pack("{s:s, s:b}", "reason",
                   in->reason != NULL ? in->reason : "session ended", "lock",
                   in->lock),
         on_ended, "/active-rooms/%s/end-room", c->room_id);
}

static void on_hls_stopped(struct ctx *c, const struct hms_result *r)
{
    if (r->rc == HW_ERR_AUTH || r->rc == HW_ERR_FATAL) {
        call_failed(c, "stop HLS", r);
        return;
    }
    if (r->rc != HW_OK && r->rc != HW_ERR_NOT_FOUND) {
        job_log(LL_WARN, c->j,
                "msg=\"HLS stop failed, ending anyway\" http=%ld "
                "err=\"%s\"",
                r->status, r->err);
    }
    step_end_room(c);
}

static void step_stop_hls(struct ctx *c)
{
    c->step = step_stop_hls;
    call(c, "POST", NULL, on_hls_stopped, "/live-streams/room/%s/stop",
         c->room_id);
}

static void step_ended_begin(struct ctx *c)
{
    const char *room;

    if (c->hash == NULL) {
        step_write_ended(c); /* never provisioned: a tombstone */
        return;
    }
    room = json_string_value(json_object_get(c->hash, "room_id"));
    if (room == NULL) {
        step_write_ended(c); /* a tombstone already: refresh it */
        return;
    }
    c->room_id = xstrdup(room);
    if (json_object_get(c->hash, "hls_url") != NULL) {
        step_stop_hls(c);
    } else {
        step_end_room(c);
    }
}

/* ---- entry ---------------------------------------------------------- */

static void loaded(struct ctx *c);

static void step_begin(struct ctx *c)
{
    const struct event *in = &c->j->in;

    if (!abandoned(c)) {
        cache_load(c->h->cache, in->event_id, event_subject_kind(in),
                   event_subject_id(in), on_redis, then(c, loaded));
    }
}

/* The marker and the subject's hash are in (one round trip). */
static void loaded(struct ctx *c)
{
    const struct event *in = &c->j->in;
    const char *status;

    if (!redis_ok(c, c->redis_rc, step_begin)) {
        return;
    }
    if (c->applied) {
        job_log(LL_INFO, c->j, "msg=\"duplicate, already applied\"");
        done(c, JOB_DUPLICATE);
        return;
    }
    if (in->kind == EVENT_BOOKING_CREATED && in->physical) {
        skip_because(c, "PHYSICAL booking");
        return;
    }
    if (in->kind == EVENT_SESSION_ENDED) {
        step_ended_begin(c);
        return;
    }
    status = json_string_value(json_object_get(c->hash, "status"));
    if (status != NULL && strcmp(status, "ended") == 0) {
        skip_because(c, "the subject has ended");
        return;
    }
    c->room_name =
        handler_room_name(event_subject_kind(in), event_subject_id(in));
    step_create_room(c);
}

static void marked(struct ctx *c);

static void step_mark(struct ctx *c)
{
    if (!abandoned(c)) {
        cache_mark(c->h->cache, c->j->in.event_id, on_redis, then(c, marked));
    }
}

static void marked(struct ctx *c)
{
    if (redis_ok(c, c->redis_rc, step_mark)) {
        done(c, JOB_MARKED);
    }
}

void handler_submit(struct handler *h, struct job *j)
{
    struct ctx *c = xcalloc(1, sizeof(*c));

    c->h = h;
    c->j = j;
    c->born = c->started = hw_mono_ms();
    c->deadline = c->started + h->cf->event_deadline_ms;
    c->next = h->all;
    if (h->all != NULL) {
        h->all->prev = c;
    }
    h->all = c;
    h->active++;
    if (j->req == JOB_MARK) {
        step_mark(c);
    } else {
        step_begin(c);
    }
}
