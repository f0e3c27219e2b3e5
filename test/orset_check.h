/*
 * orset_check.h — what the unit tests and the fuzz target both check of an
 * orset operation: it left every other element alone.
 */
#ifndef LK_TEST_ORSET_CHECK_H
#define LK_TEST_ORSET_CHECK_H

#include <stdbool.h>

#include "orset.h"

/* Every element but elem holds the same dots, named by node id, in a and b. */
static inline bool
others_unchanged(const lk_orset *a, const lk_orset *b, lk_str elem)
{
	uint32_t	i = 0,
				k = 0;

	for (;;)
	{
		while (i < a->nelems && lk_str_eq(a->elems[i].s, elem))
			i++;
		while (k < b->nelems && lk_str_eq(b->elems[k].s, elem))
			k++;
		if (i == a->nelems || k == b->nelems)
			return i == a->nelems && k == b->nelems;
		if (!lk_str_eq(a->elems[i].s, b->elems[k].s) || a->elems[i].nd != b->elems[k].nd)
			return false;
		for (uint32_t d = 0; d < a->elems[i].nd; d++)
		{
			const lk_dot *x = &a->dots[a->elems[i].d_off + d];
			const lk_dot *y = &b->dots[b->elems[k].d_off + d];

			if (x->seq != y->seq || !lk_str_eq(a->nodes[x->node].id, b->nodes[y->node].id))
				return false;
		}
		i++;
		k++;
	}
}

#endif
