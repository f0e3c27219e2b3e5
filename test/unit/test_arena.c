/*
 * test_arena.c — the bridge's scratch arenas (bridge/src/arena.h): memory
 * they hand out is aligned, requests larger than a block are served, and live
 * arenas never share memory, also when others were freed and made again
 * between them.
 */
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "lk_test.h"

static void *
take(arena *a, size_t n)
{
	const lk_alloc *al = arena_alloc(a);

	return al->alloc(al->ctx, n);
}

static void
memory_an_arena_hands_out_is_aligned_and_writable(void)
{
	for (int round = 0; round < 3; round++)
	{
		arena	   *a = arena_new();
		unsigned char *p = take(a, 1);
		unsigned char *q = take(a, 100);
		char	   *s = arena_strndup(a, "abcdef", 3);

		CHECK((uintptr_t) p % 16 == 0 && (uintptr_t) q % 16 == 0);
		CHECK(q >= p + 16 || p >= q + 100);
		memset(q, 0xAB, 100);
		*p = 1;
		CHECK_STR(s, "abc");
		arena_free(a);
	}
}

static void
requests_larger_than_a_block_are_served(void)
{
	for (int round = 0; round < 3; round++)
	{
		arena	   *a = arena_new();
		unsigned char *small = take(a, 64);
		unsigned char *big = take(a, 100000);
		unsigned char *after = take(a, 64);

		memset(small, 1, 64);
		memset(big, 2, 100000);
		memset(after, 3, 64);
		CHECK(small[63] == 1 && big[0] == 2 && big[99999] == 2 && after[0] == 3);
		arena_free(a);
	}
}

/* More live arenas than are kept: each fills its memory with its own byte, which no other overwrites. */
static void
live_arenas_never_share_memory(void)
{
	enum { N = 12, SIZE = 3000, TAKES = 8 };
	arena	   *as[N];
	unsigned char *mem[N][TAKES];

	for (int round = 0; round < 3; round++)
	{
		for (int i = 0; i < N; i++)
		{
			as[i] = arena_new();
			for (int k = 0; k < TAKES; k++)
			{
				mem[i][k] = take(as[i], SIZE);
				memset(mem[i][k], i + 1, SIZE);
			}
		}
		for (int i = 0; i < N; i++)
			for (int k = 0; k < TAKES; k++)
				CHECK_MSG(mem[i][k][0] == i + 1 && mem[i][k][SIZE - 1] == i + 1,
						  "arena %d's memory was overwritten in round %d", i, round);
		/* free every other one, then make as many again, before the rest go */
		for (int i = 0; i < N; i += 2)
			arena_free(as[i]);
		for (int i = 0; i < N; i += 2)
		{
			as[i] = arena_new();
			for (int k = 0; k < TAKES; k++)
			{
				mem[i][k] = take(as[i], SIZE);
				memset(mem[i][k], 0x80 + i, SIZE);
			}
		}
		for (int i = 0; i < N; i++)
			for (int k = 0; k < TAKES; k++)
				CHECK(mem[i][k][SIZE / 2] == (i % 2 ? i + 1 : 0x80 + i));
		for (int i = 0; i < N; i++)
			arena_free(as[i]);
	}
}

int
main(void)
{
	static const lk_test_case tests[] = {
		LK_TEST(memory_an_arena_hands_out_is_aligned_and_writable),
		LK_TEST(requests_larger_than_a_block_are_served),
		LK_TEST(live_arenas_never_share_memory),
	};

	return lk_test_main("arena", tests, sizeof(tests) / sizeof(tests[0]));
}
