/*
 * fuzz_lwwreg.c — libFuzzer target for the lwwreg's decoder and parser (see
 * fuzz_common.h for the invariants checked).
 */
#include "fuzz_common.h"
#include "lwwreg.h"

/*
 * Set the state's own value or a new one, as its own node or another, at a
 * small clock, the greatest clock, or the clock a hybrid logical clock
 * issues for a wall clock behind, at or far from the register's; then check
 * what a set promises: it holds what was written, past the register's clock
 * and past the wall clock.
 */
static lk_code
op(const void *s, uint8_t choice, void *out, lk_error *err)
{
	const lk_lwwreg *r = s;
	lk_lwwreg  *w = out;
	lk_str		value = r->present && (choice & 1) ? r->value : lk_str_make("fz", choice & 2 ? 2 : 0);
	lk_str		node = r->present && (choice & 4) ? r->node : lk_str_make("fz", 2);
	int64_t		wall = 0,
				clock;
	lk_code		rc;

	if (choice & 8)
	{
		lk_hlc		h = {r->present ? r->clock / 2 : 0};

		wall = choice & 16 ? (r->present ? r->clock : 0) : (int64_t) (choice >> 5) << 50;
		if ((rc = lk_hlc_next(&h, r, wall, &clock, err)) != LK_OK)
			return rc;
		FZ_ASSERT(clock >= wall && (!r->present || clock > r->clock) && h.last >= wall,
				  "an HLC clock is behind the wall clock or the register");
	}
	else
		clock = choice & 16 ? INT64_MAX : (int64_t) (choice >> 5);
	if ((rc = lk_lwwreg_set(r, value, node, clock, w, err)) != LK_OK)
		return rc;
	FZ_ASSERT(w->present && lk_str_eq(w->value, value) && lk_str_eq(w->node, node) &&
			  w->clock >= clock && lk_lwwreg_cmp(r, w) < 0, "a set did not write what it was given");
	FZ_ASSERT(lk_lwwreg_check_clock(w, w->clock, 0, err) == LK_OK &&
			  lk_lwwreg_check_clock(w, w->clock - 1, 0, err) == LK_ERR_RANGE,
			  "the clock check disagrees with its bound");
	return LK_OK;
}

static const fz_ops ops = {LK_LWWREG, op};

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_run(&ops, data, size);
}
