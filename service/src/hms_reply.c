/* hms_reply.c -- checked reads of 100ms replies: each reader takes one
 * JSON path and keeps the value only if shaped() (length, alphabet) or the
 * URL test passes, else NULL, so nothing from a reply reaches a URL, a
 * Redis key or a link unchecked; the hms_reply_is_* tests are those
 * shapes alone, for values read back from Redis (rules.c). Called by the
 * engine (handler.c, renew.c; hms_client.c's 403 test); fuzzed by
 * fuzz_hms_reply. */
#include "hms_reply.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static bool shaped(const char *s, const char *allowed, size_t max)
{
    size_t n = s != NULL ? strlen(s) : 0;

    return n >= 1 && n <= max && strspn(s, allowed) == n;
}

bool hms_reply_is_room_id(const char *s)
{
    return shaped(s,
                  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789_-",
                  64);
}

bool hms_reply_is_code(const char *s)
{
    return shaped(s, "abcdefghijklmnopqrstuvwxyz0123456789-", 64);
}

bool hms_reply_is_role(const char *s)
{
    return s != NULL && s[0] != '\0' && strlen(s) <= 256;
}

const char *hms_reply_room_id(const json_t *room)
{
    const char *id = json_string_value(json_object_get(room, "id"));

    return hms_reply_is_room_id(id) ? id : NULL;
}

json_t *hms_reply_enabled_codes(const json_t *reply)
{
    json_t *codes = json_array(), *code;
    size_t i;

    json_array_foreach(json_object_get(reply, "data"), i, code)
    {
        const char *c = json_string_value(json_object_get(code, "code"));
        const char *role = json_string_value(json_object_get(code, "role"));

        if (json_is_true(json_object_get(code, "enabled")) &&
            hms_reply_is_code(c) && hms_reply_is_role(role)) {
            json_array_append_new(codes, json_pack("{s:s, s:s, s:b}", "code", c,
                                                   "role", role, "enabled", 1));
        }
    }
    return codes;
}

bool hms_reply_has_role(const json_t *codes, const char *role)
{
    const json_t *code;
    size_t i;

    json_array_foreach(codes, i, code)
    {
        if (strcmp(json_string_value(json_object_get(code, "role")), role) ==
            0) {
            return true;
        }
    }
    return false;
}

bool hms_reply_says_disabled(const json_t *reply)
{
    static const char word[] = "disabled";
    const char *m = json_string_value(json_object_get(reply, "message"));

    for (; m != NULL && *m != '\0'; m++) {
        size_t i = 0;

        while (i < sizeof(word) - 1 &&
               tolower((unsigned char)m[i]) == (unsigned char)word[i]) {
            i++;
        }
        if (i == sizeof(word) - 1) {
            return true;
        }
    }
    return false;
}

const char *hms_reply_hls_url(const json_t *stream)
{
    const char *url = json_string_value(
        json_object_get(json_object_get(stream, "playback"), "url"));

    return url != NULL && strlen(url) <= 2048 &&
                   (strncmp(url, "https://", 8) == 0 ||
                    strncmp(url, "http://", 7) == 0) &&
                   strpbrk(url, " \r\n") == NULL
               ? url
               : NULL;
}

const char *hms_reply_stream_id(const json_t *stream)
{
    return hms_reply_room_id(stream); /* both are 24-hex ids */
}

enum hms_hls_status hms_reply_stream_status(const json_t *stream)
{
    static const struct {
        const char *name;
        enum hms_hls_status status;
    } names[] = {
        {"starting", HLS_STARTING}, {"running", HLS_RUNNING},
        {"stopping", HLS_STOPPED},  {"post_processing", HLS_STOPPED},
        {"completed", HLS_STOPPED}, {"failed", HLS_STOPPED},
    };
    const char *s = json_string_value(json_object_get(stream, "status"));

    for (size_t i = 0; s != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0) {
            return names[i].status;
        }
    }
    return HLS_UNKNOWN;
}

long hms_reply_retry_after_s(const json_t *reply)
{
    static const char phrase[] = "retry after ";
    const char *m = json_string_value(json_object_get(reply, "message"));
    const char *at = m != NULL ? strstr(m, phrase) : NULL;
    char *end;
    long n;

    if (at == NULL || !isdigit((unsigned char)at[sizeof(phrase) - 1])) {
        return -1;
    }
    n = strtol(at + sizeof(phrase) - 1, &end, 10);
    return strncmp(end, " second", 7) == 0 && n >= 0 && n <= 86400 ? n : -1;
}
