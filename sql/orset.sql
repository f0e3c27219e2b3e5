--
-- orset: add-wins observed-remove set with a causal context
--
\set SHOW_CONTEXT never

SELECT '{}'::orset;
SELECT add('{}'::orset, 'x', 'n1');
SELECT add(add('{}'::orset, 'x', 'n1'), 'y', 'n1');
SELECT add(add('{}'::orset, 'x', 'n1'), 'x', 'n1') AS re_add_supersedes_own_dot;
SELECT add(add('{}'::orset, 'x', 'n1'), 'x', 'n2') AS re_add_by_other_node;
SELECT remove(add(add('{}'::orset, 'x', 'n1'), 'y', 'n1'), 'x') AS context_keeps_removed_dot;
SELECT remove('{}'::orset, 'x') = '{}'::orset AS remove_absent_is_noop;
SELECT remove(add('{}'::orset, 'x', 'n1'), 'nope') = add('{}'::orset, 'x', 'n1') AS remove_absent_is_noop_2;
SET laniakea.node_id = 'me';
SELECT add('{}'::orset, 'hello');
RESET laniakea.node_id;

-- input normalizes order, whitespace, overlapping and adjacent ranges, repeated dots
SELECT '{ "e" : { "b":{"n":[2]}, "a":{"n":[1,1]} }, "c" : { "n" : [[3,4],[1,1],[2,2],[6,9],[7,8]] } }'::orset;
SELECT '{"c":{"n":[[1,3]]},"e":{"a":{}}}'::orset AS element_without_dots_is_absent;
SELECT '{"c":{"n":[]}}'::orset AS node_without_ranges_is_dropped;
SELECT E'{"c":{"n":[[1,3]]},"e":{"tab\\there":{"n":[1]},"\\u00e9":{"n":[2]},"q\\"":{"n":[3]}}}'::orset;

-- malformed input
SELECT '{"x":{}}'::orset;
SELECT '{"c":{},"c":{}}'::orset;
SELECT '{"c":{"n":[[1,2]]},"e":{"a":{"n":[3]}}}'::orset;
SELECT '{"e":{"a":{"m":[1]}},"c":{"n":[[1,2]]}}'::orset;
SELECT '{"c":{"n":[[2,1]]}}'::orset;
SELECT '{"c":{"n":[[0,1]]}}'::orset;
SELECT '{"c":{"n":[[1]]}}'::orset;
SELECT '{"c":{"n":[[1,2,3]]}}'::orset;
SELECT '{"c":{"n":[1,2]}}'::orset;
SELECT '{"c":{"n":[[1,2]],"n":[[4,5]]}}'::orset;
SELECT '{"c":{"n":[[1,2]]},"e":{"a":{"n":[1]},"a":{"n":[2]}}}'::orset;
SELECT '{"c":{"n":[[1,2]]},"e":{"a":{"n":[0]}}}'::orset;
SELECT '{"c":{"n":[[1,2]]},"e":{"a":{"n":[1]},"b":{"n":[1]}}}'::orset;
SELECT '{"c":{"n":[[1,9223372036854775808]]}}'::orset;
SELECT '{"c":{"":[[1,1]]}}'::orset;
SELECT '{"c":{"n":[[1,1]]},"e":{"a\u0000b":{"n":[1]}}}'::orset;
SELECT ('{"c":{"n":[[1,1]]},"e":{"' || repeat('x', 4097) || '":{"n":[1]}}}')::orset;
SELECT length(('{"c":{"n":[[1,1]]},"e":{"' || repeat('x', 4096) || '":{"n":[1]}}}')::orset::text) AS longest_element_accepted;
SELECT add('{}'::orset, repeat('x', 4097), 'n1');
SELECT add('{}'::orset, 'x', '');
SELECT add('{"c":{"n":[[1,9223372036854775807]]}}'::orset, 'x', 'n');

-- readers
SELECT elements('{"c":{"n":[[1,3]]},"e":{"b":{"n":[1]},"a":{"n":[2]},"B":{"n":[3]}}}'::orset);
SELECT elements('{}'::orset), cardinality('{}'::orset);
SELECT cardinality('{"c":{"n":[[1,3]]},"e":{"b":{"n":[1]},"a":{"n":[2]}}}'::orset);
SELECT contains(add('{}'::orset, 'x', 'n1'), 'x') AS has_x, contains(add('{}'::orset, 'x', 'n1'), 'y') AS has_y;
SELECT contains(NULL::orset, 'x'), elements(NULL::orset), add(NULL::orset, 'x', 'n');

-- add wins: replica A removes x while replica B concurrently re-adds it
CREATE TEMP TABLE r (name text PRIMARY KEY, s orset);
INSERT INTO r VALUES ('base', add('{}'::orset, 'x', 'A'));
INSERT INTO r SELECT 'A', remove(s, 'x') FROM r WHERE name = 'base';
INSERT INTO r SELECT 'B', add(s, 'x', 'B') FROM r WHERE name = 'base';
SELECT contains(a.s || b.s, 'x') AS concurrent_add_wins, a.s || b.s AS merged
	FROM r a, r b WHERE a.name = 'A' AND b.name = 'B';
-- observed remove: B removes after seeing both adds, so x is gone everywhere
INSERT INTO r SELECT 'B2', remove(a.s || b.s, 'x') FROM r a, r b WHERE a.name = 'A' AND b.name = 'B';
SELECT contains(a.s || b2.s, 'x') AS observed_remove_wins, a.s || b2.s AS merged
	FROM r a, r b2 WHERE a.name = 'A' AND b2.name = 'B2';
-- merge is commutative, idempotent; states merge into the same bytes either way
SELECT (a.s || b.s) = (b.s || a.s) AS commutative, (a.s || a.s) = a.s AS idempotent
	FROM r a, r b WHERE a.name = 'A' AND b.name = 'B';

-- delta: smallest d with merge(old, d) = merge(old, new)
SELECT delta(add('{}'::orset, 'x', 'n1'), add(add('{}'::orset, 'x', 'n1'), 'y', 'n1'));
SELECT delta(add('{}'::orset, 'x', 'n1'), remove(add('{}'::orset, 'x', 'n1'), 'x')) AS removal_delta;
SELECT delta(s, s) FROM r WHERE name = 'A';
SELECT merge(a.s, delta(a.s, b.s)) = merge(a.s, b.s) AS delta_law FROM r a, r b WHERE a.name = 'A' AND b.name = 'B';

-- order and equality
SELECT a.s <= (a.s || b.s) AS inflation, (a.s || b.s) <= a.s AS not_below
	FROM r a, r b WHERE a.name = 'A' AND b.name = 'B';
SELECT '{"c":{"n":[[1,2]]},"e":{"a":{"n":[1]}}}'::orset = '{ "e":{"a":{"n":[1]}}, "c":{"n":[[2,2],[1,1]]} }' AS eq;
SELECT count(DISTINCT s) FROM r;
SELECT '{"c":{"n":[[1,1]]},"e":{"a":{"n":[1]}}}'::orset::jsonb;
SELECT '{"c": {"n": [[1, 1]]}, "e": {"a": {"n": [1]}}}'::jsonb::orset;

-- large states (compressed, out of line) are merged on their encodings: the result
-- is the canonical state.  a: el-000000 .. el-019999 added by node-a; b: the upper
-- half of a and 10000 more, added by node-b, which has seen node-a's first 10000 adds
-- and so removed those elements
CREATE TEMP TABLE big AS
SELECT (SELECT ('{"c":{"node-a":[[1,20000]]},"e":{' || string_agg(format('"el-%s":{"node-a":[%s]}',
			lpad(i::text, 6, '0'), i + 1), ',' ORDER BY i) || '}}')::orset
		FROM generate_series(0, 19999) i) AS a,
	(SELECT ('{"c":{"node-a":[[1,10000]],"node-b":[[1,20000]]},"e":{' || string_agg(format('"el-%s":{"node-b":[%s]}',
			lpad(i::text, 6, '0'), i - 9999), ',' ORDER BY i) || '}}')::orset
		FROM generate_series(10000, 29999) i) AS b,
	(SELECT '{"c":{"node-a":[[1,20000]],"node-b":[[1,20000]]},"e":{' || string_agg(CASE WHEN i < 20000
			THEN format('"el-%s":{"node-a":[%s],"node-b":[%s]}', lpad(i::text, 6, '0'), i + 1, i - 9999)
			ELSE format('"el-%s":{"node-b":[%s]}', lpad(i::text, 6, '0'), i - 9999) END, ',' ORDER BY i) || '}}'
		FROM generate_series(10000, 29999) i) AS want;
SELECT pg_column_size(a) < octet_length(orset_send(a)) AS a_compressed FROM big;
SELECT (a || b)::text = want AS merged_canonical, (a || b) = (b || a) AS commutative,
	cardinality(a || b), pg_column_size(a || b), (a || b) || a = a || b AS idempotent
	FROM big;
