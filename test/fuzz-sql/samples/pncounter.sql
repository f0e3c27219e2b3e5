-- Rows of fuzz_pncounter (id, v, w, note): both halves, either alone, wide,
-- totals at the top of the range, NULLs.
INSERT INTO fuzz_pncounter (id, v, w, note)
SELECT i,
	CASE i % 6
		WHEN 0 THEN '{}'::pncounter
		WHEN 1 THEN decrement(increment('{}'::pncounter, 'n' || (i % 5), i), 'm' || (i % 3), i * 2)
		WHEN 2 THEN format('{"n":{"a":9223372036854775807},"p":{"b":%s}}', i)::pncounter
		WHEN 3 THEN NULL
		ELSE (SELECT merge_agg(decrement('{}'::pncounter, 'k' || k, k)) FROM generate_series(1, i % 30 + 1) k)
	END,
	increment('{}'::pncounter, 'w', i),
	'row ' || i
FROM generate_series(1, 200) i;
-- some deleted rows, and so tombstones
DELETE FROM fuzz_pncounter WHERE id % 17 = 0;
