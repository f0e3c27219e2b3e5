/*
 * main.c — laniakea-bridge: configuration, the event loop, shutdown.
 *
 * Startup errors exit with a message; runtime errors close only the
 * connection concerned.  SIGTERM and SIGINT close every client with 1001
 * (going away) and exit once they are gone or after two seconds.
 */
#include "bridge.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "db.h"
#include "hub.h"
#include "lws/workarounds.h"
#include "metrics.h"
#include "phoenix.h"
#include "wal.h"
#include "ws.h"
#include "xalloc.h"

config		CFG;
struct lws_context *CTX;

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
	(void) sig;
	stop_requested = 1;
	if (CTX)
		lws_cancel_service(CTX);
}

static int
log_levels(const char *name)
{
	int			levels = LLL_ERR | LLL_USER;

	if (strcmp(name, "error") != 0)
		levels |= LLL_WARN;
	if (strcmp(name, "info") == 0 || strcmp(name, "debug") == 0)
		levels |= LLL_NOTICE;
	if (strcmp(name, "debug") == 0)
		levels |= LLL_INFO;
	return levels;
}

/* As many descriptors as the hard limit allows: each client holds one. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* db_hooks around the hub's: the source of changes (wal.h) is chosen on the first connection */
static void
db_on_ready(void)
{
	hub_on_ready();
	wal_db_ready();
}

static void
db_on_notify(const char *payload)
{
	if (wal_source_used() != SOURCE_WAL)
		hub_on_notify(payload);
}

static void
db_on_catalog(const char *payload)
{
	hub_on_catalog(payload);
	wal_catalog_changed();
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct lws_protocols protocols[4];
	lws_retry_bo_t retry = {0};
	struct lws_vhost *vh;
	db_hooks	hooks = {db_on_ready, db_on_notify, db_on_catalog, NULL};
	wal_hooks	whooks = {hub_needs, hub_on_change, hub_on_deleted, hub_on_truncated, hub_resync};
	lws_usec_t	deadline = 0;
	int			rc = config_load(&CFG, argc, argv);

	if (rc != 0)
		return rc > 0 ? 0 : 2;
	json_set_alloc_funcs(xmalloc, free);
	lws_set_log_level(log_levels(CFG.log_level), NULL);
	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	phoenix_init();

	protocols[0] = ws_protocol;
	protocols[1] = db_protocol;
	protocols[2] = wal_protocol;
	memset(&protocols[3], 0, sizeof(protocols[3]));
	/* hang up on a client silent for idle_timeout; ping it at two thirds of that */
	retry.secs_since_valid_ping = (uint16_t) (CFG.idle_timeout * 2 / 3);
	retry.secs_since_valid_hangup = (uint16_t) CFG.idle_timeout;

	memset(&info, 0, sizeof(info));
	info.port = CFG.port;
	info.iface = CFG.listen;
	info.protocols = protocols;
	info.vhost_name = "laniakea";
	info.retry_and_idle_policy = &retry;
	info.timeout_secs = 10;
	info.gid = (gid_t) -1;
	info.uid = (uid_t) -1;
	lwsw_header_limits(&info);
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE;
	if (strchr(CFG.listen, ':') == NULL)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;

	CTX = lws_create_context(&info);
	if (!CTX)
	{
		fprintf(stderr, "laniakea-bridge: cannot listen on %s:%d\n", CFG.listen, CFG.port);
		return 1;
	}
	vh = lws_get_vhost_by_name(CTX, "laniakea");
	if (!CFG.jwt_secret[0])
		lwsl_warn("laniakea-bridge: DEVELOPMENT MODE: no --jwt-secret, so every client may read "
				  "and write every tracked topic as the node it names\n");
	lwsl_user("laniakea-bridge: listening on %s:%d\n", CFG.listen, CFG.port);
	if (CFG.client_dir[0])
		lwsl_user("laniakea-bridge: serving the client package from %s\n", CFG.client_dir);
	wal_start(CTX, vh, CFG.db, CFG.source, &whooks);
	db_start(CTX, vh, CFG.db, &hooks);

	while (lws_service(CTX, 0) >= 0)
	{
		if (stop_requested == 1)
		{
			lwsl_user("laniakea-bridge: shutting down\n");
			phoenix_shutdown();
			wal_stop();
			db_stop();
			stop_requested = 2;
			deadline = lws_now_usecs() + 2 * LWS_US_PER_SEC;
		}
		if (stop_requested == 2 && (M.connections <= 0 || lws_now_usecs() > deadline))
			break;
		if (wal_fatal() && !stop_requested)
		{
			lwsl_err("laniakea-bridge: %s\n", wal_fatal());
			wal_stop();
			db_stop();
			lws_context_destroy(CTX);
			return 1;
		}
	}
	lws_context_destroy(CTX);
	return 0;
}
