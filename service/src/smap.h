/* smap.h -- a string-keyed hash map of borrowed pointers (open
 * addressing, linear probing, tombstones). Keys are copied. One thread.
 */
#ifndef SMAP_H
#define SMAP_H

#include <stddef.h>
#include <stdint.h>

struct smap;

struct smap *smap_create(void);
void smap_destroy(struct smap *m);
void *smap_get(const struct smap *m, const char *key);
/* Inserts or replaces. */
void smap_put(struct smap *m, const char *key, void *value);
void smap_del(struct smap *m, const char *key);
size_t smap_size(const struct smap *m);
/* The hash of key in m (its slot is hash & (capacity - 1)): for tests. */
uint64_t smap_hash(const struct smap *m, const char *key);
/* Calls fn for every entry; fn must not change the map. */
void smap_each(const struct smap *m, void (*fn)(void *value, void *arg),
               void *arg);

#endif
