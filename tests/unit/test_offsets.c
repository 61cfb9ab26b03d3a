/* test_offsets.c -- the store point only moves over contiguous work. */
#include "offsets.h"
#include "testhelp.h"

int main(void)
{
    struct offsets *o = offsets_create();
    int64_t store = -1;

    for (int64_t off = 10; off < 15; off++) {
        offsets_begin(o, "t", 0, off);
    }
    offsets_begin(o, "t", 1, 100);
    CHECK_INT(offsets_in_flight(o), 6);
    CHECK(!offsets_done(o, "t", 0, 12, &store)); /* 10, 11 still running */
    CHECK(!offsets_done(o, "t", 0, 11, &store));
    CHECK(offsets_done(o, "t", 0, 10, &store));
    CHECK_INT(store, 13);                        /* 10, 11, 12 are all done */
    CHECK(!offsets_done(o, "t", 0, 12, &store)); /* twice: ignored */
    CHECK(offsets_done(o, "t", 1, 100, &store));
    CHECK_INT(store, 101);
    CHECK(!offsets_done(o, "t", 2, 5, &store)); /* unknown partition */
    CHECK_INT(offsets_in_flight(o), 2);
    /* the ring wraps and grows */
    for (int64_t off = 15; off < 300; off++) {
        offsets_begin(o, "t", 0, off);
    }
    for (int64_t off = 299; off > 13; off--) {
        CHECK(!offsets_done(o, "t", 0, off, &store) || off == 14);
    }
    CHECK(offsets_done(o, "t", 0, 13, &store));
    CHECK_INT(store, 300);
    CHECK_INT(offsets_in_flight(o), 0);
    offsets_begin(o, "t", 0, 300);
    offsets_forget(o, "t", 0);
    CHECK_INT(offsets_in_flight(o), 0);
    CHECK(!offsets_done(o, "t", 0, 300, &store));
    /* offsets that go back (a reset to earliest) restart the record */
    offsets_begin(o, "t", 3, 400);
    offsets_begin(o, "t", 3, 401);
    offsets_begin(o, "t", 3, 5);
    CHECK_INT(offsets_in_flight(o), 1);
    CHECK(offsets_done(o, "t", 3, 5, &store));
    CHECK_INT(store, 6);
    offsets_destroy(o);
    return TEST_REPORT();
}
