/* registry.h -- a Confluent-compatible schema registry client (libcurl).
 *
 * DESIGN
 * ------
 * Two calls of the Confluent API:
 *   GET  {url}/schemas/ids/{id}            the writer schema of an input
 *   POST {url}/subjects/{subject}/versions  our output schema's id
 * (subject "<topic>-value", TopicNameStrategy). Answers are cached for the
 * life of the process (a schema id and a registration never change
 * meaning).
 *
 * Writer schemas are fetched by a thread of the registry's own, so the
 * consumer thread never waits for the registry's answer (review B10):
 * registry_schema() answers from the cache at once, and an id it has not
 * seen is queued and answered "not yet" (HW_ERR_UNAVAILABLE); when a
 * fetch ends, the consumer's bell (hw.h) rings and the caller asks again.
 * A 404 is remembered for REGISTRY_MISSING_MS, so an unknown id costs one
 * request a minute, not one per message; a failed fetch (the registry
 * down) for REGISTRY_RETRY_MS, refused credentials for HALT_RETRY_MS. The
 * fetch thread logs the outage once ("schema registry down") and its end
 * ("schema registry back"). Output schemas are still registered by the
 * calling thread, blocking (at most REGISTRY_TIMEOUT_MS): once per output
 * topic, and again on each retry while the registry is down.
 *
 * Outcomes (docs/contract.md section 2): HW_OK; HW_ERR_UNAVAILABLE when
 * the registry is down (connection, timeout, 429, 5xx: retriable) or the
 * answer is not in yet; HW_ERR_NOT_FOUND for an id it does not know
 * (terminal); HW_ERR_INVALID when it refuses our schema (an
 * incompatibility an operator must resolve); HW_ERR_AUTH when it answers
 * 401 or 403. Credentials (https://user:pass@host in SCHEMA_REGISTRY_URL,
 * split off by conf) go as HTTP Basic auth (CURLOPT_USERNAME/PASSWORD),
 * never in a URL; the password is held as a struct secret, wiped on
 * destroy, and never reaches a log, an errstr or a metric.
 */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "hw.h"

#define REGISTRY_TIMEOUT_MS 5000
#define REGISTRY_MISSING_MS 60000 /* how long a 404 for an id is believed */
#define REGISTRY_RETRY_MS 1000    /* how soon a failed fetch is made again */

/* A client of cf->registry (cf->schema_registry_url must be set); copies
 * what it needs, so cf may go first. Starts the fetch thread, which rings
 * bell (the caller's, open until destroy) whenever a fetch ends. NULL with
 * errstr when the thread cannot start; aborts when out of memory, as
 * xmalloc does. */
struct registry *registry_create(const struct conf *cf, int bell, char *errstr,
                                 size_t errstr_size);

/* Stops the fetch thread (waiting for a fetch under way, at most
 * REGISTRY_TIMEOUT_MS), frees r and wipes its copy of the password; NULL
 * is a no-op. */
void registry_destroy(struct registry *r);

/* The schema JSON of id, without waiting: HW_OK with *json the
 * registry's (valid until destroy); HW_ERR_UNAVAILABLE while it is being
 * fetched (errstr says so) or when the last fetch failed less than
 * REGISTRY_RETRY_MS ago; HW_ERR_NOT_FOUND when the registry did not know
 * it less than REGISTRY_MISSING_MS ago; HW_ERR_AUTH when it refused us
 * less than HALT_RETRY_MS ago. Past those times, asking fetches again.
 * One thread (the codec's). */
enum hw_rc registry_schema(struct registry *r, uint32_t id, const char **json,
                           char *errstr, size_t errstr_size) HW_MUSTCHECK;

/* Counts the fetches that have ended: when it changes, answers of
 * registry_schema() may have changed. Any thread. */
unsigned registry_fetches_done(struct registry *r);

/* Registers schema_json under subject (idempotent) and returns its id;
 * blocks the calling thread (at most REGISTRY_TIMEOUT_MS) unless cached. */
enum hw_rc registry_register(struct registry *r, const char *subject,
                             const char *schema_json, uint32_t *id,
                             char *errstr, size_t errstr_size) HW_MUSTCHECK;

#endif
