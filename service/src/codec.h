/* codec.h -- Avro in and out: framing, fingerprints, schema resolution.
 *
 * DESIGN
 * ------
 * Bytes in, struct event out (and back), with no Kafka in sight, so it is
 * unit-tested and fuzzed directly. Input framing is detected per message:
 * Avro single-object encoding (C3 01, 8-byte little-endian CRC-64-AVRO
 * fingerprint, datum) or the Confluent wire format (00, 4-byte schema id);
 * until a registry is configured a Confluent message is unknown_schema.
 * With a registry (codec_use_registry), a Confluent message's writer is
 * fetched by id once and cached: one of ours when its fingerprint matches,
 * else used as it is and resolved like any writer; outputs then go out in
 * the Confluent format under "<topic>-value" (codec_encode_for).
 * Every schema in schemas/ is a known writer; the newest of each record
 * (the one without a .vN suffix) is the reader. A datum is prevalidated
 * against its writer schema before avro-c reads it, read with the writer
 * schema, then resolved into the reader (resolve.h), then copied into
 * struct event through one field table per record (used for encoding
 * too). Outputs use single-object encoding unless a registry is in use
 * (above). All avro-c work happens on the thread that owns the codec: its
 * error text is a global buffer.
 */
#ifndef CODEC_H
#define CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "event.h"
#include "hw.h"

#define CODEC_MAX_MESSAGE (1024 * 1024)

struct registry;

struct codec *codec_create(char *errstr, size_t errstr_size);
void codec_destroy(struct codec *cd);

/* Decodes one message that the topic says is of kind `expect` into *ev
 * (zeroed by the caller; event_clear() it in every case).
 *   HW_ERR_DECODE     undecodable bytes (class decode)
 *   HW_ERR_NOT_FOUND  unknown fingerprint or schema id, a Confluent
 *                     message without registry, a record of another
 *                     type (class unknown_schema)
 *   HW_ERR_UNAVAILABLE its writer schema is being fetched (never waited
 *                     for: the registry rings its bell when a fetch
 *                     ends) or the registry is down: not the message's
 *                     fault, try again later
 *   HW_ERR_AUTH       the registry refuses our credentials: the same,
 *                     and an operator must act
 * errstr says why, without payload bytes. */
enum hw_rc codec_decode(struct codec *cd, enum event_kind expect,
                        const void *buf, size_t len, struct event *ev,
                        char *errstr, size_t errstr_size) HW_MUSTCHECK;

/* Encodes ev with the schema called schema_name (e.g. "BookingCreated.v1";
 * NULL: the current schema of ev->kind) in single-object encoding,
 * appending to out. Fields the schema lacks are left out. */
enum hw_rc codec_encode(struct codec *cd, const struct event *ev,
                        const char *schema_name, struct buf *out, char *errstr,
                        size_t errstr_size) HW_MUSTCHECK;

/* Decodes Confluent-framed input with writer schemas from reg, and
 * codec_encode_for() writes that format. reg must outlive the codec. */
void codec_use_registry(struct codec *cd, struct registry *reg);

/* The current schema of ev->kind for topic: Confluent format with the id
 * registered under "<topic>-value" when a registry is in use (else as
 * codec_encode). HW_ERR_UNAVAILABLE: the registry is down (try later);
 * HW_ERR_AUTH / HW_ERR_INVALID: it refuses us or the schema (an operator
 * must act; try later); HW_ERR_FATAL: the event cannot be encoded. */
enum hw_rc codec_encode_for(struct codec *cd, const struct event *ev,
                            const char *topic, struct buf *out, char *errstr,
                            size_t errstr_size) HW_MUSTCHECK;

/* The fingerprint of a known schema by name, 0 if unknown. */
uint64_t codec_fingerprint(const struct codec *cd, const char *schema_name);

#endif
