-- Rows of fuzz_gcounter (id, v, w, note): small and wide states, empty ones,
-- counts at the top of the range (whose sums pass bigint: only replication
-- brings those, hence the replica role), NULLs.
SET session_replication_role = replica;
INSERT INTO fuzz_gcounter (id, v, w, note)
SELECT i,
	CASE i % 7
		WHEN 0 THEN '{}'::gcounter
		WHEN 1 THEN increment('{}'::gcounter, 'n' || (i % 5), i)
		WHEN 2 THEN format('{"a":9223372036854775807,"b":%s}', i)::gcounter
		WHEN 3 THEN NULL
		ELSE (SELECT merge_agg(increment('{}'::gcounter, 'm' || k, k)) FROM generate_series(1, i % 40 + 1) k)
	END,
	increment(increment('{}'::gcounter, E'n\u00e9 "' || i, 1), 'z', i + 1),
	'row ' || i
FROM generate_series(1, 200) i;
-- some deleted rows, and so tombstones
DELETE FROM fuzz_gcounter WHERE id % 17 = 0;
