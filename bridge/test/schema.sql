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
