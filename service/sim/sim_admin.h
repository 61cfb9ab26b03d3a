/* sim_admin.h -- hms-sim's test controls: faults, stats, request log.
 *
 * DESIGN
 * ------
 * Everything under /__sim/ is for tests, unauthenticated (hms-sim binds to
 * loopback): GET/POST /__sim/faults (the rule set of sim_fault.h),
 * GET /__sim/stats (counts per route and status, per fault), GET
 * /__sim/requests?since=SEQ (the recent request log, a ring of log_size
 * entries, each with the route, room, status, injected fault and request
 * body: never the Authorization header), GET/POST /__sim/config (the
 * run-time settings: strict, time scale, clock offset, HLS delay), POST
 * /__sim/reset (state, faults, stats and settings; a body member false
 * keeps that part), POST /__sim/join and /__sim/leave (a client with an
 * app token joins, a peer leaves), POST /__sim/rooms/{id}/session (opens
 * a session with given peers), GET /__sim/webhooks (the webhook attempt
 * log, sim_webhook.h), POST /__sim/webhooks/replay and GET
 * /__sim/health. docs/hms-sim.md documents them all. One mutex guards faults,
 * stats and the log; every function is thread-safe. The fault set is taken over
 * from the config.
 */
#ifndef SIM_ADMIN_H
#define SIM_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "sim_api.h"
#include "sim_conf.h"
#include "sim_fault.h"
#include "sim_webhook.h"

/* Moves cf->faults into the new object; api and wh are borrowed (wh may
 * be NULL: no webhook hooks). */
struct sim_admin *sim_admin_create(struct sim_conf *cf, struct sim_api *api,
                                   struct sim_webhook *wh);
void sim_admin_destroy(struct sim_admin *adm);

bool sim_admin_owns(const char *path);
void sim_admin_handle(struct sim_admin *adm, const struct sim_req *req,
                      struct sim_resp *resp);

void sim_admin_decide(struct sim_admin *adm, const struct sim_call *call,
                      struct fault_action *fa);

/* Records one finished /v2 request. status 0: no response was sent. */
void sim_admin_record(struct sim_admin *adm, const struct sim_req *req,
                      const struct sim_call *call, int status,
                      const char *fault, int64_t delay_ms);

/* The most connections suspended (delayed or hanging) at once so far: it
 * shows in /__sim/stats as suspended_peak, proof that latency overlaps. */
void sim_admin_set_suspended_peak(struct sim_admin *adm, size_t peak);

/* One more connection accepted: /__sim/stats shows the count as
 * connections (with HTTPS, the TLS handshakes); reset with the stats. */
void sim_admin_count_connection(struct sim_admin *adm);

/* "none", "status", "drop", "drop_after", "hang". */
const char *sim_fault_kind_str(enum fault_kind kind);

#endif
