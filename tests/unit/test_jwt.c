/* test_jwt.c -- HS256 signing and verification (service/src/jwt.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"
#include "testhelp.h"

#define NOW 1800000000LL

/* RFC 7515 appendix A.1: the exact header and payload bytes, the JWK key
 * and the resulting compact serialisation. */
static const char a1_header[] = "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}";
static const char a1_payload[] =
    "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n "
    "\"http://example.com/is_root\":true}";
static const char a1_key[] = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-"
                             "1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
static const char a1_token[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNv"
    "bS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

static void test_rfc7515_a1(void)
{
    struct secret key = {NULL, 0};
    unsigned char *raw;
    size_t raw_len;
    char *tok = NULL, errstr[128];

    CHECK(jwt_b64url_decode(a1_key, strlen(a1_key), &raw, &raw_len) == HW_OK);
    CHECK_INT(raw_len, 64);
    secret_set(&key, (const char *)raw, raw_len);
    free(raw);
    CHECK(jwt_sign_raw(&key, a1_header, strlen(a1_header), a1_payload,
                       strlen(a1_payload), &tok) == HW_OK);
    CHECK_STR(tok, a1_token);
    jwt_token_free(tok);
    CHECK(jwt_verify(&key, a1_token, 1300819379, 0, NULL, errstr,
                     sizeof(errstr)) == HW_OK);
    CHECK(jwt_verify(&key, a1_token, 1300819380, 0, NULL, errstr,
                     sizeof(errstr)) == HW_ERR_AUTH);
    CHECK_STR(errstr, "token expired");
    secret_wipe(&key);
}

static void test_b64url(void)
{
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"",       "Zg",      "Zm8",     "Zm9v",
                          "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    unsigned char bin[] = {0xfb, 0xff, 0xbf};
    unsigned char *out;
    size_t n;

    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        char *e = jwt_b64url_encode(in[i], strlen(in[i]));

        CHECK_STR(e, want[i]);
        CHECK(jwt_b64url_decode(e, strlen(e), &out, &n) == HW_OK);
        CHECK(n == strlen(in[i]) && memcmp(out, in[i], n) == 0);
        free(out);
        free(e);
    }
    out = (unsigned char *)jwt_b64url_encode(bin, sizeof(bin));
    CHECK_STR((char *)out, "-_-_"); /* the url-safe alphabet */
    free(out);
    CHECK(jwt_b64url_decode("Zm9v=", 5, &out, &n) == HW_ERR_DECODE);
    CHECK(jwt_b64url_decode("Zm+v", 4, &out, &n) == HW_ERR_DECODE);
    CHECK(jwt_b64url_decode("Z", 1, &out, &n) == HW_ERR_DECODE);
    CHECK(jwt_b64url_decode("Zm 9", 4, &out, &n) == HW_ERR_DECODE);
}

static void test_uuid4(void)
{
    char a[JWT_UUID_LEN + 1], b[JWT_UUID_LEN + 1];

    CHECK(jwt_uuid4(a) == HW_OK);
    CHECK(jwt_uuid4(b) == HW_OK);
    CHECK_INT(strlen(a), 36);
    CHECK(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
    CHECK(a[14] == '4');
    CHECK(strchr("89ab", a[19]) != NULL);
    CHECK(strcmp(a, b) != 0);
}

static json_t *verify_ok(const struct secret *key, const char *tok, int64_t now)
{
    char errstr[128];
    json_t *claims = NULL;

    CHECK(jwt_verify(key, tok, now, 0, &claims, errstr, sizeof(errstr)) ==
          HW_OK);
    return claims;
}

static void test_app_claims(const struct secret *key)
{
    char *tok = NULL;
    json_t *c;

    CHECK(jwt_mint_app(key, "ak", "room1", "alice", "host", NOW, NOW + 7200,
                       &tok) == HW_OK);
    c = verify_ok(key, tok, NOW);
    CHECK_STR(json_string_value(json_object_get(c, "access_key")), "ak");
    CHECK_STR(json_string_value(json_object_get(c, "room_id")), "room1");
    CHECK_STR(json_string_value(json_object_get(c, "user_id")), "alice");
    CHECK_STR(json_string_value(json_object_get(c, "role")), "host");
    CHECK_STR(json_string_value(json_object_get(c, "type")), "app");
    CHECK_INT(json_integer_value(json_object_get(c, "version")), 2);
    CHECK_INT(json_integer_value(json_object_get(c, "iat")), NOW - 60);
    CHECK_INT(json_integer_value(json_object_get(c, "nbf")), NOW - 60);
    CHECK_INT(json_integer_value(json_object_get(c, "exp")), NOW + 7200);
    CHECK_INT(strlen(json_string_value(json_object_get(c, "jti"))), 36);
    CHECK_INT(json_object_size(c), 10);
    json_decref(c);
    jwt_token_free(tok);
}

static void test_mgmt_claims(const struct secret *key)
{
    char *t1 = NULL, *t2 = NULL;
    int64_t exp = 0;
    json_t *c1, *c2;

    CHECK(jwt_mint_mgmt(key, "ak", NOW, 3600, &t1, &exp) == HW_OK);
    CHECK(jwt_mint_mgmt(key, "ak", NOW, 3600, &t2, NULL) == HW_OK);
    CHECK_INT(exp, NOW + 3600);
    c1 = verify_ok(key, t1, NOW);
    c2 = verify_ok(key, t2, NOW);
    CHECK_STR(json_string_value(json_object_get(c1, "type")), "management");
    CHECK(json_object_get(c1, "room_id") == NULL);
    CHECK_INT(json_object_size(c1), 7);
    CHECK(strcmp(json_string_value(json_object_get(c1, "jti")),
                 json_string_value(json_object_get(c2, "jti"))) != 0);
    json_decref(c1);
    json_decref(c2);
    jwt_token_free(t1);
    jwt_token_free(t2);
}

/* Replaces the character at pos with another of the alphabet. */
static char *tamper(const char *tok, size_t pos)
{
    char *t = strdup(tok);

    t[pos] = t[pos] == 'A' ? 'B' : 'A';
    return t;
}

static void test_rejections(const struct secret *key)
{
    struct secret other = {NULL, 0};
    char errstr[128], *tok = NULL, *bad;
    const char *dot;

    secret_set(&other, "another-secret", 14);
    CHECK(jwt_mint_app(key, "ak", "r", "u", "guest", NOW, NOW + 600, &tok) ==
          HW_OK);
    dot = strrchr(tok, '.');
    bad = tamper(tok, (size_t)(dot - tok) + 3); /* in the signature */
    CHECK(jwt_verify(key, bad, NOW, 0, NULL, errstr, sizeof(errstr)) ==
          HW_ERR_AUTH);
    CHECK_STR(errstr, "signature mismatch");
    free(bad);
    bad = tamper(tok, (size_t)(strchr(tok, '.') - tok) + 5); /* payload */
    CHECK(jwt_verify(key, bad, NOW, 0, NULL, errstr, sizeof(errstr)) != HW_OK);
    free(bad);
    CHECK(jwt_verify(&other, tok, NOW, 0, NULL, errstr, sizeof(errstr)) ==
          HW_ERR_AUTH);
    CHECK(jwt_verify(key, tok, NOW + 600, 0, NULL, errstr, sizeof(errstr)) ==
          HW_ERR_AUTH);
    CHECK_STR(errstr, "token expired");
    CHECK(jwt_verify(key, tok, NOW + 599, 0, NULL, errstr, sizeof(errstr)) ==
          HW_OK);
    CHECK(jwt_verify(key, tok, NOW - 61, 0, NULL, errstr, sizeof(errstr)) ==
          HW_ERR_AUTH);
    CHECK_STR(errstr, "token not yet valid (nbf)");
    CHECK(jwt_verify(key, tok, NOW - 61, 5, NULL, errstr, sizeof(errstr)) ==
          HW_OK);
    jwt_token_free(tok);
    secret_wipe(&other);
}

static void test_malformed(const struct secret *key)
{
    char errstr[128], *tok = NULL, *big;
    json_t *claims = json_pack("{s:i}", "exp", (int)(NOW + 60));
    /* {"alg":"none","typ":"JWT"} and {"alg":"HS256"} over {"exp":1} */
    const char *bad[] = {"",
                         "a",
                         "a.b",
                         "a.b.c.d",
                         "!!.e30.sig",
                         "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.e30.",
                         "eyJhbGciOiJIUzI1NiJ9.e30.AAAA"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(jwt_verify(key, bad[i], NOW, 0, NULL, errstr, sizeof(errstr)) !=
              HW_OK);
    }
    CHECK(jwt_sign(key, claims, &tok) == HW_OK);
    CHECK(jwt_verify(key, tok, NOW, 0, NULL, errstr, sizeof(errstr)) == HW_OK);
    jwt_token_free(tok);
    json_decref(claims);
    claims = json_pack("{s:s}", "sub", "no exp");
    CHECK(jwt_sign(key, claims, &tok) == HW_OK);
    CHECK(jwt_verify(key, tok, NOW, 0, NULL, errstr, sizeof(errstr)) ==
          HW_ERR_AUTH);
    jwt_token_free(tok);
    json_decref(claims);
    big = malloc(JWT_MAX_LEN + 10);
    memset(big, 'a', JWT_MAX_LEN + 9);
    big[JWT_MAX_LEN + 9] = '\0';
    CHECK(jwt_verify(key, big, NOW, 0, NULL, errstr, sizeof(errstr)) ==
          HW_ERR_DECODE);
    free(big);
}

/* exp at the ends of the integer range (a peer's token: hms-sim verifies
 * with jwt_verify): exp + leeway must not overflow, so INT64_MAX is a far
 * future and INT64_MIN long past, with or without leeway. */
static void test_exp_extremes(const struct secret *key)
{
    static const struct {
        json_int_t exp;
        int64_t leeway_s;
        enum hw_rc want;
    } rows[] = {
        {INT64_MAX, 0, HW_OK},
        {INT64_MAX, 60, HW_OK},
        {INT64_MAX - 30, 60, HW_OK},
        {INT64_MIN, 0, HW_ERR_AUTH},
        {INT64_MIN, 60, HW_ERR_AUTH},
        {NOW - 60, 60, HW_ERR_AUTH}, /* the boundary: now >= exp + leeway */
        {NOW - 59, 60, HW_OK},
    };
    char errstr[128];

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        json_t *claims = json_pack("{s:I}", "exp", rows[i].exp);
        char *tok = NULL;

        CHECK(jwt_sign(key, claims, &tok) == HW_OK);
        CHECK(jwt_verify(key, tok, NOW, rows[i].leeway_s, NULL, errstr,
                         sizeof(errstr)) == rows[i].want);
        jwt_token_free(tok);
        json_decref(claims);
    }
}

int main(void)
{
    struct secret key = {NULL, 0};

    secret_set(&key, "test-app-secret", 15);
    test_rfc7515_a1();
    test_b64url();
    test_uuid4();
    test_app_claims(&key);
    test_mgmt_claims(&key);
    test_rejections(&key);
    test_malformed(&key);
    test_exp_extremes(&key);
    secret_wipe(&key);
    return TEST_REPORT();
}
