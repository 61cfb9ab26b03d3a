/* offsets.c -- contiguous completion per partition: a flat array of
 * partitions (a linear search: a worker holds tens), each with a ring of
 * in-flight offsets, doubled from 64 and ascending, so offsets_done()
 * finds one by binary search and pops the done prefix off the head. An
 * offset not above the last one begun (a reset to earliest) restarts the
 * ring. Consumer thread only; the caller stores what offsets_done() says. */
#include "offsets.h"

#include <stdlib.h>
#include <string.h>

#include "hw.h"

struct slot {
    int64_t offset;
    bool done;
};

struct part {
    char *topic;
    int32_t partition;
    struct slot *ring;
    size_t head, n, cap; /* n slots from head, circular */
};

struct offsets {
    struct part *parts;
    size_t n_parts;
    size_t in_flight;
};

struct offsets *offsets_create(void)
{
    return xcalloc(1, sizeof(struct offsets));
}

static void part_free(struct part *p)
{
    free(p->topic);
    free(p->ring);
}

void offsets_destroy(struct offsets *o)
{
    if (o == NULL) {
        return;
    }
    for (size_t i = 0; i < o->n_parts; i++) {
        part_free(&o->parts[i]);
    }
    free(o->parts);
    free(o);
}

static struct part *find_part(struct offsets *o, const char *topic, int32_t p,
                              bool create)
{
    for (size_t i = 0; i < o->n_parts; i++) {
        if (o->parts[i].partition == p &&
            strcmp(o->parts[i].topic, topic) == 0) {
            return &o->parts[i];
        }
    }
    if (!create) {
        return NULL;
    }
    o->parts = xrealloc(o->parts, (o->n_parts + 1) * sizeof(*o->parts));
    o->parts[o->n_parts] = (struct part){xstrdup(topic), p, NULL, 0, 0, 0};
    return &o->parts[o->n_parts++];
}

static struct slot *at(struct part *p, size_t i)
{
    return &p->ring[(p->head + i) % p->cap];
}

void offsets_begin(struct offsets *o, const char *topic, int32_t partition,
                   int64_t offset)
{
    struct part *p = find_part(o, topic, partition, true);

    if (p->n > 0 && offset <= at(p, p->n - 1)->offset) {
        /* Offsets went back (a reset to earliest): the old ones can no
         * longer complete usefully; start this partition afresh. */
        for (size_t k = 0; k < p->n; k++) {
            o->in_flight -= !at(p, k)->done;
        }
        p->n = 0;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap == 0 ? 64 : p->cap * 2;
        struct slot *ring = xmalloc(cap * sizeof(*ring));

        for (size_t i = 0; i < p->n; i++) {
            ring[i] = *at(p, i);
        }
        free(p->ring);
        p->ring = ring;
        p->cap = cap;
        p->head = 0;
    }
    *at(p, p->n++) = (struct slot){offset, false};
    o->in_flight++;
}

bool offsets_done(struct offsets *o, const char *topic, int32_t partition,
                  int64_t offset, int64_t *store)
{
    struct part *p = find_part(o, topic, partition, false);
    size_t lo = 0, hi = p != NULL ? p->n : 0;
    bool advanced = false;

    while (lo < hi) { /* binary search: the ring ascends */
        size_t mid = (lo + hi) / 2;

        if (at(p, mid)->offset < offset) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (p == NULL || lo == p->n || at(p, lo)->offset != offset ||
        at(p, lo)->done) {
        return false;
    }
    at(p, lo)->done = true;
    o->in_flight--;
    while (p->n > 0 && at(p, 0)->done) {
        *store = at(p, 0)->offset + 1;
        p->head = (p->head + 1) % p->cap;
        p->n--;
        advanced = true;
    }
    return advanced;
}

void offsets_forget(struct offsets *o, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < o->n_parts;) {
        struct part *p = &o->parts[i];

        if (topic == NULL ||
            (p->partition == partition && strcmp(p->topic, topic) == 0)) {
            for (size_t k = 0; k < p->n; k++) {
                o->in_flight -= !at(p, k)->done;
            }
            part_free(p);
            o->parts[i] = o->parts[--o->n_parts];
        } else {
            i++;
        }
    }
}

size_t offsets_in_flight(const struct offsets *o)
{
    return o->in_flight;
}
