/* test_sim_conf.c -- hms-sim configuration: flags, environment and the
 * templates document. Errors are logged to stderr by design. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sim_conf.h"
#include "testhelp.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* sim_conf_load on a writable copy of args (getopt wants char **). */
static enum hw_rc load(struct sim_conf *cf, int argc, const char *const *args)
{
    char **argv = calloc((size_t)argc + 1, sizeof(char *));
    enum hw_rc rc;

    for (int i = 0; i < argc; i++) {
        argv[i] = strdup(args[i]);
    }
    rc = sim_conf_load(cf, argc, argv);
    for (int i = 0; i < argc; i++) {
        free(argv[i]);
    }
    free(argv);
    return rc;
}

static enum hw_rc parse_templates(struct sim_conf *cf, const char *json)
{
    char errstr[256];

    return sim_conf_parse_templates(cf, json, strlen(json), errstr,
                                    sizeof(errstr));
}

static void test_templates(void)
{
    struct sim_conf cf = {0};
    const struct sim_template *t;

    CHECK(parse_templates(&cf, "{\"customer_id\":\"c1\",\"templates\":["
                               "{\"id\":\"t1\",\"roles\":[\"host\",\"guest\"]},"
                               "{\"id\":\"t2\",\"name\":\"two\",\"region\":"
                               "\"eu\",\"subdomain\":\"sub\",\"roles\":"
                               "[\"viewer\"]}]}") == HW_OK);
    CHECK_INT(cf.n_templates, 2);
    CHECK_STR(cf.customer_id, "c1");
    CHECK_STR(cf.app_id, "6a1b00000000000000000a01");
    t = sim_conf_template(&cf, "t2");
    CHECK(t != NULL && strcmp(t->name, "two") == 0 &&
          strcmp(t->region, "eu") == 0 && strcmp(t->subdomain, "sub") == 0);
    CHECK(t != NULL && t->hls_max_duration_s == 4 * 3600); /* the default */
    t = sim_conf_template(&cf, "t1");
    CHECK(t != NULL && strcmp(t->name, "t1") == 0 && t->subdomain == NULL);
    CHECK(t != NULL && sim_template_has_role(t, "guest") &&
          !sim_template_has_role(t, "viewer"));
    CHECK(sim_conf_template(&cf, "t3") == NULL);
    CHECK(parse_templates(&cf,
                          "{\"templates\":[{\"id\":\"a\",\"roles\":"
                          "[\"h\"],\"hls_max_duration_s\":600}]}") == HW_OK);
    CHECK_INT(cf.templates[0].hls_max_duration_s, 600);
    CHECK(parse_templates(&cf, "{\"templates\":[{\"id\":\"a\",\"roles\":"
                               "[\"h\"],\"hls_max_duration_s\":0}]}") ==
          HW_ERR_CONFIG);
    CHECK(parse_templates(&cf, "{\"templates\":[{\"id\":\"a\",\"roles\":"
                               "[\"h\"],\"hls_max_duration_s\":\"1h\"}]}") ==
          HW_ERR_CONFIG);

    CHECK(parse_templates(&cf, "not json") == HW_ERR_CONFIG);
    CHECK(parse_templates(&cf, "{\"templates\":[]}") == HW_ERR_CONFIG);
    CHECK(parse_templates(&cf, "{\"templates\":[{\"roles\":[\"h\"]}]}") ==
          HW_ERR_CONFIG);
    CHECK(
        parse_templates(&cf, "{\"templates\":[{\"id\":\"a\",\"roles\":[]}]}") ==
        HW_ERR_CONFIG);
    CHECK(parse_templates(&cf, "{\"templates\":[{\"id\":\"a\",\"roles\":"
                               "[\"h\",\"h\"]}]}") == HW_ERR_CONFIG);
    CHECK(parse_templates(&cf, "{\"templates\":[{\"id\":\"a\",\"roles\":"
                               "[\"bad role\"]}]}") == HW_ERR_CONFIG);
    CHECK(parse_templates(
              &cf, "{\"templates\":[{\"id\":\"a\",\"roles\":[\"h\"]},"
                   "{\"id\":\"a\",\"roles\":[\"h\"]}]}") == HW_ERR_CONFIG);
    CHECK_INT(cf.n_templates, 0);
    sim_conf_deinit(&cf);
}

static void test_flags(void)
{
    struct sim_conf cf = {0};
    const char *const ok[] = {"hms-sim",
                              "--listen",
                              "127.0.0.1:8099",
                              "--threads",
                              "4",
                              "--access-key",
                              "ak",
                              "--seed",
                              "9",
                              "--fault",
                              "latency_ms=20",
                              "--fault",
                              "rate_503=0.5",
                              "--fault",
                              "match=bk-*",
                              "--hls-needs-session",
                              "--strict",
                              "--time-scale",
                              "60",
                              "--clock-offset-s",
                              "-120",
                              "--hls-running-after-ms",
                              "500",
                              "--webhook-url",
                              "http://127.0.0.1:9/hook",
                              "--webhook-header",
                              "X-Hook-Secret: s3",
                              "--webhook-header",
                              "X-Two:2",
                              "--webhook-fault",
                              "duplicate_rate=0.25",
                              "--webhook-fault",
                              "seed=5"};

    setenv("HMS_APP_SECRET", "sim-secret", 1);
    unsetenv("HMS_APP_SECRET_FILE");
    CHECK(load(&cf, ARGC(ok), ok) == HW_OK);
    CHECK_STR(cf.host, "127.0.0.1");
    CHECK_INT(cf.port, 8099);
    CHECK_INT(cf.threads, 4);
    CHECK_STR(cf.access_key, "ak");
    CHECK_INT(cf.seed, 9);
    CHECK(cf.hls_needs_session);
    CHECK(cf.tune.strict);
    CHECK_INT(cf.tune.time_scale, 60);
    CHECK_INT(cf.tune.clock_offset_s, -120);
    CHECK_INT(cf.tune.hls_running_after_ms, 500);
    CHECK_INT(cf.n_templates, 1); /* the built-in workspace */
    CHECK_INT(cf.faults.n, 1);
    CHECK(cf.faults.n == 1 && cf.faults.rules[0].latency_ms == 20 &&
          cf.faults.rules[0].rate_503 == 0.5 &&
          strcmp(cf.faults.rules[0].match, "bk-*") == 0);
    CHECK_INT(cf.secret.len, 10);
    CHECK_STR(cf.webhook.url, "http://127.0.0.1:9/hook");
    CHECK_STR(
        json_string_value(json_object_get(cf.webhook.headers, "X-Hook-Secret")),
        "s3");
    CHECK_STR(json_string_value(json_object_get(cf.webhook.headers, "X-Two")),
              "2");
    CHECK(cf.webhook.duplicate_rate == 0.25 && cf.webhook.drop_rate == 0);
    CHECK_INT(cf.webhook.seed, 5);
    sim_conf_deinit(&cf);
}

static void test_defaults_and_errors(void)
{
    struct sim_conf cf = {0};
    const char *const none[] = {"hms-sim"};
    const char *const bad[] = {
        "hms-sim", "--threads", "0",           "--listen",
        "nope",    "--fault",   "rate_500=2",  "--leeway-s",
        "x",       "extra",     "--templates", "/nonexistent/templates.json"};

    setenv("HMS_ACCESS_KEY", "env-ak", 1);
    CHECK(load(&cf, ARGC(none), none) == HW_OK);
    CHECK_STR(cf.host, "127.0.0.1");
    CHECK_INT(cf.port, 0);
    CHECK_INT(cf.threads, 2);
    CHECK_STR(cf.access_key, "env-ak");
    CHECK_INT(cf.faults.n, 0);
    CHECK(!cf.tune.strict);
    CHECK_INT(cf.tune.time_scale, 1);
    CHECK_INT(cf.tune.clock_offset_s, 0);
    CHECK_INT(cf.tune.hls_running_after_ms, 2000);
    /* the built-in template: the documented roles, no invented "beam" */
    CHECK_INT(cf.templates[0].n_roles, 3);
    CHECK(sim_template_has_role(&cf.templates[0], "host") &&
          sim_template_has_role(&cf.templates[0], "guest") &&
          sim_template_has_role(&cf.templates[0], "viewer"));
    CHECK(!sim_template_has_role(&cf.templates[0], "beam"));
    CHECK_STR(cf.templates[0].subdomain, "hmsworker");
    CHECK_INT(cf.templates[0].hls_max_duration_s, 4 * 3600);
    CHECK(cf.webhook.url == NULL); /* no webhooks unless asked */
    CHECK_INT(json_object_size(cf.webhook.headers), 0);
    sim_conf_deinit(&cf);
    unsetenv("HMS_ACCESS_KEY");

    CHECK(load(&cf, ARGC(bad), bad) == HW_ERR_CONFIG);
    sim_conf_deinit(&cf);
    static const char *const bad_tune[][3] = {
        {"hms-sim", "--time-scale", "0"},
        {"hms-sim", "--time-scale", "x"},
        {"hms-sim", "--clock-offset-s", "1e3"},
        {"hms-sim", "--clock-offset-s", "999999999999"},
        {"hms-sim", "--hls-running-after-ms", "-1"},
        {"hms-sim", "--strict", "yes"}, /* no value: "yes" is extra */
        {"hms-sim", "--webhook-url", "ftp://127.0.0.1/x"},
        {"hms-sim", "--webhook-url", "http://"},
        {"hms-sim", "--webhook-header", "X-No-Colon"},
        {"hms-sim", "--webhook-header", "X Bad: v"},
        {"hms-sim", "--webhook-fault", "drop_rate=1.5"},
        {"hms-sim", "--webhook-fault", "loss=0.1"},
    };
    for (size_t i = 0; i < sizeof(bad_tune) / sizeof(bad_tune[0]); i++) {
        CHECK(load(&cf, 3, bad_tune[i]) == HW_ERR_CONFIG);
        sim_conf_deinit(&cf);
    }

    unsetenv("HMS_APP_SECRET");
    CHECK(load(&cf, ARGC(none), none) == HW_ERR_CONFIG);
    sim_conf_deinit(&cf);
    setenv("HMS_APP_SECRET", "x", 1);
    setenv("HMS_APP_SECRET_FILE", "/tmp/x", 1);
    CHECK(load(&cf, ARGC(none), none) == HW_ERR_CONFIG); /* both */
    sim_conf_deinit(&cf);
    unsetenv("HMS_APP_SECRET_FILE");
}

/* --tls-cert and --tls-key: both or neither, both read at load (the
 * text as MHD wants it, NUL-terminated); without them, plain HTTP. */
static void test_tls_flags(void)
{
    struct sim_conf cf = {0};
    char cert[] = "/tmp/hw-sim-cert-XXXXXX", key[] = "/tmp/hw-sim-key-XXXXXX";
    int fc = mkstemp(cert), fk = mkstemp(key);
    const char *const ok[] = {"hms-sim", "--tls-cert", cert, "--tls-key", key};
    const char *const half[][3] = {{"hms-sim", "--tls-cert", cert},
                                   {"hms-sim", "--tls-key", key}};
    const char *const missing[] = {"hms-sim", "--tls-cert", "/nonexistent/c",
                                   "--tls-key", key};
    const char *const none[] = {"hms-sim"};

    CHECK(fc >= 0 && write(fc, "CERT", 4) == 4);
    CHECK(fk >= 0 && write(fk, "KEY", 3) == 3);
    close(fc);
    close(fk);
    setenv("HMS_APP_SECRET", "sim-secret", 1);
    CHECK(load(&cf, ARGC(ok), ok) == HW_OK);
    CHECK_STR(cf.tls_cert, cert);
    CHECK_STR(cf.tls_cert_pem, "CERT");
    CHECK_STR(cf.tls_key_pem, "KEY");
    sim_conf_deinit(&cf);
    for (size_t i = 0; i < 2; i++) {
        CHECK(load(&cf, 3, half[i]) == HW_ERR_CONFIG);
        sim_conf_deinit(&cf);
    }
    CHECK(load(&cf, ARGC(missing), missing) == HW_ERR_CONFIG);
    sim_conf_deinit(&cf);
    CHECK(load(&cf, ARGC(none), none) == HW_OK);
    CHECK(cf.tls_cert_pem == NULL && cf.tls_key_pem == NULL);
    sim_conf_deinit(&cf);
    unlink(cert);
    unlink(key);
}

/* The run-time form of the same settings (POST /__sim/config). */
static void test_tune_update(void)
{
    struct sim_tune t = {1, 0, 2000, false}, before;
    char errstr[256];
    json_t *j, *out;

    j = json_loads("{\"time_scale\":60,\"strict\":true}", 0, NULL);
    CHECK(sim_tune_update(&t, j, errstr, sizeof(errstr)) == HW_OK);
    json_decref(j);
    CHECK(t.time_scale == 60 && t.strict && t.clock_offset_s == 0 &&
          t.hls_running_after_ms == 2000);
    before = t;
    j = json_loads("{\"clock_offset_s\":5,\"time_scale\":0}", 0, NULL);
    CHECK(sim_tune_update(&t, j, errstr, sizeof(errstr)) == HW_ERR_INVALID);
    CHECK_STR(errstr, "time_scale: expected an integer in [1, 1000000]");
    CHECK(memcmp(&t, &before, sizeof(t)) == 0); /* all or nothing */
    json_decref(j);
    j = json_loads("{\"leeway_s\":5}", 0, NULL);
    CHECK(sim_tune_update(&t, j, errstr, sizeof(errstr)) == HW_ERR_INVALID);
    CHECK_STR(errstr, "unknown setting leeway_s");
    json_decref(j);
    j = json_loads("{\"strict\":\"no\"}", 0, NULL);
    CHECK(sim_tune_update(&t, j, errstr, sizeof(errstr)) == HW_ERR_INVALID);
    json_decref(j);
    CHECK(sim_tune_update(&t, NULL, errstr, sizeof(errstr)) == HW_ERR_INVALID);
    out = sim_tune_to_json(&t);
    j = json_loads("{\"time_scale\":60,\"clock_offset_s\":0,"
                   "\"strict\":true,\"hls_running_after_ms\":2000}",
                   0, NULL);
    CHECK(json_equal(out, j));
    json_decref(out);
    json_decref(j);
}

int main(void)
{
    log_min_level = LL_ERROR + 1; /* the error paths log by design */
    test_templates();
    test_flags();
    test_defaults_and_errors();
    test_tls_flags();
    test_tune_update();
    return TEST_REPORT();
}
