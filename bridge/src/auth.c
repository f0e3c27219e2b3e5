/*
 * auth.c — JWT (HS256) verification and topic permissions.
 *
 * Claims: "node" (the node id the client counts as), "read" and "write"
 * (arrays of topic patterns: an exact topic, or a prefix ending in "*"),
 * "exp" (required) and "nbf" (optional), seconds since the epoch: the token
 * is valid from nbf until just before exp.  The token comes from the
 * phoenix client's auth-token subprotocol ("base64url.bearer.phx.<token>")
 * or from a "token" query parameter.
 */
#include "auth.h"

#include <jwt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lk_str.h"
#include "xalloc.h"

bool
auth_current(json_t *claims, const char **why)
{
	json_int_t	now = (json_int_t) time(NULL);
	json_t	   *exp;
	json_t	   *nbf;

	if (!claims)
		return true;			/* development mode */
	exp = json_object_get(claims, "exp");
	nbf = json_object_get(claims, "nbf");
	if (!json_is_integer(exp) || json_integer_value(exp) <= now)
	{
		*why = "token expired";
		return false;
	}
	if (nbf && (!json_is_integer(nbf) || json_integer_value(nbf) > now))
	{
		*why = "token not yet valid";
		return false;
	}
	return true;
}

bool
auth_verify(const char *secret, const char *token, json_t **claims, const char **why)
{
	jwt_t	   *jwt = NULL;
	char	   *json;
	json_error_t jerr;
	json_t	   *c;
	json_t	   *node;
	lk_error	err;

	*claims = NULL;
	if (!token || !*token)
	{
		*why = "missing token";
		return false;
	}
	if (jwt_decode(&jwt, token, (const unsigned char *) secret, (int) strlen(secret)) != 0 || !jwt)
	{
		*why = "invalid token";
		return false;
	}
	if (jwt_get_alg(jwt) != JWT_ALG_HS256)
	{
		jwt_free(jwt);
		*why = "token is not HS256";
		return false;
	}
	json = jwt_get_grants_json(jwt, NULL);
	jwt_free(jwt);
	c = json ? json_loads(json, 0, &jerr) : NULL;
	free(json);
	if (!json_is_object(c))
	{
		json_decref(c);
		*why = "invalid token claims";
		return false;
	}
	if (!auth_current(c, why))
	{
		json_decref(c);
		return false;
	}
	node = json_object_get(c, "node");
	if (!json_is_string(node) ||
		lk_node_id_check(lk_str_make(json_string_value(node), strlen(json_string_value(node))),
						 &err) != LK_OK)
	{
		json_decref(c);
		*why = "token has no valid node claim";
		return false;
	}
	*claims = c;
	return true;
}

bool
auth_allows(json_t *claims, const char *claim, const char *topic)
{
	json_t	   *patterns;
	size_t		i;
	json_t	   *p;

	if (!claims)
		return true;			/* development mode */
	patterns = json_object_get(claims, claim);
	json_array_foreach(patterns, i, p)
	{
		const char *s = json_string_value(p);
		size_t		n;

		if (!s)
			continue;
		n = strlen(s);
		if (n > 0 && s[n - 1] == '*' ? strncmp(s, topic, n - 1) == 0 : strcmp(s, topic) == 0)
			return true;
	}
	return false;
}

static int
b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

char *
auth_token_from_protocols(const char *protocols)
{
	static const char prefix[] = "base64url.bearer.phx.";
	const char *p = strstr(protocols ? protocols : "", prefix);
	const char *end;
	char	   *out;
	size_t		n = 0;
	unsigned	acc = 0;
	int			bits = 0;

	if (!p)
		return NULL;
	p += sizeof(prefix) - 1;
	end = p + strcspn(p, ", ");
	out = xmalloc((size_t) (end - p) + 1);
	for (; p < end && *p != '='; p++)
	{
		int			v = b64url_value(*p);

		if (v < 0)
		{
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[n++] = (char) ((acc >> bits) & 0xff);
		}
	}
	out[n] = '\0';
	return out;
}
