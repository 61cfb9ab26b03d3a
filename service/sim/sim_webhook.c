/* sim_webhook.c -- webhook delivery of hms-sim (sim_webhook.h). The queue
 * is a doubly linked list of jobs in event order; pick() walks it once per
 * attempt and takes the first job that is due and first of its
 * destination (a job held back by the reorder fault, or in flight, still
 * blocks its destination). An attempt runs without wh->mu; a clear during
 * it leaves the job "orphaned", freed unrecorded when it returns. Past
 * events sit in a ring (hist) for replay, the attempts in another (log),
 * each entry owning its strings. wh->mu is taken after the API's mutex,
 * never before; the sender thread takes only wh->mu. */
#define LOGMOD "sim_webhook"
#include "sim_webhook.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define ID_MAX 64
#define ERR_MAX 160
#define LOG_PAGE_MAX 100000

/* An event as it goes out: what replay needs again. */
struct record {
    char id[ID_MAX];
    char *type, *room_id, *body, *url;
    char **hdrs;    /* "Name: value" lines */
    bool room_dest; /* url is the room's own webhook */
};

struct job {
    struct job *prev, *next;
    struct record rec;
    int failed;         /* attempts that failed so far */
    int64_t due_ms;     /* mono: when the next attempt may run */
    int64_t held_until; /* reorder fault: > 0 while held back */
    bool replay, duplicate;
};

struct entry {
    int64_t seq, ts_ms;
    int attempt, status;
    const char *result; /* static */
    bool replay, duplicate;
    char *id, *type, *room_id, *url, *error;
};

struct counts {
    long long made, delivered, failed, gave_up, lost, overflow, duplicated,
        reordered, replayed;
};

struct sim_webhook {
    const struct sim_conf *cf;
    struct sim_wh_io io;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started, stopping, kicked;
    struct sim_wh_conf conf; /* live; cf->webhook the start-up values */
    uint64_t rng;
    struct job *head, *tail;
    size_t queued;
    struct job *inflight;
    bool orphan; /* the job in flight was cleared away */
    struct record *hist;
    size_t hist_n; /* events recorded so far: the ring is hist_n % cap */
    struct entry *ring;
    size_t cap;
    int64_t seq; /* of the next log entry, from 1 */
    struct counts n;
    const char **seen; /* pick()'s destinations, reused */
    size_t seen_cap;
};

/* ---- records, jobs, dice ------------------------------------------- */

static void record_copy(struct record *dst, const struct record *src)
{
    memcpy(dst->id, src->id, sizeof(dst->id));
    dst->type = xstrdup(src->type);
    dst->room_id = xstrdup(src->room_id);
    dst->body = xstrdup(src->body);
    dst->url = xstrdup(src->url);
    dst->hdrs = sim_wh_lines_dup(src->hdrs);
    dst->room_dest = src->room_dest;
}

static void record_free(struct record *r)
{
    free(r->type);
    free(r->room_id);
    free(r->body);
    free(r->url);
    sim_wh_lines_free(r->hdrs);
    memset(r, 0, sizeof(*r));
}

static struct job *job_new(const struct record *rec, int64_t due_ms)
{
    struct job *j = xcalloc(1, sizeof(*j));

    record_copy(&j->rec, rec);
    j->due_ms = due_ms;
    return j;
}

static void job_free(struct job *j)
{
    if (j != NULL) {
        record_free(&j->rec);
        free(j);
    }
}

/* Links j before `before` (NULL: at the tail). */
static void link_before(struct sim_webhook *wh, struct job *j,
                        struct job *before)
{
    j->next = before;
    j->prev = before != NULL ? before->prev : wh->tail;
    if (j->prev != NULL) {
        j->prev->next = j;
    } else {
        wh->head = j;
    }
    if (before != NULL) {
        before->prev = j;
    } else {
        wh->tail = j;
    }
    wh->queued++;
}

static void unlink_job(struct sim_webhook *wh, struct job *j)
{
    if (j->prev != NULL) {
        j->prev->next = j->next;
    } else {
        wh->head = j->next;
    }
    if (j->next != NULL) {
        j->next->prev = j->prev;
    } else {
        wh->tail = j->prev;
    }
    j->prev = j->next = NULL;
    wh->queued--;
}

static void reseed(struct sim_webhook *wh)
{
    uint64_t seed = wh->conf.seed != 0 ? wh->conf.seed : wh->cf->seed;

    wh->rng = seed * 0x9e3779b97f4a7c15ULL + 1;
}

/* True with probability rate (splitmix64, seeded). */
static bool die(struct sim_webhook *wh, double rate)
{
    uint64_t z;

    if (rate <= 0) {
        return false;
    }
    z = (wh->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0) < rate;
}

/* ---- the attempt log ------------------------------------------------ */

static void entry_clear(struct entry *e)
{
    free(e->id);
    free(e->type);
    free(e->room_id);
    free(e->url);
    free(e->error);
    memset(e, 0, sizeof(*e));
}

static void log_add(struct sim_webhook *wh, const struct job *j,
                    const struct record *rec, int attempt, int status,
                    const char *result, const char *err)
{
    struct entry *e = &wh->ring[(size_t)wh->seq % wh->cap];

    entry_clear(e);
    e->seq = wh->seq++;
    e->ts_ms = wh->io.wall_ms(wh->io.ctx);
    e->attempt = attempt;
    e->status = status;
    e->result = result;
    e->replay = j != NULL && j->replay;
    e->duplicate = j != NULL && j->duplicate;
    e->id = xstrdup(rec->id);
    e->type = xstrdup(rec->type);
    e->room_id = xstrdup(rec->room_id);
    e->url = xstrdup(rec->url);
    e->error = err != NULL && err[0] != '\0' ? xstrdup(err) : NULL;
}

static json_t *entry_json(const struct entry *e)
{
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:b, "
                     "s:b, s:s?}",
                     "seq", (json_int_t)e->seq, "ts_ms", (json_int_t)e->ts_ms,
                     "id", e->id, "type", e->type, "room_id", e->room_id, "url",
                     e->url, "attempt", e->attempt, "status", e->status,
                     "result", e->result, "replay", e->replay, "duplicate",
                     e->duplicate, "error", e->error);
}

static json_t *counts_json(const struct counts *n)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "made",
                     (json_int_t)n->made, "delivered", (json_int_t)n->delivered,
                     "failed_attempts", (json_int_t)n->failed, "gave_up",
                     (json_int_t)n->gave_up, "lost", (json_int_t)n->lost,
                     "overflow", (json_int_t)n->overflow, "duplicated",
                     (json_int_t)n->duplicated, "reordered",
                     (json_int_t)n->reordered, "replayed",
                     (json_int_t)n->replayed);
}

json_t *sim_webhook_log_json(struct sim_webhook *wh, int64_t since,
                             int64_t limit)
{
    json_t *data = json_array(), *out;
    int64_t oldest, first, s;

    limit = limit < 1 ? 1 : limit > LOG_PAGE_MAX ? LOG_PAGE_MAX : limit;
    pthread_mutex_lock(&wh->mu);
    oldest = wh->seq - (int64_t)wh->cap;
    first = since + 1 > oldest ? since + 1 : oldest;
    for (s = first < 1 ? 1 : first; s < wh->seq && limit-- > 0; s++) {
        const struct entry *e = &wh->ring[(size_t)s % wh->cap];

        if (e->id != NULL) {
            json_array_append_new(data, entry_json(e));
        }
    }
    out = json_pack("{s:I, s:b, s:I, s:o, s:o}", "next", (json_int_t)(s - 1),
                    "truncated", since + 1 < oldest, "queued",
                    (json_int_t)wh->queued, "counts", counts_json(&wh->n),
                    "data", data);
    pthread_mutex_unlock(&wh->mu);
    return out;
}

/* ---- create, destroy, the thread ------------------------------------ */

struct sim_webhook *sim_webhook_create(const struct sim_conf *cf,
                                       const struct sim_wh_io *io)
{
    struct sim_webhook *wh = xcalloc(1, sizeof(*wh));
    pthread_condattr_t ca;

    wh->cf = cf;
    wh->io = *io;
    pthread_mutex_init(&wh->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wh->cv, &ca);
    pthread_condattr_destroy(&ca);
    sim_wh_conf_copy(&wh->conf, &cf->webhook);
    reseed(wh);
    wh->cap = cf->log_size > 0 ? (size_t)cf->log_size : 1000;
    wh->ring = xcalloc(wh->cap, sizeof(*wh->ring));
    wh->hist = xcalloc(SIM_WH_HISTORY_MAX, sizeof(*wh->hist));
    wh->seq = 1;
    return wh;
}

static void clear_state(struct sim_webhook *wh)
{
    struct job *j = wh->head, *next;

    for (; j != NULL; j = next) {
        next = j->next;
        unlink_job(wh, j);
        if (j == wh->inflight) {
            wh->orphan = true; /* its attempt frees it */
        } else {
            job_free(j);
        }
    }
    for (size_t i = 0; i < SIM_WH_HISTORY_MAX; i++) {
        record_free(&wh->hist[i]);
    }
    wh->hist_n = 0;
}

static void clear_log(struct sim_webhook *wh)
{
    for (size_t i = 0; i < wh->cap; i++) {
        entry_clear(&wh->ring[i]);
    }
    wh->seq = 1;
    memset(&wh->n, 0, sizeof(wh->n));
}

void sim_webhook_clear(struct sim_webhook *wh, bool state, bool log)
{
    pthread_mutex_lock(&wh->mu);
    if (state) {
        clear_state(wh);
    }
    if (log) {
        clear_log(wh);
    }
    pthread_mutex_unlock(&wh->mu);
}

void sim_webhook_destroy(struct sim_webhook *wh)
{
    if (wh == NULL) {
        return;
    }
    pthread_mutex_lock(&wh->mu);
    wh->stopping = true;
    pthread_cond_signal(&wh->cv);
    pthread_mutex_unlock(&wh->mu);
    if (wh->started) {
        pthread_join(wh->thread, NULL);
    }
    clear_state(wh);
    clear_log(wh);
    free(wh->hist);
    free(wh->ring);
    free(wh->seen);
    sim_wh_conf_deinit(&wh->conf);
    pthread_cond_destroy(&wh->cv);
    pthread_mutex_destroy(&wh->mu);
    free(wh);
}

/* Waits, wh->mu held, until mono time `until`, a kick or the stop. */
static void wait_until(struct sim_webhook *wh, int64_t until)
{
    int64_t wait = until - wh->io.mono_ms(wh->io.ctx);
    struct timespec ts;

    if (until == INT64_MAX) {
        pthread_cond_wait(&wh->cv, &wh->mu);
        return;
    }
    hw_mono_deadline(&ts, wait);
    pthread_cond_timedwait(&wh->cv, &wh->mu, &ts);
}

static void *sender_main(void *arg)
{
    struct sim_webhook *wh = arg;
    bool stop = false;

    while (!stop) {
        int64_t next = sim_webhook_pump(wh);

        pthread_mutex_lock(&wh->mu);
        if (!wh->stopping && !wh->kicked && next > wh->io.mono_ms(wh->io.ctx)) {
            wait_until(wh, next);
        }
        wh->kicked = false;
        stop = wh->stopping;
        pthread_mutex_unlock(&wh->mu);
    }
    return NULL;
}

enum hw_rc sim_webhook_start(struct sim_webhook *wh)
{
    if (pthread_create(&wh->thread, NULL, sender_main, wh) != 0) {
        return HW_ERR_FATAL;
    }
    wh->started = true;
    return HW_OK;
}

/* Wakes the sender, wh->mu held: a job was queued or released. */
static void kick(struct sim_webhook *wh)
{
    wh->kicked = true;
    pthread_cond_signal(&wh->cv);
}

/* ---- the queue -------------------------------------------------------- */

int64_t sim_webhook_retry_delay_ms(int failed)
{
    /* documented: retried three times, "at 1 second after the original
     * attempt", "3 seconds after the first retry", "10 seconds after the
     * second" (configure-webhooks/overview.mdx) */
    static const int64_t delays[] = {1000, 3000, 10000};

    return failed >= 1 && failed <= 3 ? delays[failed - 1] : -1;
}

/* The room's own webhook url, if usable (see sim_webhook.h). */
static const char *room_url(json_t *room_webhook)
{
    const char *url = json_string_value(json_object_get(room_webhook, "url"));

    return sim_wh_url_ok(url) ? url : NULL;
}

bool sim_webhook_wanted(struct sim_webhook *wh, json_t *room_webhook)
{
    bool wanted;

    pthread_mutex_lock(&wh->mu);
    wanted = room_url(room_webhook) != NULL || wh->conf.url != NULL;
    pthread_mutex_unlock(&wh->mu);
    return wanted;
}

/* The newest held job of room_id to url, or NULL. */
static struct job *held_of(struct sim_webhook *wh, const char *room_id,
                           const char *url)
{
    for (struct job *j = wh->tail; j != NULL; j = j->prev) {
        if (j->held_until > 0 && strcmp(j->rec.room_id, room_id) == 0 &&
            strcmp(j->rec.url, url) == 0) {
            return j;
        }
    }
    return NULL;
}

/* Keeps rec for replay, taking its strings (the ring forgets the
 * oldest); returns where it lives now. */
static const struct record *remember(struct sim_webhook *wh, struct record *rec)
{
    struct record *slot = &wh->hist[wh->hist_n++ % SIM_WH_HISTORY_MAX];

    record_free(slot);
    *slot = *rec;
    memset(rec, 0, sizeof(*rec));
    return slot;
}

/* Queues one new event with the faults' dice, wh->mu held. */
static void queue_event(struct sim_webhook *wh, const struct record *rec)
{
    int64_t now = wh->io.mono_ms(wh->io.ctx);
    struct job *j, *held;

    if (die(wh, wh->conf.drop_rate)) {
        wh->n.lost++;
        log_add(wh, NULL, rec, 0, 0, "lost", "drop_rate fault");
        return;
    }
    if (wh->queued >= SIM_WH_QUEUE_MAX) {
        wh->n.overflow++;
        log_add(wh, NULL, rec, 0, 0, "overflow", "queue full");
        return;
    }
    j = job_new(rec, now);
    held = held_of(wh, rec->room_id, rec->url);
    if (held != NULL) {
        link_before(wh, j, held); /* the swap: the held one goes next */
        held->held_until = 0;
        wh->n.reordered++;
    } else {
        link_before(wh, j, NULL);
        if (die(wh, wh->conf.reorder_rate)) {
            j->held_until = now + SIM_WH_HOLD_MS;
        }
    }
    if (die(wh, wh->conf.duplicate_rate) && wh->queued < SIM_WH_QUEUE_MAX) {
        struct job *dup = job_new(rec, now);

        dup->duplicate = true;
        link_before(wh, dup, j->next);
        wh->n.duplicated++;
    }
    kick(wh);
}

void sim_webhook_enqueue(struct sim_webhook *wh, const struct sim_wh_event *ev)
{
    const char *url;
    struct record rec = {0};

    pthread_mutex_lock(&wh->mu);
    url = room_url(ev->room_webhook);
    rec.room_dest = url != NULL;
    if (url == NULL) {
        url = wh->conf.url;
    }
    if (url != NULL) {
        snprintf(rec.id, sizeof(rec.id), "%s", ev->id);
        rec.type = xstrdup(ev->type);
        rec.room_id = xstrdup(ev->room_id);
        rec.body = xstrdup(ev->body);
        rec.url = xstrdup(url);
        rec.hdrs = sim_wh_header_lines(
            rec.room_dest ? json_object_get(ev->room_webhook, "headers")
                          : wh->conf.headers);
        wh->n.made++;
        queue_event(wh, remember(wh, &rec));
    }
    pthread_mutex_unlock(&wh->mu);
}

static bool seen_add(struct sim_webhook *wh, size_t *n, const char *url)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(wh->seen[i], url) == 0) {
            return false;
        }
    }
    if (*n == wh->seen_cap) {
        wh->seen_cap = wh->seen_cap == 0 ? 8 : wh->seen_cap * 2;
        wh->seen = xrealloc(wh->seen, wh->seen_cap * sizeof(*wh->seen));
    }
    wh->seen[(*n)++] = url;
    return true;
}

/* The first due job that is first of its destination, or NULL with *next
 * the mono time something is due (INT64_MAX: nothing). Releases holds
 * that ran out. wh->mu held. */
static struct job *pick(struct sim_webhook *wh, int64_t now, int64_t *next)
{
    size_t n_seen = 0;

    *next = INT64_MAX;
    for (struct job *j = wh->head; j != NULL; j = j->next) {
        if (!seen_add(wh, &n_seen, j->rec.url) || j == wh->inflight) {
            continue; /* an older job of its destination goes first */
        }
        if (j->held_until > now) {
            *next = j->held_until < *next ? j->held_until : *next;
            continue;
        }
        j->held_until = 0; /* no successor came: it goes where it was */
        if (j->due_ms <= now) {
            *next = now;
            return j;
        }
        *next = j->due_ms < *next ? j->due_ms : *next;
    }
    return NULL;
}

/* Books the attempt j made (status, 0 for none), wh->mu held. */
static void settle(struct sim_webhook *wh, struct job *j, int status,
                   const char *err)
{
    int64_t delay;

    j->failed += status != 200;
    if (status == 200) {
        /* documented: the endpoint answers 200 (overview.mdx) */
        wh->n.delivered++;
        log_add(wh, j, &j->rec, j->failed + 1, status, "delivered", NULL);
        unlink_job(wh, j);
        job_free(j);
        return;
    }
    delay = sim_webhook_retry_delay_ms(j->failed);
    if (delay < 0) {
        wh->n.gave_up++;
        log_add(wh, j, &j->rec, j->failed, status, "gave_up", err);
        log_warn("msg=\"webhook dropped after retries\" id=%s type=%s "
                 "attempts=%d status=%d",
                 j->rec.id, j->rec.type, j->failed, status);
        unlink_job(wh, j);
        job_free(j);
        return;
    }
    wh->n.failed++;
    log_add(wh, j, &j->rec, j->failed, status, "failed", err);
    /* from the end of the failed attempt: "after the original attempt" */
    j->due_ms = wh->io.mono_ms(wh->io.ctx) + delay;
}

int64_t sim_webhook_pump(struct sim_webhook *wh)
{
    char err[ERR_MAX] = "";
    struct job *j;
    int64_t next;
    int status;

    pthread_mutex_lock(&wh->mu);
    j = pick(wh, wh->io.mono_ms(wh->io.ctx), &next);
    if (j == NULL) {
        pthread_mutex_unlock(&wh->mu);
        return next;
    }
    wh->inflight = j;
    pthread_mutex_unlock(&wh->mu);
    /* j is ours while in flight: a clear only unlinks it */
    status = wh->io.post(wh->io.ctx, j->rec.url, j->rec.hdrs, j->rec.body,
                         strlen(j->rec.body), err, sizeof(err));
    pthread_mutex_lock(&wh->mu);
    wh->inflight = NULL;
    if (wh->orphan) {
        wh->orphan = false;
        job_free(j);
    } else {
        settle(wh, j, status, err);
    }
    pthread_mutex_unlock(&wh->mu);
    return wh->io.mono_ms(wh->io.ctx); /* go on at once */
}

/* ---- settings --------------------------------------------------------- */

json_t *sim_webhook_conf_json(struct sim_webhook *wh)
{
    json_t *j;

    pthread_mutex_lock(&wh->mu);
    j = sim_wh_conf_to_json(&wh->conf);
    pthread_mutex_unlock(&wh->mu);
    return j;
}

enum hw_rc sim_webhook_conf_update(struct sim_webhook *wh, const json_t *body,
                                   char *errstr, size_t errstr_size)
{
    enum hw_rc rc;

    pthread_mutex_lock(&wh->mu);
    rc = sim_wh_conf_update(&wh->conf, body, errstr, errstr_size);
    if (rc == HW_OK && json_object_get(body, "webhook_faults") != NULL) {
        reseed(wh);
    }
    pthread_mutex_unlock(&wh->mu);
    return rc;
}

void sim_webhook_conf_reset(struct sim_webhook *wh)
{
    pthread_mutex_lock(&wh->mu);
    sim_wh_conf_deinit(&wh->conf);
    sim_wh_conf_copy(&wh->conf, &wh->cf->webhook);
    reseed(wh);
    pthread_mutex_unlock(&wh->mu);
}

/* ---- replay ----------------------------------------------------------- */

/* The newest remembered event with id, or NULL. */
static const struct record *recalled(struct sim_webhook *wh, const char *id)
{
    size_t n =
        wh->hist_n < SIM_WH_HISTORY_MAX ? wh->hist_n : SIM_WH_HISTORY_MAX;

    for (size_t k = 1; k <= n; k++) {
        const struct record *r =
            &wh->hist[(wh->hist_n - k) % SIM_WH_HISTORY_MAX];

        if (strcmp(r->id, id) == 0) {
            return r;
        }
    }
    return NULL;
}

/* Queues rec again as a replay, the i-th of this request. */
static void replay_one(struct sim_webhook *wh, const struct record *rec,
                       size_t i)
{
    json_t *env = json_loads(rec->body, 0, NULL);
    struct record again = *rec;
    struct job *j;

    if (!json_is_object(env)) {
        json_decref(env); /* never: bodies are our envelopes */
        return;
    }
    json_object_set_new(env, "is_replay", json_true());
    again.body = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    if (!rec->room_dest && wh->conf.url != NULL) {
        /* documented: sent to "your configured webhook URL" */
        again.url = wh->conf.url;
        again.hdrs = sim_wh_header_lines(wh->conf.headers);
    }
    j = job_new(&again,
                wh->io.mono_ms(wh->io.ctx) + (int64_t)i * SIM_WH_REPLAY_GAP_MS);
    j->replay = true;
    link_before(wh, j, NULL);
    wh->n.replayed++;
    free(again.body);
    if (again.hdrs != rec->hdrs) {
        sim_wh_lines_free(again.hdrs);
    }
}

json_t *sim_webhook_replay(struct sim_webhook *wh, json_t *body, int *status)
{
    json_t *ids = json_object_get(body, "ids"), *missing, *v;
    const char *room_id = json_string_value(json_object_get(body, "room_id"));
    size_t i, n = 0;

    if ((ids == NULL) == (room_id == NULL) ||
        (ids != NULL && !json_is_array(ids))) {
        *status = 400;
        return json_pack("{s:i, s:s, s:[s]}", "code", 400, "message",
                         "Invalid body", "details",
                         "expected {\"ids\": [...]} or {\"room_id\": \"...\"}");
    }
    missing = json_array();
    pthread_mutex_lock(&wh->mu);
    json_array_foreach(ids, i, v)
    {
        const struct record *r =
            json_is_string(v) ? recalled(wh, json_string_value(v)) : NULL;

        if (r != NULL && wh->queued < SIM_WH_QUEUE_MAX) {
            replay_one(wh, r, n++);
        } else {
            json_array_append(missing, v);
        }
    }
    for (size_t k = wh->hist_n > SIM_WH_HISTORY_MAX
                        ? wh->hist_n - SIM_WH_HISTORY_MAX
                        : 0;
         room_id != NULL && k < wh->hist_n; k++) {
        const struct record *r = &wh->hist[k % SIM_WH_HISTORY_MAX];

        if (strcmp(r->room_id, room_id) == 0 && wh->queued < SIM_WH_QUEUE_MAX) {
            replay_one(wh, r, n++);
        }
    }
    kick(wh);
    pthread_mutex_unlock(&wh->mu);
    *status = 200;
    return json_pack("{s:I, s:o}", "replayed", (json_int_t)n, "missing",
                     missing);
}
