/* fuzz_conf.c -- libFuzzer target: the configuration parser. The input is
 * split into NAME=value lines, which become the environment of conf_load.
 * *_FILE variables are dropped: reading arbitrary paths (/dev/stdin)
 * would only test the filesystem. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *save = NULL, *line;
    const char *env[64];
    size_t n = 0;
    struct conf cf;

    log_min_level = LL_ERROR + 1;
    memcpy(text, data, size);
    text[size] = '\0';
    for (line = strtok_r(text, "\n", &save); line != NULL && n < 63;
         line = strtok_r(NULL, "\n", &save)) {
        const char *eq = strchr(line, '=');

        if (eq != NULL && (eq - line < 5 || strncmp(eq - 5, "_FILE", 5) != 0)) {
            env[n++] = line;
        }
    }
    env[n] = NULL;
    memset(&cf, 0, sizeof(cf));
    if (conf_load(&cf, env) == HW_OK) {
        (void)conf_app_token_ttl(&cf, "guest");
    }
    conf_deinit(&cf);
    free(text);
    return 0;
}
