/*
 * map.h — a string-keyed hash map with chaining, for topics and addresses.
 * Keys are copied; values are the caller's.  Buckets are allocated at the
 * first put (an empty map costs no memory; free(m->buckets) when done) and
 * double at load factor 1.
 */
#ifndef BRIDGE_MAP_H
#define BRIDGE_MAP_H

#include <stddef.h>
#include <stdint.h>

/* The key lives in the entry, with its hash: a lookup touches the bucket and the entry only. */
typedef struct map_entry
{
	void	   *value;
	struct map_entry *next;
	uint64_t	hash;
	char		key[];
} map_entry;

typedef struct map
{
	map_entry **buckets;
	size_t		nbuckets;
	size_t		count;
} map;

void		map_init(map *m);
void	   *map_get(const map *m, const char *key);
void		map_put(map *m, const char *key, void *value);
/* Remove key; returns its value or NULL. */
void	   *map_del(map *m, const char *key);

/* Remove every entry (values are the caller's); the map stays usable. */
void		map_clear(map *m);

/* Call fn for every entry; fn may not change the map. */
void		map_each(const map *m, void (*fn) (const char *key, void *value, void *arg), void *arg);

#endif
