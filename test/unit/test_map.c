/*
 * test_map.c — the bridge's string-keyed hash map (bridge/src/map.h), whose
 * entries hold their key and its hash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lk_test.h"
#include "map.h"

static void
what_is_put_is_found_and_what_is_deleted_is_not(void)
{
	map			m;
	int			a = 1,
				b = 2;

	map_init(&m);
	CHECK(map_get(&m, "a") == NULL);
	CHECK(map_del(&m, "a") == NULL);
	map_put(&m, "a", &a);
	map_put(&m, "ab", &b);
	CHECK(map_get(&m, "a") == &a && map_get(&m, "ab") == &b && map_get(&m, "") == NULL);
	CHECK(m.count == 2);
	CHECK(map_del(&m, "a") == &a);
	CHECK(map_get(&m, "a") == NULL && map_get(&m, "ab") == &b && m.count == 1);
	map_clear(&m);
	free(m.buckets);
}

static void
a_put_of_a_present_key_replaces_its_value(void)
{
	map			m;
	int			a = 1,
				b = 2;
	char		key[8] = "k";

	map_init(&m);
	map_put(&m, key, &a);
	/* the map keeps its own copy of the key */
	key[0] = 'x';
	map_put(&m, "k", &b);
	CHECK(m.count == 1 && map_get(&m, "k") == &b && map_get(&m, "x") == NULL);
	map_clear(&m);
	free(m.buckets);
}

static void
count_of(const char *key, void *value, void *arg)
{
	(*(int *) arg) += (int) (intptr_t) value;
	(void) key;
}

static void
every_key_is_found_after_the_buckets_grow_and_after_a_clear(void)
{
	enum { N = 5000 };
	map			m;
	char		key[32];
	int			sum = 0;

	map_init(&m);
	for (int round = 0; round < 2; round++)
	{
		for (int i = 0; i < N; i++)
		{
			snprintf(key, sizeof(key), "crdt:items:%d", i);
			map_put(&m, key, (void *) (intptr_t) (i + 1));
		}
		CHECK(m.count == N && m.nbuckets >= N);
		for (int i = 0; i < N; i++)
		{
			snprintf(key, sizeof(key), "crdt:items:%d", i);
			CHECK_MSG(map_get(&m, key) == (void *) (intptr_t) (i + 1), "%s", key);
		}
		sum = 0;
		map_each(&m, count_of, &sum);
		CHECK(sum == N * (N + 1) / 2);
		for (int i = 0; i < N; i += 2)
		{
			snprintf(key, sizeof(key), "crdt:items:%d", i);
			CHECK(map_del(&m, key) == (void *) (intptr_t) (i + 1));
		}
		for (int i = 0; i < N; i++)
		{
			snprintf(key, sizeof(key), "crdt:items:%d", i);
			CHECK(map_get(&m, key) == (i % 2 ? (void *) (intptr_t) (i + 1) : NULL));
		}
		map_clear(&m);
		CHECK(m.count == 0 && map_get(&m, "crdt:items:1") == NULL);
	}
	free(m.buckets);
}

int
main(void)
{
	static const lk_test_case tests[] = {
		LK_TEST(what_is_put_is_found_and_what_is_deleted_is_not),
		LK_TEST(a_put_of_a_present_key_replaces_its_value),
		LK_TEST(every_key_is_found_after_the_buckets_grow_and_after_a_clear),
	};

	return lk_test_main("map", tests, sizeof(tests) / sizeof(tests[0]));
}
