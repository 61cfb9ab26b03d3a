/* metrics.h -- Prometheus counters, gauges and histograms.
 *
 * DESIGN
 * ------
 * The families are one fixed table in metrics.c (name, type, help, label
 * names); a series is created on first use from its label values. The
 * registry is process-wide, because every thread reports into it: the
 * consumer (events, partitions, lag), the engine (100ms calls, Redis), the
 * webhook listener and its producer thread, and the admin listener, which
 * renders it in the text exposition format. One
 * mutex guards it; an update is a lock, a short search and an add, a few
 * thousand times a second at most. Label values come from the
 * configuration (topics), fixed route names and numbers, and are escaped
 * when rendered anyway.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>

enum metric_id {
    M_EVENTS_CONSUMED = 0, /* counter: topic */
    M_EVENTS_DONE,         /* counter: topic, outcome, class */
    M_EVENT_SECONDS,       /* histogram: topic (in the worker, end to end) */
    M_HMS_REQUESTS,        /* counter: route, status */
    M_HMS_SECONDS,         /* histogram: route */
    M_HMS_RETRIES,         /* counter: route */
    M_HMS_IN_FLIGHT,       /* gauge */
    M_TOKEN_MINTS,         /* counter: reason */
    M_REDIS_SECONDS,       /* histogram */
    M_REDIS_ERRORS,        /* counter */
    M_REDIS_CONNECTS,      /* counter: connection attempts (cache.c) */
    M_JOBS,                /* gauge: events held by the worker */
    M_HELD_BYTES,          /* gauge: their inputs' bytes */
    M_PAUSED,              /* gauge: paused partitions */
    M_ASSIGNED,            /* gauge: assigned partitions */
    M_CONSUMER_LAG,        /* gauge: topic, partition */
    M_UP,                  /* gauge: dependency (kafka, redis, hms_api) */
    M_HLS_FAILURES,        /* counter: HLS starts given up (contract 3) */
    M_JOBS_AT,             /* gauge: place (job.h) */
    M_JOBS_STATE,          /* gauge: state (handler.h), jobs in the engine */
    M_HALTED,              /* gauge: 1 while halted until a setting is fixed */
    M_DLQ_DROPPED,         /* counter: topic (dead letters refused even bare) */
    M_HLS_SKIPPED,         /* counter: HLS not started: no HMS_SUBDOMAIN */
    M_HLS_CLEARED,         /* counter: published hls_url removed, stopped */
    M_CLOCK_SKEW,          /* gauge: this host's clock minus 100ms's, s */
    M_CLOCK_REFUSALS,      /* counter: 401s while the clock was ahead */
    M_HOOKS_FOREIGN,       /* counter: webhooks of rooms not ours */
    M_HOOKS_UNTRACKED,     /* counter: peers past HOOK_USERS_MAX, no id */
    M_CLEANUPS,            /* counter: bookings ended by their session.close */
    M_WEBHOOKS,            /* counter: outcome (webhook.c) */
    M_WEBHOOK_SECONDS,     /* histogram: webhook received to stored */
    M_TOKENS_RENEWED,      /* counter: live sessions' tokens (renew.h) */
    M_TOKEN_RENEW_FAILURES, /* counter: checks that failed, retried */
    M_COUNT
};

/* Label values follow v, as many as the family has (const char *). */
void metrics_add(enum metric_id id, double v, ...);
void metrics_set(enum metric_id id, double v, ...);
void metrics_observe(enum metric_id id, double v, ...);

/* Drops every series of the family (e.g. lag of revoked partitions). */
void metrics_clear(enum metric_id id);

/* The whole registry in the Prometheus text format; malloc'd. */
char *metrics_render(void);

#endif
