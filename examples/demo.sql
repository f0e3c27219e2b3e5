-- The demo page's table: one row per page, a visit counter, a score that goes
-- up and down, and a tag set.
CREATE TABLE IF NOT EXISTS demo_pages (
	page text PRIMARY KEY,
	visits gcounter NOT NULL DEFAULT '{}',
	score pncounter NOT NULL DEFAULT '{}',
	tags orset NOT NULL DEFAULT '{}'
);
SELECT laniakea.track('demo_pages');
INSERT INTO demo_pages (page, tags) VALUES ('home', add(add('{}'::orset, 'crdt', 'server'), 'postgres', 'server'))
ON CONFLICT DO NOTHING;
