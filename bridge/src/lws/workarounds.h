/*
 * lws/workarounds.h — everything the bridge does because of what
 * libwebsockets does not do, in one place.  Written against lws 4.1.6
 * (Debian 12); read against upstream's sources of v4.1.6 to v5.0.0.
 *
 *   what                              lws versions     what upstream does instead
 *   --------------------------------  ---------------  ---------------------------------------
 *   client frames without the mask    4.1.6 - 4.5.x    v5.0.0 closes the connection with 1002
 *   bit are accepted (RFC 6455 5.1                     ("client unmasked") in its frame parser
 *   says the server must fail them):                   (lib/roles/ws/ops-ws.c): guard.c's frame
 *   guard.c follows the frame headers                  following could go, its header copy not
 *   and cuts such frames out
 *
 *   a Sec-WebSocket-Protocol header   4.1.6 - 5.0.0    nothing yet: lws_process_ws_upgrade2
 *   of 127 bytes or more hangs up the  (every one)     copies the header into char buf[128]
 *   handshake ("protocol list too                      (lib/roles/ws/server-ws.c)
 *   long"), and the phoenix client
 *   puts its authToken there: lws is
 *   told to keep 126 bytes of it
 *   (lwsw_header_limits) and guard.c
 *   keeps the whole value
 *
 *   LWS_SERVER_OPTION_ALLOW_LISTEN_   4.1.6 - 4.3.0    v4.3.1 sets SO_REUSEPORT for the option
 *   SHARE sets SO_REUSEPORT only with                  alone (lib/roles/http/server/server.c)
 *   more than one service thread:
 *   reuseport.c sets it in bind()
 *
 *   a raw file's POLLOUT is cleared   4.1.6 - 4.3.0    v4.3.1 clears POLLOUT before the
 *   after its writeable callback, so                   callback (lib/roles/raw-file/
 *   a request made inside the                          ops-raw-file.c)
 *   callback is lost: it is made from
 *   a timer instead (lwsw_raw_writable)
 *
 * guard.c and reuseport.c interpose C library functions (recv, close, bind)
 * that lws calls: the bridge's definitions win at link time and call the C
 * library's through dlsym(RTLD_NEXT).  Nothing else in the bridge depends on
 * how these are done.
 */
#ifndef BRIDGE_LWS_WORKAROUNDS_H
#define BRIDGE_LWS_WORKAROUNDS_H

#include <libwebsockets.h>
#include <stdbool.h>

#include "lws/guard.h"

/*
 * Header limits for the context: every header gets lws's default buffer
 * (HEADER_BYTES), Sec-WebSocket-Protocol 126 bytes, which lws's upgrade can
 * take (the guard keeps the whole value).
 */
#define LWSW_HEADER_BYTES 4096
void		lwsw_header_limits(struct lws_context_creation_info *info);

/* A raw file's writeable request that survives being made inside its writeable callback. */
typedef struct lwsw_raw_writable
{
	lws_sorted_usec_list_t sul;
	struct lws *wsi;
} lwsw_raw_writable;

/*
 * lws_callback_on_writable(wsi) for a raw file; in_callback: called from
 * inside its LWS_CALLBACK_RAW_WRITEABLE_FILE.  Cancel (lwsw_raw_cancel)
 * before wsi goes.
 */
void		lwsw_raw_want_writable(struct lws_context *ctx, lwsw_raw_writable *w, struct lws *wsi,
								   bool in_callback);
void		lwsw_raw_cancel(lwsw_raw_writable *w);

#endif
