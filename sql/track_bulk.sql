--
-- Bulk writes into tracked tables: the merge trigger's key locks do not
-- accumulate (max_locks_per_transaction stays at its default, 64)
--
\set SHOW_CONTEXT never
SHOW max_locks_per_transaction;

CREATE TABLE bulk (id int PRIMARY KEY, note text, c gcounter, s orset);
SELECT laniakea.track('bulk');
CREATE VIEW key_locks AS
	SELECT count(*) AS held FROM pg_locks
	WHERE locktype = 'advisory' AND objsubid = 3 AND pid = pg_backend_pid();

-- INSERT ... SELECT of 20,000 new keys in one transaction
BEGIN;
INSERT INTO bulk (id, c) SELECT i, increment('{}'::gcounter, 'a', i) FROM generate_series(1, 20000) i;
SELECT held AS key_locks_after_20000_new_keys FROM key_locks;
COMMIT;
SELECT held AS key_locks_after_commit FROM key_locks;
SELECT count(*), sum(value(c)) FROM bulk;

-- reconcile with 30,000 source rows, 10,000 of them existing keys
CREATE TABLE peer (id int, c gcounter, s orset);
INSERT INTO peer SELECT i, increment('{}'::gcounter, 'b', 1), add('{}'::orset, 'x', 'b')
	FROM generate_series(10001, 40000) i;
SELECT laniakea.reconcile('bulk', 'peer');
SELECT count(*) AS rows, sum(value(c)) AS total, count(*) FILTER (WHERE contains(s, 'x')) AS with_x FROM bulk;
SELECT c FROM bulk WHERE id IN (1, 15000, 35000) ORDER BY id;

-- replication applies inserts through the upsert: 20,000 new and existing keys
SET session_replication_role = replica;
INSERT INTO bulk (id, c) SELECT i, increment('{}'::gcounter, 'r', 1) FROM generate_series(30001, 50000) i;
RESET session_replication_role;
SELECT held AS key_locks_after_replicated_inserts FROM key_locks;
SELECT count(*) AS rows, sum(value(c)) AS total FROM bulk;
SELECT c FROM bulk WHERE id IN (35000, 45000) ORDER BY id;

-- a savepoint rolled back releases its key lock; its row is gone
BEGIN;
SAVEPOINT sp;
INSERT INTO bulk (id, c) VALUES (60001, '{"a":1}');
SELECT held AS key_locks_in_savepoint FROM key_locks;
ROLLBACK TO sp;
SELECT held AS key_locks_after_rollback_to FROM key_locks;
INSERT INTO bulk (id, c) VALUES (60002, '{"a":1}');
COMMIT;
SELECT id FROM bulk WHERE id > 60000;

-- a user's BEFORE trigger after ours that writes to a tracked table (one
-- trigger level deeper) and one that skips the row
CREATE TABLE audit (id int PRIMARY KEY, c gcounter);
SELECT laniakea.track('audit');
CREATE FUNCTION copy_to_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO audit VALUES (NEW.id, NEW.c);
	RETURN CASE WHEN NEW.note = 'skip' THEN NULL ELSE NEW END;
END $$;
CREATE TRIGGER zz_copy BEFORE INSERT ON bulk FOR EACH ROW EXECUTE FUNCTION copy_to_audit();
BEGIN;
INSERT INTO bulk (id, c) SELECT i, '{"u":1}' FROM generate_series(70001, 90000) i;
SELECT held <= 2 AS at_most_one_key_lock_per_trigger_level FROM key_locks;
INSERT INTO bulk (id, note, c) VALUES (90001, 'skip', '{"u":1}');
-- the same keys again: each becomes a merge, in both tables
INSERT INTO bulk (id, c) SELECT i, '{"v":1}' FROM generate_series(70001, 70003) i;
COMMIT;
SELECT (SELECT count(*) FROM bulk WHERE id > 70000) AS bulk_rows,
	(SELECT count(*) FROM audit) AS audit_rows,
	(SELECT count(*) FROM bulk WHERE id = 90001) AS skipped_row;
SELECT b.c AS bulk, a.c AS audit FROM bulk b JOIN audit a USING (id) WHERE id <= 70004 ORDER BY id;

DROP TABLE bulk, peer, audit CASCADE;
DROP FUNCTION copy_to_audit();
