/* smap.c -- open-addressing string map: linear probing over a power-of-two
 * table (FNV-1a, 64 slots to start). A deleted key leaves a tombstone; a
 * put that would fill 3/4 of the table, tombstones included, doubles it,
 * or rehashes it in place when few keys are live. Users: the consumer
 * thread's subject FIFOs, and short-lived sets in event.c and rules.c
 * (duplicate users, stale tokens) that keep 10,000-user lists linear. */
#include "smap.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hw.h"

static char tombstone[1];

struct slot {
    char *key; /* NULL: empty; tombstone: deleted */
    void *value;
};

struct smap {
    struct slot *s;
    size_t cap, used, live; /* used counts tombstones too */
};

static uint64_t hash(const char *k)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *k != '\0'; k++) {
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    }
    return h;
}

struct smap *smap_create(void)
{
    struct smap *m = xcalloc(1, sizeof(*m));

    m->cap = 64;
    m->s = xcalloc(m->cap, sizeof(*m->s));
    return m;
}

void smap_destroy(struct smap *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->s[i].key != NULL && m->s[i].key != tombstone) {
            free(m->s[i].key);
        }
    }
    free(m->s);
    free(m);
}

/* The slot holding key, or NULL. */
static struct slot *find_slot(const struct smap *m, const char *key)
{
    for (size_t i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct slot *s = &m->s[i];

        if (s->key == NULL) {
            return NULL;
        }
        if (s->key != tombstone && strcmp(s->key, key) == 0) {
            return s;
        }
    }
}

static void grow(struct smap *m)
{
    struct slot *old = m->s;
    size_t old_cap = m->cap;

    m->cap = m->live * 4 > m->cap ? m->cap * 2 : m->cap; /* else: rehash */
    m->s = xcalloc(m->cap, sizeof(*m->s));
    m->used = m->live = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].key != NULL && old[i].key != tombstone) {
            size_t j = hash(old[i].key) & (m->cap - 1);

            while (m->s[j].key != NULL) {
                j = (j + 1) & (m->cap - 1);
            }
            m->s[j] = old[i];
            m->used++;
            m->live++;
        }
    }
    free(old);
}

void *smap_get(const struct smap *m, const char *key)
{
    struct slot *s = find_slot(m, key);

    return s != NULL ? s->value : NULL;
}

void smap_put(struct smap *m, const char *key, void *value)
{
    struct slot *s = find_slot(m, key);
    size_t i;

    if (s != NULL) {
        s->value = value;
        return;
    }
    if ((m->used + 1) * 4 > m->cap * 3) {
        grow(m);
    }
    for (i = hash(key) & (m->cap - 1);
         m->s[i].key != NULL && m->s[i].key != tombstone;
         i = (i + 1) & (m->cap - 1)) {
    }
    m->used += m->s[i].key == NULL;
    m->s[i] = (struct slot){xstrdup(key), value};
    m->live++;
}

void smap_del(struct smap *m, const char *key)
{
    struct slot *s = find_slot(m, key);

    if (s != NULL) {
        free(s->key);
        s->key = tombstone;
        s->value = NULL;
        m->live--;
    }
}

size_t smap_size(const struct smap *m)
{
    return m->live;
}

void smap_each(const struct smap *m, void (*fn)(void *value, void *arg),
               void *arg)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->s[i].key != NULL && m->s[i].key != tombstone) {
            fn(m->s[i].value, arg);
        }
    }
}
