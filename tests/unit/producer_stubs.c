/* producer_stubs.c -- producer.h as the pipeline uses it: sends are
 * recorded, their results and delivery reports are the test's. See
 * stubs.h. */
#include <string.h>

#include "producer.h"
#include "stubs.h"

struct producer {
    producer_dr_fn *dr;
    void *arg;
};

static struct producer the_producer;
struct stub_send stub_sends[STUB_MAX];
size_t stub_n_sends;
static enum hw_rc next_rc;
static int next_times;

struct producer *producer_create(const struct conf *cf, int bell,
                                 producer_dr_fn *dr, void *arg, char *errstr,
                                 size_t errstr_size)
{
    (void)cf;
    (void)bell;
    (void)errstr;
    (void)errstr_size;
    the_producer.dr = dr;
    the_producer.arg = arg;
    return &the_producer;
}

/* What is still in flight gets its report, as librdkafka's purge does. */
void producer_destroy(struct producer *p, int flush_ms)
{
    (void)flush_ms;
    for (size_t i = 0; i < stub_n_sends && i < STUB_MAX; i++) {
        if (!stub_sends[i].reported) {
            stub_sends[i].reported = true;
            p->dr(p->arg, stub_sends[i].j, HW_ERR_UNAVAILABLE, "_PURGE_QUEUE");
        }
    }
}

static enum hw_rc record_send(struct job *j, bool dlq)
{
    enum hw_rc rc = next_times > 0 ? next_rc : HW_OK;

    next_times -= next_times > 0;
    if (rc == HW_OK) {
        stub_sends[stub_n_sends++ % STUB_MAX] =
            (struct stub_send){j, dlq, j->dlq_form, false, j->out.kind};
    }
    return rc;
}

enum hw_rc producer_output(struct producer *p, struct job *j, const void *value,
                           size_t len)
{
    (void)p;
    (void)value;
    (void)len;
    return record_send(j, false);
}

enum hw_rc producer_dlq(struct producer *p, struct job *j)
{
    (void)p;
    return record_send(j, true);
}

void stub_produce_returns(enum hw_rc rc, int times)
{
    next_rc = rc;
    next_times = times;
}

void stub_deliver(size_t i, enum hw_rc rc)
{
    struct stub_send *s = &stub_sends[i % STUB_MAX];

    s->reported = true;
    the_producer.dr(the_producer.arg, s->j, rc,
                    rc == HW_OK ? "" : "MSG_SIZE_TOO_LARGE");
}

void stub_producer_reset(void)
{
    memset(stub_sends, 0, sizeof(stub_sends));
    stub_n_sends = 0;
    next_times = 0;
}

void producer_poll(struct producer *p)
{
    (void)p;
}

const char *producer_errstr(const struct producer *p)
{
    (void)p;
    return "STUB";
}

const char *producer_fatal(struct producer *p)
{
    (void)p;
    return NULL;
}
