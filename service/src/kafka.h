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

/* Looks the n topics up now, within timeout_ms in all, so that the first
 * message to each is not held until librdkafka finds the topic's
 * partitions on its own (up to a second on 2.0.2: the start, restart or
 * rebalance of a worker delayed its first second of outputs so). The
 * handles go to rkts[] and must live as long as rk (kafka_topics_free):
 * the topic, with its partitions, lives as long as they do. A topic not
 * found in time is a warning: its first messages wait, nothing more. */
void kafka_warm_topics(rd_kafka_t *rk, const char *const *topics, size_t n,
                       rd_kafka_topic_t **rkts, int timeout_ms);
void kafka_topics_free(rd_kafka_topic_t **rkts, size_t n);

#endif
