/* schema.h -- the project's Avro schemas: their sources, Parsing
 * Canonical Form and CRC-64-AVRO fingerprints.
 *
 * DESIGN
 * ------
 * The files in schemas/ are the source of truth; the build embeds them
 * (build/<variant>/gen/schemas_gen.c, made by service/tools/embed.sh), so
 * no schema is written by hand in C. avro-c 1.11.1 has no PCF function:
 * schema_pcf() implements the specification's transformation (primitives
 * in simple form, full names, only name/type/fields/symbols/items/values/
 * size in that order, named types written once, no whitespace), as Java's
 * SchemaNormalization does. Pure and reentrant.
 */
#ifndef SCHEMA_H
#define SCHEMA_H

#include <stddef.h>
#include <stdint.h>

struct schema_src {
    const char *name; /* file name without .avsc, e.g. "BookingCreated.v1" */
    const char *json;
};

extern const struct schema_src schema_srcs[];
extern const size_t schema_srcs_len;

/* The embedded source called name, or NULL. */
const struct schema_src *schema_src_find(const char *name);

/* The Parsing Canonical Form of a schema in JSON text: malloc'd, caller
 * frees; NULL with a message on invalid JSON or an invalid schema. */
char *schema_pcf(const char *json, size_t len, char *errstr,
                 size_t errstr_size);

/* CRC-64-AVRO (Rabin) of data: the schema fingerprint when data is a
 * PCF. Printed big-endian in docs; written little-endian on the wire. */
uint64_t schema_fingerprint(const void *data, size_t len);

#endif
