/* jwt.h -- HS256 JSON Web Tokens for 100ms (docs/contract.md section 5).
 *
 * DESIGN
 * ------
 * Compact JWS only, HS256 only: HMAC-SHA256 (OpenSSL) keyed with the app
 * secret as raw bytes, base64url without padding. Claims are built and
 * parsed with jansson. Minted tokens are secrets: callers release them with
 * jwt_token_free(), which cleanses the bytes. Signing inputs and MACs are
 * cleansed here. Every function is reentrant; the key is only read.
 * Time is passed in (Unix seconds) so tests and the simulator control it.
 */
#ifndef JWT_H
#define JWT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hw.h"
#include "secret.h"

/* Back-dating of iat and nbf against clock skew (100ms's Java sample). */
#define JWT_BACKDATE_S 60
/* Upper bound on a token we are willing to parse. */
#define JWT_MAX_LEN 8192
#define JWT_UUID_LEN 36

/* Signs base64url(header) "." base64url(payload) as given, byte for byte.
 * *token_out is malloc'd; free it with jwt_token_free(). */
enum hw_rc jwt_sign_raw(const struct secret *key, const void *header,
                        size_t header_len, const void *payload,
                        size_t payload_len, char **token_out) HW_MUSTCHECK;

/* Signs claims under the header {"alg":"HS256","typ":"JWT"}. */
enum hw_rc jwt_sign(const struct secret *key, const json_t *claims,
                    char **token_out) HW_MUSTCHECK;

/* App (join) token: access_key, room_id, user_id, role, type "app",
 * version 2, iat = nbf = now_s - 60, exp = exp_s, jti = fresh UUID v4. */
enum hw_rc jwt_mint_app(const struct secret *key, const char *access_key,
                        const char *room_id, const char *user_id,
                        const char *role, int64_t now_s, int64_t exp_s,
                        char **token_out) HW_MUSTCHECK;

/* Management token: access_key, type "management", version 2, iat = nbf =
 * now_s - 60, exp = now_s + ttl_s, jti. *exp_out (may be NULL) gets exp. */
enum hw_rc jwt_mint_mgmt(const struct secret *key, const char *access_key,
                         int64_t now_s, int64_t ttl_s, char **token_out,
                         int64_t *exp_out) HW_MUSTCHECK;

/* Verifies an HS256 token at time now_s: structure, alg, signature
 * (constant time), then exp (required: now_s < exp + leeway_s), nbf and iat
 * (when present: <= now_s + leeway_s), any int64 exp without overflow
 * (now_s and leeway_s >= 0 are the caller's). On HW_OK *claims_out (may be
 * NULL) gets a new reference to the payload object. Failures: HW_ERR_DECODE for
 * malformed tokens, HW_ERR_AUTH for a bad signature or time claims; errstr
 * says why, without any token bytes. */
enum hw_rc jwt_verify(const struct secret *key, const char *token,
                      int64_t now_s, int64_t leeway_s, json_t **claims_out,
                      char *errstr, size_t errstr_size) HW_MUSTCHECK;

/* Writes a random (CSPRNG) RFC 4122 version 4 UUID and a NUL into out. */
enum hw_rc jwt_uuid4(char out[JWT_UUID_LEN + 1]) HW_MUSTCHECK;

/* base64url without padding. encode: returns malloc'd text. decode: HW_OK
 * and a malloc'd buffer (NUL-terminated for convenience) or HW_ERR_DECODE
 * on any character outside the alphabet or an impossible length. */
char *jwt_b64url_encode(const void *data, size_t len);
enum hw_rc jwt_b64url_decode(const char *text, size_t text_len,
                             unsigned char **out, size_t *out_len) HW_MUSTCHECK;

/* Cleanses and frees a token (NULL is a no-op). */
void jwt_token_free(char *token);

#endif
