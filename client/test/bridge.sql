-- The tables of the client-bridge suite (test/bridge.test.mjs).
CREATE TABLE notes (
	id text PRIMARY KEY,
	title lwwreg NOT NULL DEFAULT '{}',
	likes gcounter NOT NULL DEFAULT '{}',
	tags orset NOT NULL DEFAULT '{}'
);
SELECT laniakea.track('notes');
-- A table no other test joins: the bridge holds a table's rows while any
-- client has the table topic, and a key collected and inserted again must be
-- read afresh (see the test of collect_tombstones).
CREATE TABLE revived (id text PRIMARY KEY, likes gcounter NOT NULL DEFAULT '{}');
SELECT laniakea.track('revived');
-- A name with the three characters topics escape ('.', ':' and '%').
CREATE TABLE "odd.name:x%y" (id text PRIMARY KEY, likes gcounter NOT NULL DEFAULT '{}');
SELECT laniakea.track('"odd.name:x%y"');
