/* sim_conf.h -- hms-sim configuration: flags, environment, templates file.
 *
 * DESIGN
 * ------
 * Flags are one getopt_long table; the app secret comes from
 * HMS_APP_SECRET or HMS_APP_SECRET_FILE (never a flag: argv is public),
 * the access key from --access-key or HMS_ACCESS_KEY. Templates (id,
 * name, region, subdomain, roles, hls_max_duration_s) come from a small
 * JSON file, or a built-in default parsed by the same code. --fault
 * KEY=VALUE builds the start-up fault rule (see sim_fault.h); --faults-file
 * loads a rule set. --tls-cert and --tls-key (both or neither) make it
 * serve HTTPS, as 100ms does. --webhook-url, --webhook-header and
 * --webhook-fault set the start-up webhook settings (sim_whconf.h). Every error
 * is logged; loading then fails once with HW_ERR_CONFIG. Immutable after
 * loading: struct sim_tune holds the start-up values of what POST /__sim/config
 * changes at run time (the live copy is sim_api's), and sim_tune_update()
 * validates such a change with the same bounds as the flags.
 */
#ifndef SIM_CONF_H
#define SIM_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hw.h"
#include "secret.h"
#include "sim_fault.h"
#include "sim_whconf.h"

struct sim_template {
    char *id, *name, *region, *subdomain;
    char **roles;
    size_t n_roles;
    int64_t hls_max_duration_s; /* a stream's longest run (documented 4 h) */
};

/* The settings /__sim/config changes at run time. */
struct sim_tune {
    int64_t time_scale;           /* documented minute/hour durations / N */
    int64_t clock_offset_s;       /* the simulator's clock: real time + N s */
    int64_t hls_running_after_ms; /* starting -> running; not scaled */
    bool strict; /* the stricter-than-documented rules (docs/hms-sim.md) */
};

struct sim_conf {
    char *host;               /* listen address, 127.0.0.1 */
    int port;                 /* 0: a free port, reported on stdout */
    char *port_file;          /* NULL, or where the bound port is written */
    char *tls_cert, *tls_key; /* PEM files: HTTPS; both NULL: plain HTTP */
    char *tls_cert_pem, *tls_key_pem; /* their text, read at load */
    struct sim_template *templates;   /* [0] is the workspace default */
    size_t n_templates;
    char *customer_id, *app_id;
    char *access_key; /* NULL: any access_key claim is accepted */
    struct secret secret;
    int threads;
    int64_t leeway_s;     /* allowed clock skew on nbf/iat/exp */
    int64_t log_size;     /* request log ring capacity */
    struct sim_tune tune; /* start-up values; POST /__sim/reset restores */
    bool hls_needs_session;
    uint64_t seed;
    struct fault_set faults;
    struct sim_wh_conf webhook; /* start-up values; /__sim/reset restores */
};

/* Parses argv and the environment into *cf (zeroed by the caller). Prints
 * usage and returns HW_ERR_INVALID for --help. */
enum hw_rc sim_conf_load(struct sim_conf *cf, int argc,
                         char **argv) HW_MUSTCHECK;

/* Parses a templates document (see deploy/local/sim-templates.json) into
 * cf->templates, customer_id and app_id. */
enum hw_rc sim_conf_parse_templates(struct sim_conf *cf, const char *json,
                                    size_t len, char *errstr,
                                    size_t errstr_size) HW_MUSTCHECK;

const struct sim_template *sim_conf_template(const struct sim_conf *cf,
                                             const char *id);
bool sim_template_has_role(const struct sim_template *t, const char *role);

/* Applies the members of j ({"time_scale", "clock_offset_s", "strict",
 * "hls_running_after_ms"}, any subset) to *t, all or nothing: on an
 * unknown key or a value out of the flag's bounds, HW_ERR_INVALID with a
 * message and *t unchanged. */
enum hw_rc sim_tune_update(struct sim_tune *t, json_t *j, char *errstr,
                           size_t errstr_size) HW_MUSTCHECK;
/* {"time_scale", "clock_offset_s", "strict", "hls_running_after_ms"} */
json_t *sim_tune_to_json(const struct sim_tune *t);

void sim_conf_deinit(struct sim_conf *cf);

#endif
