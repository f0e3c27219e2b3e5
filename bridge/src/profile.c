/*
 * profile.c — a channel's delivery profile from the capabilities a client
 * sends on join (the seed's Policy table).  Anything missing or unknown
 * lowers the profile; nothing about capabilities ever fails a join.
 */
#include "profile.h"

#include <string.h>

static bool
flag(json_t *caps, const char *name)
{
	return json_is_true(json_object_get(caps, name));
}

static double
number(json_t *caps, const char *name)
{
	json_t	   *v = json_object_get(caps, name);

	return json_is_number(v) ? json_number_value(v) : 0;
}

profile
profile_assign(json_t *caps)
{
	const char *conn = json_string_value(json_object_get(caps, "connectionType"));
	bool		fast_link = conn && (strcmp(conn, "wifi") == 0 || strcmp(conn, "ethernet") == 0);

	if (!json_is_object(caps))
		return PROFILE_MINIMAL;
	if (flag(caps, "hasWorkers") && flag(caps, "hasSharedArrayBuffer") &&
		number(caps, "memoryMb") > 2048 && fast_link)
		return PROFILE_FULL;
	if (flag(caps, "hasWorkers") && number(caps, "memoryMb") > 512)
		return PROFILE_CONSTRAINED;
	return PROFILE_MINIMAL;
}

const char *
profile_name(profile p)
{
	switch (p)
	{
		case PROFILE_FULL:
			return "full";
		case PROFILE_CONSTRAINED:
			return "constrained";
		case PROFILE_MINIMAL:
			return "minimal";
	}
	return "minimal";
}

lws_usec_t
profile_period(profile p)
{
	switch (p)
	{
		case PROFILE_FULL:
			return 0;
		case PROFILE_CONSTRAINED:
			return 100 * LWS_US_PER_MS;
		case PROFILE_MINIMAL:
			return 1000 * LWS_US_PER_MS;
	}
	return 1000 * LWS_US_PER_MS;
}
