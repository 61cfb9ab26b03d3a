/* sim_fault.h -- fault injection rules of hms-sim.
 *
 * DESIGN
 * ------
 * A fault set is an ordered list of rules; the first rule that matches a
 * request (route glob, room-name glob, remaining `times`) decides its fate:
 * added latency (fixed + uniform jitter), then at most one of hang, drop
 * (before the request is applied), drop_after (applied, then the
 * connection is closed without a response), 429 (the wait in the message,
 * as documented; a Retry-After header only on request), 401 (token
 * refused), 403 (permission), 404 (room not visible yet) or a 5xx. Rule
 * fields come from one table, shared by the
 * JSON form (/__sim/faults, --faults-file) and the --fault key=value flag.
 * The random source is a seeded xorshift, so runs repeat. Not thread-safe:
 * the owner (sim_admin) locks around every call.
 */
#ifndef SIM_FAULT_H
#define SIM_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hw.h"

/* The Retry-After header of an injected 429. 100ms documents none
 * (docs/100ms-api.md section 3), so none is the default. */
enum fault_retry_after {
    RETRY_AFTER_NONE = 0,
    RETRY_AFTER_SECONDS, /* Retry-After: N */
    RETRY_AFTER_DATE     /* Retry-After: <HTTP-date N s ahead> */
};

struct fault_rule {
    char *match; /* glob on the room name, case-insensitive; NULL: any */
    char *route; /* glob on "METHOD /v2/pattern"; NULL: any */
    int64_t latency_ms, jitter_ms;
    double rate_429;
    int64_t retry_after_s;  /* the wait N of a 429: message and header */
    int retry_after_header; /* enum fault_retry_after */
    double rate_401;        /* "Token validation error" for a valid token */
    double rate_403;        /* a permission 403 (docs/100ms-api.md 1.5) */
    double rate_404;        /* "Room not found" for a room that exists */
    double rate_500, rate_502, rate_503, rate_504;
    bool html_body; /* 5xx with an HTML body instead of JSON */
    double rate_drop, rate_drop_after, rate_hang;
    int64_t hang_ms;
    int64_t times; /* -1: unlimited; else the rule expires after N hits */
    int64_t hits;
};

struct fault_set {
    struct fault_rule *rules;
    size_t n;
    uint64_t rng;
};

enum fault_kind {
    FAULT_NONE = 0,
    FAULT_STATUS,     /* answer with status instead of applying */
    FAULT_DROP,       /* close before applying */
    FAULT_DROP_AFTER, /* apply, then close without answering */
    FAULT_HANG        /* hold the connection for hang_ms, then close */
};

struct fault_action {
    enum fault_kind kind;
    int status;             /* FAULT_STATUS */
    int64_t delay_ms;       /* latency before anything else happens */
    int64_t hang_ms;        /* FAULT_HANG */
    int64_t retry_after_s;  /* 429 */
    int retry_after_header; /* 429: enum fault_retry_after */
    bool html_body;
};

/* A rule with defaults: no match filters, no faults, unlimited. */
void fault_rule_init(struct fault_rule *r);
void fault_rule_deinit(struct fault_rule *r);

/* Sets one field from "key=value" (value parsed as JSON, else taken as a
 * string). HW_ERR_CONFIG with a message on an unknown key or bad value. */
enum hw_rc fault_rule_set_kv(struct fault_rule *r, const char *kv, char *errstr,
                             size_t errstr_size) HW_MUSTCHECK;

/* Replaces *fs with {"seed": N, "rules": [{field: value, ...}, ...]}.
 * On error *fs is unchanged. The rates of one rule must sum to <= 1. */
enum hw_rc fault_set_from_json(struct fault_set *fs, const json_t *j,
                               char *errstr, size_t errstr_size) HW_MUSTCHECK;

/* Appends a copy of r (takes ownership of its strings). */
void fault_set_add(struct fault_set *fs, struct fault_rule *r);
json_t *fault_set_to_json(const struct fault_set *fs);
void fault_set_deinit(struct fault_set *fs);

/* Decides the fate of one request. room may be NULL (unknown). */
void fault_decide(struct fault_set *fs, const char *route, const char *room,
                  struct fault_action *out);

/* Validates the rates of r; HW_ERR_CONFIG with a message if they sum > 1. */
enum hw_rc fault_rule_check(const struct fault_rule *r, char *errstr,
                            size_t errstr_size) HW_MUSTCHECK;

#endif
