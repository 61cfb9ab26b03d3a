/* registry.c -- the schema registry client: one curl easy handle, reset
 * for each request and run with curl_easy_perform() on the consumer
 * thread; registry_http() is the one place that speaks HTTP. Answers are
 * cached in two flat arrays (by id; by subject and schema) for the life of
 * the process; failures are not, so while the registry is down every retry
 * blocks the thread for up to REGISTRY_TIMEOUT_MS. */
#define LOGMOD "registry"
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "log.h"

#define REGISTRY_MAX_BODY (1024 * 1024)

struct by_id {
    uint32_t id;
    char *schema;
};

struct by_subject {
    char *subject, *schema;
    uint32_t id;
};

struct registry {
    char *base;             /* no credentials */
    char *user;             /* NULL: no Basic auth */
    struct secret password; /* with user */
    CURL *easy;
    struct by_id *ids;
    size_t n_ids;
    struct by_subject *subjects;
    size_t n_subjects;
};

struct registry *registry_create(const struct conf *cf)
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
    r->easy = curl_easy_init();
    if (r->easy == NULL) {
        log_error("msg=\"out of memory\" at=curl_easy_init");
        abort(); /* as xmalloc does */
    }
    return r;
}

void registry_destroy(struct registry *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n_ids; i++) {
        free(r->ids[i].schema);
    }
    for (size_t i = 0; i < r->n_subjects; i++) {
        free(r->subjects[i].subject);
        free(r->subjects[i].schema);
    }
    free(r->ids);
    free(r->subjects);
    curl_easy_cleanup(r->easy); /* frees (cannot cleanse) curl's copy */
    free(r->base);
    free(r->user);
    secret_wipe(&r->password);
    free(r);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    return buf_append_max(arg, p, size * n, REGISTRY_MAX_BODY) ? size * n : 0;
}

/* One call; *body is the parsed JSON reply (any status) or NULL. */
static enum hw_rc registry_http(struct registry *r, const char *path,
                                const char *post, json_t **body, char *err,
                                size_t n)
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
    curl_easy_reset(r->easy);
    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)REGISTRY_TIMEOUT_MS);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, &b);
    if (r->user != NULL) {
        curl_easy_setopt(r->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(r->easy, CURLOPT_USERNAME, r->user);
        curl_easy_setopt(r->easy, CURLOPT_PASSWORD,
                         secret_reveal(&r->password, NULL));
    }
    if (post != NULL) {
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, post);
    }
    cc = curl_easy_perform(r->easy);
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
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

enum hw_rc registry_schema(struct registry *r, uint32_t id, const char **json,
                           char *errstr, size_t errstr_size)
{
    char path[64];
    json_t *body = NULL;
    const char *s;
    enum hw_rc rc;

    for (size_t i = 0; i < r->n_ids; i++) {
        if (r->ids[i].id == id) {
            *json = r->ids[i].schema;
            return HW_OK;
        }
    }
    snprintf(path, sizeof(path), "/schemas/ids/%u", id);
    rc = registry_http(r, path, NULL, &body, errstr, errstr_size);
    s = json_string_value(json_object_get(body, "schema"));
    if (rc == HW_OK && s == NULL) {
        snprintf(errstr, errstr_size, "schema registry: id %u: no schema", id);
        rc = HW_ERR_NOT_FOUND;
    }
    if (rc == HW_OK) {
        r->ids = xrealloc(r->ids, (r->n_ids + 1) * sizeof(*r->ids));
        r->ids[r->n_ids] = (struct by_id){id, xstrdup(s)};
        *json = r->ids[r->n_ids++].schema;
        log_info("msg=\"writer schema fetched\" schema_id=%u", id);
    }
    json_decref(body);
    return rc;
}

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
    rc = registry_http(r, path, post, &body, errstr, errstr_size);
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
