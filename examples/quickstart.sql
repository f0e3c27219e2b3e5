CREATE EXTENSION IF NOT EXISTS laniakea;

-- A counter per page, counted by two nodes
CREATE TABLE page_views (page text PRIMARY KEY, views gcounter NOT NULL DEFAULT '{}');
INSERT INTO page_views VALUES ('/home', '{}');
UPDATE page_views SET views = increment(views, 'node-a', 3) WHERE page = '/home';
UPDATE page_views SET views = increment(views, 'node-b', 2) WHERE page = '/home';
SELECT page, views, value(views) FROM page_views;

-- What a replica that saw only node-a's increments would merge in
SELECT delta('{"node-a":3}', views) AS missing, '{"node-a":3}' || views AS merged
FROM page_views;

-- Up and down
SELECT value(decrement(increment('{}'::pncounter, 'node-a', 10), 'node-b', 4)) AS stock;

-- A set where a concurrent add beats a remove
WITH base AS (SELECT add('{}'::orset, 'milk', 'node-a') AS s),
     a AS (SELECT remove(s, 'milk') AS s FROM base),
     b AS (SELECT add(s, 'milk', 'node-b') AS s FROM base)
SELECT elements(a.s || b.s) AS list, a.s || b.s AS state FROM a, b;

-- A plain value: the later write wins, whichever copy is merged into which
WITH a AS (SELECT set('{}'::lwwreg, 'Buy milk', 'node-a') AS r),
     b AS (SELECT set(r, 'Buy oat milk', 'node-b') AS r FROM a)
SELECT get(a.r || b.r) AS title, get(b.r || a.r) AS same_title FROM a, b;

-- Replicas merged in one aggregate, in parallel where the planner wants
SELECT merge_agg(v) FROM (VALUES ('{"a":1,"b":7}'::gcounter), ('{"a":4}'), ('{"c":2}')) t(v);
