/* test_smap.c -- the string map: insert, replace, delete, growth; the
 * hash is seeded per map, so keys built to collide in unseeded FNV-1a
 * (they differ only in each byte's top bit, which never reaches the low
 * 7 bits of its state) spread over the slots. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "smap.h"
#include "testhelp.h"

static void test_seeded(void)
{
    struct smap *a = smap_create(), *b = smap_create();
    char key[9] = {0};
    bool seen[64] = {false};
    int slots = 0;

    /* two maps, two seeds: a 64-bit hash agreeing is a 2^-64 chance */
    CHECK(smap_hash(a, "alice") != smap_hash(b, "alice"));
    CHECK(smap_hash(a, "alice") == smap_hash(a, "alice"));
    /* 64 keys of 'a' (0x61) or 0xe1 per byte: one slot of 64 unseeded */
    for (unsigned k = 0; k < 64; k++) {
        uint64_t slot;

        for (int i = 0; i < 8; i++) {
            key[i] = (char)(i < 6 && ((k >> i) & 1) ? 0xe1 : 0x61);
        }
        slot = smap_hash(a, key) & 63;
        slots += !seen[slot];
        seen[slot] = true;
    }
    CHECK(slots >= 16); /* about 40 expected; below 16 is ~1e-12 */
    smap_destroy(a);
    smap_destroy(b);
}

int main(void)
{
    struct smap *m = smap_create();
    int vals[5000];
    char key[32];
    int ok = 1;

    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "booking:%d", i);
        vals[i] = i;
        smap_put(m, key, &vals[i]);
    }
    CHECK_INT(smap_size(m), 5000);
    for (int i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof(key), "booking:%d", i);
        smap_del(m, key);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "booking:%d", i);
        ok &= smap_get(m, key) == (i % 2 ? &vals[i] : NULL);
    }
    CHECK(ok);
    CHECK_INT(smap_size(m), 2500);
    smap_put(m, "booking:1", &vals[7]);
    CHECK(smap_get(m, "booking:1") == &vals[7]);
    CHECK_INT(smap_size(m), 2500);
    /* churn: tombstones must not fill the table */
    for (int r = 0; r < 20000; r++) {
        snprintf(key, sizeof(key), "churn:%d", r);
        smap_put(m, key, &vals[0]);
        smap_del(m, key);
    }
    CHECK_INT(smap_size(m), 2500);
    CHECK(smap_get(m, "churn:5") == NULL);
    smap_destroy(m);
    test_seeded();
    return TEST_REPORT();
}
