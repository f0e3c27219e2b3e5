/*
 * xsnap.c — snapshots and transaction ids (xsnap.h).
 */
#include "xsnap.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "xalloc.h"

static bool
number(const char **p, uint64_t *out)
{
	char	   *end;
	unsigned long long v;

	if (!isdigit((unsigned char) **p))
		return false;
	errno = 0;
	v = strtoull(*p, &end, 10);
	if (errno)
		return false;
	*out = v;
	*p = end;
	return true;
}

bool
xsnap_parse(const char *text, xsnap *s)
{
	const char *p = text;
	size_t		n = 0,
				cap = 0;
	uint64_t   *xip = NULL;

	if (!text || !number(&p, &s->xmin) || *p++ != ':' || !number(&p, &s->xmax) || *p++ != ':' ||
		s->xmin > s->xmax)
		return false;
	while (*p)
	{
		uint64_t	x;

		if ((n && *p++ != ',') || !number(&p, &x) || x < s->xmin || x >= s->xmax)
		{
			free(xip);
			return false;
		}
		if (n == cap)
		{
			cap = cap ? cap * 2 : 8;
			xip = xrealloc(xip, cap * sizeof(uint64_t));
		}
		xip[n++] = x;
	}
	s->nxip = n;
	s->xip = xip;
	return true;
}

void
xsnap_free(xsnap *s)
{
	free(s->xip);
	s->xip = NULL;
	s->nxip = 0;
}

uint64_t
xsnap_widen(const xsnap *s, uint32_t xid)
{
	/* the signed distance from xmax's low bits: within 2^31 either way */
	int32_t		d = (int32_t) (xid - (uint32_t) s->xmax);

	/* the first epoch has nothing before it */
	if (d < 0 && (uint64_t) -(int64_t) d > s->xmax)
		return xid;
	return s->xmax + (uint64_t) (int64_t) d;
}

bool
xsnap_sees(const xsnap *s, uint64_t xid)
{
	if (xid < s->xmin)
		return true;
	if (xid >= s->xmax)
		return false;
	for (size_t i = 0; i < s->nxip; i++)
		if (s->xip[i] == xid)
			return false;
	return true;
}
