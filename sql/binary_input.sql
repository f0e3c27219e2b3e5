--
-- binary I/O: COPY (FORMAT binary) round trip, and hostile values rejected
-- by receive with an error while the server stays up
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE TABLE bin (id int, g gcounter, p pncounter, s orset);
INSERT INTO bin VALUES
	(1, '{"a":3,"b":5}', '{"p":{"a":3},"n":{"b":1}}', add(remove(add('{}'::orset, 'x', 'n1'), 'x'), E'y\n"é"', 'n2')),
	(2, '{}', '{}', '{}'),
	(3, NULL, NULL, NULL),
	(4, '{"a":9223372036854775807}', '{"n":{"z":9223372036854775807}}',
		'{"c":{"n":[[1,5],[9,9223372036854775807]]},"e":{"a":{"n":[3,9223372036854775807]}}}');
-- a file of this backend's own, so that two runs never share one; read back, then removed
SELECT format('/tmp/laniakea_regress_%s_bin.copy', pg_backend_pid()) AS copy_file,
	format('rm /tmp/laniakea_regress_%s_bin.copy', pg_backend_pid()) AS copy_file_rm \gset
COPY bin TO :'copy_file' (FORMAT binary);
CREATE TABLE bin2 (LIKE bin);
COPY bin2 FROM :'copy_file' (FORMAT binary);
COPY (SELECT WHERE false) TO PROGRAM :'copy_file_rm';
SELECT count(*) AS rows_identical FROM bin a JOIN bin2 b USING (id)
	WHERE a.g IS NOT DISTINCT FROM b.g AND a.p IS NOT DISTINCT FROM b.p AND a.s IS NOT DISTINCT FROM b.s;
SELECT gcounter_send('{"a":3}'), pncounter_send('{"n":{"b":1}}'), orset_send(add('{}'::orset, 'x', 'n'));

-- feed raw bytes to a type's receive function through COPY (FORMAT binary)
CREATE FUNCTION recv_as(typ regtype, bytes bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	result text;
	f text := format('/tmp/laniakea_regress_%s_recv.copy', pg_backend_pid());
BEGIN
	EXECUTE format('COPY (SELECT %L::bytea) TO %L (FORMAT binary)', bytes, f);
	EXECUTE format('CREATE TEMP TABLE recv_target (v %s)', typ);
	EXECUTE format('COPY recv_target FROM PROGRAM %L (FORMAT binary)', format('cat %s && rm %s', f, f));
	SELECT v::text INTO result FROM recv_target;
	DROP TABLE recv_target;
	RETURN result;
EXCEPTION WHEN others THEN
	DROP TABLE IF EXISTS recv_target;
	RAISE;
END $$;

-- what send produces, receive accepts
SELECT recv_as('gcounter', '\x1101016103');
SELECT recv_as('pncounter', '\x120101610301016201');
SELECT recv_as('orset', orset_send(add('{}'::orset, 'x', 'n')));

-- gcounter: format byte, counts, order, UTF-8, trailing bytes
SELECT recv_as('gcounter', '\x');
SELECT recv_as('gcounter', '\x2101016103');
SELECT recv_as('gcounter', '\x1201016103');
SELECT recv_as('gcounter', '\x110101');
SELECT recv_as('gcounter', '\x11');
SELECT recv_as('gcounter', '\x11020162010161 01');
SELECT recv_as('gcounter', '\x1102016101016101');
SELECT recv_as('gcounter', '\x1101016100');
SELECT recv_as('gcounter', '\x110101618080808080808080 8001');
SELECT recv_as('gcounter', '\x11010161ffffffffffffffffff7f');
SELECT recv_as('gcounter', '\x110101618300');
SELECT recv_as('gcounter', '\x1101016103ff');
SELECT recv_as('gcounter', '\x110101ff03');
SELECT recv_as('gcounter', '\x1101010a03');
SELECT recv_as('gcounter', '\x110100036103');
SELECT recv_as('gcounter', '\x11010561620300');
SELECT recv_as('gcounter', '\x11ffffffff0f');
SELECT recv_as('gcounter', '\x11ffffffffffffffffff01');
-- pncounter: each half validated, nothing may follow
SELECT recv_as('pncounter', '\x1201016103');
SELECT recv_as('pncounter', '\x12010161030102');
SELECT recv_as('pncounter', '\x1200');
SELECT recv_as('pncounter', '\x120000ff');
-- orset: nodes, ranges, elements, dots
SELECT recv_as('orset', '\x1300');
SELECT recv_as('orset', '\x130000');
SELECT recv_as('orset', '\x13010161010000 01017801 0002');
SELECT recv_as('orset', '\x13010161010000 01017801 0101');
SELECT recv_as('orset', '\x13010161010001 01017802 00010001');
SELECT recv_as('orset', '\x13010161010001 01017802 00020001');
SELECT recv_as('orset', '\x13010161010001 02017801 0001017801 0001');
SELECT recv_as('orset', '\x13010161010001 0201790100010178 010001');
SELECT recv_as('orset', '\x13010161010001 01017800');
SELECT recv_as('orset', '\x13010161 00 00');
SELECT recv_as('orset', '\x130101610180808080808080808001 00 00');
SELECT recv_as('orset', '\x1301016101feffffffffffffff7f 01 00');
SELECT recv_as('orset', '\x13020162010000 0161010000 00');
SELECT recv_as('orset', '\x13010161010000 0102fffe 010001');
SELECT recv_as('orset', '\x13010161010000 01017801 0001 00');
SELECT recv_as('orset', '\x13010161010000 ffffffff0f');
-- lwwreg: format byte, clock, node, value
SELECT recv_as('lwwreg', lwwreg_send('{"c":5,"n":"a","v":"x"}'));
SELECT recv_as('lwwreg', '\x1400');
SELECT recv_as('lwwreg', '\x');
SELECT recv_as('lwwreg', '\x2400');
SELECT recv_as('lwwreg', '\x130000');
SELECT recv_as('orset', '\x1400');
SELECT recv_as('lwwreg', '\x14');
SELECT recv_as('lwwreg', '\x1402');
SELECT recv_as('lwwreg', '\x1401');
SELECT recv_as('lwwreg', '\x1401 8500 0161 00');
SELECT recv_as('lwwreg', '\x1401 80808080808080808001 0161 00');
SELECT recv_as('lwwreg', '\x1401 05 00 00');
SELECT recv_as('lwwreg', '\x1401 05 02 61');
SELECT recv_as('lwwreg', '\x1401 05 010a 00');
SELECT recv_as('lwwreg', '\x1401 05 0161 03 780079');
SELECT recv_as('lwwreg', '\x1401 05 0161 01ff');
SELECT recv_as('lwwreg', '\x1401 05 0161 818040');
SELECT recv_as('lwwreg', '\x1401 05 0161 03 78');
SELECT recv_as('lwwreg', '\x1401 05 0161 0178 00');
SELECT recv_as('lwwreg', '\x1400 00');
-- after all that the server is up and the good values are intact
SELECT count(*) FROM bin;
DROP FUNCTION recv_as(regtype, bytea);
DROP TABLE bin, bin2;
