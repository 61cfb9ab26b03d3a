/* jwt.c -- HS256 JWTs with OpenSSL and jansson. A token is built as text:
 * base64url (EVP_EncodeBlock, alphabet swapped, padding cut) of a fixed
 * header and of the claims jansson dumps, a '.', then the MAC. OpenSSL 3's
 * one-shot HMAC() re-fetches the algorithm per call, so each thread keeps
 * one keyed EVP_MAC_CTX in thread-local storage (mac_ctx). Callers: the
 * engine, hms-sim's pool threads (jwt_verify), hmsctl, jwtcli. */
#define LOGMOD "jwt"
#include "jwt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define MAC_LEN 32 /* SHA-256 */

static const char header_hs256[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

char *jwt_b64url_encode(const void *data, size_t len)
{
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);

    while (n > 0 && out[n - 1] == '=') {
        n--;
    }
    out[n] = '\0';
    for (int i = 0; i < n; i++) {
        if (out[i] == '+') {
            out[i] = '-';
        } else if (out[i] == '/') {
            out[i] = '_';
        }
    }
    return out;
}

enum hw_rc jwt_b64url_decode(const char *text, size_t text_len,
                             unsigned char **out, size_t *out_len)
{
    size_t pad = (4 - text_len % 4) % 4;
    size_t padded = text_len + pad;
    char *std;
    unsigned char *buf;
    int n;

    if (pad == 3 || text_len > JWT_MAX_LEN) {
        return HW_ERR_DECODE;
    }
    std = xmalloc(padded + 1);
    for (size_t i = 0; i < text_len; i++) {
        char c = text[i];

        if (c == '-') {
            c = '+';
        } else if (c == '_') {
            c = '/';
        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                     (c >= '0' && c <= '9'))) {
            free(std);
            return HW_ERR_DECODE;
        }
        std[i] = c;
    }
    memset(std + text_len, '=', pad);
    std[padded] = '\0';
    buf = xmalloc(padded / 4 * 3 + 1);
    n = EVP_DecodeBlock(buf, (unsigned char *)std, (int)padded);
    free(std);
    if (n < 0 || (size_t)n < pad) {
        free(buf);
        return HW_ERR_DECODE;
    }
    *out_len = (size_t)n - pad;
    buf[*out_len] = '\0';
    *out = buf;
    return HW_OK;
}

/* ---- HMAC-SHA256 ------------------------------------------------------
 * OpenSSL 3's one-shot HMAC() fetches the algorithm and sets the key up
 * on every call, which was most of the cost of a token. Each thread keeps
 * one keyed EVP_MAC_CTX instead (with its own copy of the key, wiped when
 * it changes or the thread ends) and only re-initialises it per MAC. */

struct mac_cache {
    EVP_MAC_CTX *ctx;
    unsigned char *key;
    size_t klen;
};

static pthread_once_t mac_once = PTHREAD_ONCE_INIT;
static pthread_key_t mac_key;
static EVP_MAC *mac_alg;

static void mac_cache_free(void *p)
{
    struct mac_cache *mc = p;

    EVP_MAC_CTX_free(mc->ctx);
    OPENSSL_clear_free(mc->key, mc->klen);
    free(mc);
}

static void mac_init_once(void)
{
    mac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (pthread_key_create(&mac_key, mac_cache_free) != 0) {
        EVP_MAC_free(mac_alg);
        mac_alg = NULL;
    }
}

/* This thread's context, keyed with k. */
static EVP_MAC_CTX *mac_ctx(const char *k, size_t klen)
{
    struct mac_cache *mc;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                         (char *)(uintptr_t) "SHA256", 0),
        OSSL_PARAM_construct_end()};

    if (pthread_once(&mac_once, mac_init_once) != 0 || mac_alg == NULL) {
        return NULL;
    }
    mc = pthread_getspecific(mac_key);
    if (mc != NULL && mc->klen == klen &&
        CRYPTO_memcmp(mc->key, k, klen) == 0) {
        return EVP_MAC_init(mc->ctx, NULL, 0, NULL) == 1 ? mc->ctx : NULL;
    }
    if (mc != NULL) {
        pthread_setspecific(mac_key, NULL);
        mac_cache_free(mc);
    }
    mc = xcalloc(1, sizeof(*mc));
    mc->ctx = EVP_MAC_CTX_new(mac_alg);
    mc->key = xmalloc(klen + 1);
    memcpy(mc->key, k, klen);
    mc->klen = klen;
    if (mc->ctx == NULL ||
        EVP_MAC_init(mc->ctx, (const unsigned char *)k, klen, params) != 1 ||
        pthread_setspecific(mac_key, mc) != 0) {
        mac_cache_free(mc);
        return NULL;
    }
    return mc->ctx;
}

/* HMAC-SHA256 over data into mac[MAC_LEN]. */
static enum hw_rc hs256(const struct secret *key, const char *data, size_t len,
                        unsigned char mac[MAC_LEN])
{
    size_t klen, mac_len = 0;
    const char *k = secret_reveal(key, &klen);
    EVP_MAC_CTX *ctx = k != NULL ? mac_ctx(k, klen) : NULL;

    if (ctx == NULL ||
        EVP_MAC_update(ctx, (const unsigned char *)data, len) != 1 ||
        EVP_MAC_final(ctx, mac, &mac_len, MAC_LEN) != 1 || mac_len != MAC_LEN) {
        return HW_ERR_FATAL;
    }
    return HW_OK;
}

/* Appends "." base64url(mac(input)) to input; input is consumed. */
static enum hw_rc finish_token(const struct secret *key, char *input,
                               char **token_out)
{
    unsigned char mac[MAC_LEN];
    size_t in_len = strlen(input);
    char *sig;
    enum hw_rc rc = hs256(key, input, in_len, mac);

    if (rc != HW_OK) {
        jwt_token_free(input);
        return rc;
    }
    sig = jwt_b64url_encode(mac, sizeof(mac));
    OPENSSL_cleanse(mac, sizeof(mac));
    *token_out = xasprintf("%s.%s", input, sig);
    jwt_token_free(input);
    free(sig);
    return HW_OK;
}

enum hw_rc jwt_sign_raw(const struct secret *key, const void *header,
                        size_t header_len, const void *payload,
                        size_t payload_len, char **token_out)
{
    char *h = jwt_b64url_encode(header, header_len);
    char *p = jwt_b64url_encode(payload, payload_len);
    char *input = xasprintf("%s.%s", h, p);

    free(h);
    jwt_token_free(p);
    return finish_token(key, input, token_out);
}

enum hw_rc jwt_sign(const struct secret *key, const json_t *claims,
                    char **token_out)
{
    char *payload = json_dumps(claims, JSON_COMPACT);
    enum hw_rc rc;

    if (payload == NULL) {
        return HW_ERR_INVALID;
    }
    rc = jwt_sign_raw(key, header_hs256, strlen(header_hs256), payload,
                      strlen(payload), token_out);
    jwt_token_free(payload);
    return rc;
}

/* 16 random bytes from a per-thread pool filled 32 ids at a time: each
 * RAND_bytes() costs a getpid() (OpenSSL's fork check), and a booking
 * draws four ids. The ids are public (jti, event_id): the pool needs no
 * wiping. */
static bool random16(unsigned char b[16])
{
    static _Thread_local unsigned char pool[512];
    static _Thread_local size_t used = sizeof(pool);

    if (used == sizeof(pool)) {
        if (RAND_bytes(pool, sizeof(pool)) != 1) {
            return false;
        }
        used = 0;
    }
    memcpy(b, pool + used, 16);
    used += 16;
    return true;
}

enum hw_rc jwt_uuid4(char out[JWT_UUID_LEN + 1])
{
    unsigned char b[16];

    if (!random16(b)) {
        return HW_ERR_FATAL;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    for (size_t i = 0, at = 0; i < sizeof(b); i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[at++] = '-';
        }
        out[at++] = "0123456789abcdef"[b[i] >> 4];
        out[at++] = "0123456789abcdef"[b[i] & 15];
    }
    out[JWT_UUID_LEN] = '\0';
    return HW_OK;
}

/* The claims both token types share; NULL if the RNG fails. */
static json_t *base_claims(const char *access_key, const char *type,
                           int64_t now_s, int64_t exp_s)
{
    char jti[JWT_UUID_LEN + 1];

    if (jwt_uuid4(jti) != HW_OK) {
        return NULL;
    }
    return json_pack("{s:s, s:s, s:i, s:I, s:I, s:I, s:s}", "access_key",
                     access_key, "type", type, "version", 2, "iat",
                     (json_int_t)(now_s - JWT_BACKDATE_S), "nbf",
                     (json_int_t)(now_s - JWT_BACKDATE_S), "exp",
                     (json_int_t)exp_s, "jti", jti);
}

static enum hw_rc sign_claims(const struct secret *key, json_t *claims,
                              char **token_out)
{
    enum hw_rc rc;

    if (claims == NULL) {
        return HW_ERR_FATAL;
    }
    rc = jwt_sign(key, claims, token_out);
    json_decref(claims);
    return rc;
}

enum hw_rc jwt_mint_app(const struct secret *key, const char *access_key,
                        const char *room_id, const char *user_id,
                        const char *role, int64_t now_s, int64_t exp_s,
                        char **token_out)
{
    json_t *c = base_claims(access_key, "app", now_s, exp_s);

    if (c != NULL && (json_object_set_new(c, "room_id", json_string(room_id)) ||
                      json_object_set_new(c, "user_id", json_string(user_id)) ||
                      json_object_set_new(c, "role", json_string(role)))) {
        json_decref(c);
        return HW_ERR_INVALID; /* not UTF-8 */
    }
    return sign_claims(key, c, token_out);
}

enum hw_rc jwt_mint_mgmt(const struct secret *key, const char *access_key,
                         int64_t now_s, int64_t ttl_s, char **token_out,
                         int64_t *exp_out)
{
    if (exp_out != NULL) {
        *exp_out = now_s + ttl_s;
    }
    return sign_claims(
        key, base_claims(access_key, "management", now_s, now_s + ttl_s),
        token_out);
}

/* Decodes one base64url JSON object part. */
static json_t *decode_part(const char *p, size_t len)
{
    unsigned char *raw;
    size_t raw_len;
    json_t *j;

    if (jwt_b64url_decode(p, len, &raw, &raw_len) != HW_OK) {
        return NULL;
    }
    j = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, NULL);
    OPENSSL_cleanse(raw, raw_len);
    free(raw);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static enum hw_rc check_signature(const struct secret *key, const char *token,
                                  size_t input_len, const char *sig,
                                  size_t sig_len)
{
    unsigned char mac[MAC_LEN];
    unsigned char *got = NULL;
    size_t got_len = 0;
    enum hw_rc rc = jwt_b64url_decode(sig, sig_len, &got, &got_len);

    if (rc != HW_OK) {
        return HW_ERR_DECODE;
    }
    rc = hs256(key, token, input_len, mac);
    if (rc == HW_OK &&
        (got_len != MAC_LEN || CRYPTO_memcmp(mac, got, MAC_LEN) != 0)) {
        rc = HW_ERR_AUTH;
    }
    OPENSSL_cleanse(mac, sizeof(mac));
    free(got);
    return rc;
}

/* Checks exp/nbf/iat of a verified payload. */
static enum hw_rc check_times(const json_t *claims, int64_t now_s,
                              int64_t leeway_s, char *errstr,
                              size_t errstr_size)
{
    const json_t *exp = json_object_get(claims, "exp");
    static const char *const not_before[] = {"nbf", "iat"};

    if (!json_is_integer(exp)) {
        snprintf(errstr, errstr_size, "exp missing or not an integer");
        return HW_ERR_AUTH;
    }
    /* now >= exp + leeway, with the sum on our side: a peer's exp near
     * INT64_MAX must not overflow (our now and leeway are small) */
    if (now_s - leeway_s >= json_integer_value(exp)) {
        snprintf(errstr, errstr_size, "token expired");
        return HW_ERR_AUTH;
    }
    for (size_t i = 0; i < HW_ARRAY_LEN(not_before); i++) {
        const json_t *t = json_object_get(claims, not_before[i]);

        if (t != NULL && !json_is_integer(t)) {
            snprintf(errstr, errstr_size, "%s not an integer", not_before[i]);
            return HW_ERR_AUTH;
        }
        if (t != NULL && json_integer_value(t) > now_s + leeway_s) {
            snprintf(errstr, errstr_size, "token not yet valid (%s)",
                     not_before[i]);
            return HW_ERR_AUTH;
        }
    }
    return HW_OK;
}

enum hw_rc jwt_verify(const struct secret *key, const char *token,
                      int64_t now_s, int64_t leeway_s, json_t **claims_out,
                      char *errstr, size_t errstr_size)
{
    size_t len = strnlen(token, JWT_MAX_LEN + 1);
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 =
        dot1 == NULL ? NULL
                     : memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
    json_t *header = NULL, *claims = NULL;
    const json_t *alg;
    enum hw_rc rc = HW_ERR_DECODE;

    if (len > JWT_MAX_LEN || dot2 == NULL ||
        memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL) {
        snprintf(errstr, errstr_size, "malformed token");
        goto out;
    }
    header = decode_part(token, (size_t)(dot1 - token));
    alg = json_object_get(header, "alg");
    if (header == NULL || !json_is_string(alg) ||
        strcmp(json_string_value(alg), "HS256") != 0) {
        snprintf(errstr, errstr_size, "header is not an HS256 JWS header");
        goto out;
    }
    rc = check_signature(key, token, (size_t)(dot2 - token), dot2 + 1,
                         len - (size_t)(dot2 + 1 - token));
    if (rc != HW_OK) {
        snprintf(errstr, errstr_size, "signature %s",
                 rc == HW_ERR_AUTH ? "mismatch" : "malformed");
        goto out;
    }
    rc = HW_ERR_DECODE;
    claims = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (claims == NULL) {
        snprintf(errstr, errstr_size, "payload is not a JSON object");
        goto out;
    }
    rc = check_times(claims, now_s, leeway_s, errstr, errstr_size);
    if (rc == HW_OK && claims_out != NULL) {
        *claims_out = json_incref(claims);
    }
out:
    json_decref(header);
    json_decref(claims);
    return rc;
}

void jwt_token_free(char *token)
{
    if (token != NULL) {
        OPENSSL_cleanse(token, strlen(token));
        free(token);
    }
}
