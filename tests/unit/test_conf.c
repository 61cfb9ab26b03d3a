/* test_conf.c -- the worker's configuration table (docs/contract.md section 6).
 * Every error is logged by design; stderr is checked for secrets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "testhelp.h"

#define MIN_ENV                                                                \
    "HMS_ACCESS_KEY=ak", "HMS_APP_SECRET=s3cr3t-value", "HMS_TEMPLATE_ID=tpl-1"

static enum hw_rc load(struct conf *cf, const char *const *env)
{
    memset(cf, 0, sizeof(*cf));
    return conf_load(cf, env);
}

static void test_defaults(void)
{
    const char *const env[] = {MIN_ENV, NULL};
    struct conf cf;

    CHECK(load(&cf, env) == HW_OK);
    CHECK_STR(cf.kafka_brokers, "127.0.0.1:9092");
    CHECK_STR(cf.kafka_group_id, "hms-worker");
    CHECK_STR(cf.topic_booking_created, "booking-created");
    CHECK_STR(cf.topic_dlq, "hms-worker-dlq");
    CHECK(cf.schema_registry_url == NULL);
    CHECK(cf.registry.base == NULL && cf.registry.user == NULL);
    CHECK_STR(cf.redis.host, "127.0.0.1");
    CHECK_INT(cf.redis.port, 6379);
    CHECK_INT(cf.redis.db, 0);
    CHECK_INT(cf.redis.password.len, 0);
    CHECK_STR(cf.hms_api_base, "https://api.100ms.live/v2");
    CHECK_INT(cf.hms_api_allow_http, 0);
    CHECK_STR(cf.hms_access_key, "ak");
    CHECK_STR(secret_reveal(&cf.hms_app_secret, NULL), "s3cr3t-value");
    CHECK(cf.hms_subdomain == NULL);
    CHECK_STR(cf.hms_hls_composer_role, "__internal_recorder");
    CHECK(cf.hms_hls_wait_ms == 120000 && cf.hms_hls_check_ms == 30000);
    CHECK(!cf.hls_on_join && cf.hms_hls_retries == 2); /* no webhooks */
    CHECK(cf.cleanup == CLEANUP_LOCK);
    CHECK_INT(cf.hms_app_token_ttl_s, 86400);
    CHECK_INT(cf.hms_token_grace_s, 3600);
    CHECK_INT(cf.hms_mgmt_token_ttl_s, 3600);
    CHECK_INT(cf.hms_max_in_flight, 256);
    CHECK_INT(cf.hms_max_connections, 256);
    CHECK_INT(cf.hms_timeout_ms, 10000);
    CHECK_INT(cf.hms_retry_max, 5);
    CHECK_INT(cf.hms_retry_base_ms, 200);
    CHECK_INT(cf.hms_retry_cap_ms, 10000);
    CHECK_INT(cf.event_deadline_ms, 120000);
    CHECK_INT(cf.cache_grace_s, 86400);
    CHECK_INT(cf.cache_default_ttl_s, 604800);
    CHECK_INT(cf.shutdown_timeout_ms, 10000);
    CHECK_STR(cf.admin_host, "127.0.0.1");
    CHECK_INT(cf.admin_port, 9464);
    CHECK(!cf.admin_off);
    CHECK(cf.log_level == LL_INFO);
    CHECK_INT(conf_app_token_ttl(&cf, "guest"), 86400);
    /* the webhook listener is off unless WEBHOOK_ADDR is set */
    CHECK(!cf.webhook_on && cf.webhook_addr == NULL);
    CHECK_STR(cf.topic_webhooks, "hms-webhooks");
    CHECK_STR(cf.topic_video_session, "video-session");
    CHECK_STR(cf.webhook_path, "/hms/webhooks");
    CHECK_INT(cf.webhook_max_bytes, 65536);
    CHECK_INT(cf.webhook_timeout_ms, 10000);
    CHECK_INT(cf.webhook_max_connections, 256);
    CHECK_INT(cf.webhook_max_per_ip, 128);
    CHECK(cf.n_webhook_headers == 0 && cf.webhook_secret_headers.len == 0);
    CHECK(cf.webhook_cidrs == NULL && cf.webhook_tls_cert_file == NULL);
    conf_deinit(&cf);
}

static void test_values(void)
{
    const char *const env[] = {
        MIN_ENV,
        "REDIS_URL=redis://:p@ss/w@redis.internal:6380/3",
        "HMS_API_BASE=http://127.0.0.1:8080/v2/",
        "HMS_SUBDOMAIN=acme-video",
        "HMS_APP_TOKEN_TTL_BY_ROLE=guest=7200,viewer=3600",
        "HMS_MAX_IN_FLIGHT=1000",
        "HMS_MAX_CONNECTIONS=64",
        "ADMIN_ADDR=:0",
        "LOG_LEVEL=debug",
        "TOPIC_DLQ=my-dlq",
        "SCHEMA_REGISTRY_URL=http://registry:8081/apis/ccompat/v7",
        "KAFKA_PROP_SECURITY_PROTOCOL=plaintext",
        "KAFKA_PROP_socket.keepalive.enable=true",
        "KAFKA_PROP_SASL_PASSWORD=hunter2",
        "KAFKA_PROP_MESSAGE_MAX_BYTES=2000000",
        NULL};
    struct conf cf;

    CHECK(load(&cf, env) == HW_OK);
    CHECK_STR(cf.redis.host, "redis.internal");
    CHECK_INT(cf.redis.port, 6380);
    CHECK_INT(cf.redis.db, 3);
    CHECK(cf.redis.user == NULL);
    CHECK_STR(secret_reveal(&cf.redis.password, NULL), "p@ss/w");
    CHECK_STR(cf.hms_api_base, "http://127.0.0.1:8080/v2");
    CHECK_STR(cf.hms_subdomain, "acme-video");
    CHECK_INT(conf_app_token_ttl(&cf, "guest"), 7200);
    CHECK_INT(conf_app_token_ttl(&cf, "viewer"), 3600);
    CHECK_INT(conf_app_token_ttl(&cf, "host"), 86400);
    CHECK_INT(cf.hms_max_in_flight, 1000);
    CHECK_INT(cf.hms_max_connections, 64);
    CHECK_STR(cf.admin_host, "0.0.0.0");
    CHECK_INT(cf.admin_port, 0);
    CHECK(cf.log_level == LL_DEBUG);
    CHECK_STR(cf.topic_dlq, "my-dlq");
    CHECK_STR(cf.registry.base, "http://registry:8081/apis/ccompat/v7");
    CHECK_STR(cf.registry.shown, "http://registry:8081/apis/ccompat/v7");
    CHECK(cf.registry.user == NULL);
    CHECK_INT(cf.n_kafka_props, 4);
    CHECK_STR(cf.kafka_props[0].name, "security.protocol");
    CHECK_STR(cf.kafka_props[1].name, "socket.keepalive.enable");
    CHECK_STR(cf.kafka_props[2].name, "sasl.password");
    CHECK(cf.kafka_props[2].sensitive && !cf.kafka_props[0].sensitive);
    CHECK_STR(cf.kafka_props[3].name, "message.max.bytes");
    conf_deinit(&cf);
}

static void test_secret_file_and_off(void)
{
    char path[] = "/tmp/hw-conf-XXXXXX";
    int fd = mkstemp(path);
    char fenv[64];
    struct conf cf;

    CHECK(fd >= 0 && write(fd, "file-secret\n", 12) == 12);
    close(fd);
    snprintf(fenv, sizeof(fenv), "HMS_APP_SECRET_FILE=%s", path);
    {
        const char *const env[] = {"HMS_ACCESS_KEY=ak", "HMS_TEMPLATE_ID=t",
                                   fenv, "ADMIN_ADDR=off", NULL};

        CHECK(load(&cf, env) == HW_OK);
        CHECK_STR(secret_reveal(&cf.hms_app_secret, NULL), "file-secret");
        CHECK(cf.admin_off);
        conf_deinit(&cf);
    }
    {
        const char *const env[] = {MIN_ENV, fenv, NULL}; /* both: error */

        CHECK(load(&cf, env) == HW_ERR_CONFIG);
        conf_deinit(&cf);
    }
    unlink(path);
}

#define WH_SECRET "X-Hms-Secret: wh-s3cr3t-0123456789"

static void test_webhook_values(void)
{
    const char *const env[] = {MIN_ENV,
                               "WEBHOOK_ADDR=:0",
                               "WEBHOOK_PATH=/in/100ms",
                               "WEBHOOK_SECRET_HEADERS=" WH_SECRET
                               ";X-Other: another-0123456789",
                               "WEBHOOK_ALLOW_CIDRS=10.0.0.0/8, 2001:db8::/32",
                               "WEBHOOK_MAX_BYTES=4096",
                               "WEBHOOK_TIMEOUT_MS=2000",
                               "TOPIC_WEBHOOKS=wh-in",
                               NULL};
    const char *const v6[] = {MIN_ENV, "WEBHOOK_ADDR=[::1]:8443",
                              "WEBHOOK_ALLOW_NO_SECRET=1", NULL};
    const char *const off[] = {MIN_ENV, "WEBHOOK_ADDR=off", NULL};
    struct conf cf;

    CHECK(load(&cf, env) == HW_OK);
    CHECK(cf.webhook_on);
    CHECK_STR(cf.webhook_host, "0.0.0.0");
    CHECK_INT(cf.webhook_port, 0);
    CHECK_STR(cf.webhook_path, "/in/100ms");
    CHECK_INT(cf.n_webhook_headers, 2);
    CHECK_STR(cf.webhook_headers[0].name, "X-Hms-Secret");
    CHECK_STR(secret_reveal(&cf.webhook_headers[0].value, NULL),
              "wh-s3cr3t-0123456789");
    CHECK_STR(cf.webhook_headers[1].name, "X-Other");
    CHECK_INT(cf.n_webhook_cidrs, 2);
    CHECK_INT(cf.webhook_max_bytes, 4096);
    CHECK_INT(cf.webhook_timeout_ms, 2000);
    CHECK_STR(cf.topic_webhooks, "wh-in");
    conf_deinit(&cf);
    CHECK(load(&cf, v6) == HW_OK);
    CHECK(cf.webhook_on && cf.n_webhook_headers == 0);
    CHECK_STR(cf.webhook_host, "::1");
    CHECK_INT(cf.webhook_port, 8443);
    conf_deinit(&cf);
    CHECK(load(&cf, off) == HW_OK); /* off needs no secret */
    CHECK(!cf.webhook_on);
    conf_deinit(&cf);
}

/* Each bad value alone is rejected. */
static void test_each_error(void)
{
    static const char *const bad[] = {
        /* librdkafka 2.0.2 cannot run it safely (README, Scaling out) */
        "KAFKA_PROP_PARTITION_ASSIGNMENT_STRATEGY=cooperative-sticky",
        "REDIS_URL=http://h",
        "REDIS_URL=rediss://:6379/0",
        "REDIS_URL=redis://hmsw@h:6379/0", /* a user without a password */
        "REDIS_TLS_CA_FILE=/etc/hostname", /* with redis:// (no TLS) */
        "REDIS_URL=redis://h:99999/0",
        "REDIS_URL=redis://h:6379/x",
        "REDIS_URL=redis://:6379/0",
        "HMS_API_BASE=http://example.com/v2",
        "HMS_API_BASE=ftp://x",
        "HMS_MAX_IN_FLIGHT=0",
        "HMS_MAX_CONNECTIONS=0",
        "HMS_MAX_IN_FLIGHT=12abc",
        "HMS_TIMEOUT_MS=99",
        "HMS_RETRY_CAP_MS=100",
        "HMS_APP_TOKEN_TTL_S=299",
        "HMS_APP_TOKEN_TTL_BY_ROLE=guest=299",
        "HMS_APP_TOKEN_TTL_BY_ROLE=guest=7200,guest=7300",
        "HMS_APP_TOKEN_TTL_BY_ROLE=guest",
        "ADMIN_ADDR=nowhere",
        "ADMIN_ADDR=127.0.0.1:70000",
        "LOG_LEVEL=loud",
        "HMS_SUBDOMAIN=Has Space",
        "TOPIC_VIDEO_READY=booking-created",
        "TOPIC_DLQ=bad/topic",
        "KAFKA_PROP_NO_SUCH_PROPERTY=1",
        "KAFKA_PROP_acks=sometimes",
        "HMS_TEMPLATE_ID=has space",
        "CACHE_GRACE_S=0",
        "HMS_API_BASE=https://u:p@api.x/v2",
        "HMS_API_ALLOW_HTTP=2",
        "HMS_API_ALLOW_HTTP=yes",
        "HMS_API_ALLOW_HTTP=-1",
        /* credentials over http:// to another host would go in clear */
        "SCHEMA_REGISTRY_URL=http://u:p@reg:8081",
        "SCHEMA_REGISTRY_URL=https://u%3Ax:p@reg",    /* ':' in the user */
        "SCHEMA_REGISTRY_URL=https://u:p%0Aq@reg",    /* a control char */
        "SCHEMA_REGISTRY_URL=https://u:p%00q@reg",    /* NUL */
        "SCHEMA_REGISTRY_URL=https://u:p@reg:8081@x", /* '@' not encoded */
        "SCHEMA_REGISTRY_URL=ftp://reg",
        "SCHEMA_REGISTRY_URL=https://reg?x=1",
        "SCHEMA_REGISTRY_URL=https://reg/#f",
        "SCHEMA_REGISTRY_URL=reg:8081",
        "SCHEMA_REGISTRY_URL=https://reg/a b",
        "SCHEMA_REGISTRY_URL=https://",
        "TOPIC_WEBHOOKS=hms-worker-dlq", /* a topic used twice */
        "TOPIC_VIDEO_SESSION=video-ended",
        "TOPIC_VIDEO_SESSION=bad topic",
        "TOPIC_WEBHOOKS=bad topic",
        "WEBHOOK_ADDR=nowhere",
        "WEBHOOK_ADDR=webhooks.example:8443", /* no host names */
        "WEBHOOK_ADDR=127.0.0.1:70000",
        "WEBHOOK_ADDR=[::1:8443",
        "WEBHOOK_ADDR=::1:8443", /* IPv6 needs its brackets */
        "WEBHOOK_PATH=hms/webhooks",
        "WEBHOOK_PATH=/a b",
        "WEBHOOK_PATH=/a?b",
        "WEBHOOK_SECRET_HEADERS=X-Hms-Secret",
        "WEBHOOK_SECRET_HEADERS=X-Hms-Secret: short",
        "WEBHOOK_ALLOW_NO_SECRET=2",
        "WEBHOOK_ALLOW_CIDRS=10.0.0.0/33",
        "WEBHOOK_ALLOW_CIDRS=10.1.0.0/8",
        "WEBHOOK_ALLOW_CIDRS=localhost",
        "WEBHOOK_MAX_BYTES=100",
        "WEBHOOK_MAX_BYTES=2000000",
        "WEBHOOK_TIMEOUT_MS=0",
        "WEBHOOK_MAX_CONNECTIONS=0",
        "WEBHOOK_MAX_PER_IP=300", /* over WEBHOOK_MAX_CONNECTIONS (256) */
        "WEBHOOK_TLS_CERT_FILE=/etc/hostname", /* without its key */
        "WEBHOOK_TLS_KEY_FILE=/etc/hostname",  /* without its certificate */
        "HMS_HLS_START=on_join", /* the join is a webhook: WEBHOOK_EVENTS=1 */
        "HMS_HLS_START=later",
        "HMS_HLS_RETRIES=11",
        "CLEANUP_ON_CLOSE=yes",
    };
    struct conf cf;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *const env[] = {bad[i], MIN_ENV, NULL};
        enum hw_rc rc = load(&cf, env);

        if (rc != HW_ERR_CONFIG) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
        }
        CHECK(rc == HW_ERR_CONFIG);
        conf_deinit(&cf);
    }
}

/* rediss://: TLS on, the same URL shape; a password from
 * REDIS_PASSWORD_FILE for a user named in the URL. */
static void test_redis_tls_values(void)
{
    char path[] = "/tmp/hw-conf-rpw-XXXXXX";
    int fd = mkstemp(path);
    char fenv[64];
    const char *const tls[] = {
        MIN_ENV, "REDIS_URL=rediss://hmsw:pw@redis.example.com:6380/2", NULL};
    struct conf cf;

    CHECK(load(&cf, tls) == HW_OK);
    CHECK(cf.redis.tls);
    CHECK_STR(cf.redis.host, "redis.example.com");
    CHECK_INT(cf.redis.port, 6380);
    CHECK_INT(cf.redis.db, 2);
    CHECK_STR(cf.redis.user, "hmsw");
    CHECK_STR(secret_reveal(&cf.redis.password, NULL), "pw");
    CHECK(cf.redis.tls_ca_file == NULL); /* the system's trust store */
    conf_deinit(&cf);
    CHECK(fd >= 0 && write(fd, "file-pw\n", 8) == 8);
    close(fd);
    snprintf(fenv, sizeof(fenv), "REDIS_PASSWORD_FILE=%s", path);
    {
        const char *const env[] = {MIN_ENV, "REDIS_URL=rediss://hmsw@h/0", fenv,
                                   NULL};
        const char *const twice[] = {MIN_ENV, "REDIS_URL=redis://:pw@h/0", fenv,
                                     NULL};

        CHECK(load(&cf, env) == HW_OK);
        CHECK_STR(cf.redis.user, "hmsw");
        CHECK_STR(secret_reveal(&cf.redis.password, NULL), "file-pw");
        CHECK_INT(cf.redis.port, 6379);
        conf_deinit(&cf);
        CHECK(load(&cf, twice) == HW_ERR_CONFIG); /* a password given twice */
        conf_deinit(&cf);
    }
    unlink(path);
}

/* Runs conf_load (dump == false) or conf_load + conf_dump on env with
 * stderr captured into buf; returns conf_load's result. */
static enum hw_rc captured(const char *const *env, bool dump, char *buf,
                           size_t size)
{
    char path[] = "/tmp/hw-conf-log-XXXXXX";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);
    struct conf cf;
    enum hw_rc rc;
    FILE *f;

    dup2(fd, STDERR_FILENO);
    rc = load(&cf, env);
    if (dump) {
        log_min_level = LL_INFO;
        conf_dump(&cf);
        log_min_level = LL_ERROR;
    }
    dup2(saved, STDERR_FILENO);
    close(saved);
    conf_deinit(&cf);
    f = fdopen(fd, "r");
    rewind(f);
    buf[fread(buf, 1, size - 1, f)] = '\0';
    fclose(f);
    unlink(path);
    return rc;
}

/* Missing required keys and several errors: all reported in one go. */
static void test_all_errors_reported(void)
{
    const char *const env[] = {"HMS_MAX_IN_FLIGHT=-1", "LOG_LEVEL=x",
                               "REDIS_URL=redis://:topsecretpw@h:1/99", NULL};
    char buf[8192];

    CHECK(captured(env, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
    CHECK(strstr(buf, "var=HMS_ACCESS_KEY") != NULL);
    CHECK(strstr(buf, "var=HMS_APP_SECRET") != NULL);
    CHECK(strstr(buf, "var=HMS_TEMPLATE_ID") != NULL);
    CHECK(strstr(buf, "var=HMS_MAX_IN_FLIGHT") != NULL);
    CHECK(strstr(buf, "var=LOG_LEVEL") != NULL);
    CHECK(strstr(buf, "var=REDIS_URL") != NULL);
    CHECK(strstr(buf, "topsecretpw") == NULL);
}

/* The webhook listener's errors name their variable, and never print a
 * secret header's value; an open listener is refused, or warned about. */
static void test_webhook_errors(void)
{
    const char *const no_secret[] = {MIN_ENV, "WEBHOOK_ADDR=127.0.0.1:0", NULL};
    const char *const open[] = {MIN_ENV, "WEBHOOK_ADDR=127.0.0.1:0",
                                "WEBHOOK_ALLOW_NO_SECRET=1", NULL};
    const char *const bad_value[] = {
        MIN_ENV, "WEBHOOK_SECRET_HEADERS=X-A: wh-s3cr3t-0123456789\x01", NULL};
    const char *const both[] = {MIN_ENV, "WEBHOOK_SECRET_HEADERS=" WH_SECRET,
                                "WEBHOOK_SECRET_HEADERS_FILE=/etc/hostname",
                                NULL};
    const char *const tls[] = {
        MIN_ENV, "WEBHOOK_TLS_CERT_FILE=/nonexistent/cert.pem",
        "WEBHOOK_TLS_KEY_FILE=/nonexistent/key.pem", NULL};
    const char *const ok[] = {MIN_ENV, "WEBHOOK_ADDR=127.0.0.1:0",
                              "WEBHOOK_SECRET_HEADERS=" WH_SECRET, NULL};
    char buf[16384];

    CHECK(captured(no_secret, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
    CHECK(strstr(buf, "var=WEBHOOK_SECRET_HEADERS") != NULL);
    CHECK(strstr(buf, "WEBHOOK_ALLOW_NO_SECRET=1") != NULL);
    CHECK(captured(open, true, buf, sizeof(buf)) == HW_OK);
    CHECK(strstr(buf, "level=warn") != NULL);
    CHECK(strstr(buf, "checks no secret header") != NULL);
    CHECK(captured(bad_value, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
    CHECK(strstr(buf, "var=WEBHOOK_SECRET_HEADERS") != NULL);
    CHECK(strstr(buf, "wh-s3cr3t") == NULL);
    CHECK(captured(both, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
    CHECK(strstr(buf, "var=WEBHOOK_SECRET_HEADERS") != NULL);
    CHECK(strstr(buf, "wh-s3cr3t") == NULL);
    CHECK(captured(tls, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
    CHECK(strstr(buf, "var=WEBHOOK_TLS_CERT_FILE") != NULL);
    CHECK(strstr(buf, "var=WEBHOOK_TLS_KEY_FILE") != NULL);
    /* the dump names the headers and redacts their values */
    CHECK(captured(ok, true, buf, sizeof(buf)) == HW_OK);
    CHECK(strstr(buf, "var=WEBHOOK_SECRET_HEADERS value=(redacted, set)") !=
          NULL);
    CHECK(strstr(buf, "header=X-Hms-Secret value=(redacted)") != NULL);
    CHECK(strstr(buf, "wh-s3cr3t") == NULL);
    CHECK(strstr(buf, "level=warn") == NULL);
}

/* The REDIS_TLS_* files: each error names its variable (and the file),
 * a file that is not what it should be is refused at load, never a
 * password in the output. */
static void test_redis_tls_errors(void)
{
    const char *const no_tls[] = {MIN_ENV, "REDIS_URL=redis://:rtlspw@h/0",
                                  "REDIS_TLS_CA_FILE=/etc/hostname", NULL};
    const char *const missing[] = {MIN_ENV, "REDIS_URL=rediss://:rtlspw@h/0",
                                   "REDIS_TLS_CA_FILE=/nonexistent/ca.pem",
                                   NULL};
    const char *const not_pem[] = {MIN_ENV, "REDIS_URL=rediss://:rtlspw@h/0",
                                   "REDIS_TLS_CA_FILE=/etc/hostname", NULL};
    const char *const half[] = {MIN_ENV, "REDIS_URL=rediss://:rtlspw@h/0",
                                "REDIS_TLS_KEY_FILE=/etc/hostname", NULL};
    const char *const bad_key[] = {MIN_ENV, "REDIS_URL=rediss://:rtlspw@h/0",
                                   "REDIS_TLS_CERT_FILE=/etc/hostname",
                                   "REDIS_TLS_KEY_FILE=/etc/hostname", NULL};
    const char *const ok[] = {MIN_ENV, "REDIS_URL=rediss://u:rtlspw@h:1/0",
                              NULL};
    char buf[16384];

    CHECK(captured(no_tls, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
    CHECK(strstr(buf, "var=REDIS_TLS_CA_FILE") != NULL);
    CHECK(strstr(buf, "use rediss://") != NULL);
    CHECK(captured(missing, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
    CHECK(strstr(buf, "var=REDIS_TLS_CA_FILE") != NULL);
    CHECK(strstr(buf, "cannot read /nonexistent/ca.pem") != NULL);
    CHECK(captured(not_pem, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
    CHECK(strstr(buf, "REDIS_TLS_CA_FILE /etc/hostname") != NULL);
    CHECK(captured(half, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
    CHECK(strstr(buf, "var=REDIS_TLS_CERT_FILE") != NULL);
    CHECK(strstr(buf, "needs both") != NULL);
    CHECK(captured(bad_key, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
    CHECK(strstr(buf, "REDIS_TLS_CERT_FILE /etc/hostname") != NULL);
    CHECK(strstr(buf, "rtlspw") == NULL);
    CHECK(captured(ok, true, buf, sizeof(buf)) == HW_OK);
    CHECK(strstr(buf, "tls=verify(system store)") != NULL);
    CHECK(strstr(buf, "auth=(redacted)") != NULL);
    CHECK(strstr(buf, "rtlspw") == NULL);
}

/* WEBHOOK_SECRET_HEADERS_FILE: one pair per line. */
static void test_webhook_secret_file(void)
{
    char path[] = "/tmp/hw-conf-wh-XXXXXX";
    int fd = mkstemp(path);
    char fenv[64];
    static const char text[] = "X-Hms-Secret: wh-s3cr3t-0123456789\n"
                               "X-Second: second-0123456789\n";
    struct conf cf;

    CHECK(fd >= 0 &&
          write(fd, text, sizeof(text) - 1) == (ssize_t)(sizeof(text) - 1));
    close(fd);
    snprintf(fenv, sizeof(fenv), "WEBHOOK_SECRET_HEADERS_FILE=%s", path);
    {
        const char *const env[] = {MIN_ENV, "WEBHOOK_ADDR=127.0.0.1:0", fenv,
                                   NULL};

        CHECK(load(&cf, env) == HW_OK);
        CHECK_INT(cf.n_webhook_headers, 2);
        CHECK_STR(cf.webhook_headers[1].name, "X-Second");
        CHECK_STR(secret_reveal(&cf.webhook_headers[1].value, NULL),
                  "second-0123456789");
        conf_deinit(&cf);
    }
    unlink(path);
}

static void test_dump_redacts(void)
{
    const char *const env[] = {MIN_ENV, "REDIS_URL=redis://:dumppw@h:1/0",
                               "KAFKA_PROP_SASL_PASSWORD=dumpsasl", NULL};
    char buf[16384];

    CHECK(captured(env, true, buf, sizeof(buf)) == HW_OK);
    CHECK(strstr(buf, "var=HMS_ACCESS_KEY value=\"ak\"") != NULL);
    CHECK(strstr(buf, "var=HMS_MAX_IN_FLIGHT value=256") != NULL);
    CHECK(strstr(buf, "var=HMS_APP_SECRET value=(redacted") != NULL);
    CHECK(strstr(buf, "kafka_property=sasl.password value=\"(redacted)\"") !=
          NULL);
    CHECK(strstr(buf, "s3cr3t-value") == NULL);
    CHECK(strstr(buf, "dumppw") == NULL);
    CHECK(strstr(buf, "dumpsasl") == NULL);
}

/* http:// to a host that is not loopback (a simulator in docker compose)
 * needs HMS_API_ALLOW_HTTP=1, and is warned about when allowed. */
static void test_allow_http(void)
{
    const char *const refused[] = {MIN_ENV,
                                   "HMS_API_BASE=http://hms-sim:8080/v2", NULL};
    const char *const allowed[] = {MIN_ENV,
                                   "HMS_API_BASE=http://hms-sim:8080/v2/",
                                   "HMS_API_ALLOW_HTTP=1", NULL};
    const char *const https[] = {MIN_ENV, "HMS_API_ALLOW_HTTP=1", NULL};
    const char *const v6[] = {MIN_ENV, "HMS_API_BASE=http://[::1]:8080/v2",
                              NULL};
    char buf[16384];
    struct conf cf;

    CHECK(captured(refused, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
    CHECK(strstr(buf, "var=HMS_API_BASE") != NULL);
    CHECK(strstr(buf, "HMS_API_ALLOW_HTTP=1") != NULL);
    CHECK(captured(allowed, true, buf, sizeof(buf)) == HW_OK);
    CHECK(strstr(buf, "var=HMS_API_ALLOW_HTTP value=1") != NULL);
    CHECK(strstr(buf, "level=warn") != NULL);
    CHECK(strstr(buf, "HMS_API_ALLOW_HTTP=1: the 100ms API over plain http") !=
          NULL);
    CHECK(load(&cf, allowed) == HW_OK);
    CHECK_STR(cf.hms_api_base, "http://hms-sim:8080/v2");
    CHECK_INT(cf.hms_api_allow_http, 1);
    conf_deinit(&cf);
    /* allowed but unused (https), or not needed (loopback): no warning */
    CHECK(captured(https, true, buf, sizeof(buf)) == HW_OK);
    CHECK(strstr(buf, "level=warn") == NULL);
    CHECK(captured(v6, true, buf, sizeof(buf)) == HW_OK);
    CHECK(strstr(buf, "level=warn") == NULL);
}

/* https://user:password@host: percent-decoded credentials for Basic auth,
 * a base URL without them, a logged URL without the password. */
static void test_registry_credentials(void)
{
    const char *const env[] = {
        MIN_ENV,
        "SCHEMA_REGISTRY_URL=https://sr%40user:pa%3Ass%2Fw%40rd@"
        "reg.example:8081/apis/ccompat/v7/",
        NULL};
    const char *const v6[] = {
        MIN_ENV, "SCHEMA_REGISTRY_URL=http://u:p@[::1]:8081", NULL};
    const char *const v6_remote[] = {
        MIN_ENV, "SCHEMA_REGISTRY_URL=https://[2001:db8::1]:8081/x", NULL};
    const char *const user_only[] = {
        MIN_ENV, "SCHEMA_REGISTRY_URL=https://api-key@reg", NULL};
    struct conf cf;

    CHECK(load(&cf, env) == HW_OK);
    CHECK_STR(cf.registry.base, "https://reg.example:8081/apis/ccompat/v7");
    CHECK_STR(cf.registry.user, "sr@user");
    CHECK_STR(secret_reveal(&cf.registry.password, NULL), "pa:ss/w@rd");
    CHECK_STR(cf.registry.shown,
              "https://sr%40user:(redacted)@reg.example:8081/apis/ccompat/v7");
    conf_deinit(&cf);
    CHECK(load(&cf, v6) == HW_OK); /* loopback: http is fine */
    CHECK_STR(cf.registry.base, "http://[::1]:8081");
    CHECK_STR(cf.registry.user, "u");
    CHECK_STR(secret_reveal(&cf.registry.password, NULL), "p");
    conf_deinit(&cf);
    CHECK(load(&cf, v6_remote) == HW_OK);
    CHECK_STR(cf.registry.base, "https://[2001:db8::1]:8081/x");
    CHECK(cf.registry.user == NULL && cf.registry.password.len == 0);
    conf_deinit(&cf);
    CHECK(load(&cf, user_only) == HW_OK);
    CHECK_STR(cf.registry.user, "api-key");
    CHECK_INT(cf.registry.password.len, 0);
    CHECK_STR(cf.registry.shown, "https://api-key@reg");
    conf_deinit(&cf);
}

/* The registry password, decoded or as written, reaches neither an error
 * nor the dump; the dump shows the URL with the password redacted. */
static void test_registry_password_never_logged(void)
{
    const char *const ok[] = {
        MIN_ENV, "SCHEMA_REGISTRY_URL=https://sr:reg%2Fdumppw@reg:8081/v7",
        NULL};
    const char *const bad[] = {
        MIN_ENV, "SCHEMA_REGISTRY_URL=http://sr:reg%2Ferrpw@reg:8081/v7", NULL};
    char buf[16384];

    CHECK(captured(ok, true, buf, sizeof(buf)) == HW_OK);
    CHECK(strstr(buf, "var=SCHEMA_REGISTRY_URL url=\"https://sr:(redacted)@"
                      "reg:8081/v7\" auth=basic") != NULL);
    CHECK(strstr(buf, "dumppw") == NULL);
    CHECK(captured(bad, true, buf, sizeof(buf)) == HW_ERR_CONFIG);
    CHECK(strstr(buf, "var=SCHEMA_REGISTRY_URL") != NULL);
    CHECK(strstr(buf, "errpw") == NULL);
}

/* A file holding sasl_text, with mode; its path in path[]. */
static void secret_file(char *path, const char *text, mode_t mode)
{
    int fd = mkstemp(path);

    CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    CHECK(fchmod(fd, mode) == 0);
    close(fd);
}

/* KAFKA_PROP_<name>_FILE: the property's value from a file (one trailing
 * newline stripped), in either spelling of the name; always redacted. */
static void test_kafka_prop_file(void)
{
    char pw[] = "/tmp/hw-conf-sasl-XXXXXX", kp[] = "/tmp/hw-conf-kp-XXXXXX";
    char pw_env[64], kp_env[64], buf[16384];
    struct conf cf;

    secret_file(pw, "sasl-fr0m-file\n", 0600);
    secret_file(kp, "key-pa55\r\n", 0400);
    snprintf(pw_env, sizeof(pw_env), "KAFKA_PROP_SASL_PASSWORD_FILE=%s", pw);
    snprintf(kp_env, sizeof(kp_env), "KAFKA_PROP_ssl.key.password_FILE=%s", kp);
    {
        const char *const env[] = {MIN_ENV, "KAFKA_PROP_SASL_USERNAME=u",
                                   pw_env, kp_env, NULL};

        CHECK(load(&cf, env) == HW_OK);
        CHECK_INT(cf.n_kafka_props, 3);
        CHECK_STR(cf.kafka_props[1].name, "sasl.password");
        CHECK_STR(cf.kafka_props[1].value, "sasl-fr0m-file");
        CHECK(cf.kafka_props[1].sensitive);
        CHECK_STR(cf.kafka_props[1].file, pw);
        CHECK_STR(cf.kafka_props[2].name, "ssl.key.password");
        CHECK_STR(cf.kafka_props[2].value, "key-pa55");
        CHECK(cf.kafka_props[0].file == NULL);
        conf_deinit(&cf);
        log_min_level = LL_WARN;
        CHECK(captured(env, true, buf, sizeof(buf)) == HW_OK);
        log_min_level = LL_ERROR;
        CHECK(strstr(buf, "kafka_property=sasl.password value=\"(redacted)\" "
                          "file=") != NULL);
        CHECK(strstr(buf, "fr0m") == NULL && strstr(buf, "pa55") == NULL);
        CHECK(strstr(buf, "level=warn") == NULL); /* 0600 and 0400: fine */
    }
    unlink(pw);
    unlink(kp);
}

/* A secret file others can read is warned about (libpq's .pgpass rule);
 * a value given twice, an empty or a missing file are errors that name
 * the variables, never the value. */
static void test_kafka_prop_file_errors(void)
{
    char pw[] = "/tmp/hw-conf-sasl-XXXXXX", empty[] = "/tmp/hw-conf-e-XXXXXX";
    char pw_env[64], empty_env[64], buf[16384];

    secret_file(pw, "sasl-fr0m-file\n", 0644);
    secret_file(empty, "\n", 0600);
    snprintf(pw_env, sizeof(pw_env), "KAFKA_PROP_SASL_PASSWORD_FILE=%s", pw);
    snprintf(empty_env, sizeof(empty_env), "KAFKA_PROP_SASL_PASSWORD_FILE=%s",
             empty);
    {
        const char *const env[] = {MIN_ENV, pw_env, NULL};

        log_min_level = LL_WARN;
        CHECK(captured(env, false, buf, sizeof(buf)) == HW_OK);
        log_min_level = LL_ERROR;
        CHECK(strstr(buf, "level=warn") != NULL);
        CHECK(strstr(buf, "readable by group or others") != NULL);
        CHECK(strstr(buf, "var=KAFKA_PROP_SASL_PASSWORD_FILE") != NULL);
        CHECK(strstr(buf, "fr0m") == NULL);
    }
    {
        const char *const env[] = {MIN_ENV, pw_env,
                                   "KAFKA_PROP_sasl.password=inl1ne", NULL};

        CHECK(captured(env, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
        CHECK(strstr(buf, "sasl.password") != NULL);
        CHECK(strstr(buf, "fr0m") == NULL && strstr(buf, "inl1ne") == NULL);
    }
    {
        const char *const env[] = {MIN_ENV, empty_env, NULL};

        CHECK(captured(env, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
        CHECK(strstr(buf, "KAFKA_PROP_SASL_PASSWORD_FILE") != NULL);
    }
    unlink(empty);
    {
        const char *const env[] = {MIN_ENV, empty_env, NULL}; /* gone */

        CHECK(captured(env, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
        CHECK(strstr(buf, "cannot open") != NULL);
    }
    unlink(pw);
}

/* Every secret file, not only KAFKA_PROP_*_FILE, is held to libpq's
 * .pgpass rule: group- or world-readable is warned about, once, naming the
 * variable and the file, never the content; 0600 and 0400 are quiet. */
static void test_secret_file_modes(void)
{
    char app[] = "/tmp/hw-conf-app-XXXXXX", rpw[] = "/tmp/hw-conf-rpw-XXXXXX";
    char app_env[64], rpw_env[64], buf[16384];
    const char *const env[] = {"HMS_ACCESS_KEY=ak", "HMS_TEMPLATE_ID=t",
                               app_env, rpw_env, NULL};
    const char *at;

    secret_file(app, "app-m0de-secret\n", 0644);
    secret_file(rpw, "redis-m0de-pw\n", 0640);
    snprintf(app_env, sizeof(app_env), "HMS_APP_SECRET_FILE=%s", app);
    snprintf(rpw_env, sizeof(rpw_env), "REDIS_PASSWORD_FILE=%s", rpw);
    log_min_level = LL_WARN;
    CHECK(captured(env, false, buf, sizeof(buf)) == HW_OK);
    at = strstr(buf, "var=HMS_APP_SECRET_FILE");
    CHECK(at != NULL && strstr(at, app) != NULL &&
          strstr(at, "mode=0644") != NULL);
    CHECK(at != NULL && strstr(at + 1, "var=HMS_APP_SECRET_FILE") == NULL);
    at = strstr(buf, "var=REDIS_PASSWORD_FILE");
    CHECK(at != NULL && strstr(at, rpw) != NULL &&
          strstr(at, "mode=0640") != NULL);
    CHECK(strstr(buf, "readable by group or others") != NULL);
    CHECK(strstr(buf, "m0de") == NULL);
    CHECK(chmod(app, 0600) == 0 && chmod(rpw, 0400) == 0);
    CHECK(captured(env, false, buf, sizeof(buf)) == HW_OK);
    CHECK(strstr(buf, "level=warn") == NULL);
    log_min_level = LL_ERROR;
    unlink(app);
    unlink(rpw);
}

/* conf_wipe_env(): after loading, the value of every secret variable is
 * cleansed in place (so /proc/<pid>/environ no longer shows it); the
 * rest, _FILE paths included, stay as they were. */
static void test_wipe_env(void)
{
    char s1[] = "HMS_APP_SECRET=app-wipe-me", s2[] = "REDIS_URL=redis://:pw@h";
    char s3[] = "KAFKA_PROP_SASL_PASSWORD=kpw", s4[] = "REDIS_PASSWORD=rpw";
    char s5[] = "KAFKA_PROP_ssl.key.pem=pem", s6[] = "WEBHOOK_SECRET_HEADERS=x";
    char s7[] = "SCHEMA_REGISTRY_URL=https://u:p@r";
    char k1[] = "HMS_ACCESS_KEY=ak", k2[] = "KAFKA_PROP_SASL_USERNAME=user";
    char k3[] = "HMS_APP_SECRET_FILE=/run/s",
         k4[] = "KAFKA_PROP_SASL_PASSWORD_FILE=/f";
    char k5[] = "HMS_APP_SECRETX=keep", k6[] = "PATH=/bin";
    char *env[] = {s1, s2, s3, s4, s5, s6, s7, k1, k2, k3, k4, k5, k6, NULL};
    char *wiped[] = {s1, s2, s3, s4, s5, s6, s7};
    static const char *const kept[] = {
        "HMS_ACCESS_KEY=ak",          "KAFKA_PROP_SASL_USERNAME=user",
        "HMS_APP_SECRET_FILE=/run/s", "KAFKA_PROP_SASL_PASSWORD_FILE=/f",
        "HMS_APP_SECRETX=keep",       "PATH=/bin"};

    CHECK_INT(conf_wipe_env(env), 7);
    for (size_t i = 0; i < HW_ARRAY_LEN(wiped); i++) {
        const char *eq = strchr(wiped[i], '=');

        CHECK(eq != NULL && eq[1] == '\0'); /* the name stays */
    }
    CHECK(s1[sizeof(s1) - 2] == '\0'); /* every byte, not only the first */
    for (size_t i = 0; i < HW_ARRAY_LEN(kept); i++) {
        CHECK_STR(env[7 + i], kept[i]);
    }
    CHECK_INT(conf_wipe_env(env), 0); /* already empty: nothing to do */
}

/* What this librdkafka cannot do is said in our words, naming the
 * missing feature, instead of a redacted or a start-time error. */
static void test_kafka_sasl_features(void)
{
    static const struct {
        const char *var, *want;
    } bad[] = {
        {"KAFKA_PROP_SASL_OAUTHBEARER_METHOD=oidc", "oidc"},
        {"KAFKA_PROP_sasl.oauthbearer.token.endpoint.url=https://idp/t",
         "oidc"},
        {"KAFKA_PROP_SASL_MECHANISM=OAUTHBEARER", "oidc"},
        {"KAFKA_PROP_SASL_MECHANISMS=AWS_MSK_IAM", "AWS_MSK_IAM"},
        {"KAFKA_PROP_SASL_MECHANISM=SCRAM-SHA-1", "SCRAM-SHA-1"},
    };
    const char *const scram[] = {MIN_ENV,
                                 "KAFKA_PROP_SECURITY_PROTOCOL=sasl_ssl",
                                 "KAFKA_PROP_SASL_MECHANISM=SCRAM-SHA-512",
                                 "KAFKA_PROP_SASL_USERNAME=u",
                                 "KAFKA_PROP_SASL_PASSWORD=p",
                                 NULL};
    /* librdkafka's test mode, made on purpose */
    const char *const unsecured[] = {
        MIN_ENV, "KAFKA_PROP_SASL_MECHANISM=OAUTHBEARER",
        "KAFKA_PROP_ENABLE_SASL_OAUTHBEARER_UNSECURE_JWT=true", NULL};
    char buf[16384];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *const env[] = {MIN_ENV, bad[i].var, NULL};

        CHECK(captured(env, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
        if (strstr(buf, bad[i].want) == NULL ||
            strstr(buf, "builtin.features") == NULL ||
            strstr(buf, "(redacted)") != NULL) {
            fprintf(stderr, "FAIL %s: %s\n", bad[i].var, buf);
            CHECK(false);
        }
    }
    CHECK(captured(scram, false, buf, sizeof(buf)) == HW_OK);
    CHECK(captured(unsecured, false, buf, sizeof(buf)) == HW_OK);
}

/* Two variables for one property (two spellings, or a value and a file):
 * which one wins would be an accident. */
static void test_kafka_prop_twice(void)
{
    const char *const env[] = {MIN_ENV, "KAFKA_PROP_security.protocol=ssl",
                               "KAFKA_PROP_SECURITY_PROTOCOL=plaintext", NULL};
    char buf[16384];

    CHECK(captured(env, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
    CHECK(strstr(buf, "security.protocol") != NULL);
}

/* HLS starts when the host joins by default once webhooks are consumed;
 * immediate keeps the start at provisioning. */
/* HMS_API_CA_FILE: a readable PEM file with a certificate, or an error
 * naming the variable; unset, the system's store (NULL). */
static void test_api_ca_file(void)
{
    char pem[] = "/tmp/hw-conf-ca-XXXXXX", key[] = "/tmp/hw-conf-key-XXXXXX";
    int fd_pem = mkstemp(pem), fd_key = mkstemp(key);
    static const char cert[] = "# the stack's CA\n"
                               "-----BEGIN CERTIFICATE-----\nMIIB\n"
                               "-----END CERTIFICATE-----\n";
    static const char not_cert[] = "-----BEGIN EC PRIVATE KEY-----\nMHc\n"
                                   "-----END EC PRIVATE KEY-----\n";
    char ok_env[64], key_env[64], buf[16384];
    struct conf cf;

    CHECK(fd_pem >= 0 &&
          write(fd_pem, cert, sizeof(cert) - 1) == (ssize_t)(sizeof(cert) - 1));
    CHECK(fd_key >= 0 && write(fd_key, not_cert, sizeof(not_cert) - 1) ==
                             (ssize_t)(sizeof(not_cert) - 1));
    close(fd_pem);
    close(fd_key);
    snprintf(ok_env, sizeof(ok_env), "HMS_API_CA_FILE=%s", pem);
    snprintf(key_env, sizeof(key_env), "HMS_API_CA_FILE=%s", key);
    {
        const char *const unset[] = {MIN_ENV, NULL};
        const char *const ok[] = {MIN_ENV, ok_env, NULL};
        const char *const missing[] = {
            MIN_ENV, "HMS_API_CA_FILE=/nonexistent/ca.pem", NULL};
        const char *const wrong[] = {MIN_ENV, key_env, NULL};

        CHECK(load(&cf, unset) == HW_OK && cf.hms_api_ca_file == NULL);
        conf_deinit(&cf);
        CHECK(load(&cf, ok) == HW_OK);
        CHECK_STR(cf.hms_api_ca_file, pem);
        conf_deinit(&cf);
        CHECK(captured(missing, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
        CHECK(strstr(buf, "var=HMS_API_CA_FILE") != NULL);
        CHECK(strstr(buf, "cannot read /nonexistent/ca.pem") != NULL);
        CHECK(captured(wrong, false, buf, sizeof(buf)) == HW_ERR_CONFIG);
        CHECK(strstr(buf, "holds no PEM certificate") != NULL);
    }
    unlink(pem);
    unlink(key);
}

static void test_hls_start(void)
{
    const char *const hooks[] = {MIN_ENV, "WEBHOOK_EVENTS=1", NULL};
    const char *const immediate[] = {MIN_ENV, "WEBHOOK_EVENTS=1",
                                     "HMS_HLS_START=immediate",
                                     "CLEANUP_ON_CLOSE=end", NULL};
    struct conf cf;

    CHECK(load(&cf, hooks) == HW_OK);
    CHECK(cf.hls_on_join && cf.cleanup == CLEANUP_LOCK);
    conf_deinit(&cf);
    CHECK(load(&cf, immediate) == HW_OK);
    CHECK(!cf.hls_on_join && cf.cleanup == CLEANUP_END);
    conf_deinit(&cf);
}

int main(void)
{
    log_min_level = LL_ERROR + 1; /* quiet, except where captured */
    test_hls_start();
    test_defaults();
    test_values();
    test_secret_file_and_off();
    test_webhook_values();
    test_webhook_secret_file();
    test_redis_tls_values();
    test_each_error();
    log_min_level = LL_ERROR;
    test_all_errors_reported();
    test_dump_redacts();
    test_webhook_errors();
    test_redis_tls_errors();
    test_allow_http();
    test_api_ca_file();
    test_registry_credentials();
    test_registry_password_never_logged();
    test_kafka_prop_file();
    test_kafka_prop_file_errors();
    test_secret_file_modes();
    test_wipe_env();
    test_kafka_sasl_features();
    test_kafka_prop_twice();
    return TEST_REPORT();
}
