--
-- Counter totals: no accepted write makes a row unreadable.  value() is exact
-- or 22003; bigvalue() is exact for every state; a write made on this node may
-- not raise a total (a gcounter's sum, a pncounter's P or N) past 2^63-1;
-- merge, merge_agg and replication never refuse.
--
\set SHOW_CONTEXT never

-- bigvalue reads every state exactly; value keeps its bigint contract
SELECT bigvalue('{}'::gcounter) AS empty, bigvalue('{"a":5,"b":7}'::gcounter) AS small,
	value('{"a":5,"b":7}'::gcounter) AS small_value;
SELECT bigvalue('{"a":9223372036854775807,"b":9223372036854775807}'::gcounter);
SELECT value('{"a":9223372036854775807,"b":1}'::gcounter);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT bigvalue('{"n":{"a":9223372036854775807,"b":9223372036854775807}}'::pncounter);
SELECT bigvalue('{"n":{"c":9223372036854775807},"p":{"a":9223372036854775807,"b":3}}'::pncounter) AS big,
	value('{"n":{"c":9223372036854775807},"p":{"a":9223372036854775807,"b":3}}'::pncounter) AS fits;
SELECT bigvalue(NULL::gcounter), bigvalue(NULL::pncounter);
-- the largest state there is: 65,536 nodes at the maximum count
SELECT bigvalue(g) AS total, bigvalue(g) = 9223372036854775807::numeric * 65536 AS exact
FROM (SELECT ('{' || string_agg(format('"n%s":9223372036854775807', i), ',') || '}')::gcounter AS g
	  FROM generate_series(1, 65536) i) s;

-- increment and decrement refuse to raise a total past 2^63-1
SELECT increment('{"a":9223372036854775806}'::gcounter, 'b', 1) AS up_to_the_maximum;
SELECT increment('{"a":9223372036854775807}'::gcounter, 'b', 1);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT increment('{"a":1}'::gcounter, 'b', 9223372036854775807);
SELECT increment('{"p":{"a":9223372036854775807}}'::pncounter, 'b', 1);
SELECT decrement('{"n":{"a":9223372036854775807},"p":{"a":9223372036854775807}}'::pncounter, 'b', 1);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- each total on its own: the other half may be anything
SELECT value(decrement('{"p":{"a":9223372036854775807,"b":9}}'::pncounter, 'a', 9)) AS p_past_bigint_n_raised;
SELECT value(increment('{"n":{"a":9223372036854775807}}'::pncounter, 'a', 9223372036854775807)) AS both_at_the_maximum;

-- merge and merge_agg never refuse: a join must be total
SELECT '{"a":9223372036854775807}'::gcounter || '{"b":1}' AS joined;
SELECT value('{"a":9223372036854775807}'::gcounter || '{"b":1}');
SELECT bigvalue('{"a":9223372036854775807}'::gcounter || '{"b":1}');
SELECT bigvalue(merge_agg(c)) FROM (VALUES ('{"a":9223372036854775807}'::gcounter), ('{"b":1}'), ('{"c":2}')) v(c);
SELECT bigvalue(merge_agg(c)) FROM (VALUES ('{"n":{"a":9223372036854775807}}'::pncounter), ('{"n":{"b":1}}')) v(c);

-- a tracked table on node A; node B's writes arrive by replication
CREATE TABLE hits (id int PRIMARY KEY, c gcounter, p pncounter, tags orset);
SELECT laniakea.track('hits');
INSERT INTO hits (id, c, p) VALUES (1, '{"A":9223372036854775807}', '{"n":{"A":9223372036854775807}}');

-- local writes that would raise a total past bigint are refused
INSERT INTO hits (id, c) VALUES (2, '{"A":9223372036854775807,"B":1}');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
INSERT INTO hits (id, p) VALUES (2, '{"n":{"A":9223372036854775807,"B":1}}');
UPDATE hits SET c = '{"B":1}' WHERE id = 1;
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
UPDATE hits SET p = '{"n":{"B":1}}' WHERE id = 1;
-- an INSERT of an existing key is a merge, and a local write too
INSERT INTO hits (id, c) VALUES (1, '{"B":1}');
UPDATE hits SET c = NULL WHERE id = 1;
UPDATE hits SET c = increment(c, 'B', 1) WHERE id = 1;
SELECT id, c, p FROM hits ORDER BY id;

-- replication never refuses: node B counted 1 while node A counted to the
-- maximum; the merged state passes bigint and is still readable, exactly
SET session_replication_role = replica;
UPDATE hits SET c = '{"B":1}', p = '{"n":{"B":1}}' WHERE id = 1;
INSERT INTO hits (id, c, p) VALUES (1, '{"C":2}', NULL);
INSERT INTO hits (id, c, p) VALUES (2, '{"A":9223372036854775807,"B":5}', '{"p":{"A":9223372036854775807,"B":1}}');
RESET session_replication_role;
SELECT id, c, bigvalue(c) AS c_value, p, bigvalue(p) AS p_value FROM hits ORDER BY id;
SELECT value(c) FROM hits WHERE id = 1;
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT value(p) AS p_fits_at_bigint_min FROM hits WHERE id = 1;

-- on such a row, local writes that raise no total past bigint still work
UPDATE hits SET tags = add('{}'::orset, 'x', 'A') WHERE id = 1;
UPDATE hits SET p = decrement('{}'::pncounter, 'A', 7) WHERE id = 2;
UPDATE hits SET c = '{"A":1,"B":1}' WHERE id = 1;
-- and a write that raises one is refused, whatever it adds
UPDATE hits SET c = '{"D":1}' WHERE id = 1;
UPDATE hits SET c = increment(c, 'E', 1) WHERE id = 2;
UPDATE hits SET p = '{"p":{"D":1}}' WHERE id = 2;
SELECT id, c, bigvalue(c) AS c_value, p, value(p) AS p_value, elements(tags) AS tags FROM hits ORDER BY id;
DROP TABLE hits;
