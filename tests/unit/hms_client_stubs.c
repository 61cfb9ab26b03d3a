/* hms_client_stubs.c -- hms_client.h as the handler uses it, recording
 * calls for the test to answer. See stubs.h. */
#include <stdio.h>
#include <string.h>

#include "stubs.h"

struct stub_call stub_calls[STUB_MAX];
size_t stub_n_calls;
int64_t stub_last_answer;
int64_t stub_clock_ahead_s;

void hms_client_call(struct hms_client *hc, const char *method,
                     const char *path, const json_t *body, int64_t started_mono,
                     int64_t deadline_mono, hms_done_fn *done, void *arg)
{
    struct stub_call *c = &stub_calls[stub_n_calls++ % STUB_MAX];

    (void)hc;
    (void)started_mono;
    snprintf(c->method, sizeof(c->method), "%s", method);
    snprintf(c->path, sizeof(c->path), "%s", path);
    c->body = body != NULL ? json_deep_copy(body) : NULL;
    c->done = done;
    c->arg = arg;
    c->answered = false;
    c->deadline = deadline_mono;
}

int64_t hms_client_last_answer(const struct hms_client *hc)
{
    (void)hc;
    return stub_last_answer;
}

int64_t hms_client_clock_ahead_s(const struct hms_client *hc)
{
    (void)hc;
    return stub_clock_ahead_s;
}

bool hms_client_tripped(const struct hms_client *hc)
{
    (void)hc;
    return false;
}

void stub_hms_answer(size_t i, enum hw_rc rc, long status, const char *body,
                     bool deadline)
{
    struct stub_call *c = &stub_calls[i % STUB_MAX];
    json_t *b = body != NULL ? json_loads(body, 0, NULL) : NULL;
    char err[64];
    struct hms_result r = {rc, status, b, err, 1, deadline};

    snprintf(err, sizeof(err), "HTTP %ld", status);
    c->answered = true;
    c->done(c->arg, &r);
    json_decref(b);
}
