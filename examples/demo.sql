-- The demo page's tables: one row per page, a visit counter, a score that goes
-- up and down, and a tag set; and a todo list, one row per item, whose title
-- and done mark are last-writer-wins registers ("true" or "false" for the
-- mark: the latest decision wins, see docs/client.md, "The demo").
CREATE TABLE IF NOT EXISTS demo_pages (
	page text PRIMARY KEY,
	visits gcounter NOT NULL DEFAULT '{}',
	score pncounter NOT NULL DEFAULT '{}',
	tags orset NOT NULL DEFAULT '{}'
);
SELECT laniakea.track('demo_pages');
INSERT INTO demo_pages (page, tags) VALUES ('home', add(add('{}'::orset, 'crdt', 'server'), 'postgres', 'server'))
ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS demo_todos (
	id text PRIMARY KEY,
	title lwwreg NOT NULL DEFAULT '{}',
	done lwwreg NOT NULL DEFAULT '{}'
);
SELECT laniakea.track('demo_todos');
INSERT INTO demo_todos (id, title, done) VALUES
	('0-welcome', set('{}', 'Open this page in two windows', 'server'), set('{}', 'false', 'server')),
	('1-offline', set('{}', 'Go offline in one, edit, come back', 'server'), set('{}', 'false', 'server'))
ON CONFLICT DO NOTHING;
