--
-- merge_agg: serial and parallel
--
\set SHOW_CONTEXT never

CREATE TABLE agg (id int, g gcounter, p pncounter, s orset);
INSERT INTO agg
	SELECT i,
		('{"n' || (i % 8) || '":' || i || '}')::gcounter,
		decrement(increment('{}'::pncounter, 'n' || (i % 5), i), 'm' || (i % 3), 1),
		-- as if each row were one add by one of 4 nodes, sequence number i
		format('{"c":{"n%s":[[%s,%s]]},"e":{"e%s":{"n%s":[%s]}}}', i % 4, i, i, i % 20, i % 4, i)::orset
	FROM generate_series(1, 20000) i;
INSERT INTO agg VALUES (0, NULL, NULL, NULL);
ANALYZE agg;

SELECT merge_agg(g) FROM agg;
SELECT value(merge_agg(p)) AS p_value, merge_agg(p) FROM agg;
SELECT elements(merge_agg(s)), cardinality(merge_agg(s)) FROM agg;
SELECT merge_agg(s) = (SELECT s FROM agg WHERE id = 1) || (SELECT merge_agg(s) FROM agg WHERE id > 1) AS agg_is_merge
	FROM agg;
SELECT merge_agg(g) IS NULL AS no_rows_gives_null FROM agg WHERE false;
SELECT merge_agg(g) IS NULL AS null_rows_give_null FROM agg WHERE id = 0;
SELECT id % 2 AS odd, merge_agg(g) FROM agg WHERE id < 20 GROUP BY 1 ORDER BY 1;

-- the same answers from a forced parallel plan, which shows a Partial Aggregate
CREATE TEMP TABLE serial AS SELECT merge_agg(g) g, merge_agg(p) p, merge_agg(s) s FROM agg;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT merge_agg(g), merge_agg(p), merge_agg(s) FROM agg;
SELECT (SELECT g FROM serial) = merge_agg(g) AS g_same,
	(SELECT p FROM serial) = merge_agg(p) AS p_same,
	(SELECT s FROM serial) = merge_agg(s) AS s_same
FROM agg;
RESET ALL;
DROP TABLE agg;

-- rows that name different nodes: 65,536 node ids (the limit), one per row,
-- some repeated, in an order unrelated to the ids' order
CREATE TABLE wide AS
	SELECT i, format('{"n%s":%s}', i % 65536, i)::gcounter AS g,
		format('{"n":{"m%s":1},"p":{"n%s":%s}}', i % 1000, i % 65536, i)::pncounter AS p
	FROM generate_series(1, 70000) i ORDER BY md5(i::text);
CREATE TEMP TABLE wide_join AS
	SELECT ('{' || string_agg(format('"n%s":%s', n, m), ',') || '}')::gcounter AS g,
		('{"n":{' || (SELECT string_agg(format('"m%s":1', k), ',') FROM generate_series(0, 999) k) ||
		 '},"p":{' || string_agg(format('"n%s":%s', n, m), ',') || '}}')::pncounter AS p
	FROM (SELECT i % 65536 AS n, max(i) AS m FROM generate_series(1, 70000) i GROUP BY 1) s;
SELECT merge_agg(g) = (SELECT g FROM wide_join) AS g_is_the_join,
	merge_agg(p) = (SELECT p FROM wide_join) AS p_is_the_join,
	value(merge_agg(g)) AS g_value, value(merge_agg(p)) AS p_value
FROM wide;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT merge_agg(g), merge_agg(p) FROM wide;
SELECT merge_agg(g) = (SELECT g FROM wide_join) AS g_parallel_is_the_join,
	merge_agg(p) = (SELECT p FROM wide_join) AS p_parallel_is_the_join
FROM wide;
RESET ALL;
-- one node more is past the limit
INSERT INTO wide VALUES (0, '{"one more":1}');
SELECT merge_agg(g) FROM wide;
DROP TABLE wide;
