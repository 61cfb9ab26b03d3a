/* sim_whcurl.c -- libcurl transport of hms-sim's webhooks
 * (sim_whcurl.h). The header list is built per request: the Content-Type
 * documented for the JSON body, an empty "Expect:" (so a body over 1 KiB
 * is not held back waiting for a 100-continue the receiver may never
 * send), then the configured headers as they are. curl's error buffer is
 * copied out at once (the next transfer clears it). */
#define LOGMOD "sim_whcurl"
#include "sim_whcurl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "hw.h"
#include "sim_webhook.h"

struct sim_whcurl {
    CURL *h;
    char errbuf[CURL_ERROR_SIZE];
};

struct sim_whcurl *sim_whcurl_create(void)
{
    struct sim_whcurl *c = xcalloc(1, sizeof(*c));

    c->h = curl_easy_init();
    if (c->h == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

void sim_whcurl_destroy(struct sim_whcurl *c)
{
    if (c != NULL) {
        curl_easy_cleanup(c->h);
        free(c);
    }
}

/* The reply body is not needed: only the status counts. */
static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

int sim_whcurl_post(void *ctx, const char *url, char *const *headers,
                    const char *body, size_t len, char *err, size_t err_size)
{
    struct sim_whcurl *c = ctx;
    struct curl_slist *hl = NULL, *next;
    long status = 0;
    CURLcode cc;

    hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = hl != NULL ? curl_slist_append(hl, "Expect:") : NULL;
    for (size_t i = 0; hl != NULL && headers != NULL && headers[i] != NULL;
         i++) {
        next = curl_slist_append(hl, headers[i]);
        if (next == NULL) {
            break;
        }
        hl = next;
    }
    curl_easy_reset(c->h); /* keeps the connection cache */
    c->errbuf[0] = '\0';
    curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)SIM_WH_TIMEOUT_MS);
    curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, (long)SIM_WH_TIMEOUT_MS);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, discard);
    cc = hl != NULL ? curl_easy_perform(c->h) : CURLE_OUT_OF_MEMORY;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    } else {
        snprintf(err, err_size, "%s%s%s", curl_easy_strerror(cc),
                 c->errbuf[0] != '\0' ? ": " : "", c->errbuf);
    }
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    return (int)status;
}
