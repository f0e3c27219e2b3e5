/*
 * laws.h — the lattice and codec laws every CRDT type must satisfy, written
 * once against a table of the type's operations and run by each type's
 * suite under the type's own test names (gcounter_merge_commutative, ...).
 *
 * States are opaque here: blobs of the kind's struct in the test arena.
 */
#ifndef LK_TEST_LAWS_H
#define LK_TEST_LAWS_H

#include "gen.h"
#include "lk_format.h"

/*
 * Only what differs between the types is here: decoding, encoding, text,
 * merge, delta and order go through lk_state's dispatch on kind (see
 * bare_state.h), the same code the hosts run.
 */
typedef struct crdt_ops
{
	lk_kind		kind;

	/* A random valid state over the universe (reachable or arbitrary). */
	void		(*gen) (lk_rng *r, const gen_universe *u, void *out);

	/*
	 * A random state from the reference codec: its canonical JSON and binary
	 * written by gen.c, and nloose noncanonical JSON renderings of it.
	 */
	void		(*ref) (lk_rng *r, const gen_universe *u, lk_buf *json, lk_buf *bin,
						lk_buf *loose, int nloose);

	/*
	 * A random operation on s as node: *out is the new state and *d the
	 * delta a replica ships for it, with merge(s, d) = out.  May fail with
	 * an error the operation documents (LK_ERR_RANGE on overflow); then
	 * neither out nor d is set and s must be unchanged.
	 */
	lk_code		(*op) (lk_rng *r, const gen_universe *u, const void *s, lk_str node,
					   void *out, void *d, lk_error *err);
} crdt_ops;

/* The type under test; each suite sets it before running. */
extern const crdt_ops *L;

void		law_merge_commutative(void);
void		law_merge_associative(void);
void		law_merge_idempotent(void);
void		law_merge_is_least_upper_bound(void);
void		law_operations_inflate(void);
void		law_delta_reproduces_merge(void);
void		law_deltas_converge_in_any_order_with_duplicates(void);
void		law_text_round_trip_is_identity(void);
void		law_binary_round_trip_is_identity(void);
void		law_reference_codec_agrees(void);
void		law_shuffled_json_parses_to_canonical_bytes(void);
void		law_mutated_binary_is_rejected_or_canonical(void);
void		law_mutated_text_is_rejected_or_canonical(void);

#define LAW_TESTS(type) \
	{#type "_merge_commutative", law_merge_commutative}, \
	{#type "_merge_associative", law_merge_associative}, \
	{#type "_merge_idempotent", law_merge_idempotent}, \
	{#type "_merge_is_least_upper_bound", law_merge_is_least_upper_bound}, \
	{#type "_operations_inflate", law_operations_inflate}, \
	{#type "_delta_reproduces_merge", law_delta_reproduces_merge}, \
	{#type "_deltas_converge_in_any_order_with_duplicates", \
	 law_deltas_converge_in_any_order_with_duplicates}, \
	{#type "_text_round_trip_is_identity", law_text_round_trip_is_identity}, \
	{#type "_binary_round_trip_is_identity", law_binary_round_trip_is_identity}, \
	{#type "_reference_codec_agrees", law_reference_codec_agrees}, \
	{#type "_shuffled_json_parses_to_canonical_bytes", \
	 law_shuffled_json_parses_to_canonical_bytes}, \
	{#type "_mutated_binary_is_rejected_or_canonical", \
	 law_mutated_binary_is_rejected_or_canonical}, \
	{#type "_mutated_text_is_rejected_or_canonical", \
	 law_mutated_text_is_rejected_or_canonical}

/*
 * Helpers the type suites share.  st_bin encodes and also checks that the
 * encoding decodes back to the same bytes: every state a test builds or a
 * constructor returns is thereby held to the decoder's invariants.
 */
void	   *st_new(void);
lk_buf		st_bin(const void *s);
lk_buf		st_json(const void *s);
void	   *st_merge(const void *a, const void *b);
void	   *st_delta(const void *old, const void *newer);
bool		st_leq(const void *a, const void *b);
bool		st_same(const void *a, const void *b);

/* One to three random edits of b: bytes replaced, flipped, inserted, deleted, cut, repeated. */
void		law_mutate(lk_rng *r, lk_buf *b, const char *alphabet, size_t nalpha);

/* Two states must be equal: byte-equal encodings (shown as JSON if not). */
#define CHECK_SAME(a, b) check_same(__FILE__, __LINE__, #a, (a), (b))
void		check_same(const char *file, int line, const char *what, const void *a, const void *b);

#endif
