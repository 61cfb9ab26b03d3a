/* test_codec.c -- framing, decode with schema resolution, encode, the
 * bounds walk that keeps avro-c from allocating what a message declares,
 * and event validation. */
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#include "codec.h"
#include "testhelp.h"

/* Test events point their char * fields at string literals. */
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wunknown-warning-option" /* clang */
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"
#pragma GCC diagnostic ignored                                                 \
    "-Wincompatible-pointer-types-discards-qualifiers"

static struct codec *cd;
static size_t largest_alloc;

/* avro-c's allocator hook: records the largest request and refuses any
 * over 64 MiB (so the demonstration below leaks nothing). */
static void *tracking_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (nsize > largest_alloc) {
        largest_alloc = nsize;
    }
    return nsize > 64u * 1024 * 1024 ? NULL : realloc(ptr, nsize);
}

static struct participant people[] = {{"alice", "Alice", "host"},
                                      {"bob", NULL, "guest"},
                                      {"carol", NULL, "guest"}};

static void sample_booking(struct event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->kind = EVENT_BOOKING_CREATED;
    ev->event_id = "0b7c7a2e-5d1b-4d5e-9c1e-000000000001";
    ev->occurred_at = 1790000000000;
    ev->booking_id = "B1";
    ev->starts_at = 1790003600000;
    ev->ends_at = 1790007200000;
    ev->template_id = "tpl";
    ev->participants = people;
    ev->n_participants = 3;
}

static enum hw_rc decode(enum event_kind k, const void *b, size_t n,
                         struct event *out)
{
    char errstr[256];

    memset(out, 0, sizeof(*out));
    return codec_decode(cd, k, b, n, out, errstr, sizeof(errstr));
}

static void test_booking_round_trip(void)
{
    struct event in, out;
    struct buf b = {0};
    char errstr[256];

    sample_booking(&in);
    CHECK(codec_encode(cd, &in, NULL, &b, errstr, sizeof(errstr)) == HW_OK);
    CHECK((unsigned char)b.p[0] == 0xc3 && (unsigned char)b.p[1] == 0x01);
    /* the current schema (v3): fingerprint e3d45bcadbe574fc, little-endian */
    CHECK((unsigned char)b.p[2] == 0xfc && (unsigned char)b.p[9] == 0xe3);
    CHECK(decode(EVENT_BOOKING_CREATED, b.p, b.len, &out) == HW_OK);
    CHECK_STR(out.event_id, in.event_id);
    CHECK_STR(out.booking_id, "B1");
    CHECK(!out.physical);
    CHECK_INT(out.starts_at, in.starts_at);
    CHECK_INT(out.ends_at, in.ends_at);
    CHECK_STR(out.template_id, "tpl");
    CHECK_INT(out.n_participants, 3);
    CHECK_STR(out.participants[0].display_name, "Alice");
    CHECK(out.participants[1].display_name == NULL);
    CHECK_STR(out.participants[2].role, "guest");
    event_clear(&out);
    /* truncated, and one byte too many */
    CHECK(decode(EVENT_BOOKING_CREATED, b.p, b.len - 1, &out) == HW_ERR_DECODE);
    event_clear(&out);
    buf_append(&b, "", 1);
    CHECK(decode(EVENT_BOOKING_CREATED, b.p, b.len, &out) == HW_ERR_DECODE);
    event_clear(&out);
    /* a booking on the stream topic is another record type */
    CHECK(decode(EVENT_STREAM_STARTED, b.p, b.len - 1, &out) ==
          HW_ERR_NOT_FOUND);
    event_clear(&out);
    buf_deinit(&b);
}

/* A BookingCreated v1 producer: the missing fields take their defaults. */
static void test_v1_writer_resolves(void)
{
    struct event in, out;
    struct buf b = {0};
    char errstr[256];

    sample_booking(&in);
    in.physical = true;
    CHECK(codec_encode(cd, &in, "BookingCreated.v1", &b, errstr,
                       sizeof(errstr)) == HW_OK);
    CHECK((unsigned char)b.p[2] == 0xbe && (unsigned char)b.p[9] == 0xdc);
    CHECK(decode(EVENT_BOOKING_CREATED, b.p, b.len, &out) == HW_OK);
    CHECK_STR(out.booking_id, "B1");
    CHECK(out.physical);
    CHECK_INT(out.ends_at, EVENT_NO_TIME); /* default null */
    CHECK(out.template_id == NULL);        /* default null */
    CHECK(out.region == NULL && !out.size.set &&
          !out.max_duration_seconds.set); /* v3's defaults, null */
    CHECK_INT(out.n_participants, 3);
    CHECK_STR(out.participants[0].user_id, "alice");
    event_clear(&out);
    buf_deinit(&b);
}

/* BookingCreated v3: region, size and max_duration_seconds travel when
 * set, stay unset when null; 0 is a value, not an absence. */
static void test_v3_room_options(void)
{
    struct event in, out;
    struct buf b = {0};
    char errstr[256];

    sample_booking(&in);
    in.region = "eu";
    in.size = (struct event_opt_int){true, 2};
    in.max_duration_seconds = (struct event_opt_int){true, 3600};
    CHECK(codec_encode(cd, &in, NULL, &b, errstr, sizeof(errstr)) == HW_OK);
    CHECK(decode(EVENT_BOOKING_CREATED, b.p, b.len, &out) == HW_OK);
    CHECK_STR(out.region, "eu");
    CHECK(out.size.set && out.size.v == 2);
    CHECK(out.max_duration_seconds.set && out.max_duration_seconds.v == 3600);
    CHECK_STR(out.template_id, "tpl"); /* the v2 fields still there */
    CHECK_INT(out.n_participants, 3);
    event_clear(&out);
    buf_reset(&b);
    /* size 0 (a value 100ms accepts) is sent, not taken for null */
    in.region = NULL;
    in.size = (struct event_opt_int){true, 0};
    in.max_duration_seconds = (struct event_opt_int){false, 0};
    CHECK(codec_encode(cd, &in, NULL, &b, errstr, sizeof(errstr)) == HW_OK);
    CHECK(decode(EVENT_BOOKING_CREATED, b.p, b.len, &out) == HW_OK);
    CHECK(out.region == NULL && out.size.set && out.size.v == 0);
    CHECK(!out.max_duration_seconds.set);
    event_clear(&out);
    buf_reset(&b);
    /* an int's extremes decode (validation judges them) */
    in.size = (struct event_opt_int){true, INT32_MIN};
    in.max_duration_seconds = (struct event_opt_int){true, INT32_MAX};
    CHECK(codec_encode(cd, &in, NULL, &b, errstr, sizeof(errstr)) == HW_OK);
    CHECK(decode(EVENT_BOOKING_CREATED, b.p, b.len, &out) == HW_OK);
    CHECK(out.size.set && out.size.v == INT32_MIN);
    CHECK(out.max_duration_seconds.v == INT32_MAX);
    event_clear(&out);
    buf_reset(&b);
    /* all three null */
    in.size.set = false;
    in.max_duration_seconds.set = false;
    CHECK(codec_encode(cd, &in, NULL, &b, errstr, sizeof(errstr)) == HW_OK);
    CHECK(decode(EVENT_BOOKING_CREATED, b.p, b.len, &out) == HW_OK);
    CHECK(out.region == NULL && !out.size.set && !out.max_duration_seconds.set);
    CHECK_STR(out.booking_id, "B1");
    event_clear(&out);
    buf_deinit(&b);
}

/* A BookingCreated v2 producer (no room options): they take their
 * default, null; its own fields all arrive. */
static void test_v2_writer_resolves(void)
{
    struct event in, out;
    struct buf b = {0};
    char errstr[256];

    sample_booking(&in);
    in.region = "eu"; /* the v2 schema has no such field: left out */
    in.size = (struct event_opt_int){true, 2};
    CHECK(codec_encode(cd, &in, "BookingCreated.v2", &b, errstr,
                       sizeof(errstr)) == HW_OK);
    CHECK((unsigned char)b.p[2] == 0xab && (unsigned char)b.p[9] == 0x94);
    CHECK(decode(EVENT_BOOKING_CREATED, b.p, b.len, &out) == HW_OK);
    CHECK_STR(out.booking_id, "B1");
    CHECK_INT(out.ends_at, in.ends_at);
    CHECK_STR(out.template_id, "tpl");
    CHECK_INT(out.n_participants, 3);
    CHECK(out.region == NULL && !out.size.set && !out.max_duration_seconds.set);
    event_clear(&out);
    buf_deinit(&b);
}

static void test_other_records(void)
{
    struct room_code codes[] = {{"host", "abc-defg-hij", "https://x/abc"},
                                {"guest", "bcd-efgh-ijk", NULL}};
    struct event in = {0}, out;
    struct buf b = {0};
    char errstr[256];

    in.kind = EVENT_STREAM_STARTED;
    in.event_id = "e2";
    in.stream_id = "S1";
    in.host_user_id = "h";
    in.host_role = "broadcaster";
    in.hls = true;
    CHECK(codec_encode(cd, &in, NULL, &b, errstr, sizeof(errstr)) == HW_OK);
    CHECK(decode(EVENT_STREAM_STARTED, b.p, b.len, &out) == HW_OK);
    CHECK(out.hls && out.title == NULL && strcmp(out.stream_id, "S1") == 0);
    event_clear(&out);
    buf_reset(&b);

    memset(&in, 0, sizeof(in));
    in.kind = EVENT_SESSION_ENDED;
    in.event_id = "e3";
    in.subject_kind = SUBJECT_STREAM;
    in.subject_id = "S1";
    in.reason = "over";
    in.lock = true;
    CHECK(codec_encode(cd, &in, NULL, &b, errstr, sizeof(errstr)) == HW_OK);
    CHECK(decode(EVENT_SESSION_ENDED, b.p, b.len, &out) == HW_OK);
    CHECK(out.subject_kind == SUBJECT_STREAM && out.lock);
    CHECK_STR(out.reason, "over");
    event_clear(&out);
    buf_reset(&b);

    memset(&in, 0, sizeof(in));
    in.kind = EVENT_VIDEO_READY;
    in.event_id = "e4";
    in.causation_id = "e1";
    in.subject_id = "B1";
    in.room_id = "r1";
    in.room_name = "bk-B1";
    in.codes = codes;
    in.n_codes = 2;
    in.cache_key = "hms:booking:B1";
    in.expires_at = 5;
    CHECK(codec_encode(cd, &in, NULL, &b, errstr, sizeof(errstr)) == HW_OK);
    CHECK(decode(EVENT_VIDEO_READY, b.p, b.len, &out) == HW_OK);
    CHECK_INT(out.n_codes, 2);
    CHECK_STR(out.codes[0].join_url, "https://x/abc");
    CHECK(out.codes[1].join_url == NULL && out.hls_url == NULL);
    event_clear(&out);
    /* a required string missing is an encoding error, not a crash */
    in.room_id = NULL;
    CHECK(codec_encode(cd, &in, NULL, &b, errstr, sizeof(errstr)) != HW_OK);
    buf_deinit(&b);
}

/* VideoSession (video-session): every type by its symbol, the optional
 * fields both ways, and a type outside the enum refused, not written. */
static void test_video_session(void)
{
    struct event in, out;
    struct buf b = {0};
    char errstr[256];

    memset(&in, 0, sizeof(in));
    in.kind = EVENT_VIDEO_SESSION;
    in.event_id = "e5";
    in.causation_id = "w1";
    in.occurred_at = 7;
    in.subject_kind = SUBJECT_STREAM;
    in.subject_id = "S1";
    in.room_id = "r1";
    in.session_id = "s1";
    in.at = 1767261600500LL;
    in.user_id = "alice";
    in.role = "host";
    in.url = "https://x/r.mp4";
    in.duration_s = 600;
    in.reason = "client request";
    for (int t = 0; t < VS_TYPE_COUNT; t++) {
        in.session_type = (enum session_type)t;
        CHECK(codec_encode(cd, &in, NULL, &b, errstr, sizeof(errstr)) == HW_OK);
        CHECK(decode(EVENT_VIDEO_SESSION, b.p, b.len, &out) == HW_OK);
        CHECK(out.session_type == (enum session_type)t);
        CHECK_STR(out.causation_id, "w1");
        CHECK(out.subject_kind == SUBJECT_STREAM && out.occurred_at == 7);
        CHECK_STR(out.subject_id, "S1");
        CHECK_STR(out.room_id, "r1");
        CHECK_STR(out.session_id, "s1");
        CHECK(out.at == 1767261600500LL && out.duration_s == 600);
        CHECK_STR(out.user_id, "alice");
        CHECK_STR(out.role, "host");
        CHECK_STR(out.url, "https://x/r.mp4");
        CHECK_STR(out.reason, "client request");
        event_clear(&out);
        buf_reset(&b);
    }
    CHECK_STR(event_session_type_name(VS_RECORDING_READY), "RECORDING_READY");
    CHECK(event_session_type_name(VS_TYPE_COUNT) == NULL);
    /* every optional null */
    in.session_type = VS_SESSION_STARTED;
    in.session_id = in.user_id = in.role = in.url = in.reason = NULL;
    in.duration_s = EVENT_NO_TIME;
    CHECK(codec_encode(cd, &in, NULL, &b, errstr, sizeof(errstr)) == HW_OK);
    CHECK(decode(EVENT_VIDEO_SESSION, b.p, b.len, &out) == HW_OK);
    CHECK(out.session_id == NULL && out.user_id == NULL && out.role == NULL);
    CHECK(out.url == NULL && out.reason == NULL);
    CHECK(out.duration_s == EVENT_NO_TIME && out.at == 1767261600500LL);
    CHECK(out.session_type == VS_SESSION_STARTED);
    event_clear(&out);
    buf_reset(&b);
    /* room_id is required; a type out of range is an encoding error */
    in.room_id = NULL;
    CHECK(codec_encode(cd, &in, NULL, &b, errstr, sizeof(errstr)) != HW_OK);
    buf_reset(&b);
    in.room_id = "r1";
    in.session_type = VS_TYPE_COUNT;
    CHECK(codec_encode(cd, &in, NULL, &b, errstr, sizeof(errstr)) != HW_OK);
    CHECK(strstr(errstr, "type") != NULL);
    buf_deinit(&b);
}

static void header(unsigned char *m, uint64_t fp)
{
    m[0] = 0xc3;
    m[1] = 0x01;
    for (int i = 0; i < 8; i++) {
        m[2 + i] = (unsigned char)(fp >> (8 * i));
    }
}

static void test_bad_framing(void)
{
    unsigned char m[64] = {0};
    struct event out;

    CHECK(decode(EVENT_BOOKING_CREATED, m, 0, &out) == HW_ERR_DECODE);
    CHECK(decode(EVENT_BOOKING_CREATED, "garbage!", 8, &out) == HW_ERR_DECODE);
    CHECK(decode(EVENT_BOOKING_CREATED, "\xc3\x01\x01", 3, &out) ==
          HW_ERR_DECODE);
    header(m, 0x0123456789abcdefULL);
    CHECK(decode(EVENT_BOOKING_CREATED, m, 12, &out) == HW_ERR_NOT_FOUND);
    m[0] = 0;
    m[4] = 7; /* Confluent, schema id 7, no registry */
    CHECK(decode(EVENT_BOOKING_CREATED, m, 12, &out) == HW_ERR_NOT_FOUND);
    event_clear(&out);
}

/* Ten-odd bytes that declare a 1 GiB string: avro-c alone allocates it;
 * through the codec nothing that large is ever requested. */
static void test_huge_length_not_allocated(void)
{
    unsigned char m[15];
    struct event out;
    avro_schema_t s = NULL;
    avro_value_iface_t *iface;
    avro_value_t v;
    avro_reader_t r;
    const char *json = "{\"type\":\"record\",\"name\":\"X\",\"fields\":"
                       "[{\"name\":\"s\",\"type\":\"string\"}]}";

    header(m, codec_fingerprint(cd, "BookingCreated"));
    memcpy(m + 10, "\x80\x80\x80\x80\x08", 5); /* zig-zag 2^30 */
    avro_set_allocator(tracking_alloc, NULL);
    largest_alloc = 0;
    CHECK(decode(EVENT_BOOKING_CREATED, m, sizeof(m), &out) == HW_ERR_DECODE);
    event_clear(&out);
    CHECK(largest_alloc < 1024 * 1024);
    /* the threat is real: the same bytes straight into avro-c */
    CHECK(avro_schema_from_json_length(json, strlen(json), &s) == 0);
    iface = avro_generic_class_from_schema(s);
    CHECK(avro_generic_value_new(iface, &v) == 0);
    r = avro_reader_memory((const char *)m + 10, 5);
    largest_alloc = 0;
    CHECK(avro_value_read(r, &v) != 0);
    CHECK(largest_alloc >= 1024u * 1024 * 1024);
    avro_reader_free(r);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(s);
}

static void test_bad_datum(void)
{
    struct event in, out;
    struct buf b = {0};
    char errstr[256];
    size_t at;

    sample_booking(&in);
    in.booking_id = "B\xff"; /* not UTF-8 */
    CHECK(codec_encode(cd, &in, NULL, &b, errstr, sizeof(errstr)) == HW_OK);
    CHECK(decode(EVENT_BOOKING_CREATED, b.p, b.len, &out) == HW_ERR_DECODE);
    event_clear(&out);
    buf_reset(&b);
    in.booking_id = "B1";
    CHECK(codec_encode(cd, &in, NULL, &b, errstr, sizeof(errstr)) == HW_OK);
    /* the mode enum index: after header, event_id, occurred_at, booking_id */
    at = 10 + 1 + strlen(in.event_id) + 6 + 1 + 2;
    CHECK_INT((unsigned char)b.p[at], 0);
    b.p[at] = 4; /* index 2 of 2 symbols */
    CHECK(decode(EVENT_BOOKING_CREATED, b.p, b.len, &out) == HW_ERR_DECODE);
    event_clear(&out);
    buf_deinit(&b);
}

#define NOW 1790000000000LL /* the sample's occurred_at */

/* contract section 2: at most EVENT_PARTICIPANTS_MAX participants, so the
 * duplicate check on the consumer thread is bounded whatever the hash
 * does; the count is checked first (cap + 1 copies of one user_id are
 * "too many", not "duplicated"). */
static void test_participants_cap(struct event *ev)
{
    struct participant *ps = xcalloc(EVENT_PARTICIPANTS_MAX + 1, sizeof(*ps));
    char(*ids)[16] = xcalloc(EVENT_PARTICIPANTS_MAX + 1, sizeof(*ids));
    struct participant *saved = ev->participants;
    size_t saved_n = ev->n_participants;
    char errstr[256];

    for (size_t i = 0; i <= EVENT_PARTICIPANTS_MAX; i++) {
        snprintf(ids[i], sizeof(ids[i]), "u%zu", i);
        ps[i] = (struct participant){ids[i], NULL, "guest"};
    }
    ev->participants = ps;
    ev->n_participants = EVENT_PARTICIPANTS_MAX;
    CHECK(event_validate(ev, NOW, errstr, sizeof(errstr)) == HW_OK);
    ev->n_participants = EVENT_PARTICIPANTS_MAX + 1;
    CHECK(event_validate(ev, NOW, errstr, sizeof(errstr)) == HW_ERR_INVALID);
    CHECK(strstr(errstr, "participants") != NULL &&
          strstr(errstr, "1000") != NULL);
    for (size_t i = 0; i <= EVENT_PARTICIPANTS_MAX; i++) {
        ps[i].user_id = ids[0];
    }
    CHECK(event_validate(ev, NOW, errstr, sizeof(errstr)) == HW_ERR_INVALID);
    CHECK(strstr(errstr, "duplicated") == NULL &&
          strstr(errstr, "1000") != NULL);
    ev->participants = saved;
    ev->n_participants = saved_n;
    free(ids);
    free(ps);
}

static void test_validation(void)
{
    struct participant dup[] = {{"a", NULL, "host"}, {"a", NULL, "guest"}};
    struct event ev;
    char errstr[256], longid[300];

    sample_booking(&ev);
    CHECK(event_validate(&ev, NOW, errstr, sizeof(errstr)) == HW_OK);
    ev.booking_id = "";
    CHECK(event_validate(&ev, NOW, errstr, sizeof(errstr)) == HW_ERR_INVALID);
    CHECK(strstr(errstr, "booking_id") != NULL);
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    ev.booking_id = longid;
    CHECK(event_validate(&ev, NOW, errstr, sizeof(errstr)) == HW_ERR_INVALID);
    ev.booking_id = "B1";
    ev.ends_at = ev.starts_at - 1;
    CHECK(event_validate(&ev, NOW, errstr, sizeof(errstr)) == HW_ERR_INVALID);
    ev.ends_at = EVENT_NO_TIME;
    ev.participants = dup;
    ev.n_participants = 2;
    CHECK(event_validate(&ev, NOW, errstr, sizeof(errstr)) == HW_ERR_INVALID);
    ev.n_participants = 0;
    CHECK(event_validate(&ev, NOW, errstr, sizeof(errstr)) == HW_ERR_INVALID);
    ev.physical = true; /* a PHYSICAL booking needs nobody */
    CHECK(event_validate(&ev, NOW, errstr, sizeof(errstr)) == HW_OK);
    ev.physical = false;
    test_participants_cap(&ev);
    ev.physical = true;
    longid[129] = '\0';
    ev.event_id = longid;
    CHECK(event_validate(&ev, NOW, errstr, sizeof(errstr)) == HW_ERR_INVALID);
    /* free text that travels to 100ms and into outputs: at most 1 KiB */
    {
        char text[1026];

        memset(text, 'r', sizeof(text) - 1);
        text[sizeof(text) - 1] = '\0';
        memset(&ev, 0, sizeof(ev));
        ev.kind = EVENT_SESSION_ENDED;
        ev.event_id = "e1";
        ev.subject_id = "B1";
        ev.reason = text;
        CHECK(event_validate(&ev, NOW, errstr, sizeof(errstr)) ==
              HW_ERR_INVALID);
        CHECK(strstr(errstr, "reason") != NULL);
        text[1024] = '\0';
        CHECK(event_validate(&ev, NOW, errstr, sizeof(errstr)) == HW_OK);
    }
}

/* contract section 2: the room options within what 100ms documents for
 * POST /rooms (docs/100ms-api.md section 2.1): region in, us, eu, auto as
 * 100ms spells them (lower case: "EU" is invalid, not folded), size
 * 0-2500, max_duration_seconds 120-43200; unset is valid. */
static void test_room_options(void)
{
    static const struct {
        const char *region;
        bool size_set;
        int32_t size;
        bool dur_set;
        int32_t dur;
        const char *bad; /* the field named in errstr; NULL: valid */
    } cases[] = {
        {NULL, false, 0, false, 0, NULL},
        {"in", false, 0, false, 0, NULL},
        {"us", false, 0, false, 0, NULL},
        {"eu", true, 2, true, 3600, NULL},
        {"auto", false, 0, false, 0, NULL},
        {"EU", false, 0, false, 0, "region"},
        {"Eu", false, 0, false, 0, "region"},
        {"", false, 0, false, 0, "region"},
        {"eu ", false, 0, false, 0, "region"},
        {"europe", false, 0, false, 0, "region"},
        {"e", false, 0, false, 0, "region"},
        {NULL, true, -1, false, 0, "size"},
        {NULL, true, 0, false, 0, NULL},
        {NULL, true, 2500, false, 0, NULL},
        {NULL, true, 2501, false, 0, "size"},
        {NULL, true, INT32_MIN, false, 0, "size"},
        {NULL, true, INT32_MAX, false, 0, "size"},
        {NULL, false, 0, true, 0, "max_duration_seconds"},
        {NULL, false, 0, true, -1, "max_duration_seconds"},
        {NULL, false, 0, true, 119, "max_duration_seconds"},
        {NULL, false, 0, true, 120, NULL},
        {NULL, false, 0, true, 43200, NULL},
        {NULL, false, 0, true, 43201, "max_duration_seconds"},
        {NULL, false, 0, true, INT32_MIN, "max_duration_seconds"},
        {NULL, false, 0, true, INT32_MAX, "max_duration_seconds"},
    };
    struct event ev;
    char errstr[256];

    for (size_t i = 0; i < HW_ARRAY_LEN(cases); i++) {
        enum hw_rc rc;

        sample_booking(&ev);
        ev.region = cases[i].region;
        ev.size = (struct event_opt_int){cases[i].size_set, cases[i].size};
        ev.max_duration_seconds =
            (struct event_opt_int){cases[i].dur_set, cases[i].dur};
        errstr[0] = '\0';
        rc = event_validate(&ev, NOW, errstr, sizeof(errstr));
        if (rc != (cases[i].bad == NULL ? HW_OK : HW_ERR_INVALID)) {
            fprintf(stderr, "room options case %zu: %s\n", i, errstr);
        }
        CHECK(rc == (cases[i].bad == NULL ? HW_OK : HW_ERR_INVALID));
        CHECK(cases[i].bad == NULL ||
              strncmp(errstr, cases[i].bad, strlen(cases[i].bad)) == 0);
        /* a PHYSICAL booking is held to the same contract */
        ev.physical = true;
        CHECK((event_validate(&ev, NOW, errstr, sizeof(errstr)) == HW_OK) ==
              (cases[i].bad == NULL));
    }
}

/* contract section 2: times outside [2000-01-01, now + 5 y] are invalid,
 * so no expiry computed from them can overflow (Long.MAX_VALUE once
 * paused every partition). */
static void test_time_range(void)
{
    static const struct {
        int64_t starts, ends;
        bool ok;
    } cases[] = {
        {NOW, NOW, true},
        {EVENT_TIME_MIN_MS, EVENT_NO_TIME, true},
        {EVENT_TIME_MIN_MS - 1, EVENT_NO_TIME, false},
        {NOW + EVENT_TIME_AHEAD_MS, NOW + EVENT_TIME_AHEAD_MS, true},
        {NOW, NOW + EVENT_TIME_AHEAD_MS + 1, false},
        {NOW + EVENT_TIME_AHEAD_MS + 1, EVENT_NO_TIME, false},
        {NOW, INT64_MAX, false},
        {INT64_MIN + 1, NOW, false},
        {1790000000, EVENT_NO_TIME, false}, /* seconds, not ms */
        {0, EVENT_NO_TIME, false},
        {-1, EVENT_NO_TIME, false},
    };
    struct event ev;
    char errstr[256];

    for (size_t i = 0; i < HW_ARRAY_LEN(cases); i++) {
        sample_booking(&ev);
        ev.starts_at = cases[i].starts;
        ev.ends_at = cases[i].ends;
        CHECK((event_validate(&ev, NOW, errstr, sizeof(errstr)) == HW_OK) ==
              cases[i].ok);
        if (!cases[i].ok) {
            CHECK(strstr(errstr, "_at") != NULL);
        }
    }
}

int main(void)
{
    char errstr[256];

    cd = codec_create(errstr, sizeof(errstr));
    CHECK(cd != NULL);
    if (cd == NULL) {
        fprintf(stderr, "%s\n", errstr);
        return TEST_REPORT();
    }
    CHECK(codec_fingerprint(cd, "VideoEnded") == 0x8a214636668fe319ULL);
    CHECK(codec_fingerprint(cd, "VideoSession") == 0x3d1eb55faa7ffb37ULL);
    /* every BookingCreated version is a known writer (contract section 2) */
    CHECK(codec_fingerprint(cd, "BookingCreated") == 0xe3d45bcadbe574fcULL);
    CHECK(codec_fingerprint(cd, "BookingCreated.v2") == 0x9499cc556f470babULL);
    CHECK(codec_fingerprint(cd, "BookingCreated.v1") == 0xdcc3add1b8bfc3beULL);
    test_booking_round_trip();
    test_v3_room_options();
    test_v2_writer_resolves();
    test_v1_writer_resolves();
    test_other_records();
    test_video_session();
    test_bad_framing();
    test_bad_datum();
    test_validation();
    test_room_options();
    test_time_range();
    test_huge_length_not_allocated();
    codec_destroy(cd);
    return TEST_REPORT();
}
