/* sim_http.h -- hms-sim's HTTP server (libmicrohttpd).
 *
 * DESIGN
 * ------
 * libmicrohttpd in epoll mode with a small thread pool (--threads): many
 * thousands of keep-alive connections on a few threads, no thread per
 * connection. Injected latency and hangs never block a pool thread: the
 * connection is suspended and a timer thread (a min-heap of due times)
 * resumes it; libmicrohttpd then calls the handler again to finish it.
 * Bodies are capped at 1 MiB (413). With --tls-cert/--tls-key it serves
 * HTTPS only (libmicrohttpd over GnuTLS), as 100ms does; every accepted
 * connection is counted (sim_admin_count_connection). The api and admin objects
 * are borrowed and must outlive the server.
 */
#ifndef SIM_HTTP_H
#define SIM_HTTP_H

#include <stddef.h>

#include "sim_admin.h"
#include "sim_api.h"
#include "sim_conf.h"

struct sim_http *sim_http_start(const struct sim_conf *cf, struct sim_api *api,
                                struct sim_admin *adm, char *errstr,
                                size_t errstr_size);
int sim_http_port(const struct sim_http *h);
/* Resumes every suspended connection, stops serving and frees h. */
void sim_http_stop(struct sim_http *h);

#endif
