/* sim_main.c -- hms-sim: a local, faithful stand-in for the 100ms REST API
 * v2, with fault injection, for hms-worker's tests, `make dev` and
 * benchmarks. Wiring only: configuration (sim_conf), state (sim_api),
 * webhooks (sim_webhook over sim_whcurl, and the API's ticker), test
 * controls (sim_admin), HTTP (sim_http). SIGINT/SIGTERM are taken with
 * sigwait() in the main thread, so no handler runs on a pool thread.
 * Shutdown goes from the edge inwards: HTTP, the ticker (the last to
 * queue events), the webhook sender, then the state.
 */
#define LOGMOD "sim"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <curl/curl.h>

#include "log.h"
#include "sim_admin.h"
#include "sim_api.h"
#include "sim_conf.h"
#include "sim_http.h"
#include "sim_webhook.h"
#include "sim_whcurl.h"

/* documented durations are seconds and minutes: a tick of 100 ms sends
 * the HLS events within a tenth of a second of when they happen */
#define TICK_MS 100

/* Many keep-alive connections need many descriptors. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Writes the port to path via a rename, so a reader never sees half. */
static int write_port_file(const char *path, int port)
{
    char *tmp = xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = f != NULL && fprintf(f, "%d\n", port) > 0 ? 0 : -1;

    if (f != NULL && fclose(f) != 0) {
        rc = -1;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
    }
    free(tmp);
    return rc;
}

static int64_t wh_mono_ms(void *ctx)
{
    (void)ctx;
    return hw_mono_ms();
}

static int64_t wh_wall_ms(void *ctx)
{
    (void)ctx;
    /* real time: the sender holds its mutex here, and the simulator's
     * clock is behind the API's, which comes first (sim_webhook.h) */
    return hw_now_ms();
}

int main(int argc, char **argv)
{
    struct sim_conf cf = {0};
    struct sim_api *api = NULL;
    struct sim_admin *adm = NULL;
    struct sim_http *http = NULL;
    struct sim_whcurl *curl = NULL;
    struct sim_webhook *wh = NULL;
    struct sim_wh_io io = {sim_whcurl_post, wh_mono_ms, wh_wall_ms, NULL};
    const char *level = getenv("LOG_LEVEL");
    char errstr[256];
    sigset_t sigs;
    int sig = 0, rc = 2;
    enum hw_rc crc;

    if (level != NULL && log_level_parse(level, &log_min_level) != HW_OK) {
        log_error("msg=\"invalid LOG_LEVEL\" expected=debug|info|warn|error");
        return 2;
    }
    crc = sim_conf_load(&cf, argc, argv);
    if (crc != HW_OK) {
        sim_conf_deinit(&cf);
        return crc == HW_ERR_INVALID ? 0 : 2; /* --help, or errors logged */
    }
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* before any thread starts */
    raise_nofile();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        (curl = sim_whcurl_create()) == NULL) {
        log_error("msg=\"cannot start libcurl\"");
        goto out;
    }
    io.ctx = curl;
    api = sim_api_create(&cf);
    wh = sim_webhook_create(&cf, &io);
    sim_api_set_webhooks(api, wh);
    adm = sim_admin_create(&cf, api, wh);
    if (sim_webhook_start(wh) != HW_OK ||
        sim_api_start_ticker(api, TICK_MS) != HW_OK) {
        log_error("msg=\"cannot start the webhook threads\"");
        goto out;
    }
    http = sim_http_start(&cf, api, adm, errstr, sizeof(errstr));
    if (http == NULL) {
        log_error("msg=\"cannot start\" err=\"%s\"", errstr);
        goto out;
    }
    if (cf.port_file != NULL &&
        write_port_file(cf.port_file, sim_http_port(http)) != 0) {
        log_error("msg=\"cannot write port file\" path=%s", cf.port_file);
        goto out;
    }
    log_info("msg=\"hms-sim listening\" addr=%s:%d tls=%s templates=%zu "
             "threads=%d access_key_check=%s strict=%s time_scale=%lld "
             "clock_offset_s=%lld webhook=%s",
             cf.host, sim_http_port(http),
             cf.tls_cert_pem != NULL ? "on" : "off", cf.n_templates, cf.threads,
             cf.access_key != NULL ? "on" : "off",
             cf.tune.strict ? "on" : "off", (long long)cf.tune.time_scale,
             (long long)cf.tune.clock_offset_s,
             cf.webhook.url != NULL ? "on" : "off");
    sigwait(&sigs, &sig);
    log_info("msg=\"stopping\" signal=%d", sig);
    rc = 0;
out:
    sim_http_stop(http);
    if (api != NULL) {
        sim_api_stop_ticker(api);
    }
    sim_webhook_destroy(wh);
    sim_admin_destroy(adm);
    sim_api_destroy(api);
    sim_whcurl_destroy(curl);
    curl_global_cleanup();
    sim_conf_deinit(&cf);
    return rc;
}
