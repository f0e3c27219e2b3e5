--
-- Deletes of tracked tables: causal length, tombstones, what replication does
--
\set SHOW_CONTEXT never

CREATE TABLE d (id int PRIMARY KEY, c gcounter, s orset, note text);
SELECT laniakea.track('d');
-- track adds the causal length: 1 for the rows there are, NOT NULL, no default
SELECT attname, format_type(atttypid, atttypmod), attnotnull, atthasdef
FROM pg_attribute WHERE attrelid = 'd'::regclass AND attname = 'laniakea_cl';

-- a row starts at 1; a DELETE leaves a tombstone one above it
INSERT INTO d (id, c) VALUES (1, '{"a":1}'), (2, '{"a":2}');
SELECT id, c, laniakea_cl FROM d ORDER BY id;
DELETE FROM d WHERE id = 1;
SELECT nsp, rel, key, cl FROM laniakea.tombstones;
SELECT count(*) AS deleted_rows_are_gone FROM d WHERE id = 1;

-- an INSERT after the DELETE is the next incarnation, starting afresh
INSERT INTO d (id, c) VALUES (1, '{"b":5}');
SELECT id, c, laniakea_cl FROM d WHERE id = 1;
DELETE FROM d WHERE id = 1;
INSERT INTO d VALUES (1, '{"b":6}');
SELECT id, c, laniakea_cl FROM d WHERE id = 1;
SELECT key, cl FROM laniakea.tombstones ORDER BY key, cl;

-- nobody changes the causal length by hand, nor inserts a deleted one
UPDATE d SET laniakea_cl = 7 WHERE id = 1;
UPDATE d SET laniakea_cl = laniakea_cl, c = increment(c, 'x', 1) WHERE id = 1;
INSERT INTO d (id, c, laniakea_cl) VALUES (3, '{}', 2);
INSERT INTO d (id, c, laniakea_cl) VALUES (3, '{}', 0);
INSERT INTO d (id, c, laniakea_cl) VALUES (3, '{}', -5);
-- an INSERT naming an incarnation a tombstone outranks is discarded
INSERT INTO d (id, c, laniakea_cl) VALUES (2, '{"late":1}', 1);
DELETE FROM d WHERE id = 2;
INSERT INTO d (id, c, laniakea_cl) VALUES (2, '{"late":1}', 1);
SELECT count(*) AS stale_insert_discarded FROM d WHERE id = 2;
INSERT INTO d (id, c, laniakea_cl) VALUES (2, '{"next":1}', 3);
SELECT id, c, laniakea_cl FROM d WHERE id = 2;

-- replication (an apply worker: replica role and a replication origin): a
-- stale row is discarded, a later incarnation replaces the row whole, the
-- same one merges; a replicated DELETE is skipped (tombstones carry it)
SELECT pg_replication_origin_create('lk_peer') IS NOT NULL AS origin;
SET session_replication_role = replica;
SELECT pg_replication_origin_session_setup('lk_peer');
INSERT INTO d (id, c, note, laniakea_cl) VALUES (2, '{"old":9}', 'old', 1);
SELECT id, c, note, laniakea_cl FROM d WHERE id = 2;
INSERT INTO d (id, c, note, laniakea_cl) VALUES (2, '{"peer":1}', NULL, 3);
SELECT id, c, note, laniakea_cl FROM d WHERE id = 2;
INSERT INTO d (id, c, note, laniakea_cl) VALUES (2, '{"newer":1}', 'newer', 5);
SELECT id, c, note, laniakea_cl FROM d WHERE id = 2;
UPDATE d SET c = '{"stale":1}', laniakea_cl = 3 WHERE id = 2;
SELECT id, c, note, laniakea_cl FROM d WHERE id = 2;
DELETE FROM d WHERE id = 2;
SELECT count(*) AS replicated_delete_skipped FROM d WHERE id = 2;

-- a replicated tombstone deletes the rows it outranks, and no other
INSERT INTO laniakea.tombstones (nsp, rel, key, cl) VALUES ('public', 'd', '2', 4);
SELECT count(*) AS outranked_row_kept FROM d WHERE id = 2;
INSERT INTO laniakea.tombstones (nsp, rel, key, cl) VALUES ('public', 'd', '2', 6);
SELECT count(*) AS row_deleted FROM d WHERE id = 2;
-- one row per deletion; the key's tombstone is the greatest
SELECT key, cl FROM laniakea.tombstones WHERE key = '2' ORDER BY cl;
-- the same deletion twice (two nodes deleted one incarnation): the earlier time stays
INSERT INTO laniakea.tombstones (nsp, rel, key, cl, deleted_at) VALUES ('public', 'd', '2', 8, '2001-01-01');
INSERT INTO laniakea.tombstones (nsp, rel, key, cl, deleted_at) VALUES ('public', 'd', '2', 8, '2002-01-01');
INSERT INTO laniakea.tombstones (nsp, rel, key, cl, deleted_at) VALUES ('public', 'd', '2', 8, '2000-06-01');
SELECT key, cl, deleted_at FROM laniakea.tombstones WHERE key = '2' AND cl = 8;
-- a replicated change of a tombstone's causal length is not one
UPDATE laniakea.tombstones SET cl = 10 WHERE key = '2' AND cl = 8;
SELECT max(cl) FROM laniakea.tombstones WHERE key = '2';
-- a tombstone of a table this node does not have waits; collection is local
INSERT INTO laniakea.tombstones (nsp, rel, key, cl) VALUES ('elsewhere', 'gone', 'k', 2);
DELETE FROM laniakea.tombstones;
SELECT count(*) AS replicated_collection_skipped FROM laniakea.tombstones;
-- a replicated TRUNCATE is refused: its deletions travel as tombstones
TRUNCATE d;
SELECT pg_replication_origin_session_reset();
RESET session_replication_role;

-- an operator's session in replica role (no origin) deletes as any session does
SET session_replication_role = replica;
INSERT INTO d (id, c) VALUES (30, '{}');
DELETE FROM d WHERE id = 30;
SELECT key, cl FROM laniakea.tombstones WHERE key = '30';
RESET session_replication_role;
INSERT INTO laniakea.tombstones (nsp, rel, key, cl, deleted_at) VALUES ('public', 'd', '9', 3, '2000-01-01');

-- TRUNCATE leaves a tombstone for every row
INSERT INTO d (id, c) SELECT i, '{}' FROM generate_series(10, 14) i;
TRUNCATE d;
SELECT count(*) AS rows_left FROM d;
SELECT key, max(cl) AS cl FROM laniakea.tombstones WHERE rel = 'd' GROUP BY key ORDER BY key::int;
INSERT INTO d (id, c) VALUES (10, '{"again":1}');
SELECT id, c, laniakea_cl FROM d;

-- the delete trigger works inside a transaction with DDL, and rolls back with it
BEGIN;
ALTER TABLE d ADD COLUMN extra gcounter;
DELETE FROM d WHERE id = 10;
SELECT count(*) FROM laniakea.tombstones WHERE key = '10' AND cl = 4;
ROLLBACK;
SELECT id, laniakea_cl FROM d;
SELECT cl FROM laniakea.tombstones WHERE key = '10' ORDER BY cl;

-- tombstones are not edited by hand
UPDATE laniakea.tombstones SET cl = 20 WHERE key = '11';

-- collecting tombstones: by age, and those a later deletion of the key supersedes
SELECT key, cl FROM laniakea.tombstones WHERE rel = 'd' ORDER BY key::int, cl;
SELECT laniakea.collect_tombstones('1 hour');
SELECT key, cl FROM laniakea.tombstones WHERE rel = 'd' ORDER BY key::int, cl;
INSERT INTO laniakea.tombstones SELECT 'public', 'd', k, 4, now() - interval '2 hours' FROM unnest('{11,12}'::text[]) k;
SELECT laniakea.collect_tombstones('1 hour');
SELECT key FROM laniakea.tombstones WHERE rel = 'd' ORDER BY key::int;
SELECT laniakea.collect_tombstones();

-- a table whose laniakea_cl is gone (or was never added) is told how to fix it
CREATE TABLE old_style (id int PRIMARY KEY, c gcounter);
SELECT laniakea.track('old_style');
ALTER TABLE old_style DROP COLUMN laniakea_cl;
INSERT INTO old_style VALUES (1, '{}');
DELETE FROM old_style;
SELECT laniakea.track('old_style');
INSERT INTO old_style VALUES (1, '{}');
DELETE FROM old_style;
CREATE TABLE wrong_cl (id int PRIMARY KEY, c gcounter, laniakea_cl text);
SELECT laniakea.track('wrong_cl');

-- reconcile repairs deletes too, from a copy of a peer's tombstones
CREATE TABLE peer_rows (LIKE d);
CREATE TABLE peer_tombs (LIKE laniakea.tombstones);
INSERT INTO d (id, c) VALUES (20, '{"a":1}'), (21, '{"a":1}');
INSERT INTO peer_rows (id, c, laniakea_cl) VALUES (20, '{"p":1}', 1), (22, '{"p":2}', 1);
INSERT INTO peer_tombs VALUES ('public', 'd', '21', 2, now()), ('public', 'd', '22', 2, now()), ('public', 'other', '20', 8, now());
SELECT laniakea.reconcile('d', 'peer_rows', 'peer_tombs');
SELECT id, c, laniakea_cl FROM d WHERE id >= 20 ORDER BY id;
SELECT key, cl FROM laniakea.tombstones WHERE rel = 'd' AND key::int >= 20 ORDER BY key, cl;

-- untrack leaves the column and the tombstones; deletes are plain again
SELECT laniakea.untrack('d');
DELETE FROM d WHERE id = 20;
SELECT count(*) AS no_new_tombstone FROM laniakea.tombstones WHERE key = '20';

-- a key is printed the same whatever the session's settings: a timestamp key
-- deleted under one DateStyle and TimeZone is found again under another
CREATE TABLE stamped (at timestamptz PRIMARY KEY, c gcounter);
SELECT laniakea.track('stamped');
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'Europe/Paris';
INSERT INTO stamped VALUES ('2024-01-02 03:04:05.678901+00', '{"a":1}');
DELETE FROM stamped;
SELECT key, cl FROM laniakea.tombstones WHERE rel = 'stamped';
SET DateStyle = 'German';
SET TimeZone = 'America/New_York';
INSERT INTO stamped VALUES ('2024-01-02 03:04:05.678901+00', '{"b":1}');
SELECT laniakea_cl FROM stamped;
RESET DateStyle;
RESET TimeZone;
-- the text form of a key, as topics and tombstones write it, from any form of it
SELECT laniakea.key_text('stamped', '2024-01-02T03:04:05.678901Z');
SELECT laniakea.key_text('stamped', 'Jan 2 2024 04:04:05.678901+01');
SELECT laniakea.key_text('stamped', 'not a time');
SELECT laniakea.key_text('d', ' 042 ');
SELECT laniakea.key_text('no_such', '1');
-- keys whose equal values can print differently cannot track deletions
CREATE TABLE by_numeric (k numeric PRIMARY KEY, c gcounter);
SELECT laniakea.track('by_numeric');
CREATE TABLE by_float (k float8 PRIMARY KEY, c gcounter);
SELECT laniakea.track('by_float');
CREATE COLLATION lk_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE by_ci_text (k text COLLATE lk_ci PRIMARY KEY, c gcounter);
SELECT laniakea.track('by_ci_text');
SELECT count(*) AS not_tracked FROM laniakea.tracked WHERE tbl::text LIKE 'by_%';

-- limits: a key of at most 2048 bytes, a causal length of at most 2^62
CREATE TABLE long_keys (k text PRIMARY KEY, c gcounter);
SELECT laniakea.track('long_keys');
INSERT INTO long_keys VALUES (repeat('k', 2048), '{}');
INSERT INTO long_keys VALUES (repeat('k', 2049), '{}');
DELETE FROM long_keys;
SELECT length(key) FROM laniakea.tombstones WHERE rel = 'long_keys';
INSERT INTO long_keys (k, c, laniakea_cl) VALUES ('big', '{}', 4611686018427387905);
INSERT INTO long_keys (k, c, laniakea_cl) VALUES ('big', '{}', 4611686018427387903);
DELETE FROM long_keys WHERE k = 'big';
SELECT cl FROM laniakea.tombstones WHERE rel = 'long_keys' AND key = 'big';

-- a role with rights on the table only deletes and truncates (tombstones are
-- written with the rights of their owner)
CREATE ROLE lk_app;
CREATE TABLE owned (id int PRIMARY KEY, c gcounter);
SELECT laniakea.track('owned');
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON owned TO lk_app;
GRANT USAGE, CREATE ON SCHEMA public TO lk_app;
\c -
SET ROLE lk_app;
INSERT INTO owned VALUES (1, '{"a":1}'), (2, '{}');
DELETE FROM owned WHERE id = 1;
INSERT INTO owned VALUES (1, '{"b":1}');
TRUNCATE owned;
RESET ROLE;
SELECT key, cl FROM laniakea.tombstones WHERE rel = 'owned' ORDER BY key, cl;

-- a tracked table's relcache entry rebuilt while a tombstone deletes its row
-- (a user trigger that changes the table's rights, in the middle)
CREATE FUNCTION regrant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'GRANT SELECT ON owned TO PUBLIC';
	EXECUTE 'REVOKE SELECT ON owned FROM PUBLIC';
	RETURN OLD;
END $$;
CREATE TRIGGER a_regrant BEFORE DELETE ON owned FOR EACH ROW EXECUTE FUNCTION regrant();
INSERT INTO owned VALUES (5, '{}');
INSERT INTO laniakea.tombstones (nsp, rel, key, cl) VALUES ('public', 'owned', '5', 2);
SELECT count(*) AS purged FROM owned WHERE id = 5;

-- delete_row: a row, or with cl only its incarnations up to cl; a deletion of an
-- incarnation this node never had is recorded still (it may arrive later)
CREATE TABLE dr (id int PRIMARY KEY, c gcounter);
SELECT laniakea.track('dr');
INSERT INTO dr VALUES (1, '{"a":1}'), (2, '{"a":1}');
SELECT laniakea.delete_row('dr', '1');
SELECT laniakea.delete_row('dr', '2', 3);
SELECT laniakea.delete_row('dr', '2', 1);
SELECT id FROM dr ORDER BY id;
SELECT laniakea.delete_row('dr', '7', 1);
SELECT key, cl FROM laniakea.tombstones WHERE rel = 'dr' ORDER BY key, cl;
SET session_replication_role = replica;
SELECT pg_replication_origin_session_setup('lk_peer');
INSERT INTO dr (id, c, laniakea_cl) VALUES (7, '{"late":1}', 1);
SELECT pg_replication_origin_session_reset();
RESET session_replication_role;
SELECT count(*) AS incarnation_arriving_late_stays_deleted FROM dr WHERE id = 7;
INSERT INTO dr VALUES (7, '{"new":1}');
SELECT id, laniakea_cl FROM dr WHERE id = 7;
SELECT laniakea.delete_row('dr', '7', 2);
SELECT laniakea.delete_row('dr', '7', 0);
SELECT laniakea.delete_row('dr', 'x', 1);
CREATE ROLE lk_reader;
GRANT SELECT ON dr TO lk_reader;
GRANT USAGE ON SCHEMA laniakea TO lk_reader;
SET ROLE lk_reader;
SELECT laniakea.delete_row('dr', '7', 3);
SELECT laniakea.delete_row('dr', '8', 1);
RESET ROLE;
DROP TABLE dr;
REVOKE USAGE ON SCHEMA laniakea FROM lk_reader;
DROP ROLE lk_reader;

-- the trigger functions refuse to be used any other way
CREATE TABLE misuse (id int PRIMARY KEY, c gcounter);
CREATE TRIGGER wrong AFTER DELETE ON misuse FOR EACH ROW EXECUTE FUNCTION laniakea.delete_trigger();
INSERT INTO misuse VALUES (1, '{}');
DELETE FROM misuse;
DROP TRIGGER wrong ON misuse;
CREATE TRIGGER wrong BEFORE TRUNCATE ON misuse FOR EACH STATEMENT EXECUTE FUNCTION laniakea.tombstone_trigger();
TRUNCATE misuse;

-- untrack leaves laniakea_cl defaulting to 1: plain inserts work
SELECT laniakea.untrack('owned');
INSERT INTO owned (id) VALUES (9);
SELECT id, laniakea_cl FROM owned WHERE id = 9;
SELECT laniakea.track('owned');
INSERT INTO owned (id) VALUES (10);
SELECT id, laniakea_cl FROM owned WHERE id >= 9 ORDER BY id;

-- a renamed tracked table keeps its deletions: its tombstones follow it
SELECT cl FROM laniakea.tombstones WHERE rel = 'owned' AND key = '2';
ALTER TABLE owned RENAME TO kept;
CREATE SCHEMA moved;
ALTER TABLE kept SET SCHEMA moved;
SELECT nsp, rel, key, cl FROM laniakea.tombstones WHERE key = '2' AND rel IN ('owned', 'kept');
INSERT INTO moved.kept VALUES (2, '{}');
SELECT id, laniakea_cl FROM moved.kept WHERE id = 2;
ALTER TABLE moved.kept SET SCHEMA public;
ALTER TABLE kept RENAME TO owned;

-- a role without rights on schema laniakea alters and drops its own tables
-- (the event triggers run with the extension's rights)
SET ROLE lk_app;
CREATE TABLE public.scratch_app (id int PRIMARY KEY);
ALTER TABLE scratch_app ADD COLUMN n int;
ALTER TABLE scratch_app RENAME TO scratch_app2;
DROP TABLE scratch_app2;
RESET ROLE;

-- dropping a tracked table drops its tombstones
SELECT count(*) > 0 AS has_tombstones FROM laniakea.tombstones WHERE rel = 'long_keys';
DROP TABLE long_keys;
SELECT count(*) AS tombstones_left FROM laniakea.tombstones WHERE rel = 'long_keys';

DROP TABLE d, old_style, wrong_cl, peer_rows, peer_tombs, misuse, stamped, by_numeric, by_float,
	by_ci_text, owned;
DROP FUNCTION regrant();
DROP COLLATION lk_ci;
DROP SCHEMA moved;
REVOKE USAGE, CREATE ON SCHEMA public FROM lk_app;
DROP ROLE lk_app;
SELECT pg_replication_origin_drop('lk_peer');
DELETE FROM laniakea.tombstones;
