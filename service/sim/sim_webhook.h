/* sim_webhook.h -- hms-sim's webhook delivery, as 100ms documents it.
 *
 * DESIGN
 * ------
 * The API (sim_events.c) hands each event over with
 * sim_webhook_enqueue(), from under its own mutex; this module owns the
 * rest behind wh->mu, always taken after the API's, never before:
 *
 * - Destination: the room's webhook {url, headers} when it has one with a
 *   usable url, else the workspace webhook (struct sim_wh_conf, set by
 *   flags or POST /__sim/config); neither: the event is not made at all
 *   (documented: a room's webhook replaces the workspace's, Rooms
 *   create-via-api; docs/100ms-api.md 2.1).
 * - Delivery (documented, configure-webhooks/overview.mdx): a POST with
 *   Content-Type: application/json and the configured headers, passed
 *   through unchanged (secure-webhooks.mdx); only a 200 delivers. Any
 *   other status, no answer or a timeout (5 s, the simulator's choice:
 *   none is documented) is retried 3 times, 1 s, 3 s and 10 s after the
 *   failed attempt ends, then the event is dropped and counted.
 * - Order: one queue in event order; per destination one event at a time,
 *   the oldest first, so an event waiting for its retry holds back the
 *   later ones of its destination (100ms documents no ordering either way:
 *   neither a guarantee nor its absence). One sender thread serves every
 *   destination; a transfer blocks it, so an endpoint that hangs delays
 *   the others by up to the 5 s timeout.
 * - Bounds: at most SIM_WH_QUEUE_MAX events queued (more are dropped and
 *   counted), SIM_WH_HISTORY_MAX kept for replay, a ring of log_size
 *   attempts for GET /__sim/webhooks.
 * - Faults (test tools, seeded): drop (lost before any attempt),
 *   duplicate (queued twice, same id), reorder (held back until the
 *   room's next event to the same destination is queued, which goes
 *   first; released in place after SIM_WH_HOLD_MS if none comes).
 * - Replay (documented: the replay API re-sends past events with
 *   is_replay: true, 10 per second, analytics/replay-webhook-events.mdx):
 *   sim_webhook_replay() queues copies with "is_replay": true in the
 *   envelope (where the flag sits is inferred), spaced 100 ms, to the
 *   workspace webhook now configured (a room's own webhook as it was).
 *
 * I/O comes in through struct sim_wh_io (the transport and the clocks),
 * so unit tests drive sim_webhook_pump() with a fake transport and clock:
 * no thread, no network, no sleeping. Every public function is
 * thread-safe.
 */
#ifndef SIM_WEBHOOK_H
#define SIM_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hw.h"
#include "sim_conf.h"

#define SIM_WH_QUEUE_MAX 100000
#define SIM_WH_HISTORY_MAX 10000
#define SIM_WH_HOLD_MS 1000
#define SIM_WH_TIMEOUT_MS 5000
#define SIM_WH_REPLAY_GAP_MS 100

/* POSTs body to url with Content-Type: application/json and headers
 * ("Name: value" lines, NULL-terminated). Returns the HTTP status, or 0
 * when none came (refused, reset, timeout), with why in err. */
typedef int sim_wh_post_fn(void *ctx, const char *url, char *const *headers,
                           const char *body, size_t len, char *err,
                           size_t err_size);

struct sim_wh_io {
    sim_wh_post_fn *post;
    int64_t (*mono_ms)(void *ctx); /* schedules the attempts */
    int64_t (*wall_ms)(void *ctx); /* stamps the attempt log (ts_ms) */
    void *ctx;
};

/* One event, as sim_events.c made it. Everything is borrowed. */
struct sim_wh_event {
    const char *id, *type, *room_id;
    const char *body;     /* the envelope, JSON text */
    json_t *room_webhook; /* the room's "webhook" member, or NULL */
};

/* cf (its webhook settings and seed) and io are borrowed and must
 * outlive wh. Nothing runs until sim_webhook_start() or a pump. */
struct sim_webhook *sim_webhook_create(const struct sim_conf *cf,
                                       const struct sim_wh_io *io);
/* Stops the sender thread (waiting for a transfer in progress) and frees
 * everything; NULL is a no-op. */
void sim_webhook_destroy(struct sim_webhook *wh);
/* Starts the sender thread. */
enum hw_rc sim_webhook_start(struct sim_webhook *wh) HW_MUSTCHECK;

/* The documented wait before the retry that follows `failed` failed
 * attempts: 1000, 3000, 10000 ms; -1 after the fourth (give up). */
int64_t sim_webhook_retry_delay_ms(int failed);

/* Whether an event of a room whose webhook member is room_webhook (may be
 * NULL) has a destination: if not, the API does not make it. */
bool sim_webhook_wanted(struct sim_webhook *wh, json_t *room_webhook);
/* Queues ev (copied) for its destination, faults applied. */
void sim_webhook_enqueue(struct sim_webhook *wh, const struct sim_wh_event *ev);

/* Makes the one attempt that is due, if any (the transport runs without
 * wh->mu). Returns when the next one is due, in io->mono_ms time: now or
 * earlier to go on at once, INT64_MAX when nothing waits. */
int64_t sim_webhook_pump(struct sim_webhook *wh);

/* The settings: JSON view (sim_wh_conf_to_json()), a change (the webhook
 * members of body, all or nothing: HW_ERR_INVALID with a message and
 * nothing changed), and the start-up values back. A change of
 * webhook_faults, and the reset, re-seed the dice, so a test's faults
 * repeat. */
json_t *sim_webhook_conf_json(struct sim_webhook *wh);
enum hw_rc sim_webhook_conf_update(struct sim_webhook *wh, const json_t *body,
                                   char *errstr,
                                   size_t errstr_size) HW_MUSTCHECK;
void sim_webhook_conf_reset(struct sim_webhook *wh);

/* Forgets queued and past events (state) and/or the attempt log and the
 * counts (log). An attempt in progress finishes unrecorded. */
void sim_webhook_clear(struct sim_webhook *wh, bool state, bool log);

/* GET /__sim/webhooks?since=SEQ&limit=N: {"next", "truncated", "queued",
 * "counts", "data": [{"seq", "ts_ms", "id", "type", "room_id", "url",
 * "attempt", "status", "result", "replay", "duplicate", "error"}]}. */
json_t *sim_webhook_log_json(struct sim_webhook *wh, int64_t since,
                             int64_t limit);

/* POST /__sim/webhooks/replay {"ids": [...]} or {"room_id": "..."}:
 * queues past events again; 200 {"replayed": N, "missing": [ids]}, 400
 * for a bad body. */
json_t *sim_webhook_replay(struct sim_webhook *wh, json_t *body, int *status);

#endif
