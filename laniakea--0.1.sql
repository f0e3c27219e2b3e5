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
-- type lwwreg
------------------------------------------------------------------------
CREATE TYPE lwwreg;

CREATE FUNCTION lwwreg_in(cstring, oid, integer) RETURNS lwwreg
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lwwreg_out(lwwreg) RETURNS cstring
	AS 'MODULE_PATHNAME', 'crdt_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lwwreg_recv(internal, oid, integer) RETURNS lwwreg
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lwwreg_send(lwwreg) RETURNS bytea
	AS 'MODULE_PATHNAME', 'crdt_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Values under 127 bytes keep PostgreSQL's 1-byte short header (stored
-- unaligned) and are read in place; the format has no aligned fields.
CREATE TYPE lwwreg (
	INPUT = lwwreg_in,
	OUTPUT = lwwreg_out,
	RECEIVE = lwwreg_recv,
	SEND = lwwreg_send,
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
	AS 'MODULE_PATHNAME', 'crdt_lattice_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gcounter_eq(gcounter, gcounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION gcounter_ne(gcounter, gcounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION gcounter_cmp(gcounter, gcounter) RETURNS integer
	AS 'MODULE_PATHNAME', 'crdt_bytes_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gcounter_bytes_lt(gcounter, gcounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_bytes_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gcounter_bytes_le(gcounter, gcounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_bytes_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gcounter_bytes_ge(gcounter, gcounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_bytes_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gcounter_bytes_gt(gcounter, gcounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_bytes_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
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
	AS 'MODULE_PATHNAME', 'crdt_lattice_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pncounter_eq(pncounter, pncounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION pncounter_ne(pncounter, pncounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION pncounter_cmp(pncounter, pncounter) RETURNS integer
	AS 'MODULE_PATHNAME', 'crdt_bytes_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pncounter_bytes_lt(pncounter, pncounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_bytes_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pncounter_bytes_le(pncounter, pncounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_bytes_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pncounter_bytes_ge(pncounter, pncounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_bytes_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION pncounter_bytes_gt(pncounter, pncounter) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_bytes_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
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
	AS 'MODULE_PATHNAME', 'crdt_lattice_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_eq(orset, orset) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION orset_ne(orset, orset) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION orset_cmp(orset, orset) RETURNS integer
	AS 'MODULE_PATHNAME', 'crdt_bytes_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_bytes_lt(orset, orset) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_bytes_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_bytes_le(orset, orset) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_bytes_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_bytes_ge(orset, orset) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_bytes_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_bytes_gt(orset, orset) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_bytes_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_hash(orset) RETURNS integer
	AS 'MODULE_PATHNAME', 'crdt_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION orset_hash_extended(orset, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'crdt_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- the join is one of the two states: returned as it came, not re-encoded
CREATE FUNCTION merge(lwwreg, lwwreg) RETURNS lwwreg
	AS 'MODULE_PATHNAME', 'lwwreg_merge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION merge(lwwreg, lwwreg) IS 'join of two lwwreg states: the later write (also the || operator)';
CREATE FUNCTION delta(old lwwreg, new lwwreg) RETURNS lwwreg
	AS 'MODULE_PATHNAME', 'crdt_delta' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION delta(lwwreg, lwwreg) IS 'smallest d with merge(old, d) = merge(old, new): new if it is later, else empty';
CREATE FUNCTION lwwreg_le(lwwreg, lwwreg) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_lattice_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lwwreg_eq(lwwreg, lwwreg) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION lwwreg_ne(lwwreg, lwwreg) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION lwwreg_cmp(lwwreg, lwwreg) RETURNS integer
	AS 'MODULE_PATHNAME', 'crdt_bytes_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lwwreg_bytes_lt(lwwreg, lwwreg) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_bytes_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lwwreg_bytes_le(lwwreg, lwwreg) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_bytes_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lwwreg_bytes_ge(lwwreg, lwwreg) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_bytes_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lwwreg_bytes_gt(lwwreg, lwwreg) RETURNS boolean
	AS 'MODULE_PATHNAME', 'crdt_bytes_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lwwreg_hash(lwwreg) RETURNS integer
	AS 'MODULE_PATHNAME', 'crdt_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION lwwreg_hash_extended(lwwreg, bigint) RETURNS bigint
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
-- lwwreg operations
------------------------------------------------------------------------
-- The forms without a clock read the wall clock through this backend's
-- hybrid logical clock, so they are STABLE, and PARALLEL RESTRICTED: a
-- parallel worker would start a clock of its own, which need not follow the
-- session's.  The form with a clock refuses one more than 5 minutes ahead of
-- the server's clock (lk_lwwreg_check_clock): its result depends only on its
-- arguments, but whether it accepts them depends on the time, so it is STABLE
-- too.
CREATE FUNCTION set(r lwwreg, value text) RETURNS lwwreg
	AS 'MODULE_PATHNAME', 'lwwreg_set' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION set(lwwreg, text) IS 'write a value as laniakea.node_id, at max(now, the register''s clock + 1)';
CREATE FUNCTION set(r lwwreg, value text, node text) RETURNS lwwreg
	AS 'MODULE_PATHNAME', 'lwwreg_set_node' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION set(lwwreg, text, text) IS 'write a value as the given node, at max(now, the register''s clock + 1)';
CREATE FUNCTION set(r lwwreg, value text, node text, clock bigint) RETURNS lwwreg
	AS 'MODULE_PATHNAME', 'lwwreg_set_clock' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION set(lwwreg, text, text, bigint) IS
	'write a value as the given node at max(clock, the register''s clock + 1); clock in microseconds since 1970, at most 5 minutes ahead';
CREATE FUNCTION get(r lwwreg) RETURNS text
	AS 'MODULE_PATHNAME', 'lwwreg_get' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION get(lwwreg) IS 'the value written last; NULL for the empty register';
CREATE FUNCTION clock(r lwwreg) RETURNS bigint
	AS 'MODULE_PATHNAME', 'lwwreg_clock' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION clock(lwwreg) IS 'the clock of the last write, microseconds since 1970; NULL for the empty register';
CREATE FUNCTION node(r lwwreg) RETURNS text
	AS 'MODULE_PATHNAME', 'lwwreg_node' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION node(lwwreg) IS 'the node id of the last write; NULL for the empty register';

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
-- lwwreg: the join picks one of its inputs, so the state is the type itself
-- and merge is the transition and the combine function (as max(text) is
-- built on text_larger): nothing is encoded per row, a row is copied only
-- when it becomes the latest write, and there is nothing to serialize.
CREATE AGGREGATE merge_agg(lwwreg) (
	SFUNC = merge,
	STYPE = lwwreg,
	COMBINEFUNC = merge,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE merge_agg(lwwreg) IS 'join of all non-null lwwreg states (the latest write); NULL for none';

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

CREATE OPERATOR || (LEFTARG = lwwreg, RIGHTARG = lwwreg, FUNCTION = merge, COMMUTATOR = ||);
CREATE OPERATOR = (
	LEFTARG = lwwreg, RIGHTARG = lwwreg, FUNCTION = lwwreg_eq,
	COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR <> (
	LEFTARG = lwwreg, RIGHTARG = lwwreg, FUNCTION = lwwreg_ne,
	COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel
);
-- the lattice order: b already contains a (for lwwreg a total order: b is a later write)
CREATE OPERATOR <= (LEFTARG = lwwreg, RIGHTARG = lwwreg, FUNCTION = lwwreg_le);
-- an arbitrary total order (of the encodings) so states sort; not the lattice
CREATE OPERATOR ~<~ (LEFTARG = lwwreg, RIGHTARG = lwwreg, FUNCTION = lwwreg_bytes_lt,
	COMMUTATOR = ~>~, NEGATOR = ~>=~, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR ~<=~ (LEFTARG = lwwreg, RIGHTARG = lwwreg, FUNCTION = lwwreg_bytes_le,
	COMMUTATOR = ~>=~, NEGATOR = ~>~, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR ~>=~ (LEFTARG = lwwreg, RIGHTARG = lwwreg, FUNCTION = lwwreg_bytes_ge,
	COMMUTATOR = ~<=~, NEGATOR = ~<~, RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR ~>~ (LEFTARG = lwwreg, RIGHTARG = lwwreg, FUNCTION = lwwreg_bytes_gt,
	COMMUTATOR = ~<~, NEGATOR = ~<=~, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR CLASS lwwreg_ops DEFAULT FOR TYPE lwwreg USING btree AS
	OPERATOR 1 ~<~,
	OPERATOR 2 ~<=~,
	OPERATOR 3 =,
	OPERATOR 4 ~>=~,
	OPERATOR 5 ~>~,
	FUNCTION 1 lwwreg_cmp(lwwreg, lwwreg);
CREATE OPERATOR CLASS lwwreg_hash_ops DEFAULT FOR TYPE lwwreg USING hash AS
	OPERATOR 1 =,
	FUNCTION 1 lwwreg_hash(lwwreg),
	FUNCTION 2 lwwreg_hash_extended(lwwreg, bigint);
-- through the canonical text: jsonb_out's spacing is accepted on input
CREATE CAST (lwwreg AS jsonb) WITH INOUT AS ASSIGNMENT;
CREATE CAST (jsonb AS lwwreg) WITH INOUT;

------------------------------------------------------------------------
-- tracked tables: delta NOTIFY and merge on apply
------------------------------------------------------------------------
CREATE SCHEMA laniakea;
COMMENT ON SCHEMA laniakea IS 'Laniakea management objects';

-- What the bridge may expose: one row per tracked table.
CREATE TABLE laniakea.tracked (
	tbl regclass PRIMARY KEY,
	key_column name NOT NULL,
	crdt_columns name[] NOT NULL,
	-- the name its tombstones are filed under, followed through renames
	nsp name NOT NULL,
	rel name NOT NULL,
	-- whether its changes are sent with NOTIFY (else only the WAL has them)
	notify boolean NOT NULL DEFAULT true
);
SELECT pg_catalog.pg_extension_config_dump('laniakea.tracked', '');

-- Deleted rows: one row per deletion of a key, with the causal length it
-- reached (even); a key's tombstone is its greatest.  A row's own causal
-- length is its laniakea_cl column (odd); docs/replication.md.  Rows are only
-- ever inserted (and collected), never updated, so a deletion never waits on
-- another node's: see tombstone.c.
CREATE TABLE laniakea.tombstones (
	nsp text COLLATE "C" NOT NULL,
	rel text COLLATE "C" NOT NULL,
	key text COLLATE "C" NOT NULL,
	cl bigint NOT NULL CONSTRAINT tombstones_cl_even CHECK (cl > 0 AND cl % 2 = 0),
	deleted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (nsp, rel, key, cl)
);
COMMENT ON TABLE laniakea.tombstones IS
	'deleted rows of tracked tables: publish it with them; collect with laniakea.collect_tombstones';
SELECT pg_catalog.pg_extension_config_dump('laniakea.tombstones', '');

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
	'AFTER INSERT OR UPDATE OR DELETE (rows) and AFTER TRUNCATE: NOTIFY laniakea with the changes at commit';
CREATE FUNCTION laniakea.delete_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION laniakea.delete_trigger() IS
	'BEFORE DELETE (rows) and BEFORE TRUNCATE: record the deletions in laniakea.tombstones';
CREATE FUNCTION laniakea.tombstone_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION laniakea.tombstone_trigger() IS
	'BEFORE INSERT OR UPDATE OR DELETE on laniakea.tombstones: a tombstone deletes the rows it outranks; replicated ones merge';

CREATE TRIGGER laniakea_tombstone BEFORE INSERT OR UPDATE OR DELETE ON laniakea.tombstones
	FOR EACH ROW EXECUTE FUNCTION laniakea.tombstone_trigger();
ALTER TABLE laniakea.tombstones ENABLE ALWAYS TRIGGER laniakea_tombstone;

CREATE FUNCTION laniakea.check_trackable(tbl regclass) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
COMMENT ON FUNCTION laniakea.check_trackable(regclass) IS
	'error unless the triggers of laniakea.track can serve the table (key, CRDT columns)';

CREATE FUNCTION laniakea.key_text(tbl regclass, key text) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION laniakea.key_text(regclass, text) IS
	'a key of a tracked table in the text form its topics and tombstones use';

CREATE FUNCTION laniakea.delete_row(tbl regclass, key text, cl bigint DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION laniakea.delete_row(regclass, text, bigint) IS
	'delete the row of key (with cl: its incarnations up to cl, and record that deletion even where the row is absent); returns the rows deleted';

-- Topic names (docs/protocol.md, Topics): defined once, in the core's lk_topic.
CREATE FUNCTION laniakea.topic_table(schema_name text, table_name text) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION laniakea.topic_table(text, text) IS
	'<table> of the topics of a table: schema-qualified unless public, with %, . and : escaped';
CREATE FUNCTION laniakea.topic(tbl regclass, key text DEFAULT NULL) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION laniakea.topic(regclass, text) IS
	'the topic of a table, crdt:<table>, or of its row of key, crdt:<table>:<key>';

CREATE FUNCTION laniakea.drop_triggers(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t name;
BEGIN
	FOR t IN SELECT tgname FROM pg_trigger
			 WHERE tgrelid = tbl AND tgname IN ('laniakea_merge', 'laniakea_notify', 'laniakea_delete',
												'laniakea_truncate', 'laniakea_notify_truncate') LOOP
		EXECUTE format('DROP TRIGGER %I ON %s', t, tbl);
	END LOOP;
END $$;

-- Running bridges re-read laniakea.tracked when told on channel
-- laniakea_catalog (docs/protocol.md); the payload names the table as topics do.
CREATE FUNCTION laniakea.catalog_changed(tbl oid) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
	SELECT pg_notify('laniakea_catalog',
		json_build_object('table', laniakea.topic_table(n.nspname, c.relname))::text)
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl
$$;

-- laniakea_changes: the publication a bridge reading the WAL decodes (its
-- --source wal), every tracked table and the tombstones, every kind of change.
-- It is not for replication between nodes, whose publications publish inserts
-- and updates only (docs/replication.md).
CREATE FUNCTION laniakea.track(tbl regclass, notify boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	key name;
	cols name[];
	nkeys int;
	trig name;
	was text;
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
						 '@extschema@.orset'::regtype, '@extschema@.lwwreg'::regtype);
	IF cols IS NULL THEN
		RAISE EXCEPTION 'table "%" has no gcounter, pncounter, orset or lwwreg column', tbl
			USING ERRCODE = 'invalid_table_definition';
	END IF;

	-- the row's causal length: 1 for the rows there are; an INSERT leaves it NULL
	-- and the merge trigger sets it (docs/replication.md)
	IF NOT EXISTS (SELECT FROM pg_attribute
				   WHERE attrelid = tbl AND attname = 'laniakea_cl' AND NOT attisdropped) THEN
		EXECUTE format('ALTER TABLE %s ADD COLUMN laniakea_cl bigint NOT NULL DEFAULT 1', tbl);
		EXECUTE format('ALTER TABLE %s ALTER COLUMN laniakea_cl DROP DEFAULT', tbl);
	ELSIF (SELECT atttypid FROM pg_attribute
		   WHERE attrelid = tbl AND attname = 'laniakea_cl' AND NOT attisdropped) <> 'bigint'::regtype THEN
		RAISE EXCEPTION 'column "laniakea_cl" of table "%" is not of type bigint', tbl
			USING ERRCODE = 'invalid_table_definition',
				  DETAIL = 'Laniakea keeps each row''s causal length in a bigint column of that name.';
	ELSE
		-- untrack left a default for plain inserts; tracked, an insert leaves it to the trigger
		EXECUTE format('ALTER TABLE %s ALTER COLUMN laniakea_cl DROP DEFAULT', tbl);
	END IF;
	PERFORM laniakea.check_trackable(tbl);
	IF EXISTS (SELECT FROM pg_publication p
			   WHERE p.pubtruncate AND p.pubname <> 'laniakea_changes' AND (p.puballtables OR EXISTS (
					SELECT FROM pg_publication_rel r WHERE r.prpubid = p.oid AND r.prrelid = tbl))) THEN
		RAISE WARNING 'a publication of table "%" publishes TRUNCATE', tbl
			USING DETAIL = 'Subscribers refuse a replicated TRUNCATE of a tracked table, and their replication stops there.',
				  HINT = 'ALTER PUBLICATION ... SET (publish = ''insert, update'').';
	END IF;

	PERFORM laniakea.drop_triggers(tbl);
	EXECUTE format('CREATE TRIGGER laniakea_merge BEFORE INSERT OR UPDATE ON %s '
				   'FOR EACH ROW EXECUTE FUNCTION laniakea.merge_trigger()', tbl);
	EXECUTE format('CREATE TRIGGER laniakea_delete BEFORE DELETE ON %s '
				   'FOR EACH ROW EXECUTE FUNCTION laniakea.delete_trigger()', tbl);
	EXECUTE format('CREATE TRIGGER laniakea_truncate BEFORE TRUNCATE ON %s '
				   'FOR EACH STATEMENT EXECUTE FUNCTION laniakea.delete_trigger()', tbl);
	IF notify THEN
		EXECUTE format('CREATE TRIGGER laniakea_notify AFTER INSERT OR UPDATE OR DELETE ON %s '
					   'FOR EACH ROW EXECUTE FUNCTION laniakea.notify_trigger()', tbl);
		EXECUTE format('CREATE TRIGGER laniakea_notify_truncate AFTER TRUNCATE ON %s '
					   'FOR EACH STATEMENT EXECUTE FUNCTION laniakea.notify_trigger()', tbl);
	END IF;
	-- ALWAYS: they must fire in the logical replication apply worker too
	FOR trig IN SELECT tgname FROM pg_trigger
				WHERE tgrelid = tbl AND tgname IN ('laniakea_merge', 'laniakea_delete', 'laniakea_truncate',
												   'laniakea_notify', 'laniakea_notify_truncate') LOOP
		EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', tbl, trig);
	END LOOP;

	IF NOT EXISTS (SELECT FROM pg_publication WHERE pubname = 'laniakea_changes') THEN
		-- without wal_level = logical PostgreSQL warns that nothing can be decoded
		-- yet; only a bridge reading the WAL needs that, and it says so itself
		was := set_config('client_min_messages', 'error', true);
		CREATE PUBLICATION laniakea_changes FOR TABLE laniakea.tombstones;
		PERFORM set_config('client_min_messages', was, true);
	END IF;
	IF NOT EXISTS (SELECT FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
				   WHERE p.pubname = 'laniakea_changes' AND r.prrelid = tbl) THEN
		EXECUTE format('ALTER PUBLICATION laniakea_changes ADD TABLE %s', tbl);
	END IF;

	INSERT INTO laniakea.tracked
	SELECT tbl, key, cols, n.nspname, c.relname, notify
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl
	ON CONFLICT ON CONSTRAINT tracked_pkey DO UPDATE SET key_column = EXCLUDED.key_column,
		crdt_columns = EXCLUDED.crdt_columns, nsp = EXCLUDED.nsp, rel = EXCLUDED.rel,
		notify = EXCLUDED.notify;
	PERFORM laniakea.catalog_changed(tbl);
END $$;
COMMENT ON FUNCTION laniakea.track(regclass, boolean) IS
	'add laniakea_cl, install the merge, delete and (unless notify is false) notify triggers on a table, publish it in laniakea_changes and register it for the bridge (idempotent)';

CREATE FUNCTION laniakea.untrack(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM laniakea.tracked t WHERE t.tbl = untrack.tbl) THEN
		RAISE NOTICE 'table "%" is not tracked, skipping', tbl;
	END IF;
	PERFORM laniakea.drop_triggers(tbl);
	DELETE FROM laniakea.tracked t WHERE t.tbl = untrack.tbl;
	IF EXISTS (SELECT FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
			   WHERE p.pubname = 'laniakea_changes' AND r.prrelid = tbl) THEN
		EXECUTE format('ALTER PUBLICATION laniakea_changes DROP TABLE %s', tbl);
	END IF;
	-- plain inserts work again; the causal lengths and tombstones stay for a later track
	IF EXISTS (SELECT FROM pg_attribute
			   WHERE attrelid = tbl AND attname = 'laniakea_cl' AND NOT attisdropped) THEN
		EXECUTE format('ALTER TABLE %s ALTER COLUMN laniakea_cl SET DEFAULT 1', tbl);
	END IF;
	PERFORM laniakea.catalog_changed(tbl);
END $$;
COMMENT ON FUNCTION laniakea.untrack(regclass) IS
	'remove the triggers laniakea.track installed (laniakea_cl stays, defaulting to 1)';

-- Anti-entropy: merge every row of source (a copy of a peer's table, or a
-- postgres_fdw foreign table pointing at it) into a tracked table, after the
-- peer's tombstones of that table when they are given (a copy of, or a foreign
-- table on, its laniakea.tombstones).  The merge trigger turns each colliding
-- INSERT into a merge and discards rows a tombstone outranks; a tombstone
-- deletes the rows it outranks.  Columns match by name.
CREATE FUNCTION laniakea.reconcile(target regclass, source regclass, tombstones regclass DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	cols text;
	n bigint;
	nsp text;
	rel text;
BEGIN
	IF NOT EXISTS (SELECT FROM laniakea.tracked t WHERE t.tbl = target) THEN
		RAISE EXCEPTION 'table "%" is not tracked', target
			USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Call laniakea.track first.';
	END IF;
	IF tombstones IS NOT NULL THEN
		SELECT c.relname, ns.nspname INTO rel, nsp
		FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE c.oid = target;
		EXECUTE format('INSERT INTO laniakea.tombstones AS t (nsp, rel, key, cl, deleted_at) '
					   'SELECT nsp, rel, key, cl, deleted_at FROM %s WHERE nsp = $1 AND rel = $2 '
					   'ON CONFLICT (nsp, rel, key, cl) DO UPDATE SET deleted_at = EXCLUDED.deleted_at '
					   'WHERE EXCLUDED.deleted_at < t.deleted_at', tombstones)
		USING nsp, rel;
	END IF;
	SELECT string_agg(quote_ident(t.attname), ', ' ORDER BY t.attnum) INTO cols
	FROM pg_attribute t JOIN pg_attribute s ON s.attrelid = source AND s.attname = t.attname
		AND s.attnum > 0 AND NOT s.attisdropped
	WHERE t.attrelid = target AND t.attnum > 0 AND NOT t.attisdropped AND t.attgenerated = '';
	EXECUTE format('SELECT count(*) FROM %s', source) INTO n;
	EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM %s', target, cols, cols, source);
	RETURN n;
END $$;
COMMENT ON FUNCTION laniakea.reconcile(regclass, regclass, regclass) IS
	'merge the tombstones and then all rows of source into the tracked table target; returns the number of source rows';

-- Tombstones let a node discard stale copies of a deleted row; once every
-- node has applied every change older than the horizon, they have done that.
-- A deletion below a later one of the same key says nothing more: it goes too.
CREATE FUNCTION laniakea.collect_tombstones(older_than interval DEFAULT '7 days') RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
	WITH gone AS (
		DELETE FROM laniakea.tombstones t
		WHERE t.deleted_at < now() - older_than
			OR EXISTS (SELECT FROM laniakea.tombstones u
					   WHERE (u.nsp, u.rel, u.key) = (t.nsp, t.rel, t.key) AND u.cl > t.cl)
		RETURNING 1)
	SELECT count(*) FROM gone
$$;
COMMENT ON FUNCTION laniakea.collect_tombstones(interval) IS
	'delete this node''s tombstones older than the horizon, and those a later deletion of their key supersedes; returns how many';

-- A dropped table leaves no row behind in laniakea.tracked or laniakea.rejected,
-- nor tombstones that a later table of its name would inherit.  SECURITY DEFINER: whoever
-- may drop the table may drop its bookkeeping.
CREATE FUNCTION laniakea.forget_dropped() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM laniakea.tombstones t
	USING pg_event_trigger_dropped_objects() d
	WHERE d.object_type = 'table' AND t.nsp = d.schema_name AND t.rel = d.object_name
		AND d.objid IN (SELECT tbl::oid FROM laniakea.tracked);
	DELETE FROM laniakea.tracked t
	WHERE t.tbl::oid IN (SELECT objid FROM pg_event_trigger_dropped_objects() WHERE object_type = 'table');
	DELETE FROM laniakea.rejected r
	WHERE r.tbl::oid IN (SELECT objid FROM pg_event_trigger_dropped_objects() WHERE object_type = 'table');
END $$;
CREATE EVENT TRIGGER laniakea_forget_dropped ON sql_drop EXECUTE FUNCTION laniakea.forget_dropped();

-- Running bridges hear of a tracked table dropped or altered (renamed, its
-- columns renamed), whose topics or SQL change.  Named to fire before
-- laniakea_forget_dropped, which removes the dropped table from tracked.
CREATE FUNCTION laniakea.dropped_notify() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pg_notify('laniakea_catalog',
		json_build_object('table', laniakea.topic_table(d.schema_name, d.object_name))::text)
	FROM pg_event_trigger_dropped_objects() d JOIN laniakea.tracked t ON t.tbl::oid = d.objid
	WHERE d.object_type = 'table';
END $$;
CREATE EVENT TRIGGER laniakea_dropped_notify ON sql_drop EXECUTE FUNCTION laniakea.dropped_notify();
-- A renamed tracked table (RENAME, SET SCHEMA) takes its tombstones along: they
-- are copied under the new name, which replicates, and the local old ones go.
-- A node that gets the copies before renaming its own table keeps them waiting
-- and merges its own into them when it renames.  Event triggers run as
-- whoever issues the DDL, on any table: SECURITY DEFINER, so that a role
-- without rights on schema laniakea can still alter and drop its tables.
CREATE FUNCTION laniakea.altered_notify() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT t.tbl, t.nsp AS old_nsp, t.rel AS old_rel, n.nspname, c.relname
			 FROM laniakea.tracked t JOIN pg_class c ON c.oid = t.tbl
			 JOIN pg_namespace n ON n.oid = c.relnamespace
			 WHERE (t.nsp, t.rel) <> (n.nspname, c.relname) LOOP
		INSERT INTO laniakea.tombstones (nsp, rel, key, cl, deleted_at)
		SELECT r.nspname, r.relname, key, cl, deleted_at FROM laniakea.tombstones
		WHERE nsp = r.old_nsp AND rel = r.old_rel
		ON CONFLICT (nsp, rel, key, cl) DO UPDATE SET deleted_at = EXCLUDED.deleted_at
		WHERE EXCLUDED.deleted_at < laniakea.tombstones.deleted_at;
		DELETE FROM laniakea.tombstones WHERE nsp = r.old_nsp AND rel = r.old_rel;
		UPDATE laniakea.tracked SET nsp = r.nspname, rel = r.relname WHERE tbl = r.tbl;
	END LOOP;
	-- a table or one of its columns (a column's objid is its table's)
	PERFORM laniakea.catalog_changed(d.objid)
	FROM pg_event_trigger_ddl_commands() d JOIN laniakea.tracked t ON t.tbl::oid = d.objid
	WHERE d.classid = 'pg_class'::regclass;
END $$;
CREATE EVENT TRIGGER laniakea_altered_notify ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION laniakea.altered_notify();
