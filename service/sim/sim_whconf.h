/* sim_whconf.h -- hms-sim's webhook settings: where 100ms-style webhook
 * events go and the delivery faults.
 *
 * DESIGN
 * ------
 * One struct, set three ways that share one validation: the flags
 * (--webhook-url, --webhook-header NAME:VALUE, --webhook-fault KEY=VALUE),
 * the JSON form of POST /__sim/config ("webhook_url", "webhook_headers",
 * "webhook_faults") and its reset to the start-up values. documented:
 * 100ms POSTs each event to the configured URL with the static headers
 * configured, passed through unchanged -- its only authentication
 * (configure-webhooks/secure-webhooks.mdx). Header values may be secrets:
 * sim_wh_conf_to_json() never shows them and nothing here logs them.
 * Pure: no locks, no I/O; the owner (sim_webhook) locks.
 */
#ifndef SIM_WHCONF_H
#define SIM_WHCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hw.h"

#define SIM_WH_HEADERS_MAX 32
#define SIM_WH_URL_MAX 2048

struct sim_wh_conf {
    char *url;       /* the workspace webhook; NULL: none */
    json_t *headers; /* name -> value (strings); never NULL once init'd */
    /* faults, test tools (docs/hms-sim.md): each event's dice, seeded */
    double drop_rate;      /* lost before its first attempt */
    double duplicate_rate; /* delivered twice, same id */
    double reorder_rate;   /* held back, swapped with the room's next */
    uint64_t seed;         /* of the dice; 0: the simulator's --seed */
};

void sim_wh_conf_init(struct sim_wh_conf *c);
void sim_wh_conf_deinit(struct sim_wh_conf *c);
/* *dst (deinit'd or never init'd) becomes a deep copy of *src. */
void sim_wh_conf_copy(struct sim_wh_conf *dst, const struct sim_wh_conf *src);

/* http:// or https://, a host, at most SIM_WH_URL_MAX printable bytes. */
bool sim_wh_url_ok(const char *url);
/* name: an HTTP token of at most 128 bytes; value: printable ASCII or
 * tab (no CR or LF: no header injection), at most 1024 bytes. */
bool sim_wh_header_ok(const char *name, const char *value);

/* The flag forms; HW_ERR_CONFIG with a message, *c unchanged on error. */
enum hw_rc sim_wh_conf_set_url(struct sim_wh_conf *c, const char *url,
                               char *errstr, size_t errstr_size) HW_MUSTCHECK;
enum hw_rc sim_wh_conf_add_header(struct sim_wh_conf *c, const char *kv,
                                  char *errstr,
                                  size_t errstr_size) HW_MUSTCHECK;
enum hw_rc sim_wh_conf_set_fault(struct sim_wh_conf *c, const char *kv,
                                 char *errstr, size_t errstr_size) HW_MUSTCHECK;

/* Whether key is one of the JSON form's ("webhook_url", ...). */
bool sim_wh_conf_key(const char *key);
/* Applies the webhook members of j, all or nothing (other members are
 * ignored): "webhook_url" a URL, or null/"" for none; "webhook_headers"
 * an object of strings, replacing every header; "webhook_faults" any
 * subset of {"drop_rate", "duplicate_rate", "reorder_rate" (0..1),
 * "seed"}. HW_ERR_INVALID with a message, *c unchanged, on a bad value. */
enum hw_rc sim_wh_conf_update(struct sim_wh_conf *c, const json_t *j,
                              char *errstr, size_t errstr_size) HW_MUSTCHECK;
/* {"webhook_url", "webhook_headers" (values "(redacted)"),
 * "webhook_faults"}: new reference. */
json_t *sim_wh_conf_to_json(const struct sim_wh_conf *c);

/* headers (an object; non-string or invalid members left out) as "Name: value"
 * lines, NULL-terminated; caller frees with sim_wh_lines_free(). */
char **sim_wh_header_lines(json_t *headers);
char **sim_wh_lines_dup(char *const *lines);
void sim_wh_lines_free(char **lines);

#endif
