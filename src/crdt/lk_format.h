/*
 * lk_format.h — the binary format shared by storage, send/recv and the bridge.
 *
 * A state is stored exactly as it is sent: one format byte, then the body.
 * The format byte is (version << 4) | kind, so a buffer of one type handed to
 * another type's recv, or from a future version, is rejected at byte 0.
 * Integers are canonical unsigned LEB128 varints (lk_buf.h); strings are a
 * length then their bytes.  Every constructor writes the one canonical
 * encoding, so equal states are byte-equal and = and hashing are bytewise.
 *
 * gcounter body:   n:varint, then n × { len:u8 (1..255), node[len], count:varint (1..2^63-1) }
 *                  nodes strictly ascending in lk_str_cmp order.
 * pncounter body:  P as a gcounter body, then N as a gcounter body.
 * orset body:      see orset.h.
 * lwwreg body:     see lwwreg.h.
 */
#ifndef LK_FORMAT_H
#define LK_FORMAT_H

#include "lk_buf.h"
#include "lk_error.h"
#include "lk_limits.h"

#define LK_FORMAT_VERSION	1

typedef enum lk_kind
{
	LK_GCOUNTER = 1,
	LK_PNCOUNTER = 2,
	LK_ORSET = 3,
	LK_LWWREG = 4
} lk_kind;

/* The highest kind: loops over every kind run LK_GCOUNTER ..= LK_KIND_MAX. */
#define LK_KIND_MAX LK_LWWREG

static inline uint8_t
lk_format_byte(lk_kind kind)
{
	return (uint8_t) ((LK_FORMAT_VERSION << 4) | kind);
}

/* Check the format byte at the start of a buffer and step over it. */
lk_code		lk_format_open(lk_reader *r, lk_kind kind, const char *type_name, lk_error *err);

/* The one error every truncated or malformed binary input gets, with a detail. */
lk_code		lk_binary_error(lk_error *err, const char *type_name, const char *detail);

/* An encoding that grew past LK_MAX_STATE_BYTES is a limit error. */
lk_code		lk_check_state_size(size_t len, const char *type_name, lk_error *err);

#endif
