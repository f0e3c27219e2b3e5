-- The test database of the bridge suite (run.sh loads it into a fresh cluster).
CREATE EXTENSION laniakea;

-- One column of each CRDT type; row topics crdt:counters:<id>.
CREATE TABLE counters (
	id text PRIMARY KEY,
	hits gcounter NOT NULL DEFAULT '{}',
	stock pncounter NOT NULL DEFAULT '{}',
	tags orset NOT NULL DEFAULT '{}'
);
SELECT laniakea.track('counters');

-- Table topics: each test that joins a whole table gets its own, because a
-- table topic's join reply lists every row.
CREATE TABLE boards (id text PRIMARY KEY, likes gcounter NOT NULL DEFAULT '{}', tags orset NOT NULL DEFAULT '{}');
SELECT laniakea.track('boards');
CREATE TABLE feed (id text PRIMARY KEY, likes gcounter NOT NULL DEFAULT '{}');
SELECT laniakea.track('feed');
CREATE TABLE race (id text PRIMARY KEY, hits gcounter NOT NULL DEFAULT '{}');
SELECT laniakea.track('race');
CREATE TABLE flood (id text PRIMARY KEY, hits gcounter NOT NULL DEFAULT '{}');
SELECT laniakea.track('flood');

-- A schema-qualified table: topics crdt:app.items:<id>, integer keys.
CREATE SCHEMA app;
CREATE TABLE app.items (id integer PRIMARY KEY, votes pncounter NOT NULL DEFAULT '{}');
SELECT laniakea.track('app.items');

-- Registers: row topics crdt:notes:<id>.
CREATE TABLE notes (id text PRIMARY KEY, title lwwreg NOT NULL DEFAULT '{}');
SELECT laniakea.track('notes');

-- Not tracked: the bridge must not expose it.
CREATE TABLE plain (id text PRIMARY KEY, hits gcounter NOT NULL DEFAULT '{}');

-- Deletes (deletes.test.mjs): rows deleted and inserted again, on row and
-- table topics.  TRUNCATE, the resync of a bulk change and a rejoin with
-- `have` each get a table of their own, as their table topics list every row.
CREATE TABLE dels (id text PRIMARY KEY, likes gcounter NOT NULL DEFAULT '{}', tags orset NOT NULL DEFAULT '{}');
SELECT laniakea.track('dels');
CREATE TABLE trunc (id text PRIMARY KEY, likes gcounter NOT NULL DEFAULT '{}');
SELECT laniakea.track('trunc');
CREATE TABLE bulk (id text PRIMARY KEY, likes gcounter NOT NULL DEFAULT '{}');
SELECT laniakea.track('bulk');
CREATE TABLE rejoin (id text PRIMARY KEY, likes gcounter NOT NULL DEFAULT '{}');
SELECT laniakea.track('rejoin');

-- A key whose text depends on settings: topics name it in its canonical form.
CREATE TABLE stamps (at timestamptz PRIMARY KEY, hits gcounter NOT NULL DEFAULT '{}');
SELECT laniakea.track('stamps');

-- Notifications (notify.test.mjs): a table whose notify trigger a test turns
-- off, to change a row without the bridge being told.
CREATE TABLE quiet (id text PRIMARY KEY, hits gcounter NOT NULL DEFAULT '{}', stock pncounter NOT NULL DEFAULT '{}');
SELECT laniakea.track('quiet');

-- Topic names (notify.test.mjs): tables whose topics would collide without
-- escaping (lk_topic.h): "a.b" of public and b of schema a; "a:b" and a,
-- with a column of one name and two types.
CREATE TABLE "a.b" (id text PRIMARY KEY, hits gcounter NOT NULL DEFAULT '{}');
CREATE SCHEMA a;
CREATE TABLE a.b (id text PRIMARY KEY, hits gcounter NOT NULL DEFAULT '{}');
CREATE TABLE "a:b" (id text PRIMARY KEY, x gcounter NOT NULL DEFAULT '{}');
CREATE TABLE a (id text PRIMARY KEY, x orset NOT NULL DEFAULT '{}');
SELECT laniakea.track('"a.b"'), laniakea.track('a.b'), laniakea.track('"a:b"'), laniakea.track('a');

-- The WAL source (wal.test.mjs): tracked without NOTIFY triggers, so that
-- only the WAL tells a bridge of their changes.  walbulk's table topic lists
-- every row.
CREATE TABLE walt (id text PRIMARY KEY, hits gcounter NOT NULL DEFAULT '{}', tags orset NOT NULL DEFAULT '{}');
SELECT laniakea.track('walt', notify => false);
CREATE TABLE walbulk (id text PRIMARY KEY, likes gcounter NOT NULL DEFAULT '{}');
SELECT laniakea.track('walbulk', notify => false);

-- CRDT columns that may be NULL (no default): a row can exist with no state at all.
CREATE TABLE sparse (id text PRIMARY KEY, likes gcounter, tags orset);
SELECT laniakea.track('sparse');
