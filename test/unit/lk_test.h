/*
 * lk_test.h — the small test harness shared by the core's unit and property
 * suites: registration, checks, a seeded PRNG and a tracking allocator.
 *
 * A failed check prints where it failed (and, inside a property loop, the
 * seed and the case number that reproduce it) and abandons the test with a
 * longjmp, so every later line of a test may assume the earlier checks held.
 * A test that makes no check at all is reported as a failure: a test that
 * asserts nothing proves nothing.
 *
 * Environment:
 *   LK_SEED   the base seed of every property test (decimal or 0x hex)
 *   LK_CASES  random cases per property (default 10000)
 *   LK_ONLY   run only the tests whose name contains this string
 *   LK_CASE   run only this case number of each property loop
 */
#ifndef LK_TEST_H
#define LK_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lk_alloc.h"
#include "lk_buf.h"
#include "lk_error.h"
#include "lk_str.h"

typedef struct lk_test_case
{
	const char *name;
	void		(*fn) (void);
} lk_test_case;

/* Run the suite's tests, print one line per test and a RESULT line; exit status. */
int			lk_test_main(const char *suite, const lk_test_case *tests, size_t ntests);

#define LK_TEST(name) { #name, name }

/* ---- checks ---- */

void		lk_check_count(void);
_Noreturn void lk_check_fail(const char *file, int line, const char *fmt,...)
#if defined(__GNUC__)
			__attribute__((format(printf, 3, 4)))
#endif
			;

#define CHECK(cond) \
	do { \
		lk_check_count(); \
		if (!(cond)) \
			lk_check_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); \
	} while (0)

#define CHECK_MSG(cond, ...) \
	do { \
		lk_check_count(); \
		if (!(cond)) \
			lk_check_fail(__FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

/* An lk_code-returning call must return exactly `want`. */
#define CHECK_RC(expr, want) \
	do { \
		lk_code lk__rc = (expr); \
		lk_check_count(); \
		if (lk__rc != (want)) \
			lk_check_fail(__FILE__, __LINE__, "%s returned %s, want %s", #expr, \
						  lk_code_name(lk__rc), lk_code_name(want)); \
	} while (0)

/* Same as CHECK_RC(expr, LK_OK) but shows the error the call filled in. */
#define CHECK_OK(expr, errp) \
	do { \
		lk_code lk__rc = (expr); \
		lk_check_count(); \
		if (lk__rc != LK_OK) \
			lk_check_fail(__FILE__, __LINE__, "%s returned %s: %s (%s)", #expr, \
						  lk_code_name(lk__rc), (errp)->msg, (errp)->detail); \
	} while (0)

#define CHECK_STR(got, want) \
	do { \
		const char *lk__g = (got), *lk__w = (want); \
		lk_check_count(); \
		if (strcmp(lk__g, lk__w) != 0) \
			lk_check_fail(__FILE__, __LINE__, "%s\n    got:  \"%s\"\n    want: \"%s\"", \
						  #got, lk__g, lk__w); \
	} while (0)

/* Two byte strings must be equal; on failure both are shown. */
#define CHECK_BYTES(gp, gn, wp, wn) \
	lk_check_bytes(__FILE__, __LINE__, #gp, (const uint8_t *) (gp), (gn), \
				   (const uint8_t *) (wp), (wn))
#define CHECK_BUF(got, want) CHECK_BYTES((got).data, (got).len, (want).data, (want).len)

void		lk_check_bytes(const char *file, int line, const char *what,
						   const uint8_t *g, size_t gn, const uint8_t *w, size_t wn);

/* An error must carry this code, message and detail (detail NULL: not checked). */
#define CHECK_ERR(errp, code_, msg_, detail_) \
	lk_check_err(__FILE__, __LINE__, (errp), (code_), (msg_), (detail_))
void		lk_check_err(const char *file, int line, const lk_error *err, lk_code code,
						 const char *msg, const char *detail);

const char *lk_code_name(lk_code code);

/* ---- property loops ---- */

typedef struct lk_rng
{
	uint64_t	s;
} lk_rng;

uint64_t	lk_rng_u64(lk_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t	lk_rng_below(lk_rng *r, uint64_t n);
/* True with probability num/den. */
bool		lk_rng_chance(lk_rng *r, unsigned num, unsigned den);
void		lk_rng_shuffle(lk_rng *r, void *base, size_t n, size_t size);

/*
 * for (FOR_EACH_CASE(rng)) { ... }: runs LK_CASES cases, each with rng
 * seeded from (LK_SEED, test name, case number), the arena emptied before
 * each case.
 */
#define FOR_EACH_CASE(rng) \
	uint64_t lk__case = lk_case_first(); lk_case_more(lk__case, &(rng)); \
	lk__case = lk_case_after(lk__case)

uint64_t	lk_case_first(void);
bool		lk_case_more(uint64_t c, lk_rng *rng);
uint64_t	lk_case_after(uint64_t c);
uint64_t	lk_cases(void);

/* ---- the tracking arena ---- */

/*
 * Every allocation of a test goes through the arena, which knows what is
 * live: checks can assert that a call freed everything it allocated, and the
 * harness frees whatever a test or case left (strings a parser decoded from
 * escapes belong to no state, by the core's design) so LeakSanitizer reports
 * only real leaks.
 */
extern const lk_alloc *const T;

size_t		lk_arena_live(void);
void		lk_arena_reset(void);

/* Copy of n bytes in the arena (so ASan sees reads past the end). */
void	   *lk_arena_dup(const void *p, size_t n);

/* A fresh buffer in the arena. */
lk_buf		lk_tbuf(void);

/* A printable rendering of bytes for failure messages (static storage, rotates). */
const char *lk_show(const uint8_t *p, size_t n);

#endif
