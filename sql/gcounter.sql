--
-- gcounter: text I/O, operations, the lattice, errors
--
\set SHOW_CONTEXT never

-- input normalizes whitespace, key order and zero entries; output is canonical
SELECT '{}'::gcounter;
SELECT '{"b":5,"a":3}'::gcounter;
SELECT E' \n{ "b" : 5 ,\t"a":3 } '::gcounter;
SELECT '{"a":3,"z":0}'::gcounter;
SELECT '{"a":0}'::gcounter;
SELECT '{"a":-0}'::gcounter;
SELECT '{"a":9223372036854775807}'::gcounter;
-- byte order of UTF-8, shorter first; escapes decoded, re-escaped only where JSON needs it
SELECT '{"ab":1,"a":2,"B":3,"é":4,"\u00e9x":5}'::gcounter;
SELECT '{"q\"uote":1,"back\\slash":2,"\/":3}'::gcounter;
SELECT '{"\ud83d\ude00":7}'::gcounter;
-- equal states have byte-equal text and storage
SELECT '{"b":5,"a":3}'::gcounter::text = '{"a":3,"b":5}'::gcounter::text AS same_text;
SELECT pg_column_size('{"a":3,"b":5}'::gcounter) AS bytes;

-- malformed input names the position
SELECT ''::gcounter;
SELECT '[]'::gcounter;
SELECT '{"a":1'::gcounter;
SELECT '{"a" 1}'::gcounter;
SELECT '{"a":1,}'::gcounter;
SELECT '{"a":1} x'::gcounter;
SELECT '{a:1}'::gcounter;
SELECT '{"a":"1"}'::gcounter;
SELECT '{"a":1.5}'::gcounter;
SELECT '{"a":1e3}'::gcounter;
SELECT '{"a":01}'::gcounter;
SELECT '{"a":-1}'::gcounter;
SELECT '{"a":9223372036854775808}'::gcounter;
SELECT '{"a":1,"a":2}'::gcounter;
SELECT '{"a":0,"a":1}'::gcounter;
SELECT '{"":1}'::gcounter;
SELECT '{"a\nb":1}'::gcounter;
SELECT '{"a\u0000":1}'::gcounter;
SELECT '{"\ud800":1}'::gcounter;
SELECT '{"\udc00":1}'::gcounter;
SELECT '{"\x":1}'::gcounter;
SELECT '{"\u12":1}'::gcounter;
SELECT '{"abc'::gcounter;
SELECT ('{"' || repeat('n', 256) || '":1}')::gcounter;
SELECT length(('{"' || repeat('n', 255) || '":1}')::gcounter::text) AS longest_node_id_accepted;

-- NULL behaves as in any type: functions are strict
SELECT NULL::gcounter;
SELECT merge(NULL::gcounter, '{"a":1}'), value(NULL::gcounter), increment(NULL::gcounter, 'a', 1);

-- merge is the per-node maximum; || is the same
SELECT merge('{"a":3,"b":1}'::gcounter, '{"b":4,"c":2}');
SELECT '{"a":3,"b":1}'::gcounter || '{"b":4,"c":2}';
SELECT '{"a":3}'::gcounter || '{"a":3}' = '{"a":3}'::gcounter AS idempotent;
SELECT '{"a":3}'::gcounter || '{}' AS identity;

-- value is the sum; a sum beyond bigint is an error, not a wrap
SELECT value('{"a":3,"b":5}'::gcounter);
SELECT value('{}'::gcounter);
SELECT value('{"a":9223372036854775807,"b":1}'::gcounter);

-- increment as a given node (IMMUTABLE) or as laniakea.node_id (STABLE)
SELECT increment('{"a":3}'::gcounter, 'a', 2);
SELECT increment('{"a":3}'::gcounter, 'b', 2);
SET laniakea.node_id = 'node-1';
SHOW laniakea.node_id;
SELECT increment('{}'::gcounter);
SELECT increment('{"node-1":4}'::gcounter, 10);
RESET laniakea.node_id;
SELECT current_setting('laniakea.node_id') ~ '^pg-[0-9]+$' AS default_node_id_is_per_cluster;
SELECT provolatile FROM pg_proc WHERE oid = 'increment(gcounter,bigint)'::regprocedure;
SELECT provolatile FROM pg_proc WHERE oid = 'increment(gcounter,text,bigint)'::regprocedure;
SELECT increment('{}'::gcounter, 'a', 0);
SELECT increment('{}'::gcounter, 'a', -5);
SELECT increment('{"a":9223372036854775807}'::gcounter, 'a', 1);
SELECT increment('{}'::gcounter, '', 1);
SELECT increment('{}'::gcounter, E'tab\there', 1);
SELECT increment('{}'::gcounter, repeat('x', 256), 1);
SET laniakea.node_id = E'bad\nid';
SET laniakea.node_id = '';
SELECT current_setting('laniakea.node_id') ~ '^pg-' AS empty_means_default;

-- delta: the entries that raise old
SELECT delta('{"a":3,"b":1}'::gcounter, '{"a":3,"b":4,"c":1}');
SELECT delta('{"a":3}'::gcounter, '{"a":1}');
SELECT merge('{"a":3,"b":1}'::gcounter, delta('{"a":3,"b":1}'::gcounter, '{"a":2,"b":4,"c":1}'))
	= merge('{"a":3,"b":1}'::gcounter, '{"a":2,"b":4,"c":1}') AS delta_law;

-- equality, inequality, lattice order
SELECT '{"a":1}'::gcounter = '{"a":1}' AS eq, '{"a":1}'::gcounter <> '{"a":2}' AS ne;
SELECT '{"a":1}'::gcounter <= '{"a":2,"b":1}' AS below, '{"a":3}'::gcounter <= '{"a":2,"b":1}' AS not_below;
SELECT '{}'::gcounter <= '{"a":1}' AS bottom;

-- hashing: GROUP BY and DISTINCT on states
CREATE TABLE gc (id int PRIMARY KEY, c gcounter);
INSERT INTO gc VALUES (1, '{"a":1}'), (2, '{ "a" : 1 }'), (3, '{"b":2}'), (4, NULL);
SELECT c, count(*) FROM gc GROUP BY c ORDER BY c::text;
SELECT count(DISTINCT c) FROM gc;
SELECT DISTINCT c FROM gc ORDER BY c;
SELECT gcounter_cmp('{"a":1}', '{"a":2}') AS cmp, '{"a":1}'::gcounter ~<~ '{"a":2}' AS sorts_before;
SELECT gcounter_hash('{"a":1}') = gcounter_hash('{ "a":1 }') AS equal_states_hash_equal;

-- casts to and from jsonb go through the canonical text
SELECT '{"b":2,"a":1}'::gcounter::jsonb;
SELECT '{"b": 2, "a": 1}'::jsonb::gcounter;
SELECT '{"a": 1.0}'::jsonb::gcounter;

-- an UPDATE that increments in place
UPDATE gc SET c = increment(c, 'a', 5) WHERE id = 1;
SELECT c FROM gc WHERE id = 1;
DROP TABLE gc;
