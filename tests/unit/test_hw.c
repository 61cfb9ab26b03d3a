/* test_hw.c -- saturating time arithmetic: values from input never
 * overflow (an ends_at of Long.MAX_VALUE once did, in the hash expiry). */
#include <stdint.h>

#include "hw.h"
#include "testhelp.h"

int main(void)
{
    CHECK(hw_sat_add(1, 2) == 3);
    CHECK(hw_sat_add(INT64_MAX, 1) == INT64_MAX);
    CHECK(hw_sat_add(INT64_MAX / 1000, 86400) == INT64_MAX / 1000 + 86400);
    CHECK(hw_sat_add(INT64_MIN, -1) == INT64_MIN);
    CHECK(hw_sat_add(INT64_MIN, INT64_MAX) == -1);
    CHECK(hw_sat_mul(9223372036854775LL, 1000) == 9223372036854775000LL);
    CHECK(hw_sat_mul(9223372036854776LL, 1000) == INT64_MAX);
    CHECK(hw_sat_mul(-9223372036854776LL, 1000) == INT64_MIN);
    CHECK(hw_sat_mul(INT64_MIN, -1) == INT64_MAX);
    CHECK(hw_sat_mul(0, INT64_MAX) == 0);
    return TEST_REPORT();
}
