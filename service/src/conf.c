/* conf.c -- the configuration table and its validation. keys[], one row
 * per variable, drives loading, conf_dump() and conf_deinit() alike. A
 * string row may carry a check that validates the value and derives fields
 * (REDIS_URL -> cf->redis; SCHEMA_REGISTRY_URL -> cf->registry, split by
 * libcurl's URL API; WEBHOOK_ALLOW_CIDRS -> cf->webhook_cidrs, parsed by
 * whaccess.c); cross_checks() compares keys (and derives hls_on_join,
 * which depends on WEBHOOK_EVENTS), webhook_checks() the webhook
 * listener's (the secret headers are parsed there, once loaded from the
 * variable or its file); KAFKA_PROP_* are tried on a scratch
 * rd_kafka_conf_t (KAFKA_PROP_<name>_FILE: the value read from a file,
 * as a secret is), then check_kafka_sasl() holds the SASL mechanism
 * against the build's builtin.features. Runs once at startup, before any
 * thread. */
#define LOGMOD "conf"
#include "conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "cachetls.h"

enum conf_type { CONF_STR, CONF_INT, CONF_SECRET };

#define CONF_REQUIRED 1u
#define CONF_SENSITIVE 2u

struct conf;
typedef bool conf_check_fn(struct conf *cf, const char *v, char *err, size_t n);

struct conf_key {
    const char *env;
    enum conf_type type;
    size_t offset;
    unsigned flags;
    const char *def; /* NULL: unset; CONF_SECRET: the *_FILE variable */
    long long min, max;
    conf_check_fn *check; /* CONF_STR: validates and derives fields */
};

#define DAY_S 86400LL
#define STR(e, f, def, chk)                                                    \
    {                                                                          \
        e, CONF_STR, offsetof(struct conf, f), 0, def, 0, 0, chk               \
    }
#define REQ(e, f, chk)                                                         \
    {                                                                          \
        e, CONF_STR, offsetof(struct conf, f), CONF_REQUIRED, NULL, 0, 0, chk  \
    }
#define INT(e, f, def, lo, hi)                                                 \
    {                                                                          \
        e, CONF_INT, offsetof(struct conf, f), 0, def, lo, hi, NULL            \
    }

static conf_check_fn check_topic, check_redis, check_api_base, check_name,
    check_subdomain, check_role_ttls, check_admin, check_log_level,
    check_registry, check_webhook_addr, check_webhook_path, check_cidrs,
    check_hls_start, check_cleanup;
static conf_check_fn check_ca_file; /* HMS_API_CA_FILE */

static const struct conf_key keys[] = {
    STR("KAFKA_BROKERS", kafka_brokers, "127.0.0.1:9092", NULL),
    STR("KAFKA_GROUP_ID", kafka_group_id, "hms-worker", check_name),
    STR("TOPIC_BOOKING_CREATED", topic_booking_created, "booking-created",
        check_topic),
    STR("TOPIC_STREAM_STARTED", topic_stream_started, "stream-started",
        check_topic),
    STR("TOPIC_SESSION_ENDED", topic_session_ended, "session-ended",
        check_topic),
    STR("TOPIC_VIDEO_READY", topic_video_ready, "video-ready", check_topic),
    STR("TOPIC_VIDEO_ENDED", topic_video_ended, "video-ended", check_topic),
    /* what webhooks told, as applied (WEBHOOK_EVENTS=1) */
    STR("TOPIC_VIDEO_SESSION", topic_video_session, "video-session",
        check_topic),
    STR("TOPIC_DLQ", topic_dlq, "hms-worker-dlq", check_topic),
    STR("TOPIC_WEBHOOKS", topic_webhooks, "hms-webhooks", check_topic),
    /* 1: consume TOPIC_WEBHOOKS and apply what 100ms reports */
    INT("WEBHOOK_EVENTS", webhook_events, "0", 0, 1),
    /* sensitive: https://user:password@host is how credentials come
     * (split into cf->registry by check_registry) */
    {"SCHEMA_REGISTRY_URL", CONF_STR,
     offsetof(struct conf, schema_registry_url), CONF_SENSITIVE, NULL, 0, 0,
     check_registry},
    {"REDIS_URL", CONF_STR, offsetof(struct conf, redis_url), CONF_SENSITIVE,
     "redis://127.0.0.1:6379/0", 0, 0, check_redis},
    /* the password, when not in REDIS_URL (redis_checks) */
    {"REDIS_PASSWORD", CONF_SECRET, offsetof(struct conf, redis_password),
     CONF_SENSITIVE, "REDIS_PASSWORD_FILE", 0, 0, NULL},
    /* rediss:// only: the CA of Redis's certificate (unset: the system's
     * trust store) and a client certificate (both or none) */
    STR("REDIS_TLS_CA_FILE", redis.tls_ca_file, NULL, NULL),
    STR("REDIS_TLS_CERT_FILE", redis.tls_cert_file, NULL, NULL),
    STR("REDIS_TLS_KEY_FILE", redis.tls_key_file, NULL, NULL),
    STR("HMS_API_BASE", hms_api_base, "https://api.100ms.live/v2",
        check_api_base),
    /* 1: HMS_API_BASE may be http:// to any host (a simulator in compose) */
    INT("HMS_API_ALLOW_HTTP", hms_api_allow_http, "0", 0, 1),
    /* the CAs trusted for HMS_API_BASE instead of the system's (the local
     * stack's hms-sim); verification itself is never off */
    STR("HMS_API_CA_FILE", hms_api_ca_file, NULL, check_ca_file),
    REQ("HMS_ACCESS_KEY", hms_access_key, check_name),
    {"HMS_APP_SECRET", CONF_SECRET, offsetof(struct conf, hms_app_secret),
     CONF_REQUIRED | CONF_SENSITIVE, "HMS_APP_SECRET_FILE", 0, 0, NULL},
    REQ("HMS_TEMPLATE_ID", hms_template_id, check_name),
    STR("HMS_SUBDOMAIN", hms_subdomain, NULL, check_subdomain),
    /* the role of every meeting_url example in 100ms's docs */
    STR("HMS_HLS_COMPOSER_ROLE", hms_hls_composer_role, "__internal_recorder",
        check_name),
    INT("HMS_HLS_WAIT_MS", hms_hls_wait_ms, "120000", 0, 3600000),
    INT("HMS_HLS_CHECK_MS", hms_hls_check_ms, "30000", 1000, 3600000),
    STR("HMS_HLS_START", hms_hls_start, NULL, check_hls_start),
    INT("HMS_HLS_RETRIES", hms_hls_retries, "2", 0, 10),
    STR("CLEANUP_ON_CLOSE", cleanup_on_close, "lock", check_cleanup),
    /* live sessions' tokens: how often they are checked (renew.h) */
    INT("HMS_TOKEN_RENEW_CHECK_MS", hms_token_renew_check_ms, "60000", 1000,
        3600000),
    INT("HMS_APP_TOKEN_TTL_S", hms_app_token_ttl_s, "86400", 300, 90 * DAY_S),
    STR("HMS_APP_TOKEN_TTL_BY_ROLE", hms_app_token_ttl_by_role, NULL,
        check_role_ttls),
    INT("HMS_TOKEN_GRACE_S", hms_token_grace_s, "3600", 0, 30 * DAY_S),
    INT("HMS_MGMT_TOKEN_TTL_S", hms_mgmt_token_ttl_s, "3600", 30, 14 * DAY_S),
    INT("HMS_MAX_IN_FLIGHT", hms_max_in_flight, "256", 1, 10000),
    INT("HMS_MAX_CONNECTIONS", hms_max_connections, "256", 1, 10000),
    INT("MAX_HELD_MB", max_held_mb, "64", 1, 65536),
    INT("HMS_TIMEOUT_MS", hms_timeout_ms, "10000", 100, 300000),
    INT("HMS_RETRY_MAX", hms_retry_max, "5", 0, 100),
    INT("HMS_RETRY_BASE_MS", hms_retry_base_ms, "200", 1, 600000),
    INT("HMS_RETRY_CAP_MS", hms_retry_cap_ms, "10000", 1, 3600000),
    INT("EVENT_DEADLINE_MS", event_deadline_ms, "120000", 1000, 3600000),
    INT("HALT_RETRY_MS", halt_retry_ms, "30000", 1000, 3600000),
    INT("CACHE_GRACE_S", cache_grace_s, "86400", 60, 365 * DAY_S),
    INT("CACHE_DEFAULT_TTL_S", cache_default_ttl_s, "604800", 60, 365 * DAY_S),
    INT("SHUTDOWN_TIMEOUT_MS", shutdown_timeout_ms, "10000", 0, 600000),
    STR("ADMIN_ADDR", admin_addr, "127.0.0.1:9464", check_admin),
    /* the webhook listener (webhook.c): off unless WEBHOOK_ADDR is set */
    STR("WEBHOOK_ADDR", webhook_addr, NULL, check_webhook_addr),
    STR("WEBHOOK_PATH", webhook_path, "/hms/webhooks", check_webhook_path),
    {"WEBHOOK_SECRET_HEADERS", CONF_SECRET,
     offsetof(struct conf, webhook_secret_headers), CONF_SENSITIVE,
     "WEBHOOK_SECRET_HEADERS_FILE", 0, 0, NULL},
    INT("WEBHOOK_ALLOW_NO_SECRET", webhook_allow_no_secret, "0", 0, 1),
    STR("WEBHOOK_ALLOW_CIDRS", webhook_allow_cidrs, NULL, check_cidrs),
    INT("WEBHOOK_MAX_BYTES", webhook_max_bytes, "65536", 1024, 1000000),
    INT("WEBHOOK_TIMEOUT_MS", webhook_timeout_ms, "10000", 500, 120000),
    INT("WEBHOOK_MAX_CONNECTIONS", webhook_max_connections, "256", 1, 10000),
    INT("WEBHOOK_MAX_PER_IP", webhook_max_per_ip, "128", 1, 10000),
    STR("WEBHOOK_TLS_CERT_FILE", webhook_tls_cert_file, NULL, NULL),
    STR("WEBHOOK_TLS_KEY_FILE", webhook_tls_key_file, NULL, NULL),
    STR("LOG_LEVEL", log_level_name, "info", check_log_level),
};

#define KAFKA_PROP_PREFIX "KAFKA_PROP_"

/* ---- checks: each validates a value and may derive fields ---------- */

static bool has_only(const char *s, const char *set)
{
    return s[strspn(s, set)] == '\0';
}

#define NAME_CHARS                                                             \
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-"

static bool check_name(struct conf *cf, const char *v, char *err, size_t n)
{
    (void)cf;
    if (strlen(v) > 255 || !has_only(v, NAME_CHARS)) {
        snprintf(err, n, "use 1-255 characters of [A-Za-z0-9._:-]");
        return false;
    }
    return true;
}

static bool check_topic(struct conf *cf, const char *v, char *err, size_t n)
{
    (void)cf;
    if (strlen(v) > 249 || !has_only(v, "abcdefghijklmnopqrstuvwxyz"
                                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789._-")) {
        snprintf(err, n, "not a Kafka topic name ([A-Za-z0-9._-]{1,249})");
        return false;
    }
    return true;
}

static bool check_subdomain(struct conf *cf, const char *v, char *err, size_t n)
{
    (void)cf;
    if (strlen(v) > 63 ||
        !has_only(v, "abcdefghijklmnopqrstuvwxyz0123456789-")) {
        snprintf(err, n, "use lower-case letters, digits and '-'");
        return false;
    }
    return true;
}

static bool is_loopback(const char *host, size_t len)
{
    return (len == 9 && strncmp(host, "localhost", 9) == 0) ||
           (len >= 4 && strncmp(host, "127.", 4) == 0) ||
           (len == 5 && strncmp(host, "[::1]", 5) == 0);
}

/* The length of the host at the start of s: an IPv6 literal up to its
 * ']', else up to ':' or '/'. */
static size_t host_len(const char *s)
{
    const char *close = s[0] == '[' ? strchr(s, ']') : NULL;

    return close != NULL ? (size_t)(close - s) + 1 : strcspn(s, ":/");
}

/* https://host[:port][/path] or http://host[:port][/path]: whether http://
 * may go to that host is a cross-check (api_http_remote). */
static bool check_http_url(const char *v, char *err, size_t n)
{
    bool http = strncmp(v, "http://", 7) == 0;
    const char *host;

    if (!http && strncmp(v, "https://", 8) != 0) {
        snprintf(err, n, "must start with https://");
        return false;
    }
    host = v + (http ? 7 : 8); /* only now known to be in the string */
    if (strchr(v, '@') != NULL) {
        snprintf(err, n, "credentials in the URL are not supported");
        return false;
    }
    if (host_len(host) == 0 || strchr(v, ' ') != NULL ||
        strchr(v, '?') != NULL) {
        snprintf(err, n, "not a URL of the form https://host[:port][/path]");
        return false;
    }
    return true;
}

/* HMS_API_BASE is http:// to a host that is not loopback: allowed only
 * with HMS_API_ALLOW_HTTP=1, and then warned about. */
static bool api_http_remote(const struct conf *cf)
{
    const char *base = cf->hms_api_base;

    return base != NULL && strncmp(base, "http://", 7) == 0 &&
           !is_loopback(base + 7, host_len(base + 7));
}

static void strip_slash(char **s)
{
    size_t len = strlen(*s);

    while (len > 0 && (*s)[len - 1] == '/') {
        (*s)[--len] = '\0';
    }
}

static bool check_api_base(struct conf *cf, const char *v, char *err, size_t n)
{
    if (!check_http_url(v, err, n)) {
        return false;
    }
    strip_slash(&cf->hms_api_base);
    return true;
}

/* A PEM file of CA certificates: readable, with at least one certificate
 * (a key or an empty file would only fail at the first call). */
static bool check_ca_file(struct conf *cf, const char *v, char *err, size_t n)
{
    FILE *f = fopen(v, "rb");
    char line[128];
    bool cert = false;

    (void)cf;
    while (f != NULL && !cert && fgets(line, sizeof(line), f) != NULL) {
        cert = strncmp(line, "-----BEGIN CERTIFICATE-----", 27) == 0;
    }
    if (f == NULL) {
        snprintf(err, n, "cannot read %s", v);
    } else if (!cert) {
        snprintf(err, n, "%s holds no PEM certificate", v);
    }
    if (f != NULL) {
        fclose(f);
    }
    return cert;
}

/* Our copy of a part of u, or NULL when u has none; *bad on any other
 * error (with CURLU_URLDECODE: a control character once decoded). The
 * copy curl made is cleansed: it may be a password. */
static char *url_part(CURLU *u, CURLUPart what, unsigned flags, bool *bad)
{
    char *p = NULL, *copy;
    CURLUcode rc = curl_url_get(u, what, &p, flags);

    if (rc != CURLUE_OK) {
        *bad |= rc != CURLUE_NO_USER && rc != CURLUE_NO_PASSWORD &&
                rc != CURLUE_NO_QUERY && rc != CURLUE_NO_FRAGMENT;
        return NULL;
    }
    copy = xstrdup(p);
    OPENSSL_cleanse(p, strlen(p));
    curl_free(p);
    return copy;
}

static void free_cleansed(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* Moves the credentials of u (percent-decoded) into r; *enc_user gets
 * the user as written (percent-encoded, fit for a logged URL). */
static bool take_credentials(CURLU *u, struct conf_registry *r, char **enc_user,
                             char *err, size_t n)
{
    bool bad = false;
    char *user = url_part(u, CURLUPART_USER, CURLU_URLDECODE, &bad);
    char *pass = url_part(u, CURLUPART_PASSWORD, CURLU_URLDECODE, &bad);

    *enc_user = url_part(u, CURLUPART_USER, 0, &bad);
    if (!bad && (user != NULL || pass != NULL)) {
        r->user = xstrdup(user != NULL ? user : "");
        secret_set(&r->password, pass != NULL ? pass : "",
                   pass != NULL ? strlen(pass) : 0);
        bad = strchr(r->user, ':') != NULL; /* Basic auth: "user:password" */
    }
    free(user);
    free_cleansed(pass);
    if (bad) {
        snprintf(err, n,
                 "user or password not usable: a control character "
                 "or a ':' in the user once percent-decoded");
        return false;
    }
    curl_url_set(u, CURLUPART_USER, NULL, 0);
    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
    return true;
}

/* Checks what u is, once its credentials are out of it. */
static bool check_registry_url(CURLU *u, const struct conf_registry *r,
                               char *err, size_t n)
{
    bool bad = false;
    char *scheme = url_part(u, CURLUPART_SCHEME, 0, &bad);
    char *host = url_part(u, CURLUPART_HOST, 0, &bad);
    char *query = url_part(u, CURLUPART_QUERY, 0, &bad);
    char *fragment = url_part(u, CURLUPART_FRAGMENT, 0, &bad);
    bool http = scheme != NULL && strcmp(scheme, "http") == 0;

    if (bad || (!http && (scheme == NULL || strcmp(scheme, "https") != 0)) ||
        host == NULL || query != NULL || fragment != NULL) {
        snprintf(err, n,
                 "not a URL of the form "
                 "http(s)://[user:password@]host[:port][/path]");
        bad = true;
    } else if (http && r->user != NULL && !is_loopback(host, strlen(host))) {
        snprintf(err, n,
                 "credentials would cross the network in clear: "
                 "use https:// (http:// only to a loopback host)");
        bad = true;
    }
    free(scheme);
    free(host);
    free(query);
    free(fragment);
    return !bad;
}

/* base ("scheme://host...") with the user as written and a redacted
 * password: https://user:(redacted)@host/path, for logs. */
static char *shown_url(const char *base, const char *enc_user,
                       bool has_password)
{
    int scheme_end = (int)strcspn(base, ":") + 3; /* past "://" */

    return xasprintf("%.*s%s%s@%s", scheme_end, base,
                     enc_user != NULL ? enc_user : "",
                     has_password ? ":(redacted)" : "", base + scheme_end);
}

/* http(s)://[user[:password]@]host[:port][/path], parsed by libcurl's URL
 * API (percent-decoding, IPv6 literals). A registry usually lives inside
 * the deployment, so plain http is fine; its credentials are not. Derives
 * cf->registry: the base URL without them, user and password for HTTP
 * Basic auth, and a URL fit for logs. */
static bool check_registry(struct conf *cf, const char *v, char *err, size_t n)
{
    struct conf_registry *r = &cf->registry;
    CURLU *u = curl_url();
    char *enc_user = NULL, *base = NULL;
    bool ok = false;

    if (u == NULL) {
        log_error("msg=\"out of memory\" at=curl_url");
        abort(); /* as xmalloc does */
    }
    if (curl_url_set(u, CURLUPART_URL, v, 0) != CURLUE_OK) {
        snprintf(err, n,
                 "not a URL of the form "
                 "http(s)://[user:password@]host[:port][/path] "
                 "(reserved characters percent-encoded)");
        goto out;
    }
    if (!take_credentials(u, r, &enc_user, err, n) ||
        !check_registry_url(u, r, err, n) ||
        curl_url_get(u, CURLUPART_URL, &base, 0) != CURLUE_OK) {
        goto out;
    }
    r->base = xstrdup(base);
    strip_slash(&r->base);
    r->shown = r->user == NULL
                   ? xstrdup(r->base)
                   : shown_url(r->base, enc_user, r->password.len > 0);
    ok = true;
out:
    curl_free(base);
    free(enc_user);
    curl_url_cleanup(u);
    return ok;
}

static bool parse_port(const char *s, int *port, bool allow_zero)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < (allow_zero ? 0 : 1) ||
        v > 65535) {
        return false;
    }
    *port = (int)v;
    return true;
}

/* redis[s]://[user[:password]@]host[:port][/db]; the password may also
 * come from REDIS_PASSWORD(_FILE) (redis_checks). Not percent-decoded. */
static bool check_redis(struct conf *cf, const char *v, char *err, size_t n)
{
    struct conf_redis *r = &cf->redis;
    const char *p, *at, *slash, *colon;
    char *host_port, *end;
    bool ok = true;

    r->tls = strncmp(v, "rediss://", 9) == 0;
    if (!r->tls && strncmp(v, "redis://", 8) != 0) {
        snprintf(err, n, "expected redis:// or rediss:// (TLS)");
        return false;
    }
    p = v + (r->tls ? 9 : 8);
    at = strrchr(p, '@'); /* the last one: a password may contain '@' */
    slash = strchr(at != NULL ? at : p, '/');
    if (at != NULL) {
        colon = memchr(p, ':', (size_t)(at - p));
        if (colon == NULL) {
            colon = at; /* a user alone: the password from a file */
        } else {
            secret_set(&r->password, colon + 1, (size_t)(at - colon - 1));
        }
        r->user = colon > p ? xasprintf("%.*s", (int)(colon - p), p) : NULL;
        p = at + 1;
    }
    host_port = xasprintf(
        "%.*s", (int)(slash != NULL ? slash - p : (long)strlen(p)), p);
    colon = strrchr(host_port, ':');
    r->port = 6379;
    if (colon != NULL) {
        ok = parse_port(colon + 1, &r->port, false);
        host_port[colon - host_port] = '\0';
    }
    r->host = host_port;
    r->db = 0;
    if (ok && slash != NULL && slash[1] != '\0') {
        errno = 0;
        r->db = (int)strtol(slash + 1, &end, 10);
        ok = errno == 0 && *end == '\0' && r->db >= 0 && r->db <= 15 &&
             end != slash + 1;
    }
    if (!ok || r->host[0] == '\0') {
        snprintf(err, n,
                 "expected redis[s]://[user[:password]@]host[:port][/db] "
                 "(port 1-65535, db 0-15)");
        return false;
    }
    return true;
}

/* "guest=7200,viewer=7200": each role once, each TTL >= 300 s. */
static bool check_role_ttls(struct conf *cf, const char *v, char *err, size_t n)
{
    char *copy = xstrdup(v), *save = NULL, *item, *end;
    bool ok = true;

    for (item = strtok_r(copy, ",", &save); item != NULL && ok;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        long long ttl;

        errno = 0;
        ttl = eq != NULL ? strtoll(eq + 1, &end, 10) : 0;
        ok = eq != NULL && eq > item && errno == 0 && end != eq + 1 &&
             *end == '\0' && ttl >= 300 && ttl <= 90 * DAY_S;
        if (ok) {
            *eq = '\0';
            ok = check_name(cf, item, err, n);
            for (size_t i = 0; i < cf->n_role_ttls; i++) {
                ok = ok && strcmp(cf->role_ttls[i].role, item) != 0;
            }
        }
        if (ok) {
            cf->role_ttls = xrealloc(cf->role_ttls, (cf->n_role_ttls + 1) *
                                                        sizeof(*cf->role_ttls));
            cf->role_ttls[cf->n_role_ttls++] =
                (struct conf_role_ttl){xstrdup(item), ttl};
        }
    }
    free(copy);
    if (!ok) {
        snprintf(err, n,
                 "expected role=seconds[,role=seconds...], each role "
                 "once, each TTL in [300, 7776000]");
    }
    return ok;
}

static bool check_admin(struct conf *cf, const char *v, char *err, size_t n)
{
    const char *colon = strrchr(v, ':');

    if (strcmp(v, "off") == 0) {
        cf->admin_off = true;
        return true;
    }
    if (colon == NULL || !parse_port(colon + 1, &cf->admin_port, true)) {
        snprintf(err, n,
                 "expected HOST:PORT, :PORT (port 0: any free one) or off");
        return false;
    }
    cf->admin_host = colon == v ? xstrdup("0.0.0.0")
                                : xasprintf("%.*s", (int)(colon - v), v);
    return true;
}

/* HOST:PORT with a numeric host (IPv4, or IPv6 in brackets), :PORT (all
 * IPv4 interfaces) or off; port 0 picks a free one. */
static bool check_webhook_addr(struct conf *cf, const char *v, char *err,
                               size_t n)
{
    const char *colon = strrchr(v, ':');
    bool v6 = v[0] == '[';
    unsigned char a[16];
    char *host;

    if (strcmp(v, "off") == 0) {
        return true;
    }
    if (colon == NULL || !parse_port(colon + 1, &cf->webhook_port, true) ||
        (v6 && (colon == v || colon[-1] != ']'))) {
        snprintf(err, n,
                 "expected HOST:PORT ([IPv6]:PORT for IPv6), :PORT "
                 "(port 0: any free one) or off");
        return false;
    }
    host = colon == v ? xstrdup("0.0.0.0")
           : v6       ? xasprintf("%.*s", (int)(colon - v - 2), v + 1)
                      : xasprintf("%.*s", (int)(colon - v), v);
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host, a) != 1) {
        snprintf(err, n,
                 "%s is not an IP address (no host names: the "
                 "listener binds one address)",
                 host);
        free(host);
        return false;
    }
    cf->webhook_host = host;
    cf->webhook_on = true;
    return true;
}

static bool check_webhook_path(struct conf *cf, const char *v, char *err,
                               size_t n)
{
    (void)cf;
    if (v[0] != '/' || strlen(v) > 256 ||
        !has_only(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789/._~-")) {
        snprintf(err, n,
                 "a path starting with '/', 1-256 characters of "
                 "[A-Za-z0-9/._~-]");
        return false;
    }
    return true;
}

static bool check_cidrs(struct conf *cf, const char *v, char *err, size_t n)
{
    return whaccess_parse_cidrs(v, &cf->webhook_cidrs, &cf->n_webhook_cidrs,
                                err, n);
}

static bool check_log_level(struct conf *cf, const char *v, char *err, size_t n)
{
    if (log_level_parse(v, &cf->log_level) != HW_OK) {
        snprintf(err, n, "expected debug, info, warn or error");
        return false;
    }
    return true;
}

static bool check_hls_start(struct conf *cf, const char *v, char *err, size_t n)
{
    (void)cf; /* hls_on_join is derived once WEBHOOK_EVENTS is known */
    if (strcmp(v, "immediate") != 0 && strcmp(v, "on_join") != 0) {
        snprintf(err, n, "expected immediate or on_join");
        return false;
    }
    return true;
}

static bool check_cleanup(struct conf *cf, const char *v, char *err, size_t n)
{
    static const char *const names[] = {"off", "end", "lock"};

    for (size_t i = 0; i < HW_ARRAY_LEN(names); i++) {
        if (strcmp(v, names[i]) == 0) {
            cf->cleanup = (enum conf_cleanup)i;
            return true;
        }
    }
    snprintf(err, n, "expected off, end or lock");
    return false;
}

/* ---- loading -------------------------------------------------------- */

static const char *env_get(const char *const *env, const char *name)
{
    size_t len = strlen(name);

    for (; *env != NULL; env++) {
        if (strncmp(*env, name, len) == 0 && (*env)[len] == '=') {
            return (*env)[len + 1] != '\0' ? *env + len + 1 : NULL;
        }
    }
    return NULL;
}

static bool load_int(const struct conf_key *k, const char *v, int64_t *out)
{
    char *end;
    long long x;

    errno = 0;
    x = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < k->min || x > k->max) {
        log_error("msg=\"invalid configuration\" var=%s expected=\"integer in "
                  "[%lld, %lld]\"",
                  k->env, k->min, k->max);
        return false;
    }
    *out = x;
    return true;
}

/* Loads the secret from NAME or NAME_FILE (exactly one). */
static bool load_secret(const struct conf_key *k, const char *const *env,
                        struct secret *s)
{
    char err[256];

    if (!(k->flags & CONF_REQUIRED) && env_get(env, k->env) == NULL &&
        env_get(env, k->def) == NULL) {
        return true; /* optional, and neither given: empty */
    }
    if (secret_load(s, env_get(env, k->env), k->env, env_get(env, k->def),
                    k->def, err, sizeof(err)) != HW_OK) {
        log_error("msg=\"invalid configuration\" var=%s err=\"%s\"", k->env,
                  err);
        return false;
    }
    return true;
}

static bool load_key(struct conf *cf, const struct conf_key *k,
                     const char *const *env)
{
    void *field = (char *)cf + k->offset;
    const char *v = env_get(env, k->env);
    char err[256];

    if (k->type == CONF_SECRET) {
        return load_secret(k, env, field);
    }
    if (v == NULL) {
        v = k->def;
    }
    if (v == NULL) {
        if (k->flags & CONF_REQUIRED) {
            log_error("msg=\"missing configuration\" var=%s", k->env);
            return false;
        }
        return true;
    }
    if (k->type == CONF_INT) {
        return load_int(k, v, field);
    }
    *(char **)field = xstrdup(v);
    if (k->check != NULL && !k->check(cf, v, err, sizeof(err))) {
        log_error("msg=\"invalid configuration\" var=%s err=\"%s\"", k->env,
                  err);
        return false;
    }
    return true;
}

/* KAFKA_PROP_security.protocol is taken as written; the shell-safe
 * KAFKA_PROP_SECURITY_PROTOCOL maps "_" to ".", "__" to "_", lower-cased. */
static char *prop_name(const char *suffix)
{
    char *out = xmalloc(strlen(suffix) + 1), *o = out;
    bool verbatim = false;

    for (const char *p = suffix; *p != '\0'; p++) {
        verbatim |= *p == '.' || islower((unsigned char)*p);
    }
    for (const char *p = suffix; *p != '\0'; p++) {
        if (verbatim) {
            *o++ = *p;
        } else if (p[0] == '_' && p[1] == '_') {
            *o++ = '_';
            p++;
        } else {
            *o++ = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
        }
    }
    *o = '\0';
    return out;
}

static bool prop_sensitive(const char *name)
{
    return strstr(name, "password") != NULL || strstr(name, "secret") != NULL ||
           strstr(name, "key") != NULL || strstr(name, "oauthbearer") != NULL;
}

static const char *prop_value(const struct conf *cf, const char *name)
{
    for (size_t i = 0; i < cf->n_kafka_props; i++) {
        if (strcmp(cf->kafka_props[i].name, name) == 0) {
            return cf->kafka_props[i].value;
        }
    }
    return NULL;
}

/* The value of var (KAFKA_PROP_<name>_FILE), read from the file path
 * names like a secret (one trailing newline stripped); NULL when it
 * cannot be, logged. */
static char *prop_from_file(const char *var, const char *path)
{
    struct secret s = {0};
    char err[512], *plain = xasprintf("%.*s", (int)(strlen(var) - 5), var);
    char *value = NULL;

    if (secret_load(&s, NULL, plain, path, var, err, sizeof(err)) != HW_OK) {
        log_error("msg=\"invalid configuration\" var=%s err=\"%s\"", var, err);
    } else {
        value = xstrdup(secret_reveal(&s, NULL)); /* mode: secret.c warns */
    }
    secret_wipe(&s);
    free(plain);
    return value;
}

/* librdkafka's own words when a property is compiled out ("not supported
 * in this build"), which name no value: said with the build's features
 * instead of being redacted. */
static void log_prop_error(const char *var, const char *name, bool sensitive,
                           const char *err, const char *features)
{
    if (strstr(err, "not supported in this build") != NULL) {
        log_error("msg=\"invalid configuration\" var=%s property=%s "
                  "err=\"this librdkafka (%s) was built without %s "
                  "(builtin.features=%s): OAUTHBEARER/OIDC is not "
                  "available, use SASL PLAIN or SCRAM (README, Kafka "
                  "security)\"",
                  var, name, rd_kafka_version_str(),
                  strncmp(name, "sasl.oauthbearer", 16) == 0 ? "oidc" : "it",
                  features);
        return;
    }
    log_error("msg=\"invalid configuration\" var=%s property=%s err=\"%s\"",
              var, name, sensitive ? "invalid value (redacted)" : err);
}

/* One KAFKA_PROP_* variable, var (NUL-terminated name) = value. */
static bool take_prop(struct conf *cf, rd_kafka_conf_t *scratch,
                      const char *var, const char *value, const char *features)
{
    size_t plen = strlen(KAFKA_PROP_PREFIX), len = strlen(var);
    bool from_file = len > plen + 5 && strcmp(var + len - 5, "_FILE") == 0;
    char *suffix =
        xasprintf("%.*s", (int)(len - plen - (from_file ? 5 : 0)), var + plen);
    struct conf_prop prop = {prop_name(suffix), NULL, false, NULL};
    char err[512];
    bool ok = true;

    free(suffix);
    prop.sensitive = from_file || prop_sensitive(prop.name);
    prop.value = from_file ? prop_from_file(var, value) : xstrdup(value);
    prop.file = from_file ? xstrdup(value) : NULL;
    if (prop.value == NULL) {
        prop.value = xstrdup(""); /* logged */
        ok = false;
    } else if (prop_value(cf, prop.name) != NULL) {
        log_error("msg=\"invalid configuration\" var=%s property=%s "
                  "err=\"set twice (two spellings of KAFKA_PROP_*, or a "
                  "value and a _FILE)\"",
                  var, prop.name);
        ok = false;
    } else if (rd_kafka_conf_set(scratch, prop.name, prop.value, err,
                                 sizeof(err)) != RD_KAFKA_CONF_OK) {
        log_prop_error(var, prop.name, prop.sensitive, err, features);
        ok = false;
    } else if (strcmp(prop.name, "partition.assignment.strategy") == 0 &&
               strstr(prop.value, "cooperative") != NULL) {
        /* README, "Scaling out": librdkafka 2.0.2's cooperative mode can
         * hang in close (#4527), spin (#4783) and resume a paused
         * partition from an old position (#4686); the worker pauses
         * partitions for back-pressure all the time */
        log_error("msg=\"invalid configuration\" var=%s "
                  "err=\"cooperative-sticky is not supported with "
                  "librdkafka 2.0.2 (close hangs, resumes from old "
                  "positions): use the default range,roundrobin\"",
                  var);
        ok = false;
    }
    cf->kafka_props = xrealloc(cf->kafka_props, (cf->n_kafka_props + 1) *
                                                    sizeof(*cf->kafka_props));
    cf->kafka_props[cf->n_kafka_props++] = prop;
    return ok;
}

static bool has_feature(const char *features, const char *want)
{
    size_t n = strlen(want);

    for (const char *p = features; *p != '\0'; p += strcspn(p, ",")) {
        p += *p == ',';
        if (strncmp(p, want, n) == 0 && (p[n] == ',' || p[n] == '\0')) {
            return true;
        }
    }
    return false;
}

/* The SASL mechanism against what this librdkafka build has, so that a
 * managed service's recipe that cannot work here (MSK IAM, OIDC) fails at
 * load naming the missing piece, not at start or at the first login.
 * hms-worker sets no OAUTHBEARER token callback: OAUTHBEARER means OIDC
 * (or librdkafka's unsecured test tokens). */
static bool check_kafka_sasl(const struct conf *cf, const char *features)
{
    static const char *const mechs[][2] = {{"PLAIN", "sasl_plain"},
                                           {"SCRAM-SHA-256", "sasl_scram"},
                                           {"SCRAM-SHA-512", "sasl_scram"},
                                           {"GSSAPI", "sasl_gssapi"},
                                           {"OAUTHBEARER", "sasl_oauthbearer"}};
    const char *m = prop_value(cf, "sasl.mechanism"), *unsecured, *why = NULL;
    size_t i = 0;

    m = m != NULL ? m : prop_value(cf, "sasl.mechanisms");
    if (m == NULL) {
        return true;
    }
    while (i < HW_ARRAY_LEN(mechs) && strcmp(m, mechs[i][0]) != 0) {
        i++;
    }
    unsecured = prop_value(cf, "enable.sasl.oauthbearer.unsecure.jwt");
    if (strcmp(m, "AWS_MSK_IAM") == 0) {
        why = "no librdkafka has AWS_MSK_IAM (MSK IAM needs an OAUTHBEARER "
              "token callback, which hms-worker does not have): use MSK's "
              "SASL/SCRAM, SCRAM-SHA-512 on port 9096";
    } else if (i == HW_ARRAY_LEN(mechs)) {
        why = "not a librdkafka mechanism: PLAIN, SCRAM-SHA-256, "
              "SCRAM-SHA-512, GSSAPI or OAUTHBEARER (case matters)";
    } else if (!has_feature(features, mechs[i][1])) {
        why = "this librdkafka was built without it";
    } else if (i == 4 && !has_feature(features, "oidc") &&
               (unsecured == NULL || strcmp(unsecured, "true") != 0)) {
        why = "OAUTHBEARER needs sasl.oauthbearer.method=oidc (hms-worker "
              "has no token callback) and this librdkafka was built without "
              "oidc: use SASL PLAIN or SCRAM";
    }
    if (why != NULL) {
        log_error("msg=\"invalid configuration\" property=sasl.mechanism "
                  "value=\"%s\" err=\"%s (librdkafka %s, "
                  "builtin.features=%s; README, Kafka security)\"",
                  m, why, rd_kafka_version_str(), features);
    }
    return why == NULL;
}

/* Collects KAFKA_PROP_* and checks each with librdkafka, then the SASL
 * setup as a whole. */
static bool load_kafka_props(struct conf *cf, const char *const *env)
{
    rd_kafka_conf_t *scratch = rd_kafka_conf_new();
    char features[512];
    size_t plen = strlen(KAFKA_PROP_PREFIX), flen = sizeof(features);
    bool ok = true;

    if (rd_kafka_conf_get(scratch, "builtin.features", features, &flen) !=
        RD_KAFKA_CONF_OK) {
        snprintf(features, sizeof(features), "?");
    }
    for (; *env != NULL; env++) {
        const char *eq = strchr(*env, '=');
        char *var;

        if (strncmp(*env, KAFKA_PROP_PREFIX, plen) != 0 || eq == NULL) {
            continue;
        }
        var = xasprintf("%.*s", (int)(eq - *env), *env);
        ok = take_prop(cf, scratch, var, eq + 1, features) && ok;
        free(var);
    }
    ok = ok && check_kafka_sasl(cf, features);
    rd_kafka_conf_destroy(scratch);
    return ok;
}

/* Checks that span several keys. */
static bool cross_checks(struct conf *cf)
{
    const char *topics[] = {cf->topic_booking_created,
                            cf->topic_stream_started,
                            cf->topic_session_ended,
                            cf->topic_video_ready,
                            cf->topic_video_ended,
                            cf->topic_video_session,
                            cf->topic_dlq,
                            cf->topic_webhooks};
    bool ok = true;

    if (api_http_remote(cf) && cf->hms_api_allow_http == 0) {
        log_error("msg=\"invalid configuration\" var=HMS_API_BASE "
                  "err=\"http:// is allowed for a loopback simulator only; "
                  "HMS_API_ALLOW_HTTP=1 allows it to any host (a simulator)\"");
        ok = false;
    }
    /* the host's join is a webhook: on_join is the default with them */
    cf->hls_on_join = cf->hms_hls_start != NULL
                          ? strcmp(cf->hms_hls_start, "on_join") == 0
                          : cf->webhook_events == 1;
    if (cf->hls_on_join && cf->webhook_events == 0) {
        log_error("msg=\"invalid configuration\" var=HMS_HLS_START "
                  "err=\"on_join needs WEBHOOK_EVENTS=1: the host's join "
                  "arrives as a 100ms webhook\"");
        ok = false;
    }
    if (cf->hms_retry_cap_ms < cf->hms_retry_base_ms) {
        log_error("msg=\"invalid configuration\" var=HMS_RETRY_CAP_MS "
                  "err=\"must be >= HMS_RETRY_BASE_MS\"");
        ok = false;
    }
    for (size_t i = 0; i < HW_ARRAY_LEN(topics); i++) {
        for (size_t j = i + 1; j < HW_ARRAY_LEN(topics); j++) {
            if (topics[i] != NULL && topics[j] != NULL &&
                strcmp(topics[i], topics[j]) == 0) {
                log_error("msg=\"invalid configuration\" var=TOPIC_* "
                          "err=\"topic %s is used twice\"",
                          topics[i]);
                ok = false;
            }
        }
    }
    return ok;
}

/* Whether the file of var can be opened; says so when it cannot. */
static bool readable(const char *var, const char *path)
{
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        log_error("msg=\"invalid configuration\" var=%s err=\"cannot read "
                  "%s\"",
                  var, path);
        return false;
    }
    fclose(f);
    return true;
}

/* The webhook listener's settings together: the secret headers parsed
 * (sensitive: errors name the pair, never a value), an open endpoint
 * refused unless asked for, TLS complete and possible. Checked whether
 * the listener is on or not, so that a value is never wrong silently. */
static bool webhook_checks(struct conf *cf)
{
    const char *tls[] = {cf->webhook_tls_cert_file, cf->webhook_tls_key_file};
    const char *tls_var[] = {"WEBHOOK_TLS_CERT_FILE", "WEBHOOK_TLS_KEY_FILE"};
    char err[256];
    bool ok = true;

    if (cf->webhook_secret_headers.len > 0 &&
        !whaccess_parse_headers(
            secret_reveal(&cf->webhook_secret_headers, NULL),
            &cf->webhook_headers, &cf->n_webhook_headers, err, sizeof(err))) {
        log_error("msg=\"invalid configuration\" var=WEBHOOK_SECRET_HEADERS "
                  "err=\"%s\"",
                  err);
        ok = false;
    } else if (cf->webhook_on && cf->n_webhook_headers == 0 &&
               cf->webhook_allow_no_secret == 0) {
        log_error("msg=\"invalid configuration\" var=WEBHOOK_SECRET_HEADERS "
                  "err=\"WEBHOOK_ADDR is set: give the secret header(s) "
                  "configured on the 100ms dashboard (or "
                  "WEBHOOK_SECRET_HEADERS_FILE); WEBHOOK_ALLOW_NO_SECRET=1 "
                  "opens the endpoint to anyone who reaches it\"");
        ok = false;
    }
    if (cf->webhook_max_per_ip > cf->webhook_max_connections) {
        log_error("msg=\"invalid configuration\" var=WEBHOOK_MAX_PER_IP "
                  "err=\"must be <= WEBHOOK_MAX_CONNECTIONS\"");
        ok = false;
    }
    for (int i = 0; i < 2; i++) {
        if ((tls[i] == NULL) != (tls[1 - i] == NULL)) {
            log_error("msg=\"invalid configuration\" var=%s err=\"TLS needs "
                      "both WEBHOOK_TLS_CERT_FILE and WEBHOOK_TLS_KEY_FILE\"",
                      tls_var[1 - i]);
            ok = false;
        } else if (tls[i] != NULL && !readable(tls_var[i], tls[i])) {
            ok = false;
        }
    }
    if (tls[0] != NULL &&
        MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        log_error("msg=\"invalid configuration\" var=WEBHOOK_TLS_CERT_FILE "
                  "err=\"this libmicrohttpd has no TLS: terminate TLS at a "
                  "proxy in front of the listener instead\"");
        ok = false;
    }
    return ok;
}

/* REDIS_URL with the REDIS_PASSWORD* and REDIS_TLS_* settings: the
 * password given once, TLS files only for rediss:// and usable (loaded
 * into a context as the connection will load them). */
static bool redis_checks(struct conf *cf)
{
    struct conf_redis *r = &cf->redis;
    const char *tls[] = {r->tls_ca_file, r->tls_cert_file, r->tls_key_file};
    const char *tls_var[] = {"REDIS_TLS_CA_FILE", "REDIS_TLS_CERT_FILE",
                             "REDIS_TLS_KEY_FILE"};
    char err[384];
    SSL_CTX *ctx;
    bool ok = true;

    if (cf->redis_password.len > 0 && r->password.len > 0) {
        log_error("msg=\"invalid configuration\" var=REDIS_PASSWORD "
                  "err=\"REDIS_URL has a password too: give it once\"");
        ok = false;
    } else if (cf->redis_password.len > 0) {
        size_t len;
        const char *pw = secret_reveal(&cf->redis_password, &len);

        secret_set(&r->password, pw, len);
    } else if (r->user != NULL && r->password.len == 0) {
        log_error("msg=\"invalid configuration\" var=REDIS_URL err=\"user %s "
                  "has no password: add :password to the URL or give "
                  "REDIS_PASSWORD_FILE\"",
                  r->user);
        ok = false;
    }
    for (size_t i = 0; i < HW_ARRAY_LEN(tls); i++) {
        if (tls[i] != NULL && r->host != NULL && !r->tls) {
            log_error("msg=\"invalid configuration\" var=%s err=\"set, but "
                      "REDIS_URL is redis:// (no TLS): use rediss://\"",
                      tls_var[i]);
            ok = false;
        } else if (tls[i] != NULL && !readable(tls_var[i], tls[i])) {
            ok = false;
        }
    }
    if ((tls[1] == NULL) != (tls[2] == NULL)) {
        log_error("msg=\"invalid configuration\" var=%s err=\"a client "
                  "certificate needs both REDIS_TLS_CERT_FILE and "
                  "REDIS_TLS_KEY_FILE\"",
                  tls_var[tls[1] == NULL ? 1 : 2]);
        ok = false;
    }
    if (!ok || !r->tls) {
        return ok;
    }
    ctx = cachetls_ctx_create(r, err, sizeof(err));
    if (ctx == NULL) {
        log_error("msg=\"invalid configuration\" var=REDIS_URL err=\"TLS: "
                  "%s\"",
                  err);
        return false;
    }
    SSL_CTX_free(ctx);
    return true;
}

/* A variable that looks like ours but is not: most likely a typo. */
static void warn_unknown(const char *const *env)
{
    static const char *const prefixes[] = {
        "HMS_", "TOPIC_", "CACHE_", "KAFKA_", "REDIS_", "EVENT_", "WEBHOOK_"};

    for (; *env != NULL; env++) {
        size_t len = strcspn(*env, "=");
        /* KAFKA_PROP_* pass through; HMS_SIM_* belong to the simulator */
        bool ours = false, known = strncmp(*env, KAFKA_PROP_PREFIX,
                                           strlen(KAFKA_PROP_PREFIX)) == 0 ||
                                   strncmp(*env, "HMS_SIM_", 8) == 0;

        for (size_t i = 0; i < HW_ARRAY_LEN(prefixes); i++) {
            ours |= strncmp(*env, prefixes[i], strlen(prefixes[i])) == 0;
        }
        for (size_t i = 0; i < HW_ARRAY_LEN(keys) && ours && !known; i++) {
            known =
                (strlen(keys[i].env) == len &&
                 strncmp(keys[i].env, *env, len) == 0) ||
                (keys[i].type == CONF_SECRET && strlen(keys[i].def) == len &&
                 strncmp(keys[i].def, *env, len) == 0);
        }
        if (ours && !known) {
            log_warn("msg=\"unknown variable ignored\" var=%.*s", (int)len,
                     *env);
        }
    }
}

enum hw_rc conf_load(struct conf *cf, const char *const *env)
{
    bool ok = true;

    for (size_t i = 0; i < HW_ARRAY_LEN(keys); i++) {
        ok = load_key(cf, &keys[i], env) && ok;
    }
    ok = load_kafka_props(cf, env) && ok;
    ok = cross_checks(cf) && ok;
    ok = webhook_checks(cf) && ok;
    ok = redis_checks(cf) && ok;
    warn_unknown(env);
    return ok ? HW_OK : HW_ERR_CONFIG;
}

/* Whether the variable var (len bytes, up to its '=') holds a secret: a
 * sensitive key of the table, or a KAFKA_PROP_* that would be redacted
 * (its _FILE form holds a path). */
static bool env_holds_secret(const char *var, size_t len)
{
    size_t plen = strlen(KAFKA_PROP_PREFIX);
    char *suffix, *name;
    bool secret;

    for (size_t i = 0; i < HW_ARRAY_LEN(keys); i++) {
        if ((keys[i].flags & CONF_SENSITIVE) && strlen(keys[i].env) == len &&
            strncmp(keys[i].env, var, len) == 0) {
            return true;
        }
    }
    if (len <= plen || strncmp(var, KAFKA_PROP_PREFIX, plen) != 0 ||
        (len > plen + 5 && strncmp(var + len - 5, "_FILE", 5) == 0)) {
        return false;
    }
    suffix = xasprintf("%.*s", (int)(len - plen), var + plen);
    name = prop_name(suffix);
    secret = prop_sensitive(name);
    free(name);
    free(suffix);
    return secret;
}

size_t conf_wipe_env(char **env)
{
    size_t wiped = 0;

    for (; *env != NULL; env++) {
        char *eq = strchr(*env, '=');

        if (eq != NULL && eq[1] != '\0' &&
            env_holds_secret(*env, (size_t)(eq - *env))) {
            OPENSSL_cleanse(eq + 1, strlen(eq + 1));
            wiped++;
        }
    }
    return wiped;
}

int64_t conf_app_token_ttl(const struct conf *cf, const char *role)
{
    for (size_t i = 0; i < cf->n_role_ttls; i++) {
        if (strcmp(cf->role_ttls[i].role, role) == 0) {
            return cf->role_ttls[i].ttl_s;
        }
    }
    return cf->hms_app_token_ttl_s;
}

void conf_dump(const struct conf *cf)
{
    for (size_t i = 0; i < HW_ARRAY_LEN(keys); i++) {
        const struct conf_key *k = &keys[i];
        const void *field = (const char *)cf + k->offset;
        const char *s = k->type == CONF_STR ? *(char *const *)field : NULL;

        if (k->type == CONF_INT) {
            log_info("msg=config var=%s value=%lld", k->env,
                     (long long)*(const int64_t *)field);
        } else if (k->type == CONF_SECRET) {
            log_info("msg=config var=%s value=%s", k->env,
                     ((const struct secret *)field)->len > 0 ? "(redacted, set)"
                                                             : "(unset)");
        } else if (k->flags & CONF_SENSITIVE) {
            log_info("msg=config var=%s value=%s", k->env,
                     s != NULL ? "(redacted)" : "(unset)");
        } else {
            log_info("msg=config var=%s value=\"%s\"", k->env,
                     s != NULL ? s : "(unset)");
        }
    }
    log_info("msg=config var=REDIS_URL host=%s port=%d db=%d user=%s "
             "auth=%s tls=%s",
             cf->redis.host != NULL ? cf->redis.host : "?", cf->redis.port,
             cf->redis.db, cf->redis.user != NULL ? cf->redis.user : "(none)",
             cf->redis.password.len > 0 ? "(redacted)" : "none",
             !cf->redis.tls                  ? "off"
             : cf->redis.tls_ca_file != NULL ? "verify(REDIS_TLS_CA_FILE)"
                                             : "verify(system store)");
    if (cf->registry.shown != NULL) {
        log_info("msg=config var=SCHEMA_REGISTRY_URL url=\"%s\" auth=%s",
                 cf->registry.shown,
                 cf->registry.user != NULL ? "basic" : "none");
    }
    for (size_t i = 0; i < cf->n_kafka_props; i++) {
        const struct conf_prop *kp = &cf->kafka_props[i];

        log_info("msg=config kafka_property=%s value=\"%s\"%s%s%s", kp->name,
                 kp->sensitive ? "(redacted)" : kp->value,
                 kp->file != NULL ? " file=\"" : "",
                 kp->file != NULL ? kp->file : "",
                 kp->file != NULL ? "\"" : "");
    }
    for (size_t i = 0; i < cf->n_webhook_headers; i++) {
        log_info("msg=config var=WEBHOOK_SECRET_HEADERS header=%s "
                 "value=(redacted)",
                 cf->webhook_headers[i].name);
    }
    if (cf->webhook_on && cf->n_webhook_headers == 0) {
        log_warn("msg=\"WEBHOOK_ALLOW_NO_SECRET=1: the webhook listener checks "
                 "no secret header; anyone who reaches WEBHOOK_ADDR can write "
                 "into TOPIC_WEBHOOKS\" var=WEBHOOK_ADDR value=\"%s\"",
                 cf->webhook_addr);
    }
    if (api_http_remote(cf)) {
        log_warn("msg=\"HMS_API_ALLOW_HTTP=1: the 100ms API over plain http, "
                 "management tokens unencrypted; for a simulator only\" "
                 "var=HMS_API_BASE value=\"%s\"",
                 cf->hms_api_base);
    }
}

void conf_deinit(struct conf *cf)
{
    for (size_t i = 0; i < HW_ARRAY_LEN(keys); i++) {
        void *field = (char *)cf + keys[i].offset;

        if (keys[i].type == CONF_STR) {
            char *s = *(char **)field;

            if (s != NULL && (keys[i].flags & CONF_SENSITIVE)) {
                OPENSSL_cleanse(s, strlen(s)); /* REDIS_URL: a password */
            }
            free(s);
        } else if (keys[i].type == CONF_SECRET) {
            secret_wipe(field);
        }
    }
    for (size_t i = 0; i < cf->n_role_ttls; i++) {
        free(cf->role_ttls[i].role);
    }
    for (size_t i = 0; i < cf->n_kafka_props; i++) {
        free(cf->kafka_props[i].name);
        if (cf->kafka_props[i].sensitive) {
            OPENSSL_cleanse(cf->kafka_props[i].value,
                            strlen(cf->kafka_props[i].value));
        }
        free(cf->kafka_props[i].value);
        free(cf->kafka_props[i].file);
    }
    free(cf->role_ttls);
    free(cf->kafka_props);
    free(cf->registry.base);
    free(cf->registry.shown);
    free(cf->registry.user);
    secret_wipe(&cf->registry.password);
    free(cf->redis.host);
    free(cf->redis.user);
    secret_wipe(&cf->redis.password);
    free(cf->admin_host);
    free(cf->webhook_host);
    whaccess_headers_free(cf->webhook_headers, cf->n_webhook_headers);
    free(cf->webhook_cidrs);
    memset(cf, 0, sizeof(*cf));
}
