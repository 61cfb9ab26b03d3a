/* fuzz_webhook.c -- libFuzzer target: an untrusted webhook body through
 * the listener's envelope check (webhook_envelope_parse), as it arrives:
 * any bytes up to the largest WEBHOOK_MAX_BYTES. What it accepts must fit
 * the bounds the Kafka key and headers rely on. */
#include <stdint.h>
#include <string.h>

#include "webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct webhook_envelope e;
    char err[256];

    if (size > 1000000) {
        return 0; /* WEBHOOK_MAX_BYTES at most */
    }
    if (webhook_envelope_parse((const char *)data, size, &e, err,
                               sizeof(err)) == HW_OK) {
        size_t a = strlen(e.id), b = strlen(e.type), c = strlen(e.room_id);

        if (a == 0 || a > WEBHOOK_FIELD_MAX || b == 0 ||
            b > WEBHOOK_FIELD_MAX || c == 0 || c > WEBHOOK_FIELD_MAX) {
            __builtin_trap();
        }
    } else if (memchr(err, '\0', sizeof(err)) == NULL) {
        __builtin_trap(); /* the error text is a C string */
    }
    return 0;
}
