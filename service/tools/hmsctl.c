/* hmsctl.c -- a small operator CLI for hms-worker, all on its main
 * thread. It reads the worker's environment (.env.example) with conf.c
 * and reuses the worker's modules, so what it writes is what the worker
 * reads: send encodes with the codec (always single-object encoding, even
 * with SCHEMA_REGISTRY_URL), show reads through cache.c's synchronous
 * calls (same AUTH, SELECT and keys), token mints with jwt.c.
 *
 *   hmsctl send booking-created --booking-id B1 --participant alice:host
 *          [--participant bob:guest ...] [--mode VIRTUAL|PHYSICAL]
 *          [--starts-at MS] [--ends-at MS] [--template-id T]
 *          [--region in|us|eu|auto] [--size N] [--max-duration-seconds S]
 *   hmsctl send stream-started --stream-id S1 --host-user-id U
 *          [--host-role R] [--title T] [--hls] [--template-id T]
 *   hmsctl send session-ended --subject booking|stream --subject-id ID
 *          [--reason TEXT] [--no-lock]
 *     (every send: [--event-id ID] [--schema NAME, e.g. BookingCreated.v1])
 *   hmsctl show booking|stream ID      the Redis entry frontends read
 *   hmsctl token --room R --user U --role ROLE [--ttl S]   mint one
 *   hmsctl dlq list|replay, lag, health      see hmsctl_ops.c
 */
#define LOGMOD "hmsctl"
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "hmsctl.h"

#include "cache.h"
#include "codec.h"
#include "conf.h"
#include "jwt.h"
#include "kafka.h"
#include "log.h"

extern char **environ;

enum opt {
    O_BOOKING = 256,
    O_PARTICIPANT,
    O_MODE,
    O_STARTS,
    O_ENDS,
    O_TEMPLATE,
    O_REGION,
    O_SIZE,
    O_DURATION,
    O_STREAM,
    O_HOST_USER,
    O_HOST_ROLE,
    O_TITLE,
    O_HLS,
    O_SUBJECT,
    O_SUBJECT_ID,
    O_REASON,
    O_NO_LOCK,
    O_EVENT_ID,
    O_SCHEMA,
    O_ROOM,
    O_USER,
    O_ROLE,
    O_TTL
};

static const struct option opts[] = {
    {"booking-id", required_argument, NULL, O_BOOKING},
    {"participant", required_argument, NULL, O_PARTICIPANT},
    {"mode", required_argument, NULL, O_MODE},
    {"starts-at", required_argument, NULL, O_STARTS},
    {"ends-at", required_argument, NULL, O_ENDS},
    {"template-id", required_argument, NULL, O_TEMPLATE},
    {"region", required_argument, NULL, O_REGION},
    {"size", required_argument, NULL, O_SIZE},
    {"max-duration-seconds", required_argument, NULL, O_DURATION},
    {"stream-id", required_argument, NULL, O_STREAM},
    {"host-user-id", required_argument, NULL, O_HOST_USER},
    {"host-role", required_argument, NULL, O_HOST_ROLE},
    {"title", required_argument, NULL, O_TITLE},
    {"hls", no_argument, NULL, O_HLS},
    {"subject", required_argument, NULL, O_SUBJECT},
    {"subject-id", required_argument, NULL, O_SUBJECT_ID},
    {"reason", required_argument, NULL, O_REASON},
    {"no-lock", no_argument, NULL, O_NO_LOCK},
    {"event-id", required_argument, NULL, O_EVENT_ID},
    {"schema", required_argument, NULL, O_SCHEMA},
    {"room", required_argument, NULL, O_ROOM},
    {"user", required_argument, NULL, O_USER},
    {"role", required_argument, NULL, O_ROLE},
    {"ttl", required_argument, NULL, O_TTL},
    {NULL, 0, NULL, 0},
};

int hmsctl_usage(void)
{
    fprintf(stderr, "usage: hmsctl send booking-created|stream-started|"
                    "session-ended [options]\n"
                    "       hmsctl show booking|stream ID\n"
                    "       hmsctl token --room R --user U --role ROLE "
                    "[--ttl S]\n"
                    "       hmsctl dlq list [--max N]\n"
                    "       hmsctl dlq replay --offset N [--partition P] | "
                    "--all\n"
                    "       hmsctl lag\n"
                    "       hmsctl health [--admin HOST:PORT]\n"
                    "(see the top of service/tools/hmsctl.c and "
                    "hmsctl_ops.c)\n");
    return 2;
}

static bool parse_ms(const char *s, int64_t *out)
{
    char *end;

    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno == 0 && end != s && *end == '\0';
}

/* An Avro int: the worker judges its range (hmsctl sends what it is
 * told, so an invalid value can be tried). */
static bool parse_int(const char *s, struct event_opt_int *out)
{
    int64_t v;

    if (!parse_ms(s, &v) || v < INT32_MIN || v > INT32_MAX) {
        return false;
    }
    *out = (struct event_opt_int){true, (int32_t)v};
    return true;
}

/* Parses the options of `send` and `token` into ev (strings borrowed). */
static bool parse(int argc, char **argv, struct event *ev, const char **schema,
                  int64_t *ttl)
{
    int id;

    optind = 1;
    while ((id = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *colon;

        switch (id) {
        case O_BOOKING:
            ev->booking_id = optarg;
            break;
        case O_PARTICIPANT:
            colon = strrchr(optarg, ':');
            if (colon == NULL) {
                fprintf(stderr, "--participant USER:ROLE\n");
                return false;
            }
            *colon = '\0';
            ev->participants =
                xrealloc(ev->participants,
                         (ev->n_participants + 1) * sizeof(*ev->participants));
            ev->participants[ev->n_participants++] =
                (struct participant){optarg, NULL, colon + 1};
            break;
        case O_MODE:
            ev->physical = strcmp(optarg, "PHYSICAL") == 0;
            break;
        case O_STARTS:
            if (!parse_ms(optarg, &ev->starts_at)) {
                return false;
            }
            break;
        case O_ENDS:
            if (!parse_ms(optarg, &ev->ends_at)) {
                return false;
            }
            break;
        case O_TEMPLATE:
            ev->template_id = optarg;
            break;
        case O_REGION:
            ev->region = optarg;
            break;
        case O_SIZE:
            if (!parse_int(optarg, &ev->size)) {
                return false;
            }
            break;
        case O_DURATION:
            if (!parse_int(optarg, &ev->max_duration_seconds)) {
                return false;
            }
            break;
        case O_STREAM:
            ev->stream_id = optarg;
            break;
        case O_HOST_USER:
            ev->host_user_id = optarg;
            break;
        case O_HOST_ROLE:
            ev->host_role = optarg;
            break;
        case O_TITLE:
            ev->title = optarg;
            break;
        case O_HLS:
            ev->hls = true;
            break;
        case O_SUBJECT:
            ev->subject_kind = strcmp(optarg, "stream") == 0 ? SUBJECT_STREAM
                                                             : SUBJECT_BOOKING;
            break;
        case O_SUBJECT_ID:
            ev->subject_id = optarg;
            break;
        case O_REASON:
            ev->reason = optarg;
            break;
        case O_NO_LOCK:
            ev->lock = false;
            break;
        case O_EVENT_ID:
            ev->event_id = optarg;
            break;
        case O_SCHEMA:
            *schema = optarg;
            break;
        case O_ROOM:
            ev->room_id = optarg;
            break;
        case O_USER:
            ev->host_user_id = optarg;
            break;
        case O_ROLE:
            ev->host_role = optarg;
            break;
        case O_TTL:
            if (!parse_ms(optarg, ttl)) {
                return false;
            }
            break;
        default:
            return false;
        }
    }
    return true;
}

/* What a send learns from librdkafka's callbacks. */
struct send_state {
    int status;        /* 0: delivered */
    char refused[256]; /* Kafka refused our login or TLS: why */
};

static void print_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                           void *opaque)
{
    struct send_state *st = opaque;

    (void)rk;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
        st->status = 1;
        return;
    }
    printf("sent topic=%s partition=%d offset=%lld\n",
           rd_kafka_topic_name(m->rkt), (int)m->partition,
           (long long)m->offset);
    st->status = 0;
}

/* A refused SASL login or TLS handshake ends the send at once: retrying
 * until the flush times out would only hide it. */
static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason,
                           void *opaque)
{
    struct send_state *st = opaque;

    (void)rk;
    if (kafka_setup_refused(err) && st->refused[0] == '\0') {
        snprintf(st->refused, sizeof(st->refused), "%s: %s",
                 rd_kafka_err2name(err), reason);
    }
}

/* Delivered, refused, or 30 s passed. */
static bool flush_or_refused(rd_kafka_t *rk, const struct send_state *st)
{
    for (int i = 0; i < 120 && st->refused[0] == '\0'; i++) {
        if (rd_kafka_flush(rk, 250) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            return true;
        }
    }
    if (st->refused[0] != '\0') {
        fprintf(stderr,
                "hmsctl: kafka refuses us (%s): check KAFKA_PROP_SASL_* "
                "and KAFKA_PROP_SSL_CA_LOCATION\n",
                st->refused);
    }
    return false;
}

static int send_event(const struct conf *cf, struct event *ev,
                      const char *schema, const char *topic, const char *key)
{
    char errstr[512], uuid[JWT_UUID_LEN + 1];
    struct codec *cd = codec_create(errstr, sizeof(errstr));
    rd_kafka_conf_t *kc =
        kafka_conf_new(cf, "hmsctl", NULL, errstr, sizeof(errstr));
    struct buf b = {0};
    rd_kafka_t *rk = NULL;
    struct send_state st = {1, ""};

    if (ev->event_id == NULL && jwt_uuid4(uuid) == HW_OK) {
        ev->event_id = uuid;
    }
    ev->occurred_at = hw_now_ms();
    if (cd == NULL || kc == NULL ||
        codec_encode(cd, ev, schema, &b, errstr, sizeof(errstr)) != HW_OK) {
        fprintf(stderr, "hmsctl: %s\n", errstr);
        goto out;
    }
    rd_kafka_conf_set_opaque(kc, &st);
    rd_kafka_conf_set_dr_msg_cb(kc, print_delivery);
    rd_kafka_conf_set_error_cb(kc, on_kafka_error);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "hmsctl: %s\n", errstr);
        goto out;
    }
    kc = NULL; /* rk owns it */
    if (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                          RD_KAFKA_V_KEY((void *)(uintptr_t)key, strlen(key)),
                          RD_KAFKA_V_VALUE(b.p, b.len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_END) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        !flush_or_refused(rk, &st)) {
        fprintf(stderr, "hmsctl: produce to %s failed\n", topic);
        st.status = 1;
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    }
    printf("event_id=%s\n", ev->event_id);
out:
    if (rk != NULL) {
        rd_kafka_destroy(rk);
    }
    if (kc != NULL) {
        rd_kafka_conf_destroy(kc);
    }
    buf_deinit(&b);
    codec_destroy(cd);
    return st.status;
}

static char default_host_role[] = "broadcaster"; /* the schema default */

static int cmd_send(const struct conf *cf, int argc, char **argv)
{
    struct event ev = {0};
    const char *schema = NULL, *topic, *key;
    int64_t ttl = 0;
    int rc;

    ev.ends_at = EVENT_NO_TIME;
    ev.starts_at = hw_now_ms();
    ev.host_role = default_host_role;
    ev.lock = true;
    if (argc < 2 || !parse(argc - 1, argv + 1, &ev, &schema, &ttl)) {
        free(ev.participants);
        return hmsctl_usage();
    }
    if (strcmp(argv[1], "booking-created") == 0 && ev.booking_id != NULL) {
        ev.kind = EVENT_BOOKING_CREATED;
        topic = cf->topic_booking_created;
        key = ev.booking_id;
    } else if (strcmp(argv[1], "stream-started") == 0 && ev.stream_id != NULL &&
               ev.host_user_id != NULL) {
        ev.kind = EVENT_STREAM_STARTED;
        topic = cf->topic_stream_started;
        key = ev.stream_id;
    } else if (strcmp(argv[1], "session-ended") == 0 && ev.subject_id != NULL) {
        ev.kind = EVENT_SESSION_ENDED;
        topic = cf->topic_session_ended;
        key = ev.subject_id;
    } else {
        free(ev.participants);
        return hmsctl_usage();
    }
    rc = send_event(cf, &ev, schema, topic, key);
    free(ev.participants);
    return rc;
}

/* The subject's hash through the worker's own cache module (same AUTH,
 * SELECT and key schema), then which of its token holders have a token. */
static int cmd_show(const struct conf *cf, int argc, char **argv)
{
    struct cache *c;
    enum subject_kind kind;
    json_t *h = NULL, *v;
    const char *field, *room;
    char *key;
    int rc = 1;

    if (argc != 3 ||
        (strcmp(argv[1], "booking") != 0 && strcmp(argv[1], "stream") != 0)) {
        return hmsctl_usage();
    }
    kind = strcmp(argv[1], "stream") == 0 ? SUBJECT_STREAM : SUBJECT_BOOKING;
    key = cache_key_subject(kind, argv[2]);
    c = cache_create(&cf->redis, 5000);
    if (cache_get_subject(c, kind, argv[2], &h) != HW_OK) {
        fprintf(stderr, "hmsctl: redis: %s\n", cache_errstr(c));
    } else if (h == NULL) {
        printf("%s: no entry\n", key);
    } else {
        printf("%s\n", key);
        json_object_foreach(h, field, v)
        {
            printf("  %-24s %s\n", field, json_string_value(v));
        }
        room = json_string_value(json_object_get(h, "room_id"));
        json_object_foreach(h, field, v)
        {
            bool exists = false;
            char *tk;

            if (room == NULL || strncmp(field, "role:", 5) != 0) {
                continue;
            }
            tk = cache_key_token(room, field + 5);
            printf("  token %-18s %s\n", field + 5,
                   cache_exists(c, tk, &exists) == HW_OK && exists ? "present"
                                                                   : "missing");
            free(tk);
        }
        rc = 0;
    }
    json_decref(h);
    cache_destroy(c);
    free(key);
    return rc;
}

static int cmd_token(const struct conf *cf, int argc, char **argv)
{
    struct event ev = {0};
    const char *schema = NULL;
    int64_t ttl = 0, now = hw_now_ms() / 1000;
    char *tok = NULL;
    int rc = 1;

    ev.host_role = NULL;
    if (!parse(argc, argv, &ev, &schema, &ttl) || ev.room_id == NULL ||
        ev.host_user_id == NULL || ev.host_role == NULL) {
        return hmsctl_usage();
    }
    if (ttl <= 0) {
        ttl = conf_app_token_ttl(cf, ev.host_role);
    }
    if (jwt_mint_app(&cf->hms_app_secret, cf->hms_access_key, ev.room_id,
                     ev.host_user_id, ev.host_role, now, now + ttl,
                     &tok) == HW_OK) {
        puts(tok);
        rc = 0;
    }
    jwt_token_free(tok);
    return rc;
}

int main(int argc, char **argv)
{
    struct conf cf = {0};
    int rc;

    log_min_level = LL_WARN;
    if (argc < 2) {
        return hmsctl_usage();
    }
    if (conf_load(&cf, (const char *const *)environ) != HW_OK) {
        conf_deinit(&cf);
        return 2;
    }
    (void)conf_wipe_env(environ); /* as the worker does */
    if (strcmp(argv[1], "send") == 0) {
        rc = cmd_send(&cf, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "show") == 0) {
        rc = cmd_show(&cf, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "token") == 0) {
        rc = cmd_token(&cf, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "dlq") == 0) {
        rc = hmsctl_dlq(&cf, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "lag") == 0 && argc == 2) {
        rc = hmsctl_lag(&cf);
    } else if (strcmp(argv[1], "health") == 0) {
        rc = hmsctl_health(&cf, argc - 1, argv + 1);
    } else {
        rc = hmsctl_usage();
    }
    conf_deinit(&cf);
    return rc;
}
