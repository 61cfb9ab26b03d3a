/* registry.h -- a Confluent-compatible schema registry client (libcurl).
 *
 * DESIGN
 * ------
 * Two calls of the Confluent API, both cached for the life of the
 * process (a schema id and a registration never change meaning):
 *   GET  {url}/schemas/ids/{id}            the writer schema of an input
 *   POST {url}/subjects/{subject}/versions  our output schema's id
 * (subject "<topic>-value", TopicNameStrategy). One blocking easy handle
 * with a short timeout, used by the consumer thread only: a call succeeds
 * once per new schema id or output topic, so blocking is cheap and keeps
 * the codec synchronous; failures are not cached, so while the registry
 * is down each retry blocks again (up to REGISTRY_TIMEOUT_MS). Outcomes
 * (docs/contract.md section 2): HW_OK; HW_ERR_UNAVAILABLE when the
 * registry is down (connection, timeout, 429, 5xx: retriable);
 * HW_ERR_NOT_FOUND for an id it does not know (terminal); HW_ERR_INVALID
 * when it refuses our schema (an incompatibility an operator must
 * resolve); HW_ERR_AUTH when it answers 401 or 403. Credentials
 * (https://user:pass@host in SCHEMA_REGISTRY_URL, split off by conf) go
 * as HTTP Basic auth (CURLOPT_USERNAME/PASSWORD), never in a URL; the
 * password is held as a struct secret, wiped on destroy, and never
 * reaches a log, an errstr or a metric.
 */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "hw.h"

#define REGISTRY_TIMEOUT_MS 5000

/* A client of cf->registry (cf->schema_registry_url must be set); copies
 * what it needs, so cf may go first. Aborts when out of memory, as
 * xmalloc does. */
struct registry *registry_create(const struct conf *cf);

/* Frees r and wipes its copy of the password; NULL is a no-op. */
void registry_destroy(struct registry *r);

/* The schema JSON of id; *json is the registry's (valid until destroy). */
enum hw_rc registry_schema(struct registry *r, uint32_t id, const char **json,
                           char *errstr, size_t errstr_size) HW_MUSTCHECK;

/* Registers schema_json under subject (idempotent) and returns its id. */
enum hw_rc registry_register(struct registry *r, const char *subject,
                             const char *schema_json, uint32_t *id,
                             char *errstr, size_t errstr_size) HW_MUSTCHECK;

#endif
