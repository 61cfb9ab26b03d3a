/* main.c -- hms-worker: Kafka events in, 100ms rooms provisioned, codes
 * and tokens cached in Redis, video-ready/video-ended out; with
 * WEBHOOK_ADDR, 100ms's webhooks stored in Kafka. Wiring only:
 * configuration (conf; then the secrets in environ are wiped), the admin
 * listener (admin), the worker, the webhook listener (webhook), then the
 * consumer loop (worker, with the engine inside it) on this thread;
 * curl's global init comes first, before any thread. The stop flag reaches the
 * consumer loop and the webhook listener, which stop together.
 *
 *   hms-worker                 run (configuration from the environment)
 *   hms-worker --check-config  print the redacted configuration; exit 0,
 *                              or 2 on any error
 * Exit codes: 0 after SIGTERM/SIGINT, 1 on a fatal runtime error (a Kafka
 * fatal error, a broken producer, a bug), 2 on a configuration error or
 * when it cannot start (ADMIN_ADDR or WEBHOOK_ADDR in use, a setting
 * librdkafka rejects).
 * Refused credentials do not exit: the worker halts, alive, with the
 * reason on /readyz, and resumes once the setting is fixed.
 */
#define LOGMOD "main"
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "admin.h"
#include "conf.h"
#include "log.h"
#include "webhook.h"
#include "worker.h"

extern char **environ;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    /* async-signal-safe: no logging here; atomic, because the webhook
     * listener's thread reads it too */
    __atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
}

int main(int argc, char **argv)
{
    struct conf cf = {0};
    struct worker *w = NULL;
    struct admin *adm = NULL;
    struct webhook *wh = NULL;
    char errstr[512];
    bool check = argc > 1 && strcmp(argv[1], "--check-config") == 0;
    size_t wiped;
    int rc;

    if (argc > 1 && !check) {
        fprintf(stderr, "usage: hms-worker [--check-config]\n"
                        "configuration: environment variables, see "
                        ".env.example\n");
        return strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    if (conf_load(&cf, (const char *const *)environ) != HW_OK) {
        log_error("msg=\"configuration invalid, not starting\"");
        conf_deinit(&cf);
        return 2;
    }
    /* cf has its copies: /proc/<pid>/environ shows the secrets no more */
    wiped = conf_wipe_env(environ);
    log_min_level = check ? LL_INFO : cf.log_level;
    conf_dump(&cf);
    if (wiped > 0) {
        log_info("msg=\"secret values wiped from the environment\" count=%zu",
                 wiped);
    }
    if (check) {
        conf_deinit(&cf);
        return 0;
    }
    hw_on_stop_signals(on_signal);
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread */
    if (!cf.admin_off) {
        adm = admin_start(&cf, errstr, sizeof(errstr));
    }
    if (cf.admin_off || adm != NULL) {
        w = worker_create(&cf, errstr, sizeof(errstr));
    }
    if (w != NULL && cf.webhook_on) {
        wh = webhook_start(&cf, &stop_flag, errstr, sizeof(errstr));
        if (wh == NULL) {
            worker_destroy(w);
            w = NULL;
        }
    }
    if (w == NULL) {
        log_error("msg=\"cannot start\" err=\"%s\"", errstr);
        rc = 2;
    } else {
        rc = worker_run(w, &stop_flag);
        if (webhook_stop(wh)) {
            rc = 1; /* its producer broke: a restart is the recovery */
        }
        worker_destroy(w);
        log_info("msg=\"stopped\" exit=%d", rc);
    }
    admin_stop(adm);
    curl_global_cleanup();
    conf_deinit(&cf);
    return rc;
}
