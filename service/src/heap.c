/* heap.c -- binary min-heap in one array (children of i at 2i+1, 2i+2),
 * doubled from 64 entries. Its users keep timers in it, each its own heap:
 * hms_client.c (retries due) and handler.c (parked jobs) on the engine
 * thread, hms-sim's resume timer under its mutex. heap_remove() is a linear
 * search; no module calls it today. */
#include "heap.h"

#include <stdlib.h>

#include "hw.h"

static void swap(struct heap_entry *a, struct heap_entry *b)
{
    struct heap_entry t = *a;

    *a = *b;
    *b = t;
}

static void sift_up(struct heap *h, size_t i)
{
    while (i > 0 && h->v[(i - 1) / 2].due > h->v[i].due) {
        swap(&h->v[(i - 1) / 2], &h->v[i]);
        i = (i - 1) / 2;
    }
}

static void sift_down(struct heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;

        if (l < h->n && h->v[l].due < h->v[m].due) {
            m = l;
        }
        if (r < h->n && h->v[r].due < h->v[m].due) {
            m = r;
        }
        if (m == i) {
            return;
        }
        swap(&h->v[i], &h->v[m]);
        i = m;
    }
}

void heap_push(struct heap *h, int64_t due, void *item)
{
    if (h->n == h->cap) {
        h->cap = h->cap == 0 ? 64 : h->cap * 2;
        h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
    }
    h->v[h->n] = (struct heap_entry){due, item};
    sift_up(h, h->n++);
}

struct heap_entry heap_pop(struct heap *h)
{
    struct heap_entry top = h->v[0];

    h->v[0] = h->v[--h->n];
    sift_down(h, 0);
    return top;
}

int64_t heap_next_due(const struct heap *h)
{
    return h->n > 0 ? h->v[0].due : INT64_MAX;
}

int heap_remove(struct heap *h, const void *item)
{
    for (size_t i = 0; i < h->n; i++) {
        if (h->v[i].item == item) {
            h->v[i] = h->v[--h->n];
            if (i < h->n) {
                sift_down(h, i);
                sift_up(h, i);
            }
            return 1;
        }
    }
    return 0;
}

void heap_deinit(struct heap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
