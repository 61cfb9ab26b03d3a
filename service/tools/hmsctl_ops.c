/* hmsctl_ops.c -- hmsctl's operator commands: the dead-letter topic, the
 * group's lag and the worker's health endpoints.
 *
 *   hmsctl dlq list [--max N]           every entry: provenance headers and
 *                                       what the value decodes to
 *   hmsctl dlq replay --offset N [--partition P] | --all
 *                                       re-inject into the original topic:
 *                                       original key, value and headers
 *   hmsctl lag                          committed offset, end, lag per
 *                                       input partition of KAFKA_GROUP_ID
 *   hmsctl health [--admin HOST:PORT]   /healthz and /readyz of a worker
 *
 * DESIGN
 * ------
 * The DLQ is read by a consumer that assigns itself every partition (it
 * never joins a group) from the beginning up to the high watermark read
 * at start, so a listing ends and never commits anything. Replay produces
 * with the idempotent producer and waits for every delivery report: exit
 * 0 only when all arrived. An entry whose value the DLQ topic refused
 * (hms-value-dropped) is listed but never replayed: there is nothing to
 * send. Replaying is safe to repeat: the worker's applied markers make an
 * event that did get applied a no-op. Lag asks the broker for the group's
 * committed offsets without joining the group.
 */
#define LOGMOD "hmsctl"
#include "hmsctl.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>

#include "codec.h"
#include "kafka.h"
#include "log.h"

#define TIMEOUT_MS 10000

struct dlq_entry {
    const rd_kafka_message_t *m;
    const char *topic; /* original, NULL when absent */
    int32_t partition;
    int64_t offset;
};

static rd_kafka_t *new_client(const struct conf *cf, rd_kafka_type_t type,
                              const char *const *extra)
{
    char errstr[512];
    rd_kafka_conf_t *kc =
        kafka_conf_new(cf, "hmsctl", extra, errstr, sizeof(errstr));
    rd_kafka_t *rk =
        kc != NULL ? rd_kafka_new(type, kc, errstr, sizeof(errstr)) : NULL;

    if (rk == NULL) {
        if (kc != NULL) {
            rd_kafka_conf_destroy(kc);
        }
        fprintf(stderr, "hmsctl: %s\n", errstr);
    }
    return rk;
}

/* A header as text (NULL if absent), or as a big-endian integer. */
static const char *header_text(rd_kafka_headers_t *h, const char *name,
                               char *out, size_t n)
{
    const void *v;
    size_t len;

    if (h == NULL || rd_kafka_header_get_last(h, name, &v, &len) !=
                         RD_KAFKA_RESP_ERR_NO_ERROR) {
        return NULL;
    }
    snprintf(out, n, "%.*s", (int)len, (const char *)v);
    return out;
}

static bool header_be(rd_kafka_headers_t *h, const char *name, int64_t *out)
{
    const unsigned char *v;
    size_t len;

    if (h == NULL ||
        rd_kafka_header_get_last(h, name, (const void **)&v, &len) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        (len != 4 && len != 8)) {
        return false;
    }
    uint64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        x = x << 8 | v[i];
    }
    *out = len == 4 ? (int64_t)(int32_t)(uint32_t)x : (int64_t)x;
    return true;
}

static const char *or_dash(const char *s)
{
    return s != NULL ? s : "-";
}

static void print_entry(const struct conf *cf, struct codec *cd,
                        const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    char topic[256], cls[64], ttype[32], group[256], err[1100], attempts[16];
    char key[256], why[256], safe_key[300], safe[1200];
    int64_t part = -1, off = -1, ts = -1;
    enum event_kind kind;
    struct event ev = {0};
    const char *orig;

    rd_kafka_message_headers(m, &h);
    header_be(h, "kafka_dlt-original-partition", &part);
    header_be(h, "kafka_dlt-original-offset", &off);
    header_be(h, "kafka_dlt-original-timestamp", &ts);
    snprintf(key, sizeof(key), "%.*s", (int)m->key_len,
             m->key != NULL ? (const char *)m->key : "");
    orig = header_text(h, "kafka_dlt-original-topic", topic, sizeof(topic));
    printf("dlq_partition=%d dlq_offset=%lld key=%s original_topic=%s "
           "original_partition=%lld original_offset=%lld timestamp=%lld "
           "timestamp_type=%s group=%s class=%s attempts=%s error=\"%s\"",
           (int)m->partition, (long long)m->offset,
           log_safe(safe_key, sizeof(safe_key), key), or_dash(orig),
           (long long)part, (long long)off, (long long)ts,
           or_dash(header_text(h, "kafka_dlt-original-timestamp-type", ttype,
                               sizeof(ttype))),
           or_dash(header_text(h, "kafka_dlt-original-consumer-group", group,
                               sizeof(group))),
           or_dash(header_text(h, "hms-error-class", cls, sizeof(cls))),
           or_dash(header_text(h, "hms-attempts", attempts, sizeof(attempts))),
           log_safe(safe, sizeof(safe),
                    or_dash(header_text(h, "kafka_dlt-exception-message", err,
                                        sizeof(err)))));
    if (header_text(h, "hms-value-dropped", why, sizeof(why)) != NULL) {
        printf(" value_bytes=0 value_dropped=%s\n", why);
    } else if (orig == NULL || !kafka_topic_kind(cf, orig, &kind)) {
        printf(" value_bytes=%zu\n", m->len);
    } else if (codec_decode(cd, kind, m->payload, m->len, &ev, why,
                            sizeof(why)) != HW_OK) {
        printf(" value_bytes=%zu decodes=no why=\"%s\"\n", m->len,
               log_safe(safe, sizeof(safe), why));
    } else {
        printf(" value_bytes=%zu decodes=yes record=%s event_id=%s "
               "subject=%s\n",
               m->len, event_kind_name(ev.kind), ev.event_id,
               log_safe(safe, sizeof(safe), event_subject_id(&ev)));
    }
    event_clear(&ev);
}

/* Reads the whole DLQ as it is now; calls fn for each entry. Returns the
 * number read, -1 on error. */
typedef bool entry_fn(void *arg, const rd_kafka_message_t *m);

/* Adds every partition of topic to l; false (and says so) when the
 * broker does not know the topic. */
static bool add_partitions(rd_kafka_t *rk, const char *topic,
                           rd_kafka_topic_partition_list_t *l)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    bool ok = rd_kafka_metadata(rk, 0, t, &md, TIMEOUT_MS) ==
                  RD_KAFKA_RESP_ERR_NO_ERROR &&
              md->topic_cnt == 1 &&
              md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR;

    for (int i = 0; ok && i < md->topics[0].partition_cnt; i++) {
        rd_kafka_topic_partition_list_add(l, topic,
                                          md->topics[0].partitions[i].id);
    }
    if (!ok) {
        fprintf(stderr, "hmsctl: no topic %s\n", topic);
    }
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    return ok;
}

static long read_dlq(const struct conf *cf, long max, entry_fn *fn, void *arg)
{
    rd_kafka_t *rk =
        new_client(cf, RD_KAFKA_CONSUMER,
                   (const char *const[]){"group.id", "hmsctl-dlq",
                                         "enable.auto.commit", "false", NULL});
    rd_kafka_topic_partition_list_t *l = NULL;
    int64_t *ends = NULL;
    long seen = 0, left = 0;

    if (rk == NULL) {
        return -1;
    }
    l = rd_kafka_topic_partition_list_new(4);
    if (!add_partitions(rk, cf->topic_dlq, l)) {
        seen = -1;
        goto out;
    }
    ends = xcalloc((size_t)l->cnt, sizeof(*ends)); /* ids are 0..cnt-1 */
    for (int i = 0; i < l->cnt; i++) {
        int64_t lo = 0;
        int32_t p = l->elems[i].partition;

        rd_kafka_query_watermark_offsets(rk, cf->topic_dlq, p, &lo, &ends[p],
                                         TIMEOUT_MS);
        l->elems[i].offset = lo;
        left += ends[p] - lo;
    }
    rd_kafka_assign(rk, l);
    while (left > 0 && (max < 0 || seen < max)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, TIMEOUT_MS);

        if (m == NULL) {
            fprintf(stderr, "hmsctl: timed out reading %s\n", cf->topic_dlq);
            seen = -1;
            break;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            m->offset < ends[m->partition]) {
            left--;
            seen++;
            if (!fn(arg, m)) {
                seen = -1;
                rd_kafka_message_destroy(m);
                break;
            }
        }
        rd_kafka_message_destroy(m);
    }
out:
    rd_kafka_topic_partition_list_destroy(l);
    free(ends);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return seen;
}

struct listing {
    const struct conf *cf;
    struct codec *cd;
};

static bool list_one(void *arg, const rd_kafka_message_t *m)
{
    struct listing *ls = arg;

    print_entry(ls->cf, ls->cd, m);
    return true;
}

struct replay {
    rd_kafka_t *prod;
    bool all;
    int32_t partition; /* -1: any */
    int64_t offset;
    long sent;
    int failed;
};

static void on_replayed(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
    struct replay *r = opaque;

    (void)rk;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "hmsctl: replay to %s failed: %s\n",
                rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
        r->failed++;
    }
}

/* The original headers: everything but the ones the DLQ added. */
static rd_kafka_headers_t *original_headers(const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL, *out = rd_kafka_headers_new(4);
    const char *name;
    const void *v;
    size_t len;

    rd_kafka_message_headers(m, &h);
    for (size_t i = 0;
         h != NULL && rd_kafka_header_get_all(h, i, &name, &v, &len) ==
                          RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        if (strncmp(name, "kafka_dlt-", 10) != 0 &&
            strncmp(name, "hms-", 4) != 0) {
            rd_kafka_header_add(out, name, -1, v, (ssize_t)len);
        }
    }
    return out;
}

static bool replay_one(void *arg, const rd_kafka_message_t *m)
{
    struct replay *r = arg;
    rd_kafka_headers_t *h = NULL;
    char topic[256], dropped[32];

    if (!r->all && (m->offset != r->offset ||
                    (r->partition >= 0 && m->partition != r->partition))) {
        return true;
    }
    rd_kafka_message_headers(m, &h);
    if (header_text(h, "kafka_dlt-original-topic", topic, sizeof(topic)) ==
        NULL) {
        fprintf(stderr,
                "hmsctl: dlq offset %lld has no original topic, skipped\n",
                (long long)m->offset);
        return true;
    }
    if (header_text(h, "hms-value-dropped", dropped, sizeof(dropped)) != NULL) {
        fprintf(stderr,
                "hmsctl: dlq offset %lld lost its value (%s bytes, too "
                "large for the DLQ topic): nothing to replay, skipped\n",
                (long long)m->offset, dropped);
        return true;
    }
    rd_kafka_headers_t *orig = original_headers(m);
    if (rd_kafka_producev(r->prod, RD_KAFKA_V_TOPIC(topic),
                          RD_KAFKA_V_KEY(m->key, m->key_len),
                          RD_KAFKA_V_VALUE(m->payload, m->len),
                          RD_KAFKA_V_HEADERS(orig),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_END) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(orig);
        fprintf(stderr, "hmsctl: cannot produce to %s\n", topic);
        return false;
    }
    printf("replayed dlq_partition=%d dlq_offset=%lld to=%s\n",
           (int)m->partition, (long long)m->offset, topic);
    r->sent++;
    rd_kafka_poll(r->prod, 0);
    return true;
}

static int dlq_replay(const struct conf *cf, struct replay *r)
{
    char errstr[512];
    rd_kafka_conf_t *kc = kafka_conf_new(
        cf, "hmsctl", (const char *const[]){"enable.idempotence", "true", NULL},
        errstr, sizeof(errstr));
    long n;

    if (kc == NULL) {
        fprintf(stderr, "hmsctl: %s\n", errstr);
        return 2;
    }
    rd_kafka_conf_set_opaque(kc, r);
    rd_kafka_conf_set_dr_msg_cb(kc, on_replayed);
    r->prod = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
    if (r->prod == NULL) {
        rd_kafka_conf_destroy(kc);
        fprintf(stderr, "hmsctl: %s\n", errstr);
        return 2;
    }
    n = read_dlq(cf, -1, replay_one, r);
    if (rd_kafka_flush(r->prod, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        r->failed++;
    }
    rd_kafka_destroy(r->prod);
    printf("replayed=%ld failed=%d\n", r->sent, r->failed);
    if (n < 0 || r->failed > 0) {
        return 1;
    }
    if (r->sent == 0) {
        fprintf(stderr, "hmsctl: nothing matched in %s\n", cf->topic_dlq);
        return 1;
    }
    return 0;
}

int hmsctl_dlq(const struct conf *cf, int argc, char **argv)
{
    static const struct option o[] = {
        {"max", required_argument, NULL, 'm'},
        {"offset", required_argument, NULL, 'o'},
        {"partition", required_argument, NULL, 'p'},
        {"all", no_argument, NULL, 'a'},
        {NULL, 0, NULL, 0}};
    struct replay r = {NULL, false, -1, -1, 0, 0};
    long max = -1;
    int c;

    if (argc < 2) {
        return hmsctl_usage();
    }
    optind = 2;
    while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
        char *end;
        long long v = optarg != NULL ? strtoll(optarg, &end, 10) : 0;

        if (optarg != NULL && (*end != '\0' || v < 0)) {
            fprintf(stderr, "hmsctl: --%s wants a number >= 0\n",
                    c == 'm'   ? "max"
                    : c == 'o' ? "offset"
                               : "partition");
            return 2;
        }
        switch (c) {
        case 'm':
            max = (long)v;
            break;
        case 'o':
            r.offset = v;
            break;
        case 'p':
            r.partition = (int32_t)v;
            break;
        case 'a':
            r.all = true;
            break;
        default:
            return hmsctl_usage();
        }
    }
    if (strcmp(argv[1], "list") == 0) {
        char errstr[512];
        struct listing ls = {cf, codec_create(errstr, sizeof(errstr))};
        long n = ls.cd != NULL ? read_dlq(cf, max, list_one, &ls) : -1;

        codec_destroy(ls.cd);
        if (n >= 0) {
            printf("entries=%ld\n", n);
        }
        return n < 0 ? 1 : 0;
    }
    if (strcmp(argv[1], "replay") == 0 && (r.all != (r.offset >= 0))) {
        return dlq_replay(cf, &r);
    }
    fprintf(stderr, "hmsctl: dlq replay needs --offset N or --all\n");
    return hmsctl_usage();
}

/* ---- lag -------------------------------------------------------------- */

int hmsctl_lag(const struct conf *cf)
{
    const char *topics[] = {cf->topic_booking_created, cf->topic_stream_started,
                            cf->topic_session_ended};
    rd_kafka_t *rk =
        new_client(cf, RD_KAFKA_CONSUMER,
                   (const char *const[]){"group.id", cf->kafka_group_id,
                                         "enable.auto.commit", "false", NULL});
    rd_kafka_topic_partition_list_t *l;
    long long total = 0;
    int rc = 0;

    if (rk == NULL) {
        return 2;
    }
    l = rd_kafka_topic_partition_list_new(16);
    for (int k = 0; k < 3; k++) {
        if (!add_partitions(rk, topics[k], l)) {
            rc = 1;
        }
    }
    if (rd_kafka_committed(rk, l, TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "hmsctl: cannot read the committed offsets of %s\n",
                cf->kafka_group_id);
        rc = 1;
    }
    for (int i = 0; rc == 0 && i < l->cnt; i++) {
        rd_kafka_topic_partition_t *p = &l->elems[i];
        int64_t lo = 0, hi = 0;

        if (rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo,
                                             &hi, TIMEOUT_MS) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            rc = 1;
            break;
        }
        /* nothing committed yet: the group starts at the beginning */
        long long from = p->offset >= 0 ? p->offset : lo;
        char committed[24] = "none";

        if (p->offset >= 0) {
            snprintf(committed, sizeof(committed), "%lld",
                     (long long)p->offset);
        }
        printf("group=%s topic=%s partition=%d committed=%s end=%lld "
               "lag=%lld\n",
               cf->kafka_group_id, p->topic, (int)p->partition, committed,
               (long long)hi, (long long)(hi - from));
        total += hi - from;
    }
    if (rc == 0) {
        printf("group=%s total_lag=%lld\n", cf->kafka_group_id, total);
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- health ----------------------------------------------------------- */

static size_t keep_body(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;

    buf_append(b, p, size * n);
    return size * n;
}

/* GET http://addr/path; prints the answer; true on 200. */
static bool probe(const char *addr, const char *path)
{
    char url[512];
    struct buf b = {0};
    long status = 0;
    CURL *e = curl_easy_init();
    CURLcode cc;

    snprintf(url, sizeof(url), "http://%s%s", addr, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    cc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    buf_append(&b, "", 1);
    if (cc != CURLE_OK) {
        printf("%s unreachable: %s\n", url, curl_easy_strerror(cc));
        buf_deinit(&b);
        return false;
    }
    printf("%s %ld %s", path, status, b.p);
    buf_deinit(&b);
    return status == 200;
}

int hmsctl_health(const struct conf *cf, int argc, char **argv)
{
    char addr[300];
    bool live, ready;

    if (argc == 3 && strcmp(argv[1], "--admin") == 0) {
        snprintf(addr, sizeof(addr), "%s", argv[2]);
    } else if (argc == 1 && !cf->admin_off && cf->admin_port > 0) {
        /* a wildcard bind is reached on loopback */
        snprintf(addr, sizeof(addr), "%s:%d",
                 strcmp(cf->admin_host, "0.0.0.0") == 0 ? "127.0.0.1"
                                                        : cf->admin_host,
                 cf->admin_port);
    } else {
        fprintf(stderr, "hmsctl: health needs ADMIN_ADDR (HOST:PORT) or "
                        "--admin HOST:PORT\n");
        return 2;
    }
    live = probe(addr, "/healthz");
    ready = probe(addr, "/readyz");
    return live && ready ? 0 : 1;
}
