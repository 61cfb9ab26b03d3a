/* fuzz_hms_reply.c -- libFuzzer target: an untrusted 100ms reply body
 * through jansson and every checked read the handler makes of it. */
#include <stdint.h>
#include <string.h>

#include "hms_client.h"
#include "hms_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body, *codes;
    const char *id, *url;

    if (size > HMS_MAX_BODY) {
        return 0; /* the client refuses larger replies */
    }
    body = json_loadb((const char *)data, size, 0, NULL);
    id = hms_reply_room_id(body);
    url = hms_reply_hls_url(body);
    codes = hms_reply_enabled_codes(body);
    if ((id != NULL && strlen(id) > 64) ||
        (url != NULL && strlen(url) > 2048)) {
        __builtin_trap();
    }
    (void)hms_reply_has_role(codes, "host");
    (void)hms_reply_says_disabled(body);
    (void)hms_reply_stream_id(body);
    if (hms_reply_stream_status(body) > HLS_STOPPED ||
        hms_reply_retry_after_s(body) > 86400) {
        __builtin_trap();
    }
    json_decref(codes);
    json_decref(body);
    return 0;
}
