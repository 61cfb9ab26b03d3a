/* kafka.h -- librdkafka configuration shared by the worker and hmsctl.
 *
 * DESIGN
 * ------
 * Builds an rd_kafka_conf_t from struct conf: bootstrap servers, a unique
 * client.id, librdkafka's log routed into our logfmt lines, then every
 * KAFKA_PROP_* (already validated at load) and finally the caller's own
 * settings, which win. librdkafka's own conf dump is never logged: it
 * does not redact.
 */
#ifndef KAFKA_H
#define KAFKA_H

#include <stdbool.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "event.h"

/* extra: NULL-terminated name/value pairs. NULL with errstr on failure. */
rd_kafka_conf_t *kafka_conf_new(const struct conf *cf, const char *role,
                                const char *const *extra, char *errstr,
                                size_t errstr_size);

/* Whether err (an error callback's) is Kafka refusing our setup, a
 * setting to fix rather than an outage: SASL credentials refused
 * (_AUTHENTICATION, SASL_AUTHENTICATION_FAILED) or a TLS handshake that
 * failed (_SSL: certificate verification, protocol). */
bool kafka_setup_refused(int err);

/* The kind of event an input topic carries; false for any other topic. */
bool kafka_topic_kind(const struct conf *cf, const char *topic,
                      enum event_kind *kind);
/* The topic an output kind (video-ready, video-ended, video-session) goes
 * to. */
const char *kafka_output_topic(const struct conf *cf, enum event_kind kind);

/* A non-blocking, close-on-exec pipe for rd_kafka_queue_io_event_enable():
 * librdkafka writes to fds[1] when a queue becomes non-empty. */
bool kafka_wake_pipe(int fds[2]);

#endif
