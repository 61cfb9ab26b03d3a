/* rules.c -- the contract's pure rules: room names (SHA-256 for ids 100ms
 * would not keep apart), token and hash expiry (saturating: times are
 * validated, and overflow stays impossible anyway), token holders, stale
 * tokens (a set of the new participants, so a re-booking of 10,000 users
 * stays linear), the role check against a template's codes, a booking's
 * room options for the create body, and the shapes of what is read back
 * from Redis (hms_reply.h's, so a hash value passes only what a 100ms
 * reply would). See rules.h. */
#include "rules.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "hms_reply.h"
#include "smap.h"

#define DAY_S 86400
#define TOKEN_MAX_S (90 * DAY_S)
#define HASH_MIN_S 3600 /* a hash lives at least an hour from now */

char *rules_room_name(enum subject_kind kind, const char *id)
{
    /* 100ms names are case-insensitive (docs/100ms-api.md section 2.1):
     * "B1" and "b1" would share a room, so only lower case stays as it is;
     * and "x-" starts the hashed names, so an id that does is hashed too */
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz0123456789._:-";
    const char *prefix = kind == SUBJECT_STREAM ? "ls" : "bk";
    size_t len = strlen(id);
    unsigned char md[SHA256_DIGEST_LENGTH];
    char hex[33];

    if (len >= 1 && len <= 64 && strspn(id, ok) == len &&
        strncmp(id, "x-", 2) != 0) {
        return xasprintf("%s-%s", prefix, id);
    }
    SHA256((const unsigned char *)id, len, md);
    for (int i = 0; i < 16; i++) {
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
    return xasprintf("%s-x-%s", prefix, hex);
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

int64_t rules_token_exp(const struct conf *cf, const struct event *ev,
                        const char *role, int64_t now_s)
{
    int64_t ttl = conf_app_token_ttl(cf, role), exp = now_s + ttl;

    if (ev->kind == EVENT_BOOKING_CREATED && ev->ends_at != EVENT_NO_TIME) {
        exp = max64(now_s + ttl,
                    hw_sat_add(ev->ends_at / 1000, cf->hms_token_grace_s));
    } else if (ev->kind == EVENT_BOOKING_CREATED) {
        exp = hw_sat_add(max64(now_s, ev->starts_at / 1000), ttl);
    }
    return exp < now_s + TOKEN_MAX_S ? exp : now_s + TOKEN_MAX_S;
}

int64_t rules_hash_expiry(const struct conf *cf, const struct event *ev,
                          int64_t now_s)
{
    if (ev->kind == EVENT_BOOKING_CREATED && ev->ends_at != EVENT_NO_TIME) {
        return max64(hw_sat_add(ev->ends_at / 1000, cf->cache_grace_s),
                     now_s + HASH_MIN_S);
    }
    return now_s + cf->cache_default_ttl_s;
}

size_t rules_holders(const struct event *in, struct participant *host,
                     const struct participant **list)
{
    if (in->kind == EVENT_STREAM_STARTED) {
        *host = (struct participant){in->host_user_id, in->host_display_name,
                                     in->host_role};
        *list = host;
        return 1;
    }
    *list = in->participants;
    return in->n_participants;
}

/* An id of an event (event.c): 1-256 bytes. */
static bool is_id(const char *s)
{
    return s != NULL && s[0] != '\0' && strlen(s) <= 256;
}

const char *rules_hash_tampered(const json_t *hash)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)(uintptr_t)hash, key, v)
    {
        const char *s = json_string_value(v);
        bool ok = true;

        if (s == NULL || strlen(s) != json_string_length(v)) {
            ok = false; /* a NUL inside would cut what is checked */
        } else if (strcmp(key, "room_id") == 0) {
            ok = hms_reply_is_room_id(s);
        } else if (strncmp(key, "code:", 5) == 0) {
            ok = hms_reply_is_role(key + 5) && hms_reply_is_code(s);
        } else if (strncmp(key, "role:", 5) == 0) {
            ok = is_id(key + 5) && hms_reply_is_role(s);
        }
        if (!ok) {
            return key;
        }
    }
    return NULL;
}

bool rules_subject_parse(const char *s, enum subject_kind *kind,
                         const char **id)
{
    if (s != NULL && strncmp(s, "booking:", 8) == 0 && is_id(s + 8)) {
        *kind = SUBJECT_BOOKING;
        *id = s + 8;
        return true;
    }
    if (s != NULL && strncmp(s, "stream:", 7) == 0 && is_id(s + 7)) {
        *kind = SUBJECT_STREAM;
        *id = s + 7;
        return true;
    }
    return false;
}

bool rules_hash_is(const json_t *hash, const char *field, const char *value)
{
    const char *v = json_string_value(json_object_get(hash, field));

    return v != NULL && strcmp(v, value) == 0;
}

size_t rules_stale_users(const json_t *hash, const char *room_id,
                         const struct participant *ps, size_t n,
                         const char ***out)
{
    const char *old_room = json_string_value(json_object_get(hash, "room_id"));
    struct smap *listed;
    const char *key;
    json_t *v;
    size_t count = 0;

    *out = xcalloc(json_object_size(hash) + 1, sizeof(char *));
    if (old_room == NULL || strcmp(old_room, room_id) != 0) {
        return 0; /* another room: its tokens are that room's */
    }
    listed = smap_create();
    for (size_t i = 0; i < n; i++) {
        smap_put(listed, ps[i].user_id, (void *)(uintptr_t)&ps[i]);
    }
    json_object_foreach((json_t *)(uintptr_t)hash, key, v)
    {
        if (strncmp(key, "role:", 5) == 0 &&
            smap_get(listed, key + 5) == NULL) {
            (*out)[count++] = key + 5;
        }
    }
    smap_destroy(listed);
    return count;
}

const char *rules_missing_role(const struct event *in, const json_t *codes)
{
    if (in->kind == EVENT_STREAM_STARTED) {
        return hms_reply_has_role(codes, in->host_role) ? NULL : in->host_role;
    }
    for (size_t i = 0; i < in->n_participants; i++) {
        if (!hms_reply_has_role(codes, in->participants[i].role)) {
            return in->participants[i].role;
        }
    }
    return NULL;
}

void rules_room_options(const struct event *in, json_t *body)
{
    if (in->region != NULL) {
        json_object_set_new(body, "region", json_string(in->region));
    }
    if (in->size.set) {
        json_object_set_new(body, "size", json_integer(in->size.v));
    }
    if (in->max_duration_seconds.set) {
        json_object_set_new(body, "max_duration_seconds",
                            json_integer(in->max_duration_seconds.v));
    }
}
