/* registry.c -- the schema registry client. registry_http() is the one
 * place that speaks HTTP, on an easy handle of its caller's thread: the
 * fetch thread's for writer schemas, the consumer thread's (reset for
 * each request, curl_easy_perform()) for registrations.
 *
 * Writer schemas: one struct lookup per id ever asked for, in `ids`
 * under `mu`, each in one state: WANTED (queued) -> FETCHING (the
 * thread's, the lock released meanwhile) -> KNOWN (kept for life) or
 * FAILED (kept until `until`, then WANTED again when asked). The thread
 * takes a WANTED one, fetches it, settles it, counts it in
 * `done` and rings the bell. FAILED entries are capped at
 * REGISTRY_MAX_FAILED: ids come from input, so a flood of unknown ids
 * must not grow memory; the one closest to expiry goes first.
 * Registrations are cached in a flat array (by subject and schema) for
 * the life of the process; failures are not, so while the registry is
 * down every retry blocks the consumer for up to REGISTRY_TIMEOUT_MS. */
#define LOGMOD "registry"
#include "registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "log.h"

#define REGISTRY_MAX_BODY (1024 * 1024)
#define REGISTRY_MAX_FAILED 1024

enum lookup_state { L_WANTED, L_FETCHING, L_KNOWN, L_FAILED };

struct lookup {
    uint32_t id;
    enum lookup_state state;
    char *schema;  /* KNOWN */
    enum hw_rc rc; /* FAILED: NOT_FOUND, UNAVAILABLE or AUTH */
    int64_t until; /* FAILED: hw_mono_ms() from which it is fetched again */
    char err[256]; /* FAILED: why */
};

struct by_subject {
    char *subject, *schema;
    uint32_t id;
};

struct registry {
    char *base;             /* no credentials */
    char *user;             /* NULL: no Basic auth */
    struct secret password; /* with user */
    int64_t auth_retry_ms;  /* HALT_RETRY_MS */
    CURL *easy;             /* the consumer thread's: registrations */
    CURL *fetch_easy;       /* the fetch thread's */
    int bell;               /* the consumer's: a fetch ended */
    pthread_t thread;
    bool started;
    pthread_mutex_t mu; /* stopping, ids */
    pthread_cond_t wake;
    bool stopping;
    struct lookup **ids;
    size_t n_ids;
    atomic_uint done; /* fetches ended */
    bool down;        /* the fetch thread's: the last fetch found it down */
    struct by_subject *subjects; /* the consumer thread's */
    size_t n_subjects;
};

static void *fetch_main(void *arg);

struct registry *registry_create(const struct conf *cf, int bell, char *errstr,
                                 size_t errstr_size)
{
    const struct conf_registry *cr = &cf->registry;
    struct registry *r = xcalloc(1, sizeof(*r));
    size_t len;
    const char *pw;

    r->base = xstrdup(cr->base);
    if (cr->user != NULL) {
        r->user = xstrdup(cr->user);
        pw = secret_reveal(&cr->password, &len);
        secret_set(&r->password, pw != NULL ? pw : "", len);
    }
    r->auth_retry_ms = cf->halt_retry_ms;
    r->bell = bell;
    atomic_init(&r->done, 0);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->wake, NULL);
    r->easy = curl_easy_init();
    r->fetch_easy = curl_easy_init();
    if (r->easy == NULL || r->fetch_easy == NULL) {
        log_error("msg=\"out of memory\" at=curl_easy_init");
        abort(); /* as xmalloc does */
    }
    if (pthread_create(&r->thread, NULL, fetch_main, r) != 0) {
        snprintf(errstr, errstr_size, "cannot start the registry thread");
        goto err;
    }
    r->started = true;
    return r;
err:
    registry_destroy(r);
    return NULL;
}

void registry_destroy(struct registry *r)
{
    if (r == NULL) {
        return;
    }
    if (r->started) {
        pthread_mutex_lock(&r->mu);
        r->stopping = true;
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
    }
    for (size_t i = 0; i < r->n_ids; i++) {
        free(r->ids[i]->schema);
        free(r->ids[i]);
    }
    for (size_t i = 0; i < r->n_subjects; i++) {
        free(r->subjects[i].subject);
        free(r->subjects[i].schema);
    }
    free(r->ids);
    free(r->subjects);
    curl_easy_cleanup(r->easy); /* frees (cannot cleanse) curl's copy */
    curl_easy_cleanup(r->fetch_easy);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->mu);
    free(r->base);
    free(r->user);
    secret_wipe(&r->password);
    free(r);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    return buf_append_max(arg, p, size * n, REGISTRY_MAX_BODY) ? size * n : 0;
}

/* One call on easy; *body is the parsed JSON reply (any status) or NULL.
 * Reads only what never changes after create, so either thread may call. */
static enum hw_rc registry_http(struct registry *r, CURL *easy,
                                const char *path, const char *post,
                                json_t **body, char *err, size_t n)
{
    char *url = xasprintf("%s%s", r->base, path);
    struct curl_slist *h =
        curl_slist_append(NULL, "Content-Type: "
                                "application/"
                                "vnd.schemaregistry.v1+json");
    struct buf b = {0};
    long status = 0;
    char msg[201];
    CURLcode cc;

    h = curl_slist_append(h, "Accept: application/vnd.schemaregistry.v1+json, "
                             "application/json");
    curl_easy_reset(easy);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)REGISTRY_TIMEOUT_MS);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &b);
    if (r->user != NULL) {
        curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(easy, CURLOPT_USERNAME, r->user);
        curl_easy_setopt(easy, CURLOPT_PASSWORD,
                         secret_reveal(&r->password, NULL));
    }
    if (post != NULL) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, post);
    }
    cc = curl_easy_perform(easy);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    free(url);
    *body = b.len > 0 ? json_loadb(b.p, b.len, 0, NULL) : NULL;
    buf_deinit(&b);
    if (cc != CURLE_OK) {
        snprintf(err, n, "schema registry unreachable: %s",
                 curl_easy_strerror(cc));
        return HW_ERR_UNAVAILABLE;
    }
    if (status == 200) {
        return HW_OK;
    }
    /* the registry's words go into logs and dead letters: no quote or
     * newline of theirs may end a field or forge a line */
    snprintf(err, n, "schema registry: HTTP %ld %s", status,
             log_text(msg, sizeof(msg),
                      json_string_value(json_object_get(*body, "message"))));
    return status == 404                    ? HW_ERR_NOT_FOUND
           : status == 429 || status >= 500 ? HW_ERR_UNAVAILABLE
           : status == 401 || status == 403 ? HW_ERR_AUTH
                                            : HW_ERR_INVALID;
}

/* ---- writer schemas: the fetch thread --------------------------------- */

/* GET /schemas/ids/{id} on the fetch thread's handle; *schema malloc'd. */
static enum hw_rc fetch(struct registry *r, uint32_t id, char **schema,
                        char *err, size_t n)
{
    char path[64];
    json_t *body = NULL;
    const char *s;
    enum hw_rc rc;

    snprintf(path, sizeof(path), "/schemas/ids/%u", id);
    rc = registry_http(r, r->fetch_easy, path, NULL, &body, err, n);
    s = json_string_value(json_object_get(body, "schema"));
    if (rc == HW_OK && s == NULL) {
        snprintf(err, n, "schema registry: id %u: no schema", id);
        rc = HW_ERR_NOT_FOUND;
    }
    if (rc == HW_OK) {
        *schema = xstrdup(s);
    } else if (rc == HW_ERR_INVALID) {
        rc = HW_ERR_UNAVAILABLE; /* a GET it cannot answer: try later */
    }
    json_decref(body);
    return rc;
}

/* The outage in the log once: when it starts and when it ends. */
static void note_outcome(struct registry *r, uint32_t id, enum hw_rc rc,
                         const char *err)
{
    if (rc == HW_ERR_UNAVAILABLE && !r->down) {
        log_warn("msg=\"schema registry down, holding input that needs it\" "
                 "schema_id=%u err=\"%s\"",
                 id, err);
    } else if (rc != HW_ERR_UNAVAILABLE && r->down) {
        log_info("msg=\"schema registry back\" schema_id=%u", id);
    }
    r->down = rc == HW_ERR_UNAVAILABLE;
    if (rc == HW_OK) {
        log_info("msg=\"writer schema fetched\" schema_id=%u", id);
    }
}

/* Under mu: room for one more FAILED entry when REGISTRY_MAX_FAILED are
 * kept, by forgetting the one that would be asked again soonest. */
static void evict_failed(struct registry *r)
{
    size_t victim = r->n_ids, failed = 0;

    for (size_t i = 0; i < r->n_ids; i++) {
        if (r->ids[i]->state == L_FAILED) {
            failed++;
            if (victim == r->n_ids ||
                r->ids[i]->until < r->ids[victim]->until) {
                victim = i;
            }
        }
    }
    if (failed < REGISTRY_MAX_FAILED) {
        return;
    }
    free(r->ids[victim]);
    r->ids[victim] = r->ids[--r->n_ids];
}

/* Under mu: the fetch of l ended with rc (schema: HW_OK's, taken). */
static void settle(struct registry *r, struct lookup *l, enum hw_rc rc,
                   char *schema, const char *err)
{
    int64_t ms = rc == HW_ERR_NOT_FOUND ? REGISTRY_MISSING_MS
                 : rc == HW_ERR_AUTH    ? r->auth_retry_ms
                                        : REGISTRY_RETRY_MS;

    if (rc == HW_OK) {
        l->state = L_KNOWN;
        l->schema = schema;
        return;
    }
    evict_failed(r);
    l->state = L_FAILED;
    l->rc = rc;
    l->until = hw_mono_ms() + ms;
    snprintf(l->err, sizeof(l->err), "%s", err);
}

/* Under mu: a WANTED lookup (the first in ids), or NULL. */
static struct lookup *next_wanted(const struct registry *r)
{
    for (size_t i = 0; i < r->n_ids; i++) {
        if (r->ids[i]->state == L_WANTED) {
            return r->ids[i];
        }
    }
    return NULL;
}

static void *fetch_main(void *arg)
{
    struct registry *r = arg;

    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        struct lookup *l = next_wanted(r);
        char err[256] = "", *schema = NULL;
        uint32_t id;
        enum hw_rc rc;

        if (l == NULL) {
            pthread_cond_wait(&r->wake, &r->mu);
            continue;
        }
        l->state = L_FETCHING; /* never evicted meanwhile: not FAILED */
        id = l->id;
        pthread_mutex_unlock(&r->mu);
        rc = fetch(r, id, &schema, err, sizeof(err));
        note_outcome(r, id, rc, err);
        pthread_mutex_lock(&r->mu);
        settle(r, l, rc, schema, err);
        atomic_fetch_add(&r->done, 1);
        hw_bell_ring(r->bell);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- writer schemas: the consumer's side ------------------------------ */

/* Under mu: the lookup of id, WANTED (and the fetch thread woken) if it
 * is new or its failure's time is up. */
static struct lookup *lookup_of(struct registry *r, uint32_t id)
{
    struct lookup *l = NULL;

    for (size_t i = 0; i < r->n_ids && l == NULL; i++) {
        if (r->ids[i]->id == id) {
            l = r->ids[i];
        }
    }
    if (l == NULL) {
        l = xcalloc(1, sizeof(*l));
        l->id = id;
        r->ids = xrealloc(r->ids, (r->n_ids + 1) * sizeof(*r->ids));
        r->ids[r->n_ids++] = l;
    } else if (l->state != L_FAILED || hw_mono_ms() < l->until) {
        return l;
    }
    l->state = L_WANTED; /* new, or its time is up: ask again */
    pthread_cond_signal(&r->wake);
    return l;
}

enum hw_rc registry_schema(struct registry *r, uint32_t id, const char **json,
                           char *errstr, size_t errstr_size)
{
    struct lookup *l;
    enum hw_rc rc = HW_ERR_UNAVAILABLE;

    pthread_mutex_lock(&r->mu);
    l = lookup_of(r, id);
    switch (l->state) {
    case L_KNOWN:
        *json = l->schema; /* never freed before destroy */
        rc = HW_OK;
        break;
    case L_FAILED:
        snprintf(errstr, errstr_size, "%s", l->err);
        rc = l->rc;
        break;
    case L_WANTED:
    case L_FETCHING:
        snprintf(errstr, errstr_size,
                 "schema id %u: being fetched from the schema registry", id);
        break;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

unsigned registry_fetches_done(struct registry *r)
{
    return atomic_load(&r->done);
}

/* ---- output schemas: the consumer thread ------------------------------ */

enum hw_rc registry_register(struct registry *r, const char *subject,
                             const char *schema_json, uint32_t *id,
                             char *errstr, size_t errstr_size)
{
    char *path, *post;
    json_t *body = NULL, *req;
    json_int_t got;
    enum hw_rc rc;

    for (size_t i = 0; i < r->n_subjects; i++) {
        if (strcmp(r->subjects[i].subject, subject) == 0 &&
            strcmp(r->subjects[i].schema, schema_json) == 0) {
            *id = r->subjects[i].id;
            return HW_OK;
        }
    }
    req = json_pack("{s:s}", "schema", schema_json);
    post = json_dumps(req, JSON_COMPACT);
    path = xasprintf("/subjects/%s/versions", subject);
    rc = registry_http(r, r->easy, path, post, &body, errstr, errstr_size);
    got = json_integer_value(json_object_get(body, "id"));
    if (rc == HW_OK && (got <= 0 || got > UINT32_MAX)) {
        snprintf(errstr, errstr_size, "schema registry: no id for %s", subject);
        rc = HW_ERR_INVALID;
    }
    if (rc == HW_OK) {
        r->subjects =
            xrealloc(r->subjects, (r->n_subjects + 1) * sizeof(*r->subjects));
        r->subjects[r->n_subjects++] = (struct by_subject){
            xstrdup(subject), xstrdup(schema_json), (uint32_t)got};
        *id = (uint32_t)got;
        log_info("msg=\"output schema registered\" subject=%s schema_id=%u",
                 subject, *id);
    }
    free(path);
    free(post);
    json_decref(req);
    json_decref(body);
    return rc;
}
