/* admin.h -- the admin HTTP listener on ADMIN_ADDR (libmicrohttpd).
 *
 * DESIGN
 * ------
 *   GET /metrics  the metrics registry, Prometheus text format 0.0.4
 *   GET /healthz  200 "ok", or 503 with why (liveness: restart me)
 *   GET /readyz   200 "ok", or 503 naming what is down (Kafka, Redis,
 *                 the 100ms API) and, when the worker is halted, why
 *                 ("halted: ..." and the setting to check)
 * libmicrohttpd's own thread serves it; it only reads the process-wide
 * metrics and health state, never worker data, so it needs no lock of
 * ours and a slow scraper cannot stall the worker. Nothing secret is
 * reachable from here.
 */
#ifndef ADMIN_H
#define ADMIN_H

#include <stddef.h>

#include "conf.h"

struct admin;

/* NULL with errstr when the address cannot be bound (e.g. in use). */
struct admin *admin_start(const struct conf *cf, char *errstr,
                          size_t errstr_size);
/* The bound port (useful with ADMIN_ADDR=:0). */
int admin_port(const struct admin *a);
void admin_stop(struct admin *a);

#endif
