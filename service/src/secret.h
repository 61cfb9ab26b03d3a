/* secret.h -- typed secrets (the 100ms app secret, passwords).
 *
 * DESIGN
 * ------
 * A secret never reaches a log, an errstr, a dump or an event: error texts
 * name the variable, never its value. secret_reveal() is the only accessor,
 * so review can grep for it. secret_wipe() cleanses the bytes before
 * freeing them. A struct secret is owned by whoever initialised it; it is
 * read-only (thus thread-safe) after loading.
 */
#ifndef SECRET_H
#define SECRET_H

#include <stddef.h>

#include "hw.h"

struct secret {
    char *val; /* NUL-terminated copy; may contain no NUL itself */
    size_t len;
};

/* Loads a secret from exactly one of the environment variable env_name or
 * the file named by the variable file_env_name (one trailing newline, LF or
 * CRLF, is stripped). HW_ERR_CONFIG, with a message naming the variables,
 * when both, neither, an empty value or an unreadable file is given. A
 * file that group or others may read is loaded, with a warning naming
 * file_env_name and the file. */
enum hw_rc secret_load_env(struct secret *s, const char *env_name,
                           const char *file_env_name, char *errstr,
                           size_t errstr_size) HW_MUSTCHECK;

/* The same from given values (either may be NULL); the names are for the
 * error text. */
enum hw_rc secret_load(struct secret *s, const char *val, const char *env_name,
                       const char *path, const char *file_env_name,
                       char *errstr, size_t errstr_size) HW_MUSTCHECK;

/* Copies len bytes into s (any previous value is wiped first). */
void secret_set(struct secret *s, const char *val, size_t len);

const char *secret_reveal(const struct secret *s, size_t *len);
void secret_wipe(struct secret *s);

#endif
