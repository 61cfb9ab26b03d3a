/* registry.h -- a Confluent-compatible schema registry client (libcurl).
 *
 * DESIGN
 * ------
 * Two calls of the Confluent API, both cached for the life of the
 * process (a schema id and a registration never change meaning):
 *   GET  {url}/schemas/ids/{id}            the writer schema of an input
 *   POST {url}/subjects/{subject}/versions  our output schema's id
 * (subject "<topic>-value", TopicNameStrategy). One blocking easy handle
 * with a short timeout, used by the consumer thread only: a call happens
 * once per new schema id or output topic, so blocking is cheap and keeps
 * the codec synchronous. Outcomes (docs/contract.md section 2): HW_OK;
 * HW_ERR_UNAVAILABLE when the registry is down (connection, timeout, 429,
 * 5xx: retriable); HW_ERR_NOT_FOUND for an id it does not know
 * (terminal); HW_ERR_INVALID when it refuses our schema (an
 * incompatibility an operator must resolve). URL credentials
 * (https://user:pass@host) are used, never logged.
 */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "hw.h"

#define REGISTRY_TIMEOUT_MS 5000

struct registry *registry_create(const char *url);
void registry_destroy(struct registry *r);

/* The schema JSON of id; *json is the registry's (valid until destroy). */
enum hw_rc registry_schema(struct registry *r, uint32_t id, const char **json,
                           char *errstr, size_t errstr_size) HW_MUSTCHECK;

/* Registers schema_json under subject (idempotent) and returns its id. */
enum hw_rc registry_register(struct registry *r, const char *subject,
                             const char *schema_json, uint32_t *id,
                             char *errstr, size_t errstr_size) HW_MUSTCHECK;

#endif
