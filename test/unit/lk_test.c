/*
 * lk_test.c — the harness behind lk_test.h.
 */
#include "lk_test.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define DEFAULT_SEED	UINT64_C(0x4c414e49414b4541)	/* "LANIAKEA" */
#define DEFAULT_CASES	10000

static struct
{
	const char *test;			/* name of the running test */
	uint64_t	checks;
	bool		in_case;
	uint64_t	case_no;
	uint64_t	cases_run;
	uint64_t	seed;
	uint64_t	cases;
	bool		only_case;
	uint64_t	the_case;
	jmp_buf		bail;
} h;

/* ---- the tracking arena ---- */

typedef struct arena_hdr
{
	struct arena_hdr *prev;
	struct arena_hdr *next;
	size_t		size;
	size_t		magic;
} arena_hdr;

#define ARENA_MAGIC ((size_t) 0x6c6b61726e61ULL)

static arena_hdr arena_head = {&arena_head, &arena_head, 0, 0};
static size_t arena_live;

static void *
arena_alloc(void *ctx, size_t size)
{
	arena_hdr  *hd = malloc(sizeof(arena_hdr) + size);

	(void) ctx;
	if (hd == NULL)
	{
		fprintf(stderr, "test arena: out of memory allocating %zu bytes\n", size);
		abort();
	}
	hd->size = size;
	hd->magic = ARENA_MAGIC;
	hd->next = &arena_head;
	hd->prev = arena_head.prev;
	arena_head.prev->next = hd;
	arena_head.prev = hd;
	arena_live++;
	return hd + 1;
}

static void
arena_free(void *ctx, void *ptr)
{
	arena_hdr  *hd = (arena_hdr *) ptr - 1;

	(void) ctx;
	if (hd->magic != ARENA_MAGIC)
	{
		fprintf(stderr, "test arena: free of a pointer it did not allocate\n");
		abort();
	}
	hd->magic = 0;
	hd->prev->next = hd->next;
	hd->next->prev = hd->prev;
	arena_live--;
	free(hd);
}

static const lk_alloc arena = {arena_alloc, arena_free, NULL};
const lk_alloc *const T = &arena;

size_t
lk_arena_live(void)
{
	return arena_live;
}

void
lk_arena_reset(void)
{
	while (arena_head.next != &arena_head)
		arena_free(NULL, arena_head.next + 1);
}

void *
lk_arena_dup(const void *p, size_t n)
{
	void	   *q = lk_malloc(T, n);

	if (n)
		memcpy(q, p, n);
	return q;
}

lk_buf
lk_tbuf(void)
{
	lk_buf		b;

	lk_buf_init(&b, T, 16);
	return b;
}

/* ---- checks ---- */

const char *
lk_code_name(lk_code code)
{
	switch (code)
	{
		case LK_OK:
			return "LK_OK";
		case LK_ERR_SYNTAX:
			return "LK_ERR_SYNTAX";
		case LK_ERR_BINARY:
			return "LK_ERR_BINARY";
		case LK_ERR_RANGE:
			return "LK_ERR_RANGE";
		case LK_ERR_LIMIT:
			return "LK_ERR_LIMIT";
		case LK_ERR_VALUE:
			return "LK_ERR_VALUE";
	}
	return "(unknown lk_code)";
}

void
lk_check_count(void)
{
	h.checks++;
}

_Noreturn void
lk_check_fail(const char *file, int line, const char *fmt,...)
{
	va_list		ap;

	printf("    %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (h.in_case)
		printf("    seed=0x%016" PRIx64 " case=%" PRIu64
			   "  (rerun: LK_SEED=0x%016" PRIx64 " LK_ONLY=%s LK_CASE=%" PRIu64 ")\n",
			   h.seed, h.case_no, h.seed, h.test, h.case_no);
	fflush(stdout);
	longjmp(h.bail, 1);
}

const char *
lk_show(const uint8_t *p, size_t n)
{
	static char ring[4][1024];
	static int	next;
	char	   *out = ring[next++ & 3];
	size_t		o = 0;

	for (size_t i = 0; i < n && o < sizeof(ring[0]) - 8; i++)
	{
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			out[o++] = (char) p[i];
		else
			o += (size_t) snprintf(out + o, sizeof(ring[0]) - o, "\\x%02x", p[i]);
	}
	if (o >= sizeof(ring[0]) - 8)
		o += (size_t) snprintf(out + o, sizeof(ring[0]) - o, "...");
	out[o] = '\0';
	return out;
}

void
lk_check_bytes(const char *file, int line, const char *what,
			   const uint8_t *g, size_t gn, const uint8_t *w, size_t wn)
{
	h.checks++;
	if (gn == wn && (gn == 0 || memcmp(g, w, gn) == 0))
		return;
	lk_check_fail(file, line, "%s differs\n    got:  (%zu) %s\n    want: (%zu) %s",
				  what, gn, lk_show(g, gn), wn, lk_show(w, wn));
}

void
lk_check_err(const char *file, int line, const lk_error *err, lk_code code,
			 const char *msg, const char *detail)
{
	h.checks++;
	if (err->code != code || strcmp(err->msg, msg) != 0 ||
		(detail && strcmp(err->detail, detail) != 0))
		lk_check_fail(file, line,
					  "error differs\n    got:  %s \"%s\" \"%s\"\n    want: %s \"%s\" \"%s\"",
					  lk_code_name(err->code), err->msg, err->detail,
					  lk_code_name(code), msg, detail ? detail : "(any)");
}

/* ---- PRNG: splitmix64, small and good enough for test generation ---- */

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

uint64_t
lk_rng_u64(lk_rng *r)
{
	r->s += UINT64_C(0x9e3779b97f4a7c15);
	return mix64(r->s);
}

uint64_t
lk_rng_below(lk_rng *r, uint64_t n)
{
	/* Lemire's multiply-shift; the bias is irrelevant for test generation */
	return (uint64_t) (((unsigned __int128) lk_rng_u64(r) * n) >> 64);
}

bool
lk_rng_chance(lk_rng *r, unsigned num, unsigned den)
{
	return lk_rng_below(r, den) < num;
}

void
lk_rng_shuffle(lk_rng *r, void *base, size_t n, size_t size)
{
	unsigned char *b = base;
	unsigned char tmp[256];

	if (size > sizeof(tmp))
		abort();
	for (size_t i = n; i > 1; i--)
	{
		size_t		k = (size_t) lk_rng_below(r, i);

		memcpy(tmp, b + (i - 1) * size, size);
		memcpy(b + (i - 1) * size, b + k * size, size);
		memcpy(b + k * size, tmp, size);
	}
}

static uint64_t
name_hash(const char *s)
{
	uint64_t	x = UINT64_C(0xcbf29ce484222325);

	while (*s)
		x = (x ^ (unsigned char) *s++) * UINT64_C(0x100000001b3);
	return x;
}

uint64_t
lk_cases(void)
{
	return h.cases;
}

uint64_t
lk_case_first(void)
{
	return h.only_case ? h.the_case : 0;
}

bool
lk_case_more(uint64_t c, lk_rng *rng)
{
	if (c >= h.cases || (h.only_case && c != h.the_case))
	{
		h.in_case = false;
		lk_arena_reset();
		return false;
	}
	lk_arena_reset();
	h.in_case = true;
	h.case_no = c;
	h.cases_run++;
	/* each case has its own stream, so one case reruns alone via LK_CASE */
	rng->s = mix64(h.seed ^ name_hash(h.test)) + mix64(c + 1);
	return true;
}

uint64_t
lk_case_after(uint64_t c)
{
	return c + 1;
}

/* ---- the runner ---- */

static uint64_t
env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	char	   *end;
	unsigned long long x;

	if (v == NULL || *v == '\0')
		return dflt;
	x = strtoull(v, &end, 0);
	if (*end != '\0')
	{
		fprintf(stderr, "%s=%s is not a number\n", name, v);
		exit(2);
	}
	return (uint64_t) x;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Run one test; true when it passed. */
static bool
run_one(const lk_test_case *t)
{
	volatile bool ok = true;
	double		start = now();

	h.test = t->name;
	h.checks = 0;
	h.cases_run = 0;
	h.in_case = false;
	if (setjmp(h.bail) == 0)
		t->fn();
	else
		ok = false;
	h.in_case = false;
	lk_arena_reset();
	if (ok && h.checks == 0)
	{
		printf("    the test made no check\n");
		ok = false;
	}
	if (h.cases_run)
		printf("%s %s (%" PRIu64 " cases, %" PRIu64 " checks, %.2fs)\n",
			   ok ? "ok  " : "FAIL", t->name, h.cases_run, h.checks, now() - start);
	else
		printf("%s %s (%" PRIu64 " checks)\n", ok ? "ok  " : "FAIL", t->name, h.checks);
	return ok;
}

int
lk_test_main(const char *suite, const lk_test_case *tests, size_t ntests)
{
	const char *only = getenv("LK_ONLY");
	unsigned	passed = 0,
				failed = 0;
	double		t0 = now();

	h.seed = env_u64("LK_SEED", DEFAULT_SEED);
	h.cases = env_u64("LK_CASES", DEFAULT_CASES);
	h.only_case = getenv("LK_CASE") != NULL && *getenv("LK_CASE") != '\0';
	h.the_case = env_u64("LK_CASE", 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# %s: seed=0x%016" PRIx64 " cases=%" PRIu64 "\n", suite, h.seed, h.cases);

	for (size_t i = 0; i < ntests; i++)
	{
		if (only && *only && strstr(tests[i].name, only) == NULL)
			continue;
		if (run_one(&tests[i]))
			passed++;
		else
			failed++;
	}
	/* worded unlike the one "unit: N passed, N failed" line the Makefile prints */
	printf("# %s: %u ok, %u failing, %.1fs\n", suite, passed, failed, now() - t0);
	printf("RESULT %s %u %u\n", suite, passed, failed);
	return failed ? 1 : 0;
}
