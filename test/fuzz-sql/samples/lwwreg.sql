-- Rows of fuzz_lwwreg (id, v, w, note): writes by several nodes at several
-- clocks, equal clocks broken by node and value, empty and long values, NULLs.
INSERT INTO fuzz_lwwreg (id, v, w, note)
SELECT i,
	CASE i % 5
		WHEN 0 THEN '{}'::lwwreg
		WHEN 1 THEN set('{}'::lwwreg, 'v' || i, 'n' || (i % 3), 1000 + i)
		WHEN 2 THEN set('{}'::lwwreg, '', 'n1', 42) || set('{}'::lwwreg, 'tie', 'n2', 42)
		WHEN 3 THEN NULL
		ELSE set('{}'::lwwreg, E'line\nbreak \u00e9 "q"', 'node' || i, i)
	END,
	set('{}'::lwwreg, repeat('w', i * 10), 'wide', i),
	'row ' || i
FROM generate_series(1, 200) i;
-- some deleted rows, and so tombstones
DELETE FROM fuzz_lwwreg WHERE id % 17 = 0;
