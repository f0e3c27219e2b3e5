--
-- A merge past a documented limit never stops replication: in a replica the
-- merge trigger keeps the local value, records the incoming state in
-- laniakea.rejected and warns; a local write still gets the error
--
\set SHOW_CONTEXT never

CREATE TABLE big (id int PRIMARY KEY, s orset, c gcounter);
SELECT laniakea.track('big');
-- two valid orsets of 500,001 and 500,000 elements, added by nodes x and y:
-- their merge would hold 1,000,001 elements, one more than an orset may
CREATE TEMP TABLE halves AS
SELECT (SELECT format('{"c":{"x":[[1,500001]]},"e":{%s}}',
					  string_agg(format('"a%s":{"x":[%s]}', i, i), ','))
		FROM generate_series(1, 500001) i)::orset AS a,
	   (SELECT format('{"c":{"y":[[1,500000]]},"e":{%s}}',
					  string_agg(format('"b%s":{"y":[%s]}', i, i), ','))
		FROM generate_series(1, 500000) i)::orset AS b;
SELECT cardinality(a) AS a, cardinality(b) AS b FROM halves;
SELECT cardinality(a || b) FROM halves;
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
INSERT INTO big (id, s, c) SELECT 1, a, '{"x":1}' FROM halves;

-- a local write past the limit is an error, as before
UPDATE big SET s = (SELECT b FROM halves) WHERE id = 1;
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
INSERT INTO big (id, s) SELECT 1, b FROM halves;

-- in a replica the row keeps its local value of that column and merges the
-- others; the incoming state is kept, and the write goes through
SET session_replication_role = replica;
UPDATE big SET s = (SELECT b FROM halves), c = '{"y":2}' WHERE id = 1;
INSERT INTO big (id, s, c) SELECT 1, b, '{"z":3}' FROM halves;
INSERT INTO big (id, s) SELECT 2, b FROM halves;
RESET session_replication_role;
SELECT id, cardinality(s), contains(s, 'a1') AS has_a1, contains(s, 'b1') AS has_b1, c
FROM big ORDER BY id;
SELECT r.id, r.tbl, r.key, r.col, r.state::orset = h.b AS state_is_the_incoming_one,
	r.reason, r.origin
FROM laniakea.rejected r, halves h ORDER BY r.id;

-- a gcounter whose merge would name more than 65,536 nodes, the same way
CREATE TABLE wide (id int PRIMARY KEY, c gcounter);
SELECT laniakea.track('wide');
INSERT INTO wide SELECT 1, ('{' || string_agg(format('"p%s":1', i), ',') || '}')::gcounter
FROM generate_series(1, 40000) i;
SET session_replication_role = replica;
INSERT INTO wide SELECT 1, ('{' || string_agg(format('"q%s":1', i), ',') || '}')::gcounter
FROM generate_series(1, 40000) i;
RESET session_replication_role;
SELECT bigvalue(c) AS local_value_kept FROM wide;
SELECT key, col, bigvalue(state::gcounter) AS incoming_value, reason FROM laniakea.rejected
WHERE tbl = 'wide'::regclass;

-- dropping a table forgets its rejected states
DROP TABLE big;
SELECT tbl, count(*) FROM laniakea.rejected GROUP BY tbl;
DROP TABLE wide;
SELECT count(*) AS rejected_left FROM laniakea.rejected;
