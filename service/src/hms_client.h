/* hms_client.h -- the 100ms REST API v2 client (libcurl multi).
 *
 * DESIGN
 * ------
 * One thread owns a struct hms_client and calls hms_client_run() in its
 * loop; every other function is for that thread too. Calls are asynchronous:
 * hms_client_call() queues a request and its callback runs later, inside
 * hms_client_run(), exactly once. Up to HMS_MAX_IN_FLIGHT transfers run at
 * once over one multi handle (reused easy handles; at most
 * HMS_MAX_CONNECTIONS keep-alive connections, for a TLS connection holds
 * about 50 KiB: transfers beyond wait inside curl for one); more wait in
 * a FIFO. Each call is retried here per
 * docs/contract.md section 7: connection errors, timeouts, 408, 429 and 5xx,
 * with full-jitter backoff (retry.h), Retry-After honoured (or a 429's
 * "retry after N seconds", the form 100ms documents), at most
 * HMS_RETRY_MAX retries and never past the call's deadline (libcurl itself
 * re-sends, once, a request whose reused keep-alive connection turned out
 * dead before any reply: that is not counted as a retry). A 401, or a 403
 * that does not say the room is disabled, re-mints the management token
 * and replays once. Replies are capped at 1 MiB and parsed with jansson.
 * The management token is minted locally and re-minted when less than
 * max(300 s, 10 %) of its life is left (at most half of it, for short
 * TTLs). TLS: the certificate and host name are always verified, against
 * HMS_API_CA_FILE's CAs when set, else the system's store. Logs carry
 * method, path and status: never headers, bodies or tokens.
 */
#ifndef HMS_CLIENT_H
#define HMS_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "conf.h"
#include "hw.h"

#define HMS_MAX_BODY (1024 * 1024)

struct hms_result {
    enum hw_rc rc;   /* HW_OK for 2xx; see hms_client_call() */
    long status;     /* last HTTP status, 0 when none arrived */
    json_t *body;    /* parsed reply (object), or NULL; borrowed */
    const char *err; /* short reason when rc != HW_OK */
    int attempts;
    bool deadline; /* gave up because the deadline would pass */
};

typedef void hms_done_fn(void *arg, const struct hms_result *res);

/* NULL on failure, with errstr. Borrows cf for its lifetime. */
struct hms_client *hms_client_create(const struct conf *cf, char *errstr,
                                     size_t errstr_size);
void hms_client_destroy(struct hms_client *hc);

/* Queues method (GET or POST) on base + path with an optional JSON body
 * (copied). The deadline is absolute (hw_mono_ms()) and bounds retries;
 * started_mono is when the event's clock started (retry budget).
 * Result codes: HW_OK (2xx), HW_ERR_NOT_FOUND (404), HW_ERR_INVALID (other
 * 4xx, status tells which; a 403 only when its message says the room is
 * disabled), HW_ERR_AUTH (401, or any other 403, still there after one
 * re-mint and replay; err carries the message), HW_ERR_UNAVAILABLE/TIMEOUT
 * (retriable failures that outlived retries or deadline), HW_ERR_DECODE
 * (a reply that is not JSON or too large), HW_ERR_FATAL (no management
 * token could be minted or no curl handle made: nothing can be sent). */
void hms_client_call(struct hms_client *hc, const char *method,
                     const char *path, const json_t *body, int64_t started_mono,
                     int64_t deadline_mono, hms_done_fn *done, void *arg);

/* Runs transfers for at most timeout_ms (less when a retry is due),
 * waking early on activity of the extra descriptors. */
void hms_client_run(struct hms_client *hc, int timeout_ms,
                    struct curl_waitfd *extra, unsigned n_extra);

/* The circuit breaker's inputs (docs/contract.md section 7). An "answer" is
 * any reply but a retriable failure (no reply, 408, 429, 5xx).
 * hms_client_last_answer(): when the API last answered (hw_mono_ms(), 0
 * never); an event that found no answer at all since it began is not
 * failing on its own: the API is down. hms_client_tripped(): the last
 * HMS_BREAKER_STREAK attempts, across all calls, all failed. */
#define HMS_BREAKER_STREAK 20
int64_t hms_client_last_answer(const struct hms_client *hc);

/* How many seconds this host's clock is ahead of 100ms's (negative:
 * behind), from the Date header of the latest reply; 0 before any. */
#define HMS_SKEW_WARN_S 30
int64_t hms_client_clock_ahead_s(const struct hms_client *hc);
bool hms_client_tripped(const struct hms_client *hc);

/* Calls queued, in flight or waiting for a retry. */
size_t hms_client_pending(const struct hms_client *hc);

/* Counters for metrics and tests. */
struct hms_client_stats {
    uint64_t requests, retries, remints, failures;
};
void hms_client_stats(const struct hms_client *hc, struct hms_client_stats *s);

#endif
