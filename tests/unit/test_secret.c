/* test_secret.c -- secret loading from the environment or a file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secret.h"
#include "testhelp.h"

static char *write_tmp(const char *content)
{
    char *path = strdup("/tmp/hw-secret-XXXXXX");
    int fd = mkstemp(path);

    if (fd >= 0) {
        if (write(fd, content, strlen(content)) < 0) {
            perror("write");
        }
        close(fd);
    }
    return path;
}

int main(void)
{
    struct secret s = {NULL, 0};
    char errstr[256];
    char *path = write_tmp("from-file\r\n");
    size_t len;

    unsetenv("T_SECRET");
    unsetenv("T_SECRET_FILE");
    CHECK(secret_load_env(&s, "T_SECRET", "T_SECRET_FILE", errstr,
                          sizeof(errstr)) == HW_ERR_CONFIG);
    CHECK(strstr(errstr, "T_SECRET") != NULL);

    setenv("T_SECRET", "from-env", 1);
    CHECK(secret_load_env(&s, "T_SECRET", "T_SECRET_FILE", errstr,
                          sizeof(errstr)) == HW_OK);
    CHECK_STR(secret_reveal(&s, &len), "from-env");
    CHECK_INT(len, 8);

    setenv("T_SECRET_FILE", path, 1);
    CHECK(secret_load_env(&s, "T_SECRET", "T_SECRET_FILE", errstr,
                          sizeof(errstr)) == HW_ERR_CONFIG); /* both set */
    CHECK(strstr(errstr, "from-env") == NULL); /* never the value */

    unsetenv("T_SECRET");
    CHECK(secret_load_env(&s, "T_SECRET", "T_SECRET_FILE", errstr,
                          sizeof(errstr)) == HW_OK);
    CHECK_STR(secret_reveal(&s, &len), "from-file"); /* CRLF stripped */
    unlink(path);
    CHECK(secret_load_env(&s, "T_SECRET", "T_SECRET_FILE", errstr,
                          sizeof(errstr)) == HW_ERR_CONFIG);
    CHECK(strstr(errstr, path) != NULL);
    free(path);

    path = write_tmp("\n");
    setenv("T_SECRET_FILE", path, 1);
    CHECK(secret_load_env(&s, "T_SECRET", "T_SECRET_FILE", errstr,
                          sizeof(errstr)) == HW_ERR_CONFIG); /* empty */
    unlink(path);
    free(path);

    secret_wipe(&s);
    CHECK(s.val == NULL && s.len == 0);
    secret_wipe(&s); /* twice is fine */
    return TEST_REPORT();
}
