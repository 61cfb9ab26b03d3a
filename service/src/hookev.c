/* hookev.c -- a webhook body checked into an input event, and checked
 * reads of its "data" (hookev.h). Used by the pipeline (decode, order key)
 * and the engine (reads of a job's own event). */
#include "hookev.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOOK_ID_MAX 128
#define ROOM_ID_CHARS                                                          \
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
#define HOOK_STR_MAX 256

static bool shaped(const char *s, size_t max, const char *allowed)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (n == 0 || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (allowed != NULL ? strchr(allowed, s[i]) == NULL
                            : iscntrl((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

enum hw_rc hookev_decode(const void *buf, size_t len, struct event *ev,
                         char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *id = json_string_value(json_object_get(j, "id"));
    const json_t *data = json_object_get(j, "data");
    const char *why = NULL;

    if (!json_is_object(j)) {
        why = "not a JSON object";
    } else if (!shaped(id, HOOK_ID_MAX, NULL)) {
        why = "no id of 1-128 bytes";
    } else if (!json_is_string(json_object_get(j, "type"))) {
        why = "no type";
    } else if (!json_is_object(data)) {
        why = "no data object";
    } else if (!shaped(json_string_value(json_object_get(data, "room_id")), 64,
                       ROOM_ID_CHARS)) {
        why = "no data.room_id of a 100ms id's shape";
    }
    if (why != NULL) {
        snprintf(errstr, errstr_size, "webhook: %s", why);
        json_decref(j);
        return HW_ERR_DECODE;
    }
    ev->kind = EVENT_WEBHOOK;
    ev->event_id = xstrdup(id);
    ev->hook = j;
    return HW_OK;
}

const char *hookev_type_name(const struct event *ev)
{
    const char *t = json_string_value(json_object_get(ev->hook, "type"));

    return shaped(t, 64, "abcdefghijklmnopqrstuvwxyz._") ? t : "unknown";
}

enum hook_type hookev_type(const struct event *ev)
{
    static const struct {
        const char *name;
        enum hook_type type;
    } types[] = {
        {"session.open.success", HOOK_SESSION_OPEN},
        {"session.close.success", HOOK_SESSION_CLOSE},
        {"peer.join.success", HOOK_PEER_JOIN},
        {"peer.leave.success", HOOK_PEER_LEAVE},
        {"recording.success", HOOK_RECORDING},
        {"hls.started.success", HOOK_HLS_STARTED},
        {"hls.stopped.success", HOOK_HLS_STOPPED},
        {"hls.failure", HOOK_HLS_FAILURE},
        {"beam.recording.success", HOOK_BEAM_RECORDING},
    };
    const char *t = hookev_type_name(ev);

    for (size_t i = 0; i < HW_ARRAY_LEN(types); i++) {
        if (strcmp(t, types[i].name) == 0) {
            return types[i].type;
        }
    }
    return HOOK_OTHER;
}

const char *hookev_str(const struct event *ev, const char *field)
{
    const char *s = json_string_value(
        json_object_get(json_object_get(ev->hook, "data"), field));

    return shaped(s, HOOK_STR_MAX, NULL) ? s : NULL;
}

static const json_t *data_field(const struct event *ev, const char *field)
{
    return json_object_get(json_object_get(ev->hook, "data"), field);
}

const char *hookev_url(const struct event *ev, const char *field)
{
    const char *s = json_string_value(data_field(ev, field));

    return shaped(s, 2048, NULL) && strncmp(s, "https://", 8) == 0 &&
                   strchr(s, ' ') == NULL
               ? s
               : NULL;
}

const char *hookev_path(const struct event *ev, const char *field)
{
    const char *s = json_string_value(data_field(ev, field));

    return shaped(s, 1024, NULL) ? s : NULL;
}

int64_t hookev_count(const struct event *ev, const char *field)
{
    const json_t *v = data_field(ev, field);

    return json_is_integer(v) && json_integer_value(v) >= 0
               ? (int64_t)json_integer_value(v)
               : -1;
}

int64_t hookev_time_ms(const struct event *ev, const char *field)
{
    int64_t ms = hw_rfc3339_ms(
        field != NULL
            ? hookev_str(ev, field)
            : json_string_value(json_object_get(ev->hook, "timestamp")));

    return ms >= 0 ? ms : INT64_MIN; /* 0001-01-01T00:00:00Z: "none" */
}

char *hookev_order_key(const struct event *ev)
{
    const char *name = hookev_str(ev, "room_name");
    char *key;

    if (name == NULL) {
        return xasprintf("room:%s", hookev_str(ev, "room_id"));
    }
    key = xstrdup(name);
    for (char *p = key; *p != '\0'; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    return key;
}
