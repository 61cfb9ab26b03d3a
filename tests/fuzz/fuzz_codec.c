/* fuzz_codec.c -- libFuzzer target: untrusted Kafka message bytes through
 * the codec (both framings, all three input records, schema resolution)
 * and validation. The first input byte picks the expected record; the
 * rest is the message. Decoded events are re-encoded and decoded again:
 * what we accept, we can write back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"

static struct codec *cd;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char errstr[256];

    (void)argc;
    (void)argv;
    log_min_level = LL_ERROR + 1;
    cd = codec_create(errstr, sizeof(errstr));
    if (cd == NULL) {
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct event ev = {0}, again = {0};
    struct buf b = {0};
    char errstr[512];
    enum event_kind kind;

    if (size < 1) {
        return 0;
    }
    kind = (enum event_kind)(data[0] % 3);
    if (codec_decode(cd, kind, data + 1, size - 1, &ev, errstr,
                     sizeof(errstr)) == HW_OK) {
        if (event_validate(&ev, hw_now_ms(), errstr, sizeof(errstr)) == HW_OK &&
            (codec_encode(cd, &ev, NULL, &b, errstr, sizeof(errstr)) != HW_OK ||
             codec_decode(cd, kind, b.p, b.len, &again, errstr,
                          sizeof(errstr)) != HW_OK ||
             strcmp(again.event_id, ev.event_id) != 0)) {
            abort(); /* accepted, yet not written back faithfully */
        }
    }
    event_clear(&ev);
    event_clear(&again);
    buf_deinit(&b);
    return 0;
}
