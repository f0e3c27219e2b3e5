/*
 * lws/guard.h — the checks libwebsockets leaves undone on what a client sends
 * (which versions need them: lws/workarounds.h).
 *
 * The WebSocket transport registers each accepted socket; the guard then sees its
 * bytes before lws does (guard.c says how) and
 *  - keeps the whole Sec-WebSocket-Protocol header of the upgrade request, which
 *    lws will not read past 126 bytes (the phoenix client's authToken rides there);
 *  - follows the WebSocket frame headers after the upgrade, and drops any frame
 *    without the mask bit (RFC 6455 5.1 says the server must fail that
 *    connection), reporting it so the session closes with 1002.
 */
#ifndef BRIDGE_LWS_GUARD_H
#define BRIDGE_LWS_GUARD_H

#include <stdbool.h>
#include <stddef.h>

/* Called once per connection, with guard_bind's user, at the first unmasked frame. */
typedef void (*guard_violation_fn) (void *user);

void		guard_init(guard_violation_fn on_unmasked);

/* Start following an accepted socket (its HTTP request first). */
void		guard_watch(int fd);

/* Attach the session to report violations to (at once if one was already seen). */
void		guard_bind(int fd, void *user);

/*
 * lws upgraded fd.  True when the guard saw the upgrade request end and checks
 * the frames; false when it was not following (a request it does not frame,
 * see guard.c): then frames lws already read went unchecked and the session
 * must fail the connection without serving them.
 */
bool		guard_upgraded(int fd);

/* Stop following fd; closing the socket does this too. */
void		guard_forget(int fd);

/*
 * The full Sec-WebSocket-Protocol value of the upgrade request on fd, or NULL.
 * Owned by the guard; valid until fd is forgotten.
 */
const char *guard_protocol(int fd);

#endif
