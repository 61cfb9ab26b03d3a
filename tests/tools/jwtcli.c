/* jwtcli.c -- drives service/src/jwt.c from tests (the interop test with
 * PyJWT). The secret comes from HMS_APP_SECRET; tokens travel on stdin and
 * stdout, never in argv.
 *
 *   jwtcli app ACCESS_KEY ROOM_ID USER_ID ROLE EXP   mint an app token
 *   jwtcli mgmt ACCESS_KEY TTL_S                     mint a management token
 *   jwtcli verify [LEEWAY_S] < token                 print the claims; exit
 *                                                    1 when rejected
 */
#define LOGMOD "jwtcli"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt.h"
#include "log.h"
#include "secret.h"

static int verify(const struct secret *key, int64_t leeway)
{
    char token[JWT_MAX_LEN + 2], errstr[256];
    json_t *claims = NULL;
    size_t n = fread(token, 1, sizeof(token) - 1, stdin);
    char *out;

    token[n] = '\0';
    token[strcspn(token, "\r\n")] = '\0';
    if (jwt_verify(key, token, (int64_t)time(NULL), leeway, &claims, errstr,
                   sizeof(errstr)) != HW_OK) {
        fprintf(stderr, "rejected: %s\n", errstr);
        return 1;
    }
    out = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
    puts(out);
    free(out);
    json_decref(claims);
    return 0;
}

int main(int argc, char **argv)
{
    struct secret key = {NULL, 0};
    const char *val = getenv("HMS_APP_SECRET");
    int64_t now = (int64_t)time(NULL);
    char *token = NULL;
    enum hw_rc rc = HW_ERR_INVALID;
    int ret;

    if (val == NULL || argc < 2) {
        fprintf(stderr, "usage: see jwtcli.c; HMS_APP_SECRET must be set\n");
        return 2;
    }
    secret_set(&key, val, strlen(val));
    if (strcmp(argv[1], "verify") == 0) {
        ret = verify(&key, argc > 2 ? strtoll(argv[2], NULL, 10) : 0);
        secret_wipe(&key);
        return ret;
    }
    if (strcmp(argv[1], "app") == 0 && argc == 7) {
        rc = jwt_mint_app(&key, argv[2], argv[3], argv[4], argv[5], now,
                          strtoll(argv[6], NULL, 10), &token);
    } else if (strcmp(argv[1], "mgmt") == 0 && argc == 4) {
        rc = jwt_mint_mgmt(&key, argv[2], now, strtoll(argv[3], NULL, 10),
                           &token, NULL);
    }
    secret_wipe(&key);
    if (rc != HW_OK) {
        fprintf(stderr, "mint failed: %s\n", hw_rc_str(rc));
        return 2;
    }
    puts(token);
    jwt_token_free(token);
    return 0;
}
