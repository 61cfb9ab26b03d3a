/* sim_main.c -- hms-sim: a local, faithful stand-in for the 100ms REST API
 * v2, with fault injection, for hms-worker's tests, `make dev` and
 * benchmarks. Wiring only: configuration (sim_conf), state (sim_api),
 * test controls (sim_admin), HTTP (sim_http). SIGINT/SIGTERM are taken
 * with sigwait() in the main thread, so no handler runs on a pool thread.
 */
#define LOGMOD "sim"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "log.h"
#include "sim_admin.h"
#include "sim_api.h"
#include "sim_conf.h"
#include "sim_http.h"

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

int main(int argc, char **argv)
{
    struct sim_conf cf = {0};
    struct sim_api *api = NULL;
    struct sim_admin *adm = NULL;
    struct sim_http *http = NULL;
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
    api = sim_api_create(&cf);
    adm = sim_admin_create(&cf, api);
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
    log_info("msg=\"hms-sim listening\" addr=%s:%d templates=%zu threads=%d "
             "access_key_check=%s strict=%s time_scale=%lld "
             "clock_offset_s=%lld",
             cf.host, sim_http_port(http), cf.n_templates, cf.threads,
             cf.access_key != NULL ? "on" : "off",
             cf.tune.strict ? "on" : "off", (long long)cf.tune.time_scale,
             (long long)cf.tune.clock_offset_s);
    sigwait(&sigs, &sig);
    log_info("msg=\"stopping\" signal=%d", sig);
    rc = 0;
out:
    sim_http_stop(http);
    sim_admin_destroy(adm);
    sim_api_destroy(api);
    sim_conf_deinit(&cf);
    return rc;
}
