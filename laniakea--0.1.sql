-- Laniakea 0.1: conflict-free replicated data types.
\echo Use "CREATE EXTENSION laniakea" to load this file. \quit

-- Every C function here is pure computation on its arguments: no catalog
-- access, no search_path dependence, so it runs unchanged in a logical
-- replication apply worker (where search_path is empty).

------------------------------------------------------------------------
-- type gcounter
------------------------------------------------------------------------
CREATE TYPE gcounter;

CREATE FUNCTION gcounter_in(cstring, oid, integer) RETURNS gcounter
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gcounter_out(gcounter) RETURNS cstring
	AS 'MODULE_PATHNAME', 'crdt_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gcounter_recv(internal, oid, integer) RETURNS gcounter
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gcounter_send(gcounter) RETURNS bytea
	AS 'MODULE_PATHNAME', 'crdt_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Values under 127 bytes keep PostgreSQL's 1-byte short header (stored
-- unaligned) and are read in place; the format has no aligned fields.
CREATE TYPE gcounter (
	INPUT = gcounter_in,
	OUTPUT = gcounter_out,
	RECEIVE = gcounter_recv,
	SEND = gcounter_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = extended
);

------------------------------------------------------------------------
-- type pncounter
------------------------------------------------------------------------
CREATE TYPE pncounter;

CREATE FUNCTION pncounter_in(cstring, oid, integer) RETURNS pncounter
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pncounter_out(pncounter) RETURNS cstring
	AS 'MODULE_PATHNAME', 'crdt_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pncounter_recv(internal, oid, integer) RETURNS pncounter
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pncounter_send(pncounter) RETURNS bytea
	AS 'MODULE_PATHNAME', 'crdt_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Values under 127 bytes keep PostgreSQL's 1-byte short header (stored
-- unaligned) and are read in place; the format has no aligned fields.
CREATE TYPE pncounter (
	INPUT = pncounter_in,
	OUTPUT = pncounter_out,
	RECEIVE = pncounter_recv,
	SEND = pncounter_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = extended
);

------------------------------------------------------------------------
-- type orset
------------------------------------------------------------------------
CREATE TYPE orset;

CREATE FUNCTION orset_in(cstring, oid, integer) RETURNS orset
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_out(orset) RETURNS cstring
	AS 'MODULE_PATHNAME', 'crdt_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_recv(internal, oid, integer) RETURNS orset
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_send(orset) RETURNS bytea
	AS 'MODULE_PATHNAME', 'crdt_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Values under 127 bytes keep PostgreSQL's 1-byte short header (stored
-- unaligned) and are read in place; the format has no aligned fields.
CREATE TYPE orset (
	INPUT = orset_in,
	OUTPUT = orset_out,
	RECEIVE = orset_recv,
	SEND = orset_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = extended
);

------------------------------------------------------------------------
-- functions shared by all types
------------------------------------------------------------------------
CREATE FUNCTION merge(gcounter, gcounter) RETURNS gcounter
	AS 'MODULE_PATHNAME', 'crdt_merge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION merge(gcounter, gcounter) IS 'join of two gcounter states (also the || operator)';
CREATE FUNCTION delta(old gcounter, new gcounter) RETURNS gcounter
	AS 'MODULE_PATHNAME', 'crdt_delta' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION delta(gcounter, gcounter) IS 'smallest d with merge(old, d) = merge(old, new)';
CREATE FUNCTION gcounter_le(gcounter, gcounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_leq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gcounter_eq(gcounter, gcounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION gcounter_ne(gcounter, gcounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION gcounter_cmp(gcounter, gcounter) RETURNS integer
	AS 'MODULE_PATHNAME', 'crdt_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gcounter_bytes_lt(gcounter, gcounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gcounter_bytes_le(gcounter, gcounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gcounter_bytes_ge(gcounter, gcounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gcounter_bytes_gt(gcounter, gcounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gcounter_hash(gcounter) RETURNS integer
	AS 'MODULE_PATHNAME', 'crdt_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gcounter_hash_extended(gcounter, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'crdt_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION merge(pncounter, pncounter) RETURNS pncounter
	AS 'MODULE_PATHNAME', 'crdt_merge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION merge(pncounter, pncounter) IS 'join of two pncounter states (also the || operator)';
CREATE FUNCTION delta(old pncounter, new pncounter) RETURNS pncounter
	AS 'MODULE_PATHNAME', 'crdt_delta' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION delta(pncounter, pncounter) IS 'smallest d with merge(old, d) = merge(old, new)';
CREATE FUNCTION pncounter_le(pncounter, pncounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_leq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pncounter_eq(pncounter, pncounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION pncounter_ne(pncounter, pncounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION pncounter_cmp(pncounter, pncounter) RETURNS integer
	AS 'MODULE_PATHNAME', 'crdt_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pncounter_bytes_lt(pncounter, pncounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pncounter_bytes_le(pncounter, pncounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pncounter_bytes_ge(pncounter, pncounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pncounter_bytes_gt(pncounter, pncounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pncounter_hash(pncounter) RETURNS integer
	AS 'MODULE_PATHNAME', 'crdt_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pncounter_hash_extended(pncounter, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'crdt_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION merge(orset, orset) RETURNS orset
	AS 'MODULE_PATHNAME', 'crdt_merge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION merge(orset, orset) IS 'join of two orset states (also the || operator)';
CREATE FUNCTION delta(old orset, new orset) RETURNS orset
	AS 'MODULE_PATHNAME', 'crdt_delta' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION delta(orset, orset) IS 'smallest d with merge(old, d) = merge(old, new)';
CREATE FUNCTION orset_le(orset, orset) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_leq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_eq(orset, orset) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION orset_ne(orset, orset) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION orset_cmp(orset, orset) RETURNS integer
	AS 'MODULE_PATHNAME', 'crdt_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_bytes_lt(orset, orset) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_bytes_le(orset, orset) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_bytes_ge(orset, orset) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_bytes_gt(orset, orset) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_hash(orset) RETURNS integer
	AS 'MODULE_PATHNAME', 'crdt_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_hash_extended(orset, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'crdt_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------
-- gcounter and pncounter operations
------------------------------------------------------------------------
CREATE FUNCTION increment(c gcounter, by bigint DEFAULT 1) RETURNS gcounter
	AS 'MODULE_PATHNAME', 'counter_increment' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION increment(gcounter, bigint) IS 'count up as laniakea.node_id';
CREATE FUNCTION increment(c gcounter, node text, by bigint) RETURNS gcounter
	AS 'MODULE_PATHNAME', 'counter_increment_node' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION increment(gcounter, text, bigint) IS 'count up as the given node';
CREATE FUNCTION value(gcounter) RETURNS bigint
	AS 'MODULE_PATHNAME', 'counter_value' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION value(gcounter) IS 'the counter''s value; an error if it does not fit in bigint';
CREATE FUNCTION bigvalue(gcounter) RETURNS numeric
	AS 'MODULE_PATHNAME', 'counter_bigvalue' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bigvalue(gcounter) IS 'the counter''s value, exact for every state';
CREATE FUNCTION increment(c pncounter, by bigint DEFAULT 1) RETURNS pncounter
	AS 'MODULE_PATHNAME', 'counter_increment' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION increment(pncounter, bigint) IS 'count up as laniakea.node_id';
CREATE FUNCTION increment(c pncounter, node text, by bigint) RETURNS pncounter
	AS 'MODULE_PATHNAME', 'counter_increment_node' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION increment(pncounter, text, bigint) IS 'count up as the given node';
CREATE FUNCTION value(pncounter) RETURNS bigint
	AS 'MODULE_PATHNAME', 'counter_value' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION value(pncounter) IS 'the counter''s value; an error if it does not fit in bigint';
CREATE FUNCTION bigvalue(pncounter) RETURNS numeric
	AS 'MODULE_PATHNAME', 'counter_bigvalue' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bigvalue(pncounter) IS 'the counter''s value, exact for every state';
CREATE FUNCTION decrement(c pncounter, by bigint DEFAULT 1) RETURNS pncounter
	AS 'MODULE_PATHNAME', 'counter_decrement' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION decrement(pncounter, bigint) IS 'count down as laniakea.node_id';
CREATE FUNCTION decrement(c pncounter, node text, by bigint) RETURNS pncounter
	AS 'MODULE_PATHNAME', 'counter_decrement_node' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION decrement(pncounter, text, bigint) IS 'count down as the given node';

------------------------------------------------------------------------
-- orset operations
------------------------------------------------------------------------
CREATE FUNCTION add(s orset, element text) RETURNS orset
	AS 'MODULE_PATHNAME', 'orset_add' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION add(orset, text) IS 'add an element as laniakea.node_id';
CREATE FUNCTION add(s orset, element text, node text) RETURNS orset
	AS 'MODULE_PATHNAME', 'orset_add_node' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION add(orset, text, text) IS 'add an element as the given node';
CREATE FUNCTION remove(s orset, element text) RETURNS orset
	AS 'MODULE_PATHNAME', 'orset_remove' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION remove(orset, text) IS 'remove the element as observed here (absent: no-op)';
CREATE FUNCTION contains(s orset, element text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'orset_contains' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION elements(s orset) RETURNS text[]
	AS 'MODULE_PATHNAME', 'orset_elements' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION elements(orset) IS 'the elements, sorted by the bytes of their UTF-8';
CREATE FUNCTION cardinality(s orset) RETURNS integer
	AS 'MODULE_PATHNAME', 'orset_cardinality' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------
-- aggregates
------------------------------------------------------------------------
-- Internal states: the counters merge rows in place; orset keeps a stack of
-- states merged like a binary counter.  serialize/deserialize make both parallel.
CREATE FUNCTION counter_agg_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION counter_agg_serialize(internal) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION counter_agg_deserialize(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gcounter_agg_trans(internal, gcounter) RETURNS internal
	AS 'MODULE_PATHNAME', 'counter_agg_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gcounter_agg_final(internal) RETURNS gcounter
	AS 'MODULE_PATHNAME', 'counter_agg_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE merge_agg(gcounter) (
	SFUNC = gcounter_agg_trans,
	STYPE = internal,
	FINALFUNC = gcounter_agg_final,
	COMBINEFUNC = counter_agg_combine,
	SERIALFUNC = counter_agg_serialize,
	DESERIALFUNC = counter_agg_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE merge_agg(gcounter) IS 'join of all non-null gcounter states; NULL for none';
CREATE FUNCTION pncounter_agg_trans(internal, pncounter) RETURNS internal
	AS 'MODULE_PATHNAME', 'counter_agg_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION pncounter_agg_final(internal) RETURNS pncounter
	AS 'MODULE_PATHNAME', 'counter_agg_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE merge_agg(pncounter) (
	SFUNC = pncounter_agg_trans,
	STYPE = internal,
	FINALFUNC = pncounter_agg_final,
	COMBINEFUNC = counter_agg_combine,
	SERIALFUNC = counter_agg_serialize,
	DESERIALFUNC = counter_agg_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE merge_agg(pncounter) IS 'join of all non-null pncounter states; NULL for none';
CREATE FUNCTION orset_agg_trans(internal, orset) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION orset_agg_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION orset_agg_final(internal) RETURNS orset
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_agg_serialize(internal) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_agg_deserialize(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE merge_agg(orset) (
	SFUNC = orset_agg_trans,
	STYPE = internal,
	FINALFUNC = orset_agg_final,
	COMBINEFUNC = orset_agg_combine,
	SERIALFUNC = orset_agg_serialize,
	DESERIALFUNC = orset_agg_deserialize,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE merge_agg(orset) IS 'join of all non-null orset states; NULL for none';

------------------------------------------------------------------------
-- operators, operator classes and casts
------------------------------------------------------------------------
CREATE OPERATOR || (LEFTARG = gcounter, RIGHTARG = gcounter, FUNCTION = merge, COMMUTATOR = ||);
CREATE OPERATOR = (
	LEFTARG = gcounter, RIGHTARG = gcounter, FUNCTION = gcounter_eq,
	COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR <> (
	LEFTARG = gcounter, RIGHTARG = gcounter, FUNCTION = gcounter_ne,
	COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel
);
-- the lattice order: b already contains a
CREATE OPERATOR <= (LEFTARG = gcounter, RIGHTARG = gcounter, FUNCTION = gcounter_le);
-- an arbitrary total order (of the encodings) so states sort; not the lattice
CREATE OPERATOR ~<~ (LEFTARG = gcounter, RIGHTARG = gcounter, FUNCTION = gcounter_bytes_lt,
	COMMUTATOR = ~>~, NEGATOR = ~>=~, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR ~<=~ (LEFTARG = gcounter, RIGHTARG = gcounter, FUNCTION = gcounter_bytes_le,
	COMMUTATOR = ~>=~, NEGATOR = ~>~, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR ~>=~ (LEFTARG = gcounter, RIGHTARG = gcounter, FUNCTION = gcounter_bytes_ge,
	COMMUTATOR = ~<=~, NEGATOR = ~<~, RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR ~>~ (LEFTARG = gcounter, RIGHTARG = gcounter, FUNCTION = gcounter_bytes_gt,
	COMMUTATOR = ~<~, NEGATOR = ~<=~, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR CLASS gcounter_ops DEFAULT FOR TYPE gcounter USING btree AS
	OPERATOR 1 ~<~,
	OPERATOR 2 ~<=~,
	OPERATOR 3 =,
	OPERATOR 4 ~>=~,
	OPERATOR 5 ~>~,
	FUNCTION 1 gcounter_cmp(gcounter, gcounter);
CREATE OPERATOR CLASS gcounter_hash_ops DEFAULT FOR TYPE gcounter USING hash AS
	OPERATOR 1 =,
	FUNCTION 1 gcounter_hash(gcounter),
	FUNCTION 2 gcounter_hash_extended(gcounter, bigint);
-- through the canonical text: jsonb_out's spacing is accepted on input
CREATE CAST (gcounter AS jsonb) WITH INOUT AS ASSIGNMENT;
CREATE CAST (jsonb AS gcounter) WITH INOUT;

CREATE OPERATOR || (LEFTARG = pncounter, RIGHTARG = pncounter, FUNCTION = merge, COMMUTATOR = ||);
CREATE OPERATOR = (
	LEFTARG = pncounter, RIGHTARG = pncounter, FUNCTION = pncounter_eq,
	COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR <> (
	LEFTARG = pncounter, RIGHTARG = pncounter, FUNCTION = pncounter_ne,
	COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel
);
-- the lattice order: b already contains a
CREATE OPERATOR <= (LEFTARG = pncounter, RIGHTARG = pncounter, FUNCTION = pncounter_le);
-- an arbitrary total order (of the encodings) so states sort; not the lattice
CREATE OPERATOR ~<~ (LEFTARG = pncounter, RIGHTARG = pncounter, FUNCTION = pncounter_bytes_lt,
	COMMUTATOR = ~>~, NEGATOR = ~>=~, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR ~<=~ (LEFTARG = pncounter, RIGHTARG = pncounter, FUNCTION = pncounter_bytes_le,
	COMMUTATOR = ~>=~, NEGATOR = ~>~, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR ~>=~ (LEFTARG = pncounter, RIGHTARG = pncounter, FUNCTION = pncounter_bytes_ge,
	COMMUTATOR = ~<=~, NEGATOR = ~<~, RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR ~>~ (LEFTARG = pncounter, RIGHTARG = pncounter, FUNCTION = pncounter_bytes_gt,
	COMMUTATOR = ~<~, NEGATOR = ~<=~, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR CLASS pncounter_ops DEFAULT FOR TYPE pncounter USING btree AS
	OPERATOR 1 ~<~,
	OPERATOR 2 ~<=~,
	OPERATOR 3 =,
	OPERATOR 4 ~>=~,
	OPERATOR 5 ~>~,
	FUNCTION 1 pncounter_cmp(pncounter, pncounter);
CREATE OPERATOR CLASS pncounter_hash_ops DEFAULT FOR TYPE pncounter USING hash AS
	OPERATOR 1 =,
	FUNCTION 1 pncounter_hash(pncounter),
	FUNCTION 2 pncounter_hash_extended(pncounter, bigint);
-- through the canonical text: jsonb_out's spacing is accepted on input
CREATE CAST (pncounter AS jsonb) WITH INOUT AS ASSIGNMENT;
CREATE CAST (jsonb AS pncounter) WITH INOUT;

CREATE OPERATOR || (LEFTARG = orset, RIGHTARG = orset, FUNCTION = merge, COMMUTATOR = ||);
CREATE OPERATOR = (
	LEFTARG = orset, RIGHTARG = orset, FUNCTION = orset_eq,
	COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR <> (
	LEFTARG = orset, RIGHTARG = orset, FUNCTION = orset_ne,
	COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel
);
-- the lattice order: b already contains a
CREATE OPERATOR <= (LEFTARG = orset, RIGHTARG = orset, FUNCTION = orset_le);
-- an arbitrary total order (of the encodings) so states sort; not the lattice
CREATE OPERATOR ~<~ (LEFTARG = orset, RIGHTARG = orset, FUNCTION = orset_bytes_lt,
	COMMUTATOR = ~>~, NEGATOR = ~>=~, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR ~<=~ (LEFTARG = orset, RIGHTARG = orset, FUNCTION = orset_bytes_le,
	COMMUTATOR = ~>=~, NEGATOR = ~>~, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR ~>=~ (LEFTARG = orset, RIGHTARG = orset, FUNCTION = orset_bytes_ge,
	COMMUTATOR = ~<=~, NEGATOR = ~<~, RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR ~>~ (LEFTARG = orset, RIGHTARG = orset, FUNCTION = orset_bytes_gt,
	COMMUTATOR = ~<~, NEGATOR = ~<=~, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR CLASS orset_ops DEFAULT FOR TYPE orset USING btree AS
	OPERATOR 1 ~<~,
	OPERATOR 2 ~<=~,
	OPERATOR 3 =,
	OPERATOR 4 ~>=~,
	OPERATOR 5 ~>~,
	FUNCTION 1 orset_cmp(orset, orset);
CREATE OPERATOR CLASS orset_hash_ops DEFAULT FOR TYPE orset USING hash AS
	OPERATOR 1 =,
	FUNCTION 1 orset_hash(orset),
	FUNCTION 2 orset_hash_extended(orset, bigint);
-- through the canonical text: jsonb_out's spacing is accepted on input
CREATE CAST (orset AS jsonb) WITH INOUT AS ASSIGNMENT;
CREATE CAST (jsonb AS orset) WITH INOUT;

------------------------------------------------------------------------
-- tracked tables: delta NOTIFY and merge on apply
------------------------------------------------------------------------
CREATE SCHEMA laniakea;
COMMENT ON SCHEMA laniakea IS 'Laniakea management objects';

-- What the bridge may expose: one row per tracked table.
CREATE TABLE laniakea.tracked (
	tbl regclass PRIMARY KEY,
	key_column name NOT NULL,
	crdt_columns name[] NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('laniakea.tracked', '');

-- What replication could not merge (docs/replication.md): the incoming state
-- of a column whose merge with the local value would pass a documented limit.
-- The row keeps its local value; the apply worker goes on.  Cast state back
-- to the column's type to merge it by hand (e.g. state::orset).
CREATE TABLE laniakea.rejected (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT now(),
	tbl regclass NOT NULL,
	key text NOT NULL,
	col name NOT NULL,
	state text NOT NULL,
	reason text NOT NULL,
	origin text
);
COMMENT ON TABLE laniakea.rejected IS
	'incoming states that replication could not merge (past a limit); the local rows kept their values';
SELECT pg_catalog.pg_extension_config_dump('laniakea.rejected', '');
SELECT pg_catalog.pg_extension_config_dump('laniakea.rejected_id_seq', '');

CREATE FUNCTION laniakea.merge_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION laniakea.merge_trigger() IS
	'BEFORE INSERT OR UPDATE: merge CRDT columns instead of overwriting; skip updates that change nothing';
CREATE FUNCTION laniakea.notify_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION laniakea.notify_trigger() IS
	'AFTER INSERT OR UPDATE: NOTIFY laniakea with the row''s deltas at commit';

CREATE FUNCTION laniakea.drop_triggers(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t name;
BEGIN
	FOR t IN SELECT tgname FROM pg_trigger
			 WHERE tgrelid = tbl AND tgname IN ('laniakea_merge', 'laniakea_notify') LOOP
		EXECUTE format('DROP TRIGGER %I ON %s', t, tbl);
	END LOOP;
END $$;

CREATE FUNCTION laniakea.track(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	key name;
	cols name[];
	nkeys int;
BEGIN
	IF (SELECT relkind FROM pg_class WHERE oid = tbl) <> 'r' THEN
		RAISE EXCEPTION 'cannot track "%"', tbl
			USING ERRCODE = 'wrong_object_type', DETAIL = 'Only ordinary tables can be tracked.';
	END IF;
	SELECT i.indnkeyatts, a.attname INTO nkeys, key
	FROM pg_index i LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
	WHERE i.indrelid = tbl AND i.indisprimary;
	IF nkeys IS NULL THEN
		RAISE EXCEPTION 'table "%" has no primary key', tbl
			USING ERRCODE = 'invalid_table_definition', HINT = 'A tracked table needs a single-column primary key.';
	ELSIF nkeys <> 1 OR key IS NULL THEN
		RAISE EXCEPTION 'primary key of table "%" is not a single column', tbl
			USING ERRCODE = 'invalid_table_definition', HINT = 'A tracked table needs a single-column primary key.';
	END IF;
	SELECT array_agg(attname ORDER BY attnum) INTO cols
	FROM pg_attribute
	WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped
		AND atttypid IN ('@extschema@.gcounter'::regtype, '@extschema@.pncounter'::regtype,
						 '@extschema@.orset'::regtype);
	IF cols IS NULL THEN
		RAISE EXCEPTION 'table "%" has no gcounter, pncounter or orset column', tbl
			USING ERRCODE = 'invalid_table_definition';
	END IF;

	PERFORM laniakea.drop_triggers(tbl);
	EXECUTE format('CREATE TRIGGER laniakea_merge BEFORE INSERT OR UPDATE ON %s '
				   'FOR EACH ROW EXECUTE FUNCTION laniakea.merge_trigger()', tbl);
	EXECUTE format('CREATE TRIGGER laniakea_notify AFTER INSERT OR UPDATE ON %s '
				   'FOR EACH ROW EXECUTE FUNCTION laniakea.notify_trigger()', tbl);
	-- ALWAYS: they must fire in the logical replication apply worker too
	EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER laniakea_merge', tbl);
	EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER laniakea_notify', tbl);

	INSERT INTO laniakea.tracked VALUES (tbl, key, cols)
	ON CONFLICT ON CONSTRAINT tracked_pkey DO UPDATE SET key_column = EXCLUDED.key_column, crdt_columns = EXCLUDED.crdt_columns;
END $$;
COMMENT ON FUNCTION laniakea.track(regclass) IS
	'install the merge and notify triggers on a table and register it for the bridge (idempotent)';

CREATE FUNCTION laniakea.untrack(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM laniakea.tracked t WHERE t.tbl = untrack.tbl) THEN
		RAISE NOTICE 'table "%" is not tracked, skipping', tbl;
	END IF;
	PERFORM laniakea.drop_triggers(tbl);
	DELETE FROM laniakea.tracked t WHERE t.tbl = untrack.tbl;
END $$;
COMMENT ON FUNCTION laniakea.untrack(regclass) IS 'remove what laniakea.track installed';

-- Anti-entropy: merge every row of source (a copy of a peer's table, or a
-- postgres_fdw foreign table pointing at it) into a tracked table.  The merge
-- trigger turns each colliding INSERT into a merge; columns match by name.
CREATE FUNCTION laniakea.reconcile(target regclass, source regclass) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	cols text;
	n bigint;
BEGIN
	IF NOT EXISTS (SELECT FROM laniakea.tracked t WHERE t.tbl = target) THEN
		RAISE EXCEPTION 'table "%" is not tracked', target
			USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Call laniakea.track first.';
	END IF;
	SELECT string_agg(quote_ident(t.attname), ', ' ORDER BY t.attnum) INTO cols
	FROM pg_attribute t JOIN pg_attribute s ON s.attrelid = source AND s.attname = t.attname
		AND s.attnum > 0 AND NOT s.attisdropped
	WHERE t.attrelid = target AND t.attnum > 0 AND NOT t.attisdropped AND t.attgenerated = '';
	EXECUTE format('SELECT count(*) FROM %s', source) INTO n;
	EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM %s', target, cols, cols, source);
	RETURN n;
END $$;
COMMENT ON FUNCTION laniakea.reconcile(regclass, regclass) IS
	'merge all rows of source into the tracked table target; returns the number of source rows';

-- A dropped table leaves no row behind in laniakea.tracked or laniakea.rejected.
CREATE FUNCTION laniakea.forget_dropped() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM laniakea.tracked t
	WHERE t.tbl::oid IN (SELECT objid FROM pg_event_trigger_dropped_objects() WHERE object_type = 'table');
	DELETE FROM laniakea.rejected r
	WHERE r.tbl::oid IN (SELECT objid FROM pg_event_trigger_dropped_objects() WHERE object_type = 'table');
END $$;
CREATE EVENT TRIGGER laniakea_forget_dropped ON sql_drop EXECUTE FUNCTION laniakea.forget_dropped();
