-- Rows of fuzz_orset (id, v, w, note): adds by several nodes, removes (a
-- context without dots), concurrent re-adds, long and odd elements, NULLs.
INSERT INTO fuzz_orset (id, v, w, note)
SELECT i,
	CASE i % 6
		WHEN 0 THEN '{}'::orset
		WHEN 1 THEN add(add('{}'::orset, 'e' || i, 'n1'), 'f' || (i % 4), 'n2')
		WHEN 2 THEN remove(add(add('{}'::orset, 'x', 'n1'), 'y', 'n2'), 'x')
		WHEN 3 THEN NULL
		WHEN 4 THEN add(remove(add('{}'::orset, 'x', 'n1'), 'x'), E'line\nbreak \u00e9 "q"', 'n' || (i % 9))
		ELSE (SELECT merge_agg(add('{}'::orset, 'el' || k, 'node' || k)) FROM generate_series(1, i % 25 + 1) k)
	END,
	add('{}'::orset, repeat('w', i * 10), 'wide'),
	'row ' || i
FROM generate_series(1, 200) i;
-- some deleted rows, and so tombstones
DELETE FROM fuzz_orset WHERE id % 17 = 0;
