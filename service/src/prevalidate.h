/* prevalidate.h -- checks Avro binary against its writer schema before
 * avro-c touches it.
 *
 * DESIGN
 * ------
 * avro-c 1.11.1 allocates whatever string, bytes or block length a
 * message declares (and leaks it on a short read): ten bytes can ask for
 * a gigabyte. prevalidate_datum() walks the writer schema over the bytes
 * without allocating anything: every length against the bytes left,
 * varints at most 10 bytes, enum and union indexes in range, at most
 * 10,000 array and map items per message (1,024 that take no bytes),
 * nesting depth capped, trailing bytes rejected. Only bytes that
 * pass reach avro_value_read(). Pure, reentrant; delete it when a fixed
 * libavro ships.
 */
#ifndef PREVALIDATE_H
#define PREVALIDATE_H

#include <stddef.h>

#include <avro.h>

#include "hw.h"

/* HW_OK when buf[0..len) is exactly one datum of schema; otherwise
 * HW_ERR_DECODE with the reason and byte offset in errstr. */
enum hw_rc prevalidate_datum(avro_schema_t schema, const void *buf, size_t len,
                             char *errstr, size_t errstr_size) HW_MUSTCHECK;

#endif
