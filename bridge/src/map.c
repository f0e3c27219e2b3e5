/*
 * map.c — FNV-1a hashed buckets.
 */
#include "map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static uint64_t
hash(const char *s)
{
	uint64_t	h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 1099511628211ull;
	return h;
}

void
map_init(map *m)
{
	m->buckets = NULL;
	m->nbuckets = 0;
	m->count = 0;
}

static map_entry **
find(const map *m, const char *key, uint64_t h)
{
	map_entry **e = &m->buckets[h & (m->nbuckets - 1)];

	while (*e && ((*e)->hash != h || strcmp((*e)->key, key) != 0))
		e = &(*e)->next;
	return e;
}

void *
map_get(const map *m, const char *key)
{
	map_entry  *e;

	if (!m->nbuckets)
		return NULL;
	e = *find(m, key, hash(key));

	return e ? e->value : NULL;
}

static void
grow(map *m)
{
	size_t		n = m->nbuckets * 2;
	map_entry **b = xcalloc(n, sizeof(map_entry *));

	for (size_t i = 0; i < m->nbuckets; i++)
	{
		map_entry  *e = m->buckets[i];

		while (e)
		{
			map_entry  *next = e->next;
			size_t		k = e->hash & (n - 1);

			e->next = b[k];
			b[k] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

void
map_put(map *m, const char *key, void *value)
{
	map_entry **slot;
	map_entry  *e;
	uint64_t	h = hash(key);
	size_t		len;

	if (!m->nbuckets)
	{
		m->nbuckets = 8;
		m->buckets = xcalloc(m->nbuckets, sizeof(map_entry *));
	}
	slot = find(m, key, h);
	if (*slot)
	{
		(*slot)->value = value;
		return;
	}
	len = strlen(key);
	e = xmalloc(sizeof(map_entry) + len + 1);
	memcpy(e->key, key, len + 1);
	e->hash = h;
	e->value = value;
	e->next = NULL;
	*slot = e;
	if (++m->count > m->nbuckets)
		grow(m);
}

void *
map_del(map *m, const char *key)
{
	map_entry **slot;
	map_entry  *e;
	void	   *v;

	if (!m->nbuckets)
		return NULL;
	slot = find(m, key, hash(key));
	e = *slot;
	if (!e)
		return NULL;
	*slot = e->next;
	v = e->value;
	free(e);
	m->count--;
	return v;
}

void
map_clear(map *m)
{
	for (size_t i = 0; i < m->nbuckets; i++)
	{
		map_entry  *e = m->buckets[i];

		while (e)
		{
			map_entry  *next = e->next;

			free(e);
			e = next;
		}
		m->buckets[i] = NULL;
	}
	m->count = 0;
}

void
map_each(const map *m, void (*fn) (const char *key, void *value, void *arg), void *arg)
{
	for (size_t i = 0; i < m->nbuckets; i++)
		for (map_entry *e = m->buckets[i]; e; e = e->next)
			fn(e->key, e->value, arg);
}
