/* admin.c -- /metrics, /healthz, /readyz: one libmicrohttpd daemon
 * (internal polling thread, epoll) whose handler, on_admin_request(), maps
 * the three paths onto metrics_render(), health_live() and health_ready()
 * and keeps no state. main starts it before the worker, so /healthz fails
 * until the consumer loop first turns. IPv4 addresses only.
 *
 * Slow clients (review B16): in Kubernetes the port is open to the pod
 * network, and a peer holding every connection slot would fail the
 * kubelet's probes and get the pod restarted. So one address holds at
 * most ADMIN_PER_IP_LIMIT of ADMIN_CONN_LIMIT connections, and an idle
 * one is closed after ADMIN_TIMEOUT_S: the kubelet (the node's address,
 * one connection per probe) and Prometheus always find a slot unless
 * eight or more addresses attack at once, which a NetworkPolicy on the
 * port prevents (README, "Operations"). No separate probe listener: it
 * would be reachable from the same network, so the same limits would be
 * all that protects it. */
#define LOGMOD "admin"
#include "admin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "health.h"
#include "hw.h"
#include "log.h"
#include "metrics.h"

#define ADMIN_CONN_LIMIT 64
#define ADMIN_PER_IP_LIMIT 8
#define ADMIN_TIMEOUT_S 3 /* a probe or a scrape takes milliseconds */

struct admin {
    struct MHD_Daemon *d;
    int port;
};

static enum MHD_Result reply(struct MHD_Connection *mc, unsigned status,
                             const char *type, char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;

    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    ret = MHD_queue_response(mc, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_admin_request(void *cls, struct MHD_Connection *mc,
                                        const char *url, const char *method,
                                        const char *version, const char *upload,
                                        size_t *upload_size, void **state)
{
    char why[512];
    bool ok;

    (void)cls;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        return reply(mc, 405, "text/plain", xstrdup("GET only\n"));
    }
    if (strcmp(url, "/metrics") == 0) {
        return reply(mc, 200, "text/plain; version=0.0.4; charset=utf-8",
                     metrics_render());
    }
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
        ok = url[1] == 'h' ? health_live(hw_mono_ms(), why, sizeof(why))
                           : health_ready(why, sizeof(why));
        return reply(mc, ok ? 200 : 503, "text/plain",
                     ok ? xstrdup("ok\n") : xasprintf("%s\n", why));
    }
    return reply(mc, 404, "text/plain",
                 xstrdup("not found: /metrics, /healthz, /readyz\n"));
}

struct admin *admin_start(const struct conf *cf, char *errstr,
                          size_t errstr_size)
{
    struct admin *a = xcalloc(1, sizeof(*a));
    struct sockaddr_in sa = {0};
    const union MHD_DaemonInfo *info;

    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cf->admin_port);
    if (inet_pton(AF_INET, cf->admin_host, &sa.sin_addr) != 1) {
        snprintf(errstr, errstr_size, "ADMIN_ADDR: %s is not an IPv4 address",
                 cf->admin_host);
        goto err;
    }
    a->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_admin_request, a, MHD_OPTION_EXTERNAL_LOGGER, log_mhd,
        NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)ADMIN_CONN_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)ADMIN_PER_IP_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)ADMIN_TIMEOUT_S, MHD_OPTION_END);
    if (a->d == NULL) {
        snprintf(errstr, errstr_size,
                 "ADMIN_ADDR: cannot listen on %s:%d "
                 "(in use?)",
                 cf->admin_host, cf->admin_port);
        goto err;
    }
    info = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
    a->port = info != NULL ? info->port : cf->admin_port;
    log_info("msg=\"admin listening\" addr=%s:%d paths=/metrics,/healthz,"
             "/readyz",
             cf->admin_host, a->port);
    return a;
err:
    admin_stop(a);
    return NULL;
}

int admin_port(const struct admin *a)
{
    return a->port;
}

void admin_stop(struct admin *a)
{
    if (a != NULL) {
        if (a->d != NULL) {
            MHD_stop_daemon(a->d);
        }
        free(a);
    }
}
