/*
 * profile.h — a channel's delivery profile, from the capabilities a client
 * sends on join (the seed's Policy table).
 */
#ifndef BRIDGE_PROFILE_H
#define BRIDGE_PROFILE_H

#include <jansson.h>
#include <libwebsockets.h>
#include <stdbool.h>

typedef enum profile
{
	PROFILE_FULL,				/* every delta as it comes (≤ 16 ms) */
	PROFILE_CONSTRAINED,		/* deltas merged, at most one frame per 100 ms */
	PROFILE_MINIMAL				/* full state and HTML, at most one frame per 1000 ms */
} profile;

/* Anything missing or unknown lowers the profile; nothing fails. */
profile		profile_assign(json_t *caps);
const char *profile_name(profile p);

/* How often a channel of the profile is sent frames; 0: as deltas come. */
lws_usec_t	profile_period(profile p);

#endif
