/* sim_conf.h -- hms-sim configuration: flags, environment, templates file.
 *
 * DESIGN
 * ------
 * Flags are one getopt_long table; the app secret comes from
 * HMS_APP_SECRET or HMS_APP_SECRET_FILE (never a flag: argv is public),
 * the access key from --access-key or HMS_ACCESS_KEY. Templates (id,
 * name, region, subdomain, roles) come from a small JSON file, or a
 * built-in default parsed by the same code. --fault KEY=VALUE builds the
 * start-up fault rule (see sim_fault.h); --faults-file loads a rule set.
 * Every error is logged; loading then fails once with HW_ERR_CONFIG.
 * Immutable after loading.
 */
#ifndef SIM_CONF_H
#define SIM_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw.h"
#include "secret.h"
#include "sim_fault.h"

struct sim_template {
    char *id, *name, *region, *subdomain;
    char **roles;
    size_t n_roles;
};

struct sim_conf {
    char *host;      /* listen address, 127.0.0.1 */
    int port;        /* 0: a free port, reported on stdout */
    char *port_file; /* NULL, or where the bound port is written */
    struct sim_template *templates; /* [0] is the workspace default */
    size_t n_templates;
    char *customer_id, *app_id;
    char *access_key; /* NULL: any access_key claim is accepted */
    struct secret secret;
    int threads;
    int64_t leeway_s; /* allowed clock skew on nbf/iat/exp */
    int64_t log_size; /* request log ring capacity */
    int64_t hls_running_after_ms;
    bool hls_needs_session;
    uint64_t seed;
    struct fault_set faults;
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

void sim_conf_deinit(struct sim_conf *cf);

#endif
