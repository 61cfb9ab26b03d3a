/* test_smap.c -- the string map: insert, replace, delete, growth. */
#include <stdio.h>

#include "smap.h"
#include "testhelp.h"

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
    return TEST_REPORT();
}
