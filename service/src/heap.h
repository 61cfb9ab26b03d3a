/* heap.h -- a binary min-heap of (due time, item) pairs: timers.
 *
 * Owned by its user; not thread-safe. Items are borrowed pointers.
 */
#ifndef HEAP_H
#define HEAP_H

#include <stddef.h>
#include <stdint.h>

struct heap_entry {
    int64_t due;
    void *item;
};

struct heap {
    struct heap_entry *v;
    size_t n, cap;
};

void heap_push(struct heap *h, int64_t due, void *item);
/* The earliest entry; h->n must be > 0. */
struct heap_entry heap_pop(struct heap *h);
/* The earliest due time, or INT64_MAX when empty. */
int64_t heap_next_due(const struct heap *h);
/* Removes item if present (O(n)); returns whether it was there. */
int heap_remove(struct heap *h, const void *item);
void heap_deinit(struct heap *h);

#endif
