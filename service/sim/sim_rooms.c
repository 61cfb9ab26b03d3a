/* sim_rooms.c -- rooms and room codes of the 100ms API simulator
 * (docs/100ms-api.md sections 2.1 and 2.2). Rooms are kept by id
 * (a->rooms), by lower-cased name (a->names: the upsert matches names
 * case-insensitively, as 100ms does) and in creation order (a->order, for
 * listing); codes by code (a->codes) and per room (a->room_codes).
 * Handlers run with a->mu held. */
#define LOGMOD "sim_rooms"
#include "sim_api_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* documented: a room has at most 100 codes (room-codes API reference) */
#define CODES_PER_ROOM_MAX 100
/* stricter than documented: no name length limit is documented
 * (docs/100ms-api.md section 9, point 7) */
#define STRICT_ROOM_NAME_MAX 100

struct bad {
    const char *msg, *detail;
};

/* documented: names use a-z A-Z 0-9 . - : _ (Rooms/create-via-api.mdx);
 * inferred: a bad name is a 400, and so is an empty one. */
static bool valid_room_name(const char *s, bool strict)
{
    size_t n = strlen(s);

    return n > 0 && (!strict || n <= STRICT_ROOM_NAME_MAX) &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789.:_-") == n;
}

/* The lower-cased copy of s (names match case-insensitively); caller
 * frees. */
static char *lower_dup(const char *s)
{
    char *d = xstrdup(s);

    for (char *p = d; *p != '\0'; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    return d;
}

static bool int_in(const json_t *v, json_int_t lo, json_int_t hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo &&
           json_integer_value(v) <= hi;
}

static bool one_of(const json_t *v, const char *const *set)
{
    for (size_t i = 0; json_is_string(v) && set[i] != NULL; i++) {
        if (strcmp(json_string_value(v), set[i]) == 0) {
            return true;
        }
    }
    return false;
}

static const char *const regions[] = {"eu", "in", "us", "auto", NULL};

/* Validates the create/update fields 100ms documents (section 2.1). The
 * messages are the documented ones (Rooms/create-via-api.mdx) except where
 * a detail says what is wrong: for those the status is inferred. */
static bool check_room_body(struct sim_api *a, const json_t *b, bool update,
                            struct bad *bad)
{
    const json_t *v;
    bool large = json_is_true(json_object_get(b, "large_room"));
    bool strict = a->tune.strict;

    *bad = (struct bad){"Invalid body param", NULL};
    /* documented, all but the commented ones: the create-room 400s */
    if (json_object_get(b, "template") != NULL) {
        bad->msg = "Invalid body param: template. Use template_id";
    } else if ((v = json_object_get(b, "name")) != NULL &&
               (!json_is_string(v) ||
                !valid_room_name(json_string_value(v), strict))) {
        bad->detail = strict
                          ? "name: use 1-100 characters of a-z A-Z 0-9 . - : _"
                          : "name: use characters of a-z A-Z 0-9 . - : _";
    } else if ((v = json_object_get(b, "description")) != NULL &&
               !json_is_string(v)) {
        /* inferred: a documented field of the wrong type */
        bad->detail = "description: expected a string";
    } else if ((v = json_object_get(b, "template_id")) != NULL &&
               (!json_is_string(v) ||
                sim_conf_template(a->cf, json_string_value(v)) == NULL)) {
        bad->msg = "Error: template not found";
    } else if ((v = json_object_get(b, "region")) != NULL &&
               !one_of(v, regions)) {
        bad->msg = "Error: region not supported";
    } else if ((v = json_object_get(b, "max_duration_seconds")) != NULL &&
               !int_in(v, 120, 43200)) {
        bad->msg = int_in(v, INT64_MIN, 119)
                       ? "Invalid body param: max_duration_seconds less "
                         "than 120 seconds"
                       : "Invalid body param: max_duration_seconds greater "
                         "than 43200 seconds";
    } else if ((v = json_object_get(b, "size")) != NULL &&
               !int_in(v, 0, large ? 20000 : 2500)) {
        bad->msg = large ? "Invalid body param: room size greater than 20000"
                         : "Invalid body param: room size greater than 2500, "
                           "set large_room flag as true";
    } else if ((v = json_object_get(b, "enabled")) != NULL &&
               ((!update && strict) || (update && !json_is_boolean(v)))) {
        /* documented: update takes a boolean enabled (disable-or-enable);
         * create does not document it: refusing it there is stricter than
         * documented, without strict it is ignored (apply_fields) */
        bad->detail = "enabled: a boolean, accepted on update only";
    } else {
        return true;
    }
    return false;
}

static const char *const room_fields[] = {
    "name",           "description", "template_id", "region",
    "recording_info", "large_room",  "size",        "max_duration_seconds",
    "webhook",        "polls",       "enabled",     NULL};

/* Copies the documented fields present in b onto room. From an upsert,
 * the name only matched case-insensitively and is kept as it was; enabled
 * is applied by an update only. */
static void apply_fields(struct sim_api *a, json_t *room, const json_t *b,
                         bool upsert, bool update, int64_t now_ms)
{
    const struct sim_template *t;

    sim_streams_advance(a, json_string_value(json_object_get(room, "id")),
                        now_ms); /* enabled or the template may change */
    for (size_t i = upsert ? 1 : 0; room_fields[i] != NULL; i++) {
        json_t *v = json_object_get(b, room_fields[i]);

        if (v != NULL && (update || strcmp(room_fields[i], "enabled") != 0)) {
            json_object_set(room, room_fields[i], v);
        }
    }
    t = sim_room_template(a, room);
    json_object_set_new(room, "template", json_string(t->name));
    if (json_object_get(room, "region") == NULL) {
        json_object_set_new(room, "region", json_string(t->region));
    }
    json_object_set_new(room, "updated_at", sim_time(now_ms, 3));
}

/* documented: without template_id, the default template (Rooms). */
static json_t *new_room(struct sim_api *a, const char *name, int64_t now_ms)
{
    char id[25];

    sim_new_id(a, id);
    return json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:{s:b}, s:s, s:o}", "id",
                     id, "name", name, "enabled", 1, "description", "",
                     "customer_id", a->cf->customer_id, "app_id", a->cf->app_id,
                     "recording_info", "enabled", 0, "template_id",
                     a->cf->templates[0].id, "created_at", sim_time(now_ms, 3));
}

static void index_name(struct sim_api *a, const char *name, const char *id)
{
    char *key = lower_dup(name);

    json_object_set_new(a->names, key, json_string(id));
    free(key);
}

static json_t *room_by_name(struct sim_api *a, const char *name)
{
    char *key = lower_dup(name);
    json_t *room =
        sim_room_get(a, json_string_value(json_object_get(a->names, key)));

    free(key);
    return room;
}

/* POST /v2/rooms. documented: an upsert by case-insensitive name that
 * applies the new payload (Rooms/create-via-api.mdx). An existing room's
 * `enabled` is left alone: unverified (nothing says an upsert re-enables);
 * documented: without a name 100ms generates a UUID-like one. */
void sim_h_room_create(struct sim_api *a, const struct sim_ctx *c,
                       struct sim_resp *r)
{
    const char *name = json_string_value(json_object_get(c->body, "name"));
    char gen[37];
    struct bad bad;
    json_t *room;
    bool upsert;

    if (!check_room_body(a, c->body, false, &bad)) {
        sim_resp_error(r, 400, bad.msg, bad.detail);
        return;
    }
    if (name == NULL) {
        sim_new_uuid(a, gen);
        name = gen;
    }
    room = room_by_name(a, name);
    upsert = room != NULL;
    if (room == NULL) {
        room = new_room(a, name, c->req->now_ms);
        json_object_set_new(
            a->rooms, json_string_value(json_object_get(room, "id")), room);
        json_array_append_new(a->order, json_copy(json_object_get(room, "id")));
        index_name(a, name, json_string_value(json_object_get(room, "id")));
    }
    apply_fields(a, room, c->body, upsert, false, c->req->now_ms);
    sim_reply(r, 200, json_deep_copy(room));
}

/* GET /v2/rooms?name=&enabled=. documented: enabled defaults to true,
 * items carry key "<customer_id>:<name>" (Rooms API reference); inferred:
 * the name matches exactly and case-insensitively, a non-boolean enabled
 * is a 400 (room codes document "Invalid query parameter"). */
void sim_h_room_list(struct sim_api *a, const struct sim_ctx *c,
                     struct sim_resp *r)
{
    const char *name = sim_query(c, "name");
    char *key;
    bool ok = true;
    bool enabled = sim_query_bool(c, "enabled", true, &ok);
    json_t *items = json_array(), *id;
    size_t i;

    if (!ok) {
        json_decref(items);
        sim_resp_error(r, 400, "Invalid query parameter", "enabled");
        return;
    }
    key = lower_dup(name != NULL ? name : "");
    json_array_foreach(a->order, i, id)
    {
        json_t *room = sim_room_get(a, json_string_value(id));
        char *lname =
            lower_dup(json_string_value(json_object_get(room, "name")));
        bool skip = sim_room_enabled(room) != enabled ||
                    (name != NULL && strcmp(lname, key) != 0);

        free(lname);
        if (skip) {
            continue;
        }
        room = json_deep_copy(room);
        json_object_set_new(
            room, "key",
            json_sprintf("%s:%s", a->cf->customer_id,
                         json_string_value(json_object_get(room, "name"))));
        json_array_append_new(items, room);
    }
    free(key);
    sim_reply(r, 200, sim_page(c, items, "id"));
}

/* documented: an unknown room id is a 404 (the general status table);
 * the message text is unverified. */
static json_t *room_or_404(struct sim_api *a, const struct sim_ctx *c,
                           struct sim_resp *r)
{
    json_t *room = sim_room_get(a, c->call->id);

    if (room == NULL) {
        sim_resp_error(r, 404, "Room not found", NULL);
    }
    return room;
}

void sim_h_room_get(struct sim_api *a, const struct sim_ctx *c,
                    struct sim_resp *r)
{
    json_t *room = room_or_404(a, c, r);

    if (room != NULL) {
        sim_reply(r, 200, json_deep_copy(room));
    }
}

/* POST /v2/rooms/{id}: documented: update any create field, or
 * enable/disable (Rooms/disable-or-enable.mdx). inferred: a name another
 * room has is a 400 (names are unique: create upserts by name). */
void sim_h_room_update(struct sim_api *a, const struct sim_ctx *c,
                       struct sim_resp *r)
{
    json_t *room = room_or_404(a, c, r), *other;
    const char *name = json_string_value(json_object_get(c->body, "name"));
    struct bad bad;

    if (room == NULL) {
        return;
    }
    if (!check_room_body(a, c->body, true, &bad)) {
        sim_resp_error(r, 400, bad.msg, bad.detail);
        return;
    }
    other = name == NULL ? NULL : room_by_name(a, name);
    if (other != NULL && other != room) {
        sim_resp_error(r, 400, "Invalid body param", "name: already in use");
        return;
    }
    if (name != NULL) {
        char *old = lower_dup(json_string_value(json_object_get(room, "name")));

        json_object_del(a->names, old);
        free(old);
        index_name(a, name, c->call->id);
    }
    apply_fields(a, room, c->body, false, true, c->req->now_ms);
    sim_reply(r, 200, json_deep_copy(room));
}

/* A room that exists and is enabled; otherwise 404/403 and NULL.
 * documented: the room-code calls answer 403 "Room is disabled"
 * (room-codes API reference). */
static json_t *usable_room(struct sim_api *a, const struct sim_ctx *c,
                           struct sim_resp *r)
{
    json_t *room = room_or_404(a, c, r);

    if (room != NULL && !sim_room_enabled(room)) {
        sim_resp_error(r, 403, "Room is disabled", NULL);
        return NULL;
    }
    return room;
}

static json_t *room_code_list(struct sim_api *a, const char *room_id)
{
    json_t *list = json_object_get(a->room_codes, room_id);

    if (list == NULL) {
        list = json_array();
        json_object_set_new(a->room_codes, room_id, list);
    }
    return list;
}

/* Creates a globally unique [a-z]{3}-[a-z]{4}-[a-z]{3} code (documented
 * format, room-codes API reference). Borrowed. */
static json_t *new_code(struct sim_api *a, const char *room_id,
                        const char *role, int64_t now_ms)
{
    char code[16];
    json_t *co;

    do {
        uint64_t x = sim_rand(a);

        for (int i = 0, j = 0; i < 12; i++) {
            code[i] =
                i == 3 || i == 8 ? '-' : (char)('a' + (x >> (5 * j++)) % 26);
        }
        code[12] = '\0';
    } while (json_object_get(a->codes, code) != NULL);
    co = json_pack("{s:s, s:s, s:s, s:b, s:o, s:o}", "code", code, "room_id",
                   room_id, "role", role, "enabled", 1, "created_at",
                   sim_time(now_ms, 0), "updated_at", sim_time(now_ms, 0));
    json_object_set_new(a->codes, code, co);
    json_array_append_new(room_code_list(a, room_id), json_string(code));
    return co;
}

static json_t *first_enabled_code(struct sim_api *a, const json_t *list,
                                  const char *role)
{
    json_t *code;
    size_t i;

    json_array_foreach(list, i, code)
    {
        json_t *co = json_object_get(a->codes, json_string_value(code));

        if (json_is_true(json_object_get(co, "enabled")) &&
            strcmp(json_string_value(json_object_get(co, "role")), role) == 0) {
            return co;
        }
    }
    return NULL;
}

/* POST /v2/room-codes/room/{id}: documented: one enabled code per
 * template role; new roles get codes, codes of roles the template no
 * longer has are disabled (create-room-code-api.mdx). inferred: a repeat
 * returns the same codes (the server SDK's CI relies on it). */
void sim_h_codes_create(struct sim_api *a, const struct sim_ctx *c,
                        struct sim_resp *r)
{
    json_t *room = usable_room(a, c, r), *list, *data, *code;
    const struct sim_template *t;
    size_t i;

    if (room == NULL) {
        return;
    }
    t = sim_room_template(a, room);
    list = room_code_list(a, c->call->id);
    json_array_foreach(list, i, code)
    {
        json_t *co = json_object_get(a->codes, json_string_value(code));

        if (!sim_template_has_role(
                t, json_string_value(json_object_get(co, "role")))) {
            json_object_set_new(co, "enabled", json_false());
        }
    }
    data = json_array();
    for (i = 0; i < t->n_roles; i++) {
        json_t *co = first_enabled_code(a, list, t->roles[i]);

        if (co == NULL) {
            co = new_code(a, c->call->id, t->roles[i], c->req->now_ms);
        }
        json_array_append_new(data, json_deep_copy(co));
    }
    sim_reply(r, 200, json_pack("{s:o}", "data", data));
}

/* POST /v2/room-codes/room/{id}/role/{role}: documented: always a new
 * code; 404 Role not found. documented: at most 100 codes a room; the 400
 * status past that is unverified. */
void sim_h_code_create_role(struct sim_api *a, const struct sim_ctx *c,
                            struct sim_resp *r)
{
    json_t *room = usable_room(a, c, r);

    if (room == NULL) {
        return;
    }
    if (!sim_template_has_role(sim_room_template(a, room), c->call->role)) {
        sim_resp_error(r, 404, "Role not found", NULL);
        return;
    }
    if (json_array_size(room_code_list(a, c->call->id)) >= CODES_PER_ROOM_MAX) {
        sim_resp_error(r, 400, "Room code limit reached",
                       "a room has at most 100 codes");
        return;
    }
    sim_reply(r, 200,
              json_deep_copy(
                  new_code(a, c->call->id, c->call->role, c->req->now_ms)));
}

/* GET /v2/room-codes/room/{id}?role=&enabled=. documented: 400 Invalid
 * query parameter, 404, 403 (room-codes API reference). */
void sim_h_codes_list(struct sim_api *a, const struct sim_ctx *c,
                      struct sim_resp *r)
{
    json_t *room = usable_room(a, c, r), *items, *code;
    const char *role = sim_query(c, "role");
    bool ok = true;
    bool has_enabled = sim_query(c, "enabled") != NULL;
    bool enabled = sim_query_bool(c, "enabled", true, &ok);
    size_t i;

    if (room == NULL) {
        return;
    }
    if (!ok) {
        sim_resp_error(r, 400, "Invalid query parameter", "enabled");
        return;
    }
    items = json_array();
    json_array_foreach(room_code_list(a, c->call->id), i, code)
    {
        json_t *co = json_object_get(a->codes, json_string_value(code));

        if ((role == NULL || strcmp(role, json_string_value(json_object_get(
                                              co, "role"))) == 0) &&
            (!has_enabled ||
             json_is_true(json_object_get(co, "enabled")) == enabled)) {
            json_array_append_new(items, json_deep_copy(co));
        }
    }
    sim_reply(r, 200, sim_page(c, items, "code"));
}

/* POST /v2/room-codes/code {"code", "enabled"}. documented: 404 Code not
 * found, 403 when it cannot be enabled (role or room gone), 400 for an
 * extra body field or a non-boolean enabled; the message texts are
 * unverified. */
void sim_h_code_update(struct sim_api *a, const struct sim_ctx *c,
                       struct sim_resp *r)
{
    static const char *const keys[] = {"code", "enabled", NULL};
    const char *bad_key = NULL;
    const json_t *code = json_object_get(c->body, "code");
    const json_t *en = json_object_get(c->body, "enabled");
    json_t *co, *room;

    if (!sim_only_keys(c->body, keys, &bad_key)) {
        sim_resp_error(r, 400, "Invalid body param", bad_key);
        return;
    }
    if (!json_is_string(code) || !json_is_boolean(en)) {
        sim_resp_error(r, 400, "Invalid body param",
                       "code must be a string and enabled a boolean");
        return;
    }
    co = json_object_get(a->codes, json_string_value(code));
    if (co == NULL) {
        sim_resp_error(r, 404, "Code not found", NULL);
        return;
    }
    room = sim_room_get(a, json_string_value(json_object_get(co, "room_id")));
    if (json_is_true(en) &&
        (!sim_room_enabled(room) ||
         !sim_template_has_role(
             sim_room_template(a, room),
             json_string_value(json_object_get(co, "role"))))) {
        sim_resp_error(r, 403, "Code cannot be enabled",
                       "its room is disabled or its role is gone");
        return;
    }
    json_object_set_new(co, "enabled", json_boolean(json_is_true(en)));
    json_object_set_new(co, "updated_at", sim_time(c->req->now_ms, 0));
    sim_reply(r, 200, json_deep_copy(co));
}
