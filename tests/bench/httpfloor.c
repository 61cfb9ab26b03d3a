/* httpfloor.c -- bench-httpfloor: what the two 100ms calls of a booking
 * cost in libcurl alone.
 *
 * DESIGN
 * ------
 * make bench compares hms-worker with bench-floor (Kafka alone); this is
 * the other half of a booking's unavoidable work: for each booking, the
 * two POSTs hms-worker makes (a room, its room codes), on a libcurl multi
 * handle with hms_client.c's options (keep-alive connections, TLS
 * verification, buffer sizes, headers) and a management token minted
 * once. Room codes are asked for one room, made at start.
 * No Kafka, no Redis, no JSON parsing, no retries: a reply is checked for
 * 200 and dropped. Usage:
 *
 *   bench-httpfloor BOOKINGS CONCURRENCY
 *
 * with HMS_API_BASE, HMS_ACCESS_KEY, HMS_APP_SECRET(_FILE) and
 * HMS_API_CA_FILE as for the worker. The first 4 x CONCURRENCY requests
 * warm the connections up and are not counted; then one line of JSON on
 * stdout: {"bookings":N,"concurrency":C,"cpu_s":S} (the process's CPU,
 * user + system, all threads). Exit 1 on any failed request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "hw.h"
#include "jwt.h"
#include "secret.h"

#define MAX_CONCURRENCY 1024

struct slot {
    CURL *easy;
    char url[512];
    char body[64];
};

struct floor {
    CURLM *multi;
    struct curl_slist *hdrs;
    const char *base, *ca_file;
    char room_id[64];
    struct slot slots[MAX_CONCURRENCY];
    long started;
};

static size_t drop(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

static size_t keep(char *data, size_t size, size_t n, void *arg)
{
    buf_append(arg, data, size * n);
    return size * n;
}

static double cpu_s(void)
{
    struct rusage u;

    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* The options hms_client.c sets on every transfer. */
static void prepare(struct floor *f, CURL *e, const char *url, const char *body)
{
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->hdrs);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, drop);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (f->ca_file != NULL) {
        curl_easy_setopt(e, CURLOPT_CAINFO, f->ca_file);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    }
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L);
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
}

/* The room whose codes every booking asks for. */
static bool make_room(struct floor *f)
{
    CURL *e = curl_easy_init();
    struct buf b = {0};
    char url[512];
    json_t *j = NULL;
    long status = 0;
    bool ok = false;

    if (e == NULL) {
        return false;
    }
    snprintf(url, sizeof(url), "%s/rooms", f->base);
    prepare(f, e, url, "{\"name\":\"hf-codes\"}");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    if (curl_easy_perform(e) == CURLE_OK &&
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
        status == 200 && (j = json_loadb(b.p, b.len, 0, NULL)) != NULL &&
        json_is_string(json_object_get(j, "id"))) {
        snprintf(f->room_id, sizeof(f->room_id), "%s",
                 json_string_value(json_object_get(j, "id")));
        ok = true;
    }
    json_decref(j);
    buf_deinit(&b);
    curl_easy_cleanup(e);
    return ok;
}

/* Request i: even ones create room "hf-<k>" (names repeat every 1,000, so
 * hms-sim's table stays small: creates are idempotent by name), odd ones
 * ask for room codes, as a booking does. */
static void start(struct floor *f, struct slot *s)
{
    long i = f->started++;

    if (i % 2 == 0) {
        snprintf(s->url, sizeof(s->url), "%s/rooms", f->base);
        snprintf(s->body, sizeof(s->body), "{\"name\":\"hf-%ld\"}",
                 (i / 2) % 1000);
    } else {
        snprintf(s->url, sizeof(s->url), "%s/room-codes/room/%s", f->base,
                 f->room_id);
        s->body[0] = '\0';
    }
    prepare(f, s->easy, s->url, s->body);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    curl_multi_add_handle(f->multi, s->easy);
}

/* Runs until `until` requests have finished; false on a failed one. */
static bool run(struct floor *f, long *done, long until, long total)
{
    while (*done < until) {
        CURLMsg *m;
        int running, q;

        curl_multi_perform(f->multi, &running);
        while ((m = curl_multi_info_read(f->multi, &q)) != NULL) {
            struct slot *s;
            long status = 0;

            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            if (m->data.result != CURLE_OK || status != 200) {
                fprintf(stderr, "bench-httpfloor: %s: %s, HTTP %ld\n", s->url,
                        curl_easy_strerror(m->data.result), status);
                return false;
            }
            curl_multi_remove_handle(f->multi, s->easy);
            (*done)++;
            if (f->started < total) {
                start(f, s);
            }
        }
        curl_multi_poll(f->multi, NULL, 0, 100, NULL);
    }
    return true;
}

/* A whole decimal argument in [1, max], else 0. */
static long arg_long(const char *text, long max)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(text, &end, 10);
    return errno == 0 && end != text && *end == '\0' && v >= 1 && v <= max
               ? (long)v
               : 0;
}

int main(int argc, char **argv)
{
    struct floor f = {0};
    struct secret key = {NULL, 0};
    char errstr[256], *token = NULL, *auth;
    long bookings, conc, warm, done = 0;
    double t0;
    int ret = 1;

    if (argc != 3 || (bookings = arg_long(argv[1], 10000000)) == 0 ||
        (conc = arg_long(argv[2], MAX_CONCURRENCY)) == 0 ||
        (f.base = getenv("HMS_API_BASE")) == NULL ||
        getenv("HMS_ACCESS_KEY") == NULL) {
        fprintf(stderr, "usage: bench-httpfloor BOOKINGS CONCURRENCY "
                        "(1-1024), with HMS_API_BASE and HMS_ACCESS_KEY\n");
        return 2;
    }
    f.ca_file = getenv("HMS_API_CA_FILE");
    if (secret_load_env(&key, "HMS_APP_SECRET", "HMS_APP_SECRET_FILE", errstr,
                        sizeof(errstr)) != HW_OK ||
        jwt_mint_mgmt(&key, getenv("HMS_ACCESS_KEY"), (int64_t)time(NULL), 3600,
                      &token, NULL) != HW_OK) {
        fprintf(stderr, "bench-httpfloor: no management token: %s\n", errstr);
        goto out;
    }
    auth = xasprintf("Authorization: Bearer %s", token);
    f.hdrs = curl_slist_append(NULL, auth);
    free(auth);
    f.hdrs = curl_slist_append(f.hdrs, "Content-Type: application/json");
    f.hdrs = curl_slist_append(f.hdrs, "Accept: application/json");
    f.hdrs = curl_slist_append(f.hdrs, "Expect:");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    f.multi = curl_multi_init();
    if (f.multi == NULL || !make_room(&f)) {
        fprintf(stderr, "bench-httpfloor: cannot create the codes' room\n");
        goto out;
    }
    curl_multi_setopt(f.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conc);
    warm = 4 * conc;
    for (long i = 0; i < conc; i++) {
        f.slots[i].easy = curl_easy_init();
        start(&f, &f.slots[i]);
    }
    if (!run(&f, &done, warm, warm + 2 * bookings)) {
        goto out;
    }
    t0 = cpu_s();
    if (!run(&f, &done, warm + 2 * bookings, warm + 2 * bookings)) {
        goto out;
    }
    printf("{\"bookings\":%ld,\"concurrency\":%ld,\"cpu_s\":%.4f}\n", bookings,
           conc, cpu_s() - t0);
    ret = 0;
out:
    for (long i = 0; i < MAX_CONCURRENCY && f.slots[i].easy != NULL; i++) {
        curl_multi_remove_handle(f.multi, f.slots[i].easy);
        curl_easy_cleanup(f.slots[i].easy);
    }
    curl_multi_cleanup(f.multi);
    curl_slist_free_all(f.hdrs);
    jwt_token_free(token);
    secret_wipe(&key);
    curl_global_cleanup();
    return ret;
}
