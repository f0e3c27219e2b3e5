--
-- The notify trigger's records: a row that changes shape within a transaction,
-- memory bounded by laniakea.notify_memory
--
\set SHOW_CONTEXT never

-- a row recorded before its table gains CRDT columns, changed again after
-- (this once wrote past the record's arrays and crashed the server)
CREATE TABLE grows (id int PRIMARY KEY, a gcounter);
SELECT laniakea.track('grows');
INSERT INTO grows VALUES (1, '{}');
BEGIN;
UPDATE grows SET a = '{"n":1}';
ALTER TABLE grows ADD c1 gcounter, ADD c2 gcounter, ADD c3 gcounter, ADD c4 gcounter,
                  ADD c5 gcounter, ADD c6 gcounter, ADD c7 gcounter, ADD c8 gcounter;
UPDATE grows SET a = '{"n":2}', c1 = '{"n":1}', c2 = '{"n":1}', c3 = '{"n":1}', c4 = '{"n":1}',
                 c5 = '{"n":1}', c6 = '{"n":1}', c7 = '{"n":1}', c8 = '{"n":1}';
COMMIT;
SELECT a, c1, c8 FROM grows;
-- and a column that changes type between two changes of the row
BEGIN;
UPDATE grows SET c1 = '{"m":1}';
ALTER TABLE grows DROP COLUMN c1;
ALTER TABLE grows ADD COLUMN c1 orset;
UPDATE grows SET c1 = add('{}'::orset, 'x', 'n');
COMMIT;
SELECT elements(c1) FROM grows;

-- an UPDATE of many rows keeps its records within laniakea.notify_memory
CREATE TABLE many (id int PRIMARY KEY, c gcounter NOT NULL DEFAULT '{}');
SELECT laniakea.track('many');
INSERT INTO many (id) SELECT generate_series(1, 10000);
INSERT INTO many (id) SELECT generate_series(10001, 20000);
INSERT INTO many (id) SELECT generate_series(20001, 30000);
SET laniakea.notify_memory = '256kB';
BEGIN;
UPDATE many SET c = increment(c, 'n', 1);
SELECT sum(total_bytes) < 1024 * 1024 AS transaction_memory_bounded
FROM pg_backend_memory_contexts
WHERE name IN ('TopTransactionContext', 'laniakea notify records');
COMMIT;
SELECT count(*), sum(value(c)) FROM many;
RESET laniakea.notify_memory;
SET laniakea.notify_memory = '10kB';

DROP TABLE grows, many;
