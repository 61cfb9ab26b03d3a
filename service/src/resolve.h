/* resolve.h -- Avro schema resolution of a decoded value (writer schema)
 * into a value of the reader schema.
 *
 * DESIGN
 * ------
 * avro-c 1.11.1's resolved writer refuses a reader field the writer does
 * not have ("Reader field ... doesn't appear in writer"): it ignores
 * defaults, which is exactly what schema evolution needs. So the codec
 * reads with the writer schema and resolve_value() projects the result
 * onto the reader schema by the specification's rules: record fields by
 * name (missing ones take the reader's default), enum symbols by name
 * (unknown ones take the reader enum's default), unions by matching
 * branch, and the numeric and string/bytes promotions. Defaults come from
 * the reader schema's JSON, since avro-c does not keep them. Pure,
 * reentrant; the caller owns both values.
 */
#ifndef RESOLVE_H
#define RESOLVE_H

#include <stddef.h>

#include <avro.h>
#include <jansson.h>

#include "hw.h"

/* Named types of a reader schema: full name -> JSON definition. Built
 * once per reader schema; caller json_decref()s it. */
json_t *resolve_names(const json_t *reader_json);

/* Fills dst (a fresh value of the reader schema, whose JSON is rjson) from
 * src. HW_ERR_DECODE with a reason when the schemas do not resolve. */
enum hw_rc resolve_value(avro_value_t *src, avro_value_t *dst,
                         const json_t *rjson, const json_t *names, char *errstr,
                         size_t errstr_size) HW_MUSTCHECK;

#endif
