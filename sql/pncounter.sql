--
-- pncounter: two gcounters, P and N
--
\set SHOW_CONTEXT never

SELECT '{}'::pncounter;
SELECT '{"p":{"a":3},"n":{"b":1}}'::pncounter;
SELECT '{ "n" : {}, "p" : { "a" : 0 } }'::pncounter;
SELECT '{"p":{"b":2,"a":1}}'::pncounter;

SELECT '{"x":{}}'::pncounter;
SELECT '{"p":{},"p":{}}'::pncounter;
SELECT '{"p":[]}'::pncounter;
SELECT '{"p":{"a":-1}}'::pncounter;
SELECT '{"p":{"a":1}'::pncounter;

SELECT value('{"p":{"a":10,"b":2},"n":{"a":3}}'::pncounter);
SELECT value('{"n":{"a":5}}'::pncounter);
SELECT value('{"p":{"a":9223372036854775807,"b":9223372036854775807},"n":{"a":9223372036854775807,"b":9223372036854775806}}'::pncounter);
SELECT value('{"p":{"a":9223372036854775807,"b":1}}'::pncounter);
SELECT value('{"n":{"a":9223372036854775807,"b":1}}'::pncounter);
SELECT value('{"n":{"a":9223372036854775807,"b":2}}'::pncounter);

SELECT increment('{}'::pncounter, 'a', 5);
SELECT decrement('{}'::pncounter, 'a', 2);
SELECT decrement(increment('{}'::pncounter, 'a', 5), 'b', 7);
SELECT value(decrement(increment('{}'::pncounter, 'a', 5), 'b', 7));
SET laniakea.node_id = 'me';
SELECT decrement(increment('{}'::pncounter));
SELECT decrement('{}'::pncounter, 3);
RESET laniakea.node_id;
SELECT decrement('{}'::pncounter, 'a', 0);
SELECT decrement('{}'::pncounter, 'a', -1);
SELECT increment('{}'::pncounter, 'a', 0);
SELECT decrement('{"n":{"a":9223372036854775807}}'::pncounter, 'a', 1);

SELECT '{"p":{"a":3},"n":{"b":1}}'::pncounter || '{"p":{"a":1,"c":1},"n":{"b":4}}';
SELECT delta('{"p":{"a":3},"n":{"b":1}}'::pncounter, '{"p":{"a":3,"c":1},"n":{"b":4}}');
SELECT '{"p":{"a":1}}'::pncounter <= '{"p":{"a":1},"n":{"a":1}}' AS below;
SELECT '{"n":{"a":2}}'::pncounter <= '{"p":{"a":5},"n":{"a":1}}' AS not_below;
SELECT '{"p":{"a":1}}'::pncounter = '{ "p" : {"a":1}, "n": {} }' AS eq;
SELECT '{"n":{"a":1}}'::pncounter::jsonb, '{"p": {"a": 1}}'::jsonb::pncounter;
SELECT count(DISTINCT v) FROM (VALUES ('{"p":{"a":1}}'::pncounter), ('{"n":{},"p":{"a":1}}'), ('{"n":{"a":1}}')) t(v);
