/* smap.c -- open-addressing string map: linear probing over a power-of-two
 * table (64 slots to start). A deleted key leaves a tombstone; a put that
 * would fill 3/4 of the table, tombstones included, doubles it, or
 * rehashes it in place when few keys are live. Users: the consumer
 * thread's subject FIFOs, and short-lived sets in event.c and rules.c
 * (duplicate users, stale tokens) that keep long user lists linear.
 *
 * Keys are user ids from input, so the hash is seeded (review B17):
 * FNV-1a from a per-map seed (a random process seed drawn once from
 * getrandom, mixed with a per-map counter), then a 64-bit finaliser so
 * every bit of the state reaches the slot bits (FNV-1a's low bits ignore
 * the high bits of each byte). Not a cryptographic PRF, as SipHash would
 * be: colliding keys are no longer free to make, and the participant cap
 * (event.h, EVENT_PARTICIPANTS_MAX) bounds the worst case anyway. */
#include "smap.h"

#include <stdbool.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "hw.h"

static char tombstone[1];

struct slot {
    char *key; /* NULL: empty; tombstone: deleted */
    void *value;
};

struct smap {
    struct slot *s;
    size_t cap, used, live; /* used counts tombstones too */
    uint64_t seed;
};

static pthread_once_t seed_once = PTHREAD_ONCE_INIT;
static uint64_t process_seed;
static atomic_uint_fast64_t maps_made;

/* splitmix64's finaliser: every input bit reaches every output bit. */
static uint64_t mix(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Without getrandom (ENOSYS, a seccomp filter), the clock and an ASLR'd
 * address: weaker, still not known in advance. */
static void draw_seed(void)
{
    if (getrandom(&process_seed, sizeof(process_seed), 0) !=
        (ssize_t)sizeof(process_seed)) {
        process_seed = (uint64_t)hw_now_ms() ^ (uint64_t)(uintptr_t)&seed_once;
    }
}

static uint64_t hash(const struct smap *m, const char *k)
{
    uint64_t h = 1469598103934665603ULL ^ m->seed; /* FNV-1a, seeded */

    for (; *k != '\0'; k++) {
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    }
    return mix(h);
}

struct smap *smap_create(void)
{
    struct smap *m = xcalloc(1, sizeof(*m));

    pthread_once(&seed_once, draw_seed);
    m->seed = mix(process_seed + atomic_fetch_add(&maps_made, 1));
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
    for (size_t i = hash(m, key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
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
            size_t j = hash(m, old[i].key) & (m->cap - 1);

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
    for (i = hash(m, key) & (m->cap - 1);
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

uint64_t smap_hash(const struct smap *m, const char *key)
{
    return hash(m, key);
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
