/* secret.c -- typed secrets. The bytes live only in s->val, a heap copy:
 * secret_set() over an old value and secret_wipe() cleanse before freeing,
 * and so does the 64 KiB buffer a secret file is read into. A secret file
 * that group or others may read is warned about (libpq's .pgpass rule;
 * not refused: a mounted secret may be 0644), once, as it is loaded once.
 * Loaded once at startup, by conf.c (worker, hmsctl) and sim_conf.c
 * (hms-sim); then only read, from any thread: jwt.c signs with it,
 * cache.c sends AUTH, registry.c keeps its own copy for HTTP Basic auth. */
#define LOGMOD "secret"
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "log.h"

#define SECRET_FILE_MAX (64 * 1024)

void secret_set(struct secret *s, const char *val, size_t len)
{
    secret_wipe(s);
    s->val = xmalloc(len + 1);
    memcpy(s->val, val, len);
    s->val[len] = '\0';
    s->len = len;
}

static void strip_newline(struct secret *s)
{
    if (s->len > 0 && s->val[s->len - 1] == '\n') {
        s->val[--s->len] = '\0';
        if (s->len > 0 && s->val[s->len - 1] == '\r') {
            s->val[--s->len] = '\0';
        }
    }
}

/* The file of var, open as f, readable by group or others: said, with
 * the variable and the file, never the content. */
static void warn_file_mode(FILE *f, const char *var, const char *path)
{
    struct stat st;
    char safe[256];

    if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        log_warn("msg=\"secret file readable by group or others\" var=%s "
                 "file=\"%s\" mode=%04o hint=\"chmod 600\"",
                 var, log_text(safe, sizeof(safe), path),
                 (unsigned)(st.st_mode & 07777));
    }
}

/* Reads a whole file (at most 64 KiB) into s, stripping one trailing
 * newline; var names the file in a warning about its mode. HW_ERR_CONFIG
 * with a message naming path on failure. */
static enum hw_rc secret_load_file(struct secret *s, const char *path,
                                   const char *var, char *errstr,
                                   size_t errstr_size)
{
    char *buf = xmalloc(SECRET_FILE_MAX + 1);
    size_t n = 0;
    FILE *f = fopen(path, "rb");
    char ebuf[128];
    enum hw_rc rc = HW_ERR_CONFIG;

    if (f == NULL) {
        snprintf(errstr, errstr_size, "cannot open %s: %s", path,
                 strerror_r(errno, ebuf, sizeof(ebuf)) == 0 ? ebuf : "?");
        goto out;
    }
    warn_file_mode(f, var, path);
    n = fread(buf, 1, SECRET_FILE_MAX + 1, f);
    if (ferror(f)) {
        snprintf(errstr, errstr_size, "cannot read %s", path);
        goto out;
    }
    if (n > SECRET_FILE_MAX) {
        snprintf(errstr, errstr_size, "%s is larger than %d bytes", path,
                 SECRET_FILE_MAX);
        goto out;
    }
    if (memchr(buf, '\0', n) != NULL) {
        snprintf(errstr, errstr_size, "%s contains a NUL byte", path);
        goto out;
    }
    secret_set(s, buf, n);
    strip_newline(s);
    rc = HW_OK;
out:
    if (f != NULL) {
        fclose(f);
    }
    OPENSSL_cleanse(buf, SECRET_FILE_MAX + 1);
    free(buf);
    return rc;
}

enum hw_rc secret_load_env(struct secret *s, const char *env_name,
                           const char *file_env_name, char *errstr,
                           size_t errstr_size)
{
    return secret_load(s, getenv(env_name), env_name, getenv(file_env_name),
                       file_env_name, errstr, errstr_size);
}

enum hw_rc secret_load(struct secret *s, const char *val, const char *env_name,
                       const char *path, const char *file_env_name,
                       char *errstr, size_t errstr_size)
{
    bool has_val = val != NULL && val[0] != '\0';
    bool has_path = path != NULL && path[0] != '\0';

    if (has_val == has_path) {
        snprintf(errstr, errstr_size, "set exactly one of %s and %s", env_name,
                 file_env_name);
        return HW_ERR_CONFIG;
    }
    if (has_val) {
        secret_set(s, val, strlen(val));
    } else if (secret_load_file(s, path, file_env_name, errstr, errstr_size) !=
               HW_OK) {
        return HW_ERR_CONFIG;
    }
    if (s->len == 0) {
        snprintf(errstr, errstr_size, "%s is empty",
                 has_val ? env_name : file_env_name);
        secret_wipe(s);
        return HW_ERR_CONFIG;
    }
    return HW_OK;
}

const char *secret_reveal(const struct secret *s, size_t *len)
{
    if (len != NULL) {
        *len = s->len;
    }
    return s->val;
}

void secret_wipe(struct secret *s)
{
    if (s->val != NULL) {
        OPENSSL_cleanse(s->val, s->len);
        free(s->val);
    }
    s->val = NULL;
    s->len = 0;
}
