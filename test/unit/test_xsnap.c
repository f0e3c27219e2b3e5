/*
 * test_xsnap.c — snapshots as pg_current_snapshot() writes them, 32-bit
 * transaction ids of the WAL widened to 64 bits, and what a snapshot sees
 * (bridge/src/xsnap.h).
 */
#include <stdlib.h>

#include "lk_test.h"
#include "xsnap.h"

static void
snapshots_parse_with_and_without_running_transactions(void)
{
	xsnap		s;

	CHECK(xsnap_parse("740:745:740,742", &s));
	CHECK(s.xmin == 740 && s.xmax == 745 && s.nxip == 2 && s.xip[0] == 740 && s.xip[1] == 742);
	xsnap_free(&s);
	CHECK(xsnap_parse("750:750:", &s));
	CHECK(s.xmin == 750 && s.xmax == 750 && s.nxip == 0 && s.xip == NULL);
	xsnap_free(&s);
	/* past the first epoch */
	CHECK(xsnap_parse("8589934692:8589934700:8589934695", &s));
	CHECK(s.xmin == 8589934692ull && s.xmax == 8589934700ull && s.nxip == 1);
	xsnap_free(&s);
}

static void
text_that_is_not_a_snapshot_is_refused(void)
{
	const char *bad[] = {NULL, "", "1", "1:2", "a:2:", "1:b:", "5:4:", "1:5:7", "1:5:0", "1:5:2,", "1:5:,2",
	"1:5:2;3", "-1:5:", "1:5:2 ", "99999999999999999999:5:"};
	xsnap		s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(!xsnap_parse(bad[i], &s), "parsed \"%s\"", bad[i] ? bad[i] : "(null)");
}

static void
a_wal_xid_takes_the_epoch_nearest_the_snapshot(void)
{
	xsnap		s = {0};

	s.xmin = s.xmax = 1000;
	CHECK(xsnap_widen(&s, 990) == 990);
	CHECK(xsnap_widen(&s, 1010) == 1010);
	/* the first epoch has nothing before it */
	CHECK(xsnap_widen(&s, 0xFFFFFFF0u) == 0xFFFFFFF0u);
	/* just after a wraparound: an id from just before it is of the epoch before */
	s.xmax = (UINT64_C(3) << 32) + 5;
	CHECK(xsnap_widen(&s, 0xFFFFFFF0u) == (UINT64_C(2) << 32) + 0xFFFFFFF0u);
	CHECK(xsnap_widen(&s, 3) == (UINT64_C(3) << 32) + 3);
	CHECK(xsnap_widen(&s, 100) == (UINT64_C(3) << 32) + 100);
	/* just before one: an id from just after it is of the next */
	s.xmax = (UINT64_C(3) << 32) + 0xFFFFFFF0u;
	CHECK(xsnap_widen(&s, 7) == (UINT64_C(4) << 32) + 7);
}

static void
a_snapshot_sees_what_finished_before_it_and_nothing_else(void)
{
	xsnap		s;

	CHECK(xsnap_parse("740:745:740,742", &s));
	CHECK(xsnap_sees(&s, 739));
	CHECK(!xsnap_sees(&s, 740));
	CHECK(xsnap_sees(&s, 741));
	CHECK(!xsnap_sees(&s, 742));
	CHECK(xsnap_sees(&s, 744));
	CHECK(!xsnap_sees(&s, 745));
	CHECK(!xsnap_sees(&s, 900));
	xsnap_free(&s);
}

int
main(void)
{
	static const lk_test_case tests[] = {
		LK_TEST(snapshots_parse_with_and_without_running_transactions),
		LK_TEST(text_that_is_not_a_snapshot_is_refused),
		LK_TEST(a_wal_xid_takes_the_epoch_nearest_the_snapshot),
		LK_TEST(a_snapshot_sees_what_finished_before_it_and_nothing_else),
	};

	return lk_test_main("xsnap", tests, sizeof(tests) / sizeof(tests[0]));
}
