--
-- laniakea.track: validation, the catalog, merge on write
--
\set SHOW_CONTEXT never

CREATE TABLE no_pk (id int, c gcounter);
SELECT laniakea.track('no_pk');
CREATE TABLE two_col_pk (a int, b int, c gcounter, PRIMARY KEY (a, b));
SELECT laniakea.track('two_col_pk');
CREATE TABLE no_crdt (id int PRIMARY KEY, n bigint);
SELECT laniakea.track('no_crdt');
CREATE VIEW a_view AS SELECT 1 AS id;
SELECT laniakea.track('a_view');
SELECT laniakea.track('no_such_table');
SELECT count(*) AS nothing_tracked FROM laniakea.tracked;

CREATE SCHEMA app;
CREATE TABLE app.items (id text PRIMARY KEY, title text, likes gcounter NOT NULL DEFAULT '{}',
	stock pncounter, tags orset, total bigint GENERATED ALWAYS AS (value(likes)) STORED);
SELECT laniakea.track('app.items');
SELECT laniakea.track('app.items');
SELECT * FROM laniakea.tracked;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'app.items'::regclass ORDER BY tgname;

-- a CRDT column only grows: an UPDATE merges, it cannot shrink
INSERT INTO app.items (id, title, likes, tags) VALUES ('a', 'Apple', '{"n1":5}', add('{}'::orset, 'red', 'n1'));
UPDATE app.items SET likes = '{"n1":2,"n2":1}' WHERE id = 'a';
UPDATE app.items SET tags = '{}' WHERE id = 'a';
SELECT id, title, likes, tags, total FROM app.items;
UPDATE app.items SET likes = increment(likes, 'n1', 1), stock = decrement('{}'::pncounter, 'n1', 3) WHERE id = 'a';
SELECT id, likes, value(stock) AS stock, total FROM app.items;
-- an UPDATE that changes nothing is skipped
UPDATE app.items SET likes = '{"n1":1}' WHERE id = 'a';
-- the other columns are fixed after insert
UPDATE app.items SET title = 'Apricot' WHERE id = 'a';
UPDATE app.items SET id = 'b' WHERE id = 'a';
UPDATE app.items SET title = title, likes = increment(likes, 'n3', 1) WHERE id = 'a';
-- an INSERT of an existing key becomes a merge (the greater text of the other columns wins)
INSERT INTO app.items (id, title, likes) VALUES ('a', 'Aardvark', '{"n9":9}');
SELECT id, title, likes FROM app.items;
INSERT INTO app.items (id, title, likes) VALUES ('a', 'Banana', '{"n9":9}');
SELECT id, title, likes FROM app.items;
-- several rows with one key in one statement
INSERT INTO app.items (id, title, likes) VALUES ('c', 'Cherry', '{"x":1}'), ('c', 'Cherry', '{"y":2}');
SELECT id, title, likes FROM app.items WHERE id = 'c';
INSERT INTO app.items (id, likes) SELECT 'd', format('{"n%s":%s}', i, i)::gcounter FROM generate_series(1, 5) i;
SELECT id, likes, total FROM app.items WHERE id = 'd';

-- reconcile merges a copy of a peer's rows
CREATE TABLE peer_copy (LIKE app.items);
ALTER TABLE peer_copy DROP COLUMN total;
INSERT INTO peer_copy (id, title, likes, laniakea_cl) VALUES ('a', 'Banana', '{"n1":100}', 1), ('e', 'Elder', '{"p":1}', 1);
SELECT laniakea.reconcile('app.items', 'peer_copy');
SELECT id, title, likes FROM app.items ORDER BY id;
SELECT laniakea.reconcile('no_pk', 'peer_copy');

-- every tracked table is in the publication laniakea_changes, with the tombstones
SELECT pubname, pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = 'laniakea_changes';
SELECT tablename FROM pg_publication_tables WHERE pubname = 'laniakea_changes' ORDER BY 1;

-- notify => false: no notify triggers, so no NOTIFY on the write path (a bridge
-- reading the WAL serves the table); tracking again with notify brings them back
SELECT laniakea.track('app.items', notify => false);
SELECT tgname FROM pg_trigger WHERE tgrelid = 'app.items'::regclass AND NOT tgisinternal ORDER BY 1;
SELECT notify FROM laniakea.tracked WHERE tbl = 'app.items'::regclass;
UPDATE app.items SET likes = increment(likes, 'n9', 1) WHERE id = 'a';
SELECT laniakea.track('app.items');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'app.items'::regclass AND NOT tgisinternal ORDER BY 1;

-- untrack removes everything track installed, and is harmless twice
SELECT laniakea.untrack('app.items');
SELECT laniakea.untrack('app.items');
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'app.items'::regclass AND NOT tgisinternal;
SELECT count(*) AS still_published FROM pg_publication_tables WHERE pubname = 'laniakea_changes' AND tablename = 'items';
UPDATE app.items SET likes = '{}' WHERE id = 'a';
SELECT likes FROM app.items WHERE id = 'a';

-- dropping a tracked table forgets it
CREATE TABLE gone (id int PRIMARY KEY, c gcounter);
SELECT laniakea.track('gone');
DROP TABLE gone;
SELECT count(*) AS rows_for_dropped_table FROM laniakea.tracked;

-- lwwreg columns are CRDT columns: a row keeps the latest write of each
CREATE TABLE app.todos (id int PRIMARY KEY, title lwwreg NOT NULL DEFAULT '{}', done lwwreg);
SELECT laniakea.track('app.todos');
SELECT crdt_columns FROM laniakea.tracked WHERE tbl = 'app.todos'::regclass;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'app.todos'::regclass ORDER BY tgname;
INSERT INTO app.todos VALUES (1, set('{}'::lwwreg, 'buy milk', 'n1', 1000), set('{}'::lwwreg, 'no', 'n1', 1000));
-- an UPDATE to an earlier write is merged away
WITH u AS (UPDATE app.todos SET title = set('{}'::lwwreg, 'stale', 'n2', 500) WHERE id = 1 RETURNING 1)
SELECT count(*) AS rows_updated FROM u;
SELECT id, title, done FROM app.todos;
-- a set on the stored register wins, whatever its clock argument, and so does one at the wall clock
UPDATE app.todos SET title = set(title, 'buy oat milk', 'n2', 1) WHERE id = 1;
UPDATE app.todos SET done = set(done, 'yes', 'n3') WHERE id = 1;
SELECT id, title, get(done), node(done), clock(done) > 1000 AS later FROM app.todos;
-- an INSERT of an existing key merges: an earlier write loses, a later one wins, ties go to the node id
INSERT INTO app.todos VALUES (1, '{"c":1,"n":"n9","v":"old"}', '{"c":9000000000000000,"n":"n9","v":"later"}');
SELECT id, title, done FROM app.todos;
INSERT INTO app.todos VALUES (2, '{"c":5,"n":"a","v":"from a"}'), (2, '{"c":5,"n":"b","v":"from b"}'),
	(2, '{"c":5,"n":"a","v":"from a, again"}');
SELECT id, title, done FROM app.todos WHERE id = 2;
-- reconcile merges a peer's registers
CREATE TABLE peer_todos (id int, title lwwreg, done lwwreg);
INSERT INTO peer_todos VALUES (2, '{"c":6,"n":"z","v":"peer"}', '{}'), (3, '{"c":1,"n":"z","v":"new row"}', NULL);
SELECT laniakea.reconcile('app.todos', 'peer_todos');
SELECT id, get(title) AS title, get(done) AS done FROM app.todos ORDER BY id;
DROP TABLE app.todos, peer_todos;

-- the trigger functions refuse to be used any other way
CREATE TABLE misuse (id int PRIMARY KEY, c gcounter);
CREATE TRIGGER wrong AFTER INSERT ON misuse FOR EACH ROW EXECUTE FUNCTION laniakea.merge_trigger();
INSERT INTO misuse VALUES (1, '{}');
DROP TRIGGER wrong ON misuse;
CREATE TRIGGER by_hand BEFORE INSERT ON no_pk FOR EACH ROW EXECUTE FUNCTION laniakea.merge_trigger();
INSERT INTO no_pk VALUES (1, '{}');
CREATE TRIGGER by_hand BEFORE INSERT ON no_crdt FOR EACH ROW EXECUTE FUNCTION laniakea.merge_trigger();
INSERT INTO no_crdt VALUES (1, 1);
CREATE TRIGGER wrong BEFORE INSERT ON misuse FOR EACH STATEMENT EXECUTE FUNCTION laniakea.notify_trigger();
INSERT INTO misuse VALUES (1, '{}');
DROP TABLE misuse, no_pk, two_col_pk, no_crdt, peer_copy, app.items;
DROP VIEW a_view;
DROP SCHEMA app;

-- topic names (docs/protocol.md, Topics): schema-qualified unless public, with
-- '%', '.' and ':' of names escaped, so that every table has one topic
SELECT laniakea.topic_table('public', 'counters') AS plain, laniakea.topic_table('app', 'items') AS qualified,
	laniakea.topic_table('public', 'a.b') AS dotted, laniakea.topic_table('a', 'b') AS of_schema_a,
	laniakea.topic_table('public', 'a:b') AS colon, laniakea.topic_table('s.x', '100%') AS escaped,
	laniakea.topic_table('public', 'Crème "brûlée"') AS unescaped;
CREATE SCHEMA "s.x";
CREATE TABLE "s.x"."a:b" (id int PRIMARY KEY, c gcounter);
SELECT laniakea.topic('"s.x"."a:b"') AS table_topic, laniakea.topic('"s.x"."a:b"', 'k:1') AS row_topic,
	laniakea.topic('"s.x"."a:b"', NULL) AS without_key, laniakea.topic(NULL, 'k') AS of_no_table;
DROP TABLE "s.x"."a:b";
DROP SCHEMA "s.x";

-- the owner of a tracked table needs no rights on schema laniakea to write,
-- delete from, rename and drop it: the triggers and event triggers it fires
-- run with the extension's rights (a DROP TABLE by such a role once failed)
CREATE ROLE lk_regress_owner;
GRANT CREATE ON SCHEMA public TO lk_regress_owner;
SET ROLE lk_regress_owner;
CREATE TABLE owned (id int PRIMARY KEY, c gcounter NOT NULL DEFAULT '{}');
RESET ROLE;
SELECT laniakea.track('owned');
SET ROLE lk_regress_owner;
INSERT INTO owned VALUES (1, '{"a":1}');
DELETE FROM owned;
ALTER TABLE owned RENAME TO owned_renamed;
DROP TABLE owned_renamed;
RESET ROLE;
SELECT count(*) AS tracked_left FROM laniakea.tracked WHERE rel LIKE 'owned%';
SELECT count(*) AS tombstones_left FROM laniakea.tombstones WHERE rel LIKE 'owned%';
REVOKE CREATE ON SCHEMA public FROM lk_regress_owner;
DROP ROLE lk_regress_owner;
