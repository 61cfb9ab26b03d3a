/* webhook.h -- the webhook listener on WEBHOOK_ADDR: 100ms's webhooks in,
 * each one stored in Kafka (TOPIC_WEBHOOKS) before it is answered 200.
 *
 * DESIGN
 * ------
 * 100ms POSTs a JSON envelope {version, id, app_id, account_id,
 * template_id, timestamp, type, data: {room_id, ...}} and sends it again
 * 3 times (after 1 s, 3 s, 10 s) until it gets a 200; it signs nothing:
 * static secret headers and an address allowlist are the documented
 * protection (docs/100ms-api.md sections 4 and 9). Each request ends in
 * one answer, counted in hms_worker_webhooks_total{outcome}:
 *   403 forbidden     the TCP peer is outside WEBHOOK_ALLOW_CIDRS (the
 *                     direct peer: X-Forwarded-For is never read)
 *   404 not_found     another path than WEBHOOK_PATH
 *   405 bad_method    another method than POST
 *   401 unauthorized  a header of WEBHOOK_SECRET_HEADERS missing or wrong
 *   413 too_large     Content-Length over WEBHOOK_MAX_BYTES: refused
 *                     before the body is read (a chunked body that grows
 *                     past it: the connection is closed, no answer)
 *   400 malformed     not a JSON object with a string id, a string type
 *                     and an object data with a string room_id (each
 *                     1-128 bytes), or a key given twice
 *   503 kafka_failed  Kafka refused the message (at once or in its
 *       kafka_timeout delivery report), or did not confirm it within
 *                     WEBHOOK_TIMEOUT_MS: 100ms sends it again
 *   200 stored        the delivery report says it is stored
 * Nothing is stored unless the answer is 200, and nothing is answered 200
 * unless it is stored. A webhook that Kafka stores after its 503 (the
 * confirmation came late) is logged: 100ms's retry makes a second copy,
 * which the consumer drops by the envelope id, as it drops 100ms's own
 * duplicates and replays.
 *
 * On Kafka: the body exactly as 100ms sent it, key data.room_id (all of a
 * room's webhooks in one partition, in the order they were received),
 * headers hms-webhook-id (envelope id), hms-webhook-type (envelope type)
 * and hms-received-at (decimal Unix epoch milliseconds). The producer is
 * idempotent (acks=all, no duplicates from its own retries).
 *
 * Threads: libmicrohttpd's one polling thread (epoll) reads requests,
 * checks them and produces; a connection whose message is out is
 * suspended, so it waits without a thread and without blocking the
 * others. The listener's own thread polls the producer: a delivery report
 * (or WEBHOOK_TIMEOUT_MS passing) settles the request and resumes its
 * connection, which answers. One mutex guards the requests waiting. The
 * producer is the listener's own rd_kafka_t, not the worker's: the
 * worker's reports are served by the consumer thread, which blocks on
 * the schema registry and on rebalances, and hand back jobs; a webhook's
 * 200 must depend on Kafka alone. So a worker whose consumer is halted
 * or paused, or whose Redis or 100ms is down, still receives. Bounds:
 * WEBHOOK_MAX_CONNECTIONS, WEBHOOK_MAX_PER_IP, 10 s idle timeout.
 *
 * Shutdown: once *stop is set (SIGTERM) the listener stops accepting
 * (the listening socket is shut down: new connections are refused),
 * answers with "Connection: close", and gives the requests waiting for a
 * report until their WEBHOOK_TIMEOUT_MS, at most SHUTDOWN_TIMEOUT_MS;
 * webhook_stop() then answers 503 to any left and frees everything.
 */
#ifndef WEBHOOK_H
#define WEBHOOK_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "hw.h"

#define WEBHOOK_FIELD_MAX 128

struct webhook;

/* Starts the listener and its producer. stop is the process's stop flag
 * (set by the SIGTERM handler), read by the listener's thread. NULL with
 * errstr (naming the variable) when it cannot: the address in use, TLS
 * files libmicrohttpd refuses, a setting librdkafka refuses. */
struct webhook *webhook_start(const struct conf *cf,
                              volatile sig_atomic_t *stop, char *errstr,
                              size_t errstr_size);
/* The bound port (useful with WEBHOOK_ADDR=:0). */
int webhook_port(const struct webhook *wh);
/* Drains as on SIGTERM (if that has not begun), answers 503 to what is
 * still waiting, stops the listener and frees wh. True when the
 * producer had a fatal error (the process should exit 1). NULL: false. */
bool webhook_stop(struct webhook *wh);

/* What the listener reads of a body. */
struct webhook_envelope {
    char id[WEBHOOK_FIELD_MAX + 1];
    char type[WEBHOOK_FIELD_MAX + 1];
    char room_id[WEBHOOK_FIELD_MAX + 1];
};

/* Checks that body is a JSON object with a string id, a string type and
 * an object data with a string room_id (each 1-WEBHOOK_FIELD_MAX bytes,
 * no key twice) and copies those three into *out. HW_ERR_INVALID with
 * err (which quotes nothing of the body) otherwise. Pure: no state. */
enum hw_rc webhook_envelope_parse(const char *body, size_t len,
                                  struct webhook_envelope *out, char *err,
                                  size_t err_size) HW_MUSTCHECK;

#endif
