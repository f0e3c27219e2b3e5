--
-- lwwreg: last-writer-wins register of text
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- text input and output: canonical JSON, keys sorted, {} for the empty register
SELECT '{}'::lwwreg;
SELECT '{"v":"hello","n":"n1","c":5}'::lwwreg;
SELECT ' { "\u0063" : -0 , "n" : "\u006e1" , "v" : "" } '::lwwreg;
SELECT E'{"c":1,"n":"n","v":"tab\\t \\"q\\" \\u00e9 \\u0001 \\\\ \\/"}'::lwwreg;

-- malformed input
SELECT '[]'::lwwreg;
SELECT '{"c":1,"n":"a"}'::lwwreg;
SELECT '{"v":"x"}'::lwwreg;
SELECT '{"c":1,"n":"a","v":"x","w":1}'::lwwreg;
SELECT '{"c":1,"c":2,"n":"a","v":"x"}'::lwwreg;
SELECT '{"c":-1,"n":"a","v":"x"}'::lwwreg;
SELECT '{"c":9223372036854775808,"n":"a","v":"x"}'::lwwreg;
SELECT '{"c":1.5,"n":"a","v":"x"}'::lwwreg;
SELECT '{"c":"1","n":"a","v":"x"}'::lwwreg;
SELECT '{"c":1,"n":"","v":"x"}'::lwwreg;
SELECT '{"c":1,"n":"a\u0007","v":"x"}'::lwwreg;
SELECT '{"c":1,"n":"a","v":"x\u0000"}'::lwwreg;
SELECT '{"c":1,"n":"a","v":null}'::lwwreg;
SELECT '{"c":1,"n":"a","v":"\ud800"}'::lwwreg;
SELECT '{"c":1,"n":"a","v":"x"} x'::lwwreg;

-- limits: a value of up to 1 MiB of UTF-8, a node id of 1 to 255 bytes
SELECT length(get(('{"c":1,"n":"a","v":"' || repeat('x', 1048576) || '"}')::lwwreg)) AS longest_value_accepted;
SELECT ('{"c":1,"n":"a","v":"' || repeat('x', 1048577) || '"}')::lwwreg;
SELECT length(get(set('{}'::lwwreg, repeat('é', 524288), 'a', 1))) AS longest_value_in_characters;
SELECT set('{}'::lwwreg, repeat('x', 1048577), 'a', 1);
SELECT length(node(set('{}'::lwwreg, 'x', repeat('n', 255), 1))) AS longest_node_accepted;
SELECT set('{}'::lwwreg, 'x', repeat('n', 256), 1);
SELECT set('{}'::lwwreg, 'x', '', 1);
SELECT set('{}'::lwwreg, 'x', E'a\nb', 1);
SELECT set('{}'::lwwreg, 'x', E'a\nb');

-- set with an explicit clock writes at max(clock, the register's clock + 1)
SELECT set('{}'::lwwreg, 'first', 'n1', 1000);
SELECT set(set('{}'::lwwreg, 'first', 'n1', 1000), 'second', 'n2', 2000);
SELECT set(set('{}'::lwwreg, 'first', 'n1', 1000), 'second', 'n2', 10) AS raised_past_the_register;
SELECT set(set('{}'::lwwreg, 'first', 'n1', 1000), 'first', 'n1', 1000) AS rewrite_is_a_newer_write;
SELECT set('{}'::lwwreg, '', 'n', 0);
SELECT set('{}'::lwwreg, 'x', 'n', -1);
SELECT set('{"c":9223372036854775807,"n":"a","v":"x"}'::lwwreg, 'y', 'n', 1);
-- a clock more than 5 minutes ahead of the server's is refused ...
SELECT set('{}'::lwwreg, 'x', 'n', 4611686018427387904);
-- (terse: the detail would quote today's clock)
\set VERBOSITY terse
SELECT set('{}'::lwwreg, 'x', 'n', (extract(epoch FROM clock_timestamp() + interval '6 minutes') * 1000000)::bigint)
	IS NOT NULL AS six_minutes_ahead;
\set VERBOSITY default
-- ... one a little ahead is not ...
SELECT get(set('{}'::lwwreg, 'x', 'n', (extract(epoch FROM clock_timestamp() + interval '4 minutes') * 1000000)::bigint))
	AS four_minutes_ahead;
-- ... and a register already in the future takes a set past its clock, unchecked
SELECT set('{"c":4611686018427387904,"n":"a","v":"far"}'::lwwreg, 'fix', 'n', 1);

-- set without a clock reads the wall clock, as laniakea.node_id or the given node
SET laniakea.node_id = 'me';
SELECT node(r), get(r),
	clock(r) BETWEEN (extract(epoch FROM statement_timestamp()) * 1000000)::bigint
		AND (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS clock_is_now
	FROM (SELECT set('{}'::lwwreg, 'hello') AS r) t;
RESET laniakea.node_id;
SELECT node(set('{}'::lwwreg, 'x', 'other')), get(set('{}'::lwwreg, 'x', 'other'));
-- it always wins over the state it was applied to, even one from the future
SELECT clock(set(r, 'fix')) = clock(r) + 1 AS just_past_a_future_clock, get(r || set(r, 'fix'))
	FROM (SELECT '{"c":4611686018427387904,"n":"z","v":"far"}'::lwwreg AS r) t;
-- but the backend's clock does not follow that register into the future
SELECT clock(set('{}'::lwwreg, 'x')) <= (extract(epoch FROM clock_timestamp()) * 1000000)::bigint + 1000000
	AS own_clock_stays_near_the_wall_clock;
-- the clock lives in the session's backend: no parallel worker runs a set of its own
SELECT oid::regprocedure, provolatile, proparallel FROM pg_proc
	WHERE proname = 'set' AND proargtypes[0] = 'lwwreg'::regtype ORDER BY pronargs;
-- one backend's sets get strictly increasing clocks, however fast they come
SELECT count(*) AS sets, bool_and(c > prev) AS strictly_increasing
	FROM (SELECT c, lag(c) OVER (ORDER BY i) AS prev
		  FROM (SELECT i, clock(set('{}'::lwwreg, i::text, 'n')) AS c FROM generate_series(1, 2000) i) a) b
	WHERE prev IS NOT NULL;

-- readers: NULL for the empty register
SELECT get('{}'::lwwreg) IS NULL AS get_null, clock('{}'::lwwreg) IS NULL AS clock_null,
	node('{}'::lwwreg) IS NULL AS node_null;
SELECT get(r), clock(r), node(r) FROM (SELECT '{"c":5,"n":"n1","v":"é"}'::lwwreg AS r) t;
SELECT get(set('{}'::lwwreg, '', 'n', 1)) = '' AS empty_text_is_a_value;
SELECT get(NULL::lwwreg), set(NULL::lwwreg, 'x', 'n', 1), set('{}'::lwwreg, NULL, 'n', 1),
	set('{}'::lwwreg, 'x', NULL, 1), set('{}'::lwwreg, 'x', 'n', NULL), set(NULL::lwwreg, 'x');

-- merge keeps the greater (clock, node id, value bytes); the empty register is the identity
SELECT '{"c":5,"n":"a","v":"old"}'::lwwreg || '{"c":6,"n":"a","v":"new"}';
SELECT '{"c":6,"n":"a","v":"new"}'::lwwreg || '{"c":5,"n":"z","v":"old"}';
SELECT '{"c":5,"n":"a","v":"z"}'::lwwreg || '{"c":5,"n":"b","v":"a"}' AS node_breaks_a_clock_tie;
SELECT '{"c":5,"n":"a","v":"x"}'::lwwreg || '{"c":5,"n":"a","v":"xy"}' AS value_bytes_break_a_node_tie;
SELECT '{"c":5,"n":"a","v":"é"}'::lwwreg || '{"c":5,"n":"a","v":"z"}' AS bytes_not_collation;
SELECT merge('{}'::lwwreg, '{"c":1,"n":"a","v":"x"}'), merge('{"c":1,"n":"a","v":"x"}'::lwwreg, '{}'),
	merge('{}'::lwwreg, '{}');
CREATE TEMP TABLE w (name text PRIMARY KEY, r lwwreg);
INSERT INTO w VALUES ('empty', '{}'), ('a', '{"c":5,"n":"a","v":"x"}'), ('b', '{"c":5,"n":"b","v":"x"}'),
	('c', '{"c":7,"n":"a","v":""}'), ('d', '{"c":5,"n":"a","v":"y"}'), ('e', '{"c":0,"n":"aa","v":"x"}');
SELECT bool_and(x.r || y.r = y.r || x.r) AS commutative,
	bool_and((x.r || y.r) || z.r = x.r || (y.r || z.r)) AS associative,
	bool_and(x.r || x.r = x.r) AS idempotent,
	bool_and(x.r || y.r = x.r OR x.r || y.r = y.r) AS picks_one_of_the_two
	FROM w x, w y, w z;

-- delta: the newer write, or the empty register when old already has it
SELECT delta('{"c":5,"n":"a","v":"x"}'::lwwreg, '{"c":6,"n":"b","v":"y"}');
SELECT delta('{"c":6,"n":"b","v":"y"}'::lwwreg, '{"c":5,"n":"a","v":"x"}');
SELECT delta(r, r), delta('{}'::lwwreg, r) FROM w WHERE name = 'a';
SELECT bool_and(merge(x.r, delta(x.r, y.r)) = merge(x.r, y.r)) AS delta_law,
	bool_and(delta(x.r, y.r) = '{}' OR delta(x.r, y.r) = y.r) AS empty_or_newer FROM w x, w y;

-- order: <= is the lattice order, total for a register, and agrees with merge
SELECT bool_and((x.r <= y.r) = (x.r || y.r = y.r)) AS leq_is_the_merge_order,
	bool_and(x.r <= y.r OR y.r <= x.r) AS total FROM w x, w y;
SELECT '{}'::lwwreg <= '{"c":0,"n":"a","v":""}' AS empty_is_least,
	'{"c":0,"n":"a","v":""}'::lwwreg <= '{}' AS not_below_empty;

-- equality and hashing are bytewise on the canonical form: DISTINCT, GROUP BY, joins
SELECT '{"c":1,"n":"a","v":"x"}'::lwwreg = ' {"v":"x","n":"\u0061","c":1} ' AS eq,
	'{"c":1,"n":"a","v":"x"}'::lwwreg <> '{"c":1,"n":"a","v":"y"}' AS ne;
SELECT count(DISTINCT r) FROM (VALUES ('{"c":1,"n":"a","v":"x"}'::lwwreg), ('{ "c":1, "n":"a", "v":"x" }'),
	('{}'), (' { } ')) t(r);
SELECT r, count(*) FROM (VALUES ('{"c":1,"n":"a","v":"x"}'::lwwreg), ('{ "c":1, "n":"a", "v":"x" }'),
	('{}')) t(r) GROUP BY r ORDER BY r;
SET enable_mergejoin = off;
SET enable_nestloop = off;
SELECT count(*) AS hash_join_matches FROM w x JOIN w y ON x.r = y.r;
RESET enable_mergejoin;
RESET enable_nestloop;

-- casts to and from jsonb, through the canonical text
SELECT '{"c":1,"n":"a","v":"x"}'::lwwreg::jsonb, '{"v": "x", "c": 1, "n": "a"}'::jsonb::lwwreg,
	'{}'::jsonb::lwwreg;
SELECT '{"c":1,"n":"a"}'::jsonb::lwwreg;
SELECT '{"c":1,"n":"a","v":"x"}'::jsonb::lwwreg::jsonb = '{"c":1,"n":"a","v":"x"}'::jsonb AS round_trip;

-- the binary form: format byte 0x14, tag, clock, node, value
SELECT lwwreg_send('{"c":300,"n":"a","v":"xy"}'), lwwreg_send('{}');
SELECT pg_column_size('{"c":300,"n":"a","v":"xy"}'::lwwreg) AS in_memory_size;

-- COPY (FORMAT binary) round trip
CREATE TABLE bin (id int, r lwwreg);
INSERT INTO bin VALUES (1, '{"c":1,"n":"a","v":"x"}'), (2, '{}'), (3, NULL),
	(4, E'{"c":9223372036854775807,"n":"n\u00f6de","v":"line\\nbreak \\"\u00e9\\" \\\\"}'),
	(5, set('{}'::lwwreg, repeat('long ', 100000), 'n', 1));
-- a file of this backend's own, so that two runs never share one; read back, then removed
SELECT format('/tmp/laniakea_regress_%s_lwwreg.copy', pg_backend_pid()) AS copy_file,
	format('rm /tmp/laniakea_regress_%s_lwwreg.copy', pg_backend_pid()) AS copy_file_rm \gset
COPY bin TO :'copy_file' (FORMAT binary);
CREATE TABLE bin2 (LIKE bin);
COPY bin2 FROM :'copy_file' (FORMAT binary);
COPY (SELECT WHERE false) TO PROGRAM :'copy_file_rm';
SELECT count(*) AS rows_identical FROM bin a JOIN bin2 b USING (id)
	WHERE a.r IS NOT DISTINCT FROM b.r AND lwwreg_send(a.r) IS NOT DISTINCT FROM lwwreg_send(b.r);

-- receive checks every rule: binary_input.sql feeds it hostile values
DROP TABLE bin, bin2;

-- merge_agg: the latest write; serial and parallel agree
CREATE TABLE agg (id int, r lwwreg);
-- clocks repeat every 1000 rows and nodes every 7, so writes tie on the clock
-- and on (clock, node): the greatest, row 6999, ties on both with row 13999
INSERT INTO agg SELECT i, format('{"c":%s,"n":"n%s","v":"v%s"}', i % 1000, i % 7, i)::lwwreg
	FROM generate_series(1, 20000) i;
INSERT INTO agg VALUES (0, NULL), (-1, '{}');
ANALYZE agg;
SELECT merge_agg(r) FROM agg;
SELECT merge_agg(r) = (SELECT r FROM agg WHERE r <> '{}'
		ORDER BY clock(r) DESC, convert_to(node(r), 'UTF8') DESC, convert_to(get(r), 'UTF8') DESC LIMIT 1)
	AS agg_is_the_greatest_write FROM agg;
SELECT merge_agg(r) IS NULL AS no_rows_give_null FROM agg WHERE false;
SELECT merge_agg(r) IS NULL AS null_rows_give_null FROM agg WHERE id = 0;
SELECT merge_agg(r) AS only_the_empty_register FROM agg WHERE id <= 0;
SELECT id % 2 AS odd, merge_agg(r) FROM agg WHERE id < 20 GROUP BY 1 ORDER BY 1;
CREATE TEMP TABLE serial AS SELECT merge_agg(r) AS r FROM agg;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT merge_agg(r) FROM agg;
SELECT (SELECT r FROM serial) = merge_agg(r) AS parallel_same_as_serial FROM agg;
RESET ALL;
DROP TABLE agg;
