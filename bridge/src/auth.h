/*
 * auth.h — JWT (HS256) verification and topic permissions.
 */
#ifndef BRIDGE_AUTH_H
#define BRIDGE_AUTH_H

#include <jansson.h>
#include <stdbool.h>

/* Verify token; its claims (the caller's reference) or false with *why. */
bool		auth_verify(const char *secret, const char *token, json_t **claims, const char **why);

/* Are the claims valid now (exp, nbf)?  Always true in development mode (NULL). */
bool		auth_current(json_t *claims, const char **why);

/* May the claims read (claim "read") or write ("write") topic? */
bool		auth_allows(json_t *claims, const char *claim, const char *topic);

/* The token in the phoenix auth-token subprotocol list, or NULL (malloc'd). */
char	   *auth_token_from_protocols(const char *protocols);

#endif
