/* engine_stubs.c -- engine.h as the pipeline uses it: jobs submitted are
 * recorded, and come back when the test finishes them. See stubs.h. */
#include <stdio.h>
#include <stdlib.h>

#include "engine.h"
#include "stubs.h"

struct engine {
    struct job *out; /* finished, oldest first */
};

static struct engine the_engine;
struct job *stub_engine_jobs[STUB_MAX];
size_t stub_engine_n;
bool stub_engine_degraded;

struct engine *engine_start(const struct conf *cf, char *errstr,
                            size_t errstr_size)
{
    (void)cf;
    (void)errstr;
    (void)errstr_size;
    the_engine.out = NULL;
    stub_engine_n = 0;
    return &the_engine;
}

void engine_submit(struct engine *e, struct job *j)
{
    (void)e;
    stub_engine_jobs[stub_engine_n++ % STUB_MAX] = j;
}

void stub_engine_finish(struct job *j, enum job_outcome o)
{
    struct job **at = &the_engine.out;

    j->outcome = o;
    j->next = NULL;
    while (*at != NULL) {
        at = &(*at)->next;
    }
    *at = j;
}

void engine_turn(struct engine *e, int max_wait_ms, int bell)
{
    (void)e;
    (void)max_wait_ms;
    (void)bell;
}

struct job *engine_take(struct engine *e)
{
    struct job *all = e->out;

    e->out = NULL;
    return all;
}

bool engine_degraded(const struct engine *e)
{
    (void)e;
    return stub_engine_degraded;
}

void engine_health(const struct engine *e, bool *redis_up, bool *api_up)
{
    (void)e;
    *redis_up = *api_up = true;
}

bool engine_halted(struct engine *e, char *why, size_t n)
{
    (void)e;
    snprintf(why, n, "%s", "");
    return false;
}

void engine_stop(struct engine *e)
{
    (void)e; /* the test frees what it left in the engine */
}
