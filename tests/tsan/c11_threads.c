/* c11_threads.c -- thrd_create and thrd_join on POSIX threads, linked
 * into the ThreadSanitizer build only (Makefile, SAN=tsan).
 *
 * DESIGN
 * ------
 * Debian's librdkafka starts its threads with glibc's C11 thrd_create,
 * which calls glibc's internal pthread_create directly, past the
 * interceptor of clang's TSan runtime (before LLVM 20 it has none for C11
 * threads): such a thread is unknown to TSan and crashes on its first
 * malloc. Defined in the executable, these two take the place of glibc's
 * for every shared library and go through pthread_create/pthread_join,
 * which TSan intercepts, so the threads are registered (and their start
 * and join order the threads around them). Same semantics as glibc's
 * (nptl/thrd_create.c, thrd_join.c): thrd_t is a pthread_t, the int
 * result travels as the thread's void * result, errors map as in
 * thrd_err_map().
 *
 * librdkafka's locks (mtx_*, cnd_*, its rwlocks) stay invisible to TSan,
 * like everything else inside it: tests/tsan.supp ignores the library
 * (called_from_lib), see there.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t");

static int err_map(int rc)
{
    switch (rc) {
    case 0:
        return thrd_success;
    case ENOMEM:
        return thrd_nomem;
    case ETIMEDOUT:
        return thrd_timedout;
    case EBUSY:
        return thrd_busy;
    default:
        return thrd_error;
    }
}

struct start {
    thrd_start_t fn;
    void *arg;
};

static void *run(void *p)
{
    struct start s = *(struct start *)p;

    free(p);
    return (void *)(intptr_t)s.fn(s.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
    struct start *s = malloc(sizeof(*s));
    pthread_t t;
    int rc;

    if (s == NULL) {
        return thrd_nomem;
    }
    s->fn = fn;
    s->arg = arg;
    rc = pthread_create(&t, NULL, run, s);
    if (rc != 0) {
        free(s);
        return err_map(rc);
    }
    *thr = t;
    return thrd_success;
}

int thrd_join(thrd_t thr, int *res)
{
    void *p;
    int rc = pthread_join(thr, &p);

    if (rc == 0 && res != NULL) {
        *res = (int)(intptr_t)p;
    }
    return err_map(rc);
}
