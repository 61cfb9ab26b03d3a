/* conf.h -- hms-worker configuration from the environment (docs/contract.md
 * section 6).
 *
 * DESIGN
 * ------
 * One table of keys (conf.c): name, type, where it lands in struct conf,
 * default, bounds, flags. conf_load() reads every key, validates every
 * value and logs *every* problem (naming the variable, never a secret
 * value) before it returns HW_ERR_CONFIG once, so a deploy is fixed in one
 * round. KAFKA_PROP_<name> passes librdkafka properties through (both
 * KAFKA_PROP_security.protocol and KAFKA_PROP_SECURITY_PROTOCOL) and each
 * is checked against librdkafka at load; KAFKA_PROP_<name>_FILE reads the
 * value from a file instead (a password: never in the environment), and
 * what this librdkafka build lacks (OAUTHBEARER/OIDC, AWS_MSK_IAM) is
 * named at load rather than failing later. conf_dump() logs the effective
 * configuration with sensitive values "(redacted)". Immutable after
 * loading, so any thread may read it.
 */
#ifndef CONF_H
#define CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw.h"
#include "log.h"
#include "secret.h"
#include "whaccess.h"

/* REDIS_URL split, with the REDIS_PASSWORD* and REDIS_TLS_* settings. */
struct conf_redis {
    char *host;
    int port;
    int db;
    char *user;             /* NULL: none (Redis 6 ACL user) */
    struct secret password; /* URL or REDIS_PASSWORD(_FILE); empty: no AUTH */
    bool tls;               /* rediss://: TLS, the certificate verified */
    char *tls_ca_file;      /* NULL: the system's trust store */
    char *tls_cert_file, *tls_key_file; /* a client certificate, or NULL */
};

/* SCHEMA_REGISTRY_URL split by libcurl's URL API: credentials go to HTTP
 * Basic auth, never into a URL we log or send. */
struct conf_registry {
    char *base;             /* without credentials or trailing slash */
    char *shown;            /* base with "user:(redacted)@": for logs */
    char *user;             /* percent-decoded; NULL: no Basic auth */
    struct secret password; /* percent-decoded; empty: none */
};

struct conf_role_ttl {
    char *role;
    int64_t ttl_s;
};

struct conf_prop {
    char *name; /* librdkafka property, e.g. "security.protocol" */
    char *value;
    bool sensitive;
    char *file; /* KAFKA_PROP_<name>_FILE: the value was read from it */
};

/* What a booking's session.close.success past its window does. */
enum conf_cleanup { CLEANUP_OFF, CLEANUP_END, CLEANUP_LOCK };

struct conf {
    char *kafka_brokers, *kafka_group_id;
    char *topic_booking_created, *topic_stream_started, *topic_session_ended;
    char *topic_video_ready, *topic_video_ended, *topic_dlq;
    char *topic_video_session; /* what webhooks told (WEBHOOK_EVENTS=1) */
    char *topic_webhooks;      /* 100ms webhooks, as the listener stored them */
    int64_t webhook_events;    /* 1: consume topic_webhooks */
    char *schema_registry_url; /* NULL: single-object encoding */
    struct conf_registry registry; /* derived from it when set */
    char *redis_url;
    struct conf_redis redis;
    struct secret redis_password; /* REDIS_PASSWORD(_FILE): into redis */
    char *hms_api_base;           /* no trailing slash */
    int64_t hms_api_allow_http;   /* 1: http:// to any host (a simulator) */
    char *hms_api_ca_file;        /* NULL: the system's CA store */
    char *hms_access_key;
    struct secret hms_app_secret;
    char *hms_template_id;
    char *hms_subdomain; /* NULL: no links, no composer URL */
    char *hms_hls_composer_role;
    int64_t hms_hls_wait_ms;   /* starting -> running, at most this */
    int64_t hms_hls_check_ms;  /* a published stream is checked this often */
    char *hms_hls_start;       /* immediate | on_join (unset: by webhooks) */
    bool hls_on_join;          /* derived: HLS starts when the host joins */
    int64_t hms_hls_retries;   /* hls.failure while it should run: starts */
    char *cleanup_on_close;    /* off | end | lock */
    enum conf_cleanup cleanup; /* derived */
    int64_t hms_token_renew_check_ms; /* live sessions' tokens (renew.h) */
    int64_t hms_app_token_ttl_s;
    char *hms_app_token_ttl_by_role;
    struct conf_role_ttl *role_ttls;
    size_t n_role_ttls;
    int64_t hms_token_grace_s, hms_mgmt_token_ttl_s;
    int64_t hms_max_in_flight, hms_max_connections, hms_timeout_ms;
    int64_t max_held_mb; /* input bytes held at most, MiB (back-pressure) */
    int64_t hms_retry_max, hms_retry_base_ms, hms_retry_cap_ms;
    int64_t event_deadline_ms, cache_grace_s, cache_default_ttl_s;
    int64_t halt_retry_ms; /* a halted call is tried again after this */
    int64_t shutdown_timeout_ms;
    char *admin_addr;
    char *admin_host; /* NULL when admin_off */
    int admin_port;   /* 0: a free port */
    bool admin_off;
    /* the webhook listener (webhook.h): on when webhook_addr is set */
    char *webhook_addr;
    char *webhook_host; /* "0.0.0.0", an IPv4 or an IPv6 address */
    int webhook_port;   /* 0: a free port */
    bool webhook_on;
    char *webhook_path;
    struct secret webhook_secret_headers; /* as configured */
    struct whaccess_header *webhook_headers;
    size_t n_webhook_headers;
    int64_t webhook_allow_no_secret;
    char *webhook_allow_cidrs; /* NULL: any address */
    struct whaccess_cidr *webhook_cidrs;
    size_t n_webhook_cidrs;
    int64_t webhook_max_bytes, webhook_timeout_ms;
    int64_t webhook_max_connections, webhook_max_per_ip;
    char *webhook_tls_cert_file, *webhook_tls_key_file; /* both or none */
    char *log_level_name;
    enum log_level log_level;
    struct conf_prop *kafka_props;
    size_t n_kafka_props;
};

/* Loads *cf (zeroed by the caller) from env, a NULL-terminated
 * "NAME=value" array such as environ. On HW_ERR_CONFIG every problem has
 * been logged; *cf is still safe to conf_deinit(). */
enum hw_rc conf_load(struct conf *cf, const char *const *env) HW_MUSTCHECK;

/* Cleanses, in place, the value of every variable of env that holds a
 * secret (the sensitive keys: HMS_APP_SECRET, REDIS_URL, REDIS_PASSWORD,
 * SCHEMA_REGISTRY_URL, WEBHOOK_SECRET_HEADERS; KAFKA_PROP_* named like a
 * password, secret or key), leaving "NAME=" followed by NUL bytes. On the
 * process's own environ this is what /proc/<pid>/environ shows from then
 * on: the kernel reads the strings where exec placed them, which is where
 * environ's point (unless setenv() moved one). Call after conf_load(),
 * which copied what it needs, and before any thread: getenv() must not
 * race it. Returns how many values were wiped. */
size_t conf_wipe_env(char **env);

/* Logs one line per key, sensitive values redacted, then a warning for
 * each setting that weakens security (HMS_API_ALLOW_HTTP in use, a
 * webhook listener without a secret header). */
void conf_dump(const struct conf *cf);

/* The app-token TTL for role: its HMS_APP_TOKEN_TTL_BY_ROLE override, or
 * HMS_APP_TOKEN_TTL_S. */
int64_t conf_app_token_ttl(const struct conf *cf, const char *role);

void conf_deinit(struct conf *cf);

#endif
