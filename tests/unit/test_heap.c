/* test_heap.c -- the timer heap: order, removal. */
#include <stdint.h>
#include <stdlib.h>

#include "heap.h"
#include "testhelp.h"

int main(void)
{
    struct heap h = {0};
    int items[200];
    int64_t last = INT64_MIN;
    int ordered = 1;

    CHECK(heap_next_due(&h) == INT64_MAX);
    srand(7);
    for (int i = 0; i < 200; i++) {
        items[i] = i;
        heap_push(&h, rand() % 1000, &items[i]);
    }
    CHECK(heap_remove(&h, &items[17]) == 1);
    CHECK(heap_remove(&h, &items[17]) == 0);
    CHECK_INT(h.n, 199);
    while (h.n > 0) {
        struct heap_entry e = heap_pop(&h);

        ordered &= e.due >= last && e.item != &items[17];
        last = e.due;
    }
    CHECK(ordered);
    heap_deinit(&h);
    return TEST_REPORT();
}
