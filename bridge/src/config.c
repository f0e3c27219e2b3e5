/*
 * config.c — options by flag and environment, and --help.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xalloc.h"

#define BRIDGE_VERSION "0.1.0"

typedef enum opt_type
{
	OPT_INT,
	OPT_STR
} opt_type;

typedef struct option
{
	const char *flag;
	const char *env;
	opt_type	type;
	size_t		offset;
	const char *def;
	int			min,
				max;
	const char *help;
} option;

/* Sorted by flag.  DATABASE_URL is the conventional name for the conninfo. */
static const option options[] = {
	{"client-dir", "LANIAKEA_CLIENT_DIR", OPT_STR, offsetof(config, client_dir), "auto", 0, 0,
	"directory whose files are served at /NAME before --static-dir's (the client package: "
	"/laniakea.js, its modules, wasm and phoenix); auto: ../client/lib beside the executable, "
	"if built; empty: none"},
	{"db", "DATABASE_URL", OPT_STR, offsetof(config, db), "", 0, 0,
	"libpq connection string or URI; empty: libpq's PG* environment"},
	{"idle-timeout", "LANIAKEA_IDLE_TIMEOUT", OPT_INT, offsetof(config, idle_timeout), "60", 5, 3600,
	"seconds without a valid frame (heartbeats count) before a client is dropped"},
	{"jwt-secret", "LANIAKEA_JWT_SECRET", OPT_STR, offsetof(config, jwt_secret), "", 0, 0,
	"HS256 secret for client tokens; without one the bridge runs in development mode"},
	{"listen", "LANIAKEA_LISTEN", OPT_STR, offsetof(config, listen), "127.0.0.1", 0, 0,
	"address to listen on"},
	{"log-level", "LANIAKEA_LOG_LEVEL", OPT_STR, offsetof(config, log_level), "info", 0, 0,
	"error, warn, info or debug"},
	{"longpoll-expiry", "LANIAKEA_LONGPOLL_EXPIRY", OPT_INT, offsetof(config, longpoll_expiry), "30000", 100, 3600000,
	"milliseconds a LongPoll session lives without a poll before it is closed (an abandoned client)"},
	{"longpoll-window", "LANIAKEA_LONGPOLL_WINDOW", OPT_INT, offsetof(config, longpoll_window), "10000", 50, 600000,
	"milliseconds a LongPoll poll is held open while there is nothing to send (then answered 204); "
	"keep it below the client's poll timeout (phoenix: 20000) and any proxy's read timeout"},
	{"max-body", "LANIAKEA_MAX_BODY", OPT_INT, offsetof(config, max_body), "1048576", 1024, 67108864,
	"largest HTTP request body in bytes (a LongPoll batch, a view's form); a larger one is refused (413)"},
	{"max-channels", "LANIAKEA_MAX_CHANNELS", OPT_INT, offsetof(config, max_channels), "1000", 1, 1000000,
	"channels one connection may join; one more is refused (too many channels)"},
	{"max-message", "LANIAKEA_MAX_MESSAGE", OPT_INT, offsetof(config, max_message), "65536", 256, 16777216,
	"largest client message in bytes; a larger one closes the connection (1009)"},
	{"max-pending-pushes", "LANIAKEA_MAX_PENDING_PUSHES", OPT_INT, offsetof(config, max_pending_pushes), "64", 1, 100000,
	"pushes of one connection waiting for PostgreSQL; one more is refused (too many pending pushes)"},
	{"max-per-ip", "LANIAKEA_MAX_PER_IP", OPT_INT, offsetof(config, max_per_ip), "4096", 1, 1000000,
	"connections (WebSocket and LongPoll sessions) allowed from one client address"},
	{"max-table-rows", "LANIAKEA_MAX_TABLE_ROWS", OPT_INT, offsetof(config, max_table_rows), "10000", 1, 10000000,
	"rows a table topic may have for a client to join it"},
	{"pending-cap", "LANIAKEA_PENDING_CAP", OPT_INT, offsetof(config, pending_cap), "1048576", 1024, 1073741824,
	"bytes of merged, unsent deltas of one channel before its rows are resent as full state instead"},
	{"port", "LANIAKEA_PORT", OPT_INT, offsetof(config, port), "4000", 1, 65535,
	"TCP port; several bridge processes may share it (SO_REUSEPORT)"},
	{"push-timeout", "LANIAKEA_PUSH_TIMEOUT", OPT_INT, offsetof(config, push_timeout), "5000", 0, 3600000,
	"milliseconds a client push may run in PostgreSQL (statement_timeout) before it is answered "
	"with an error: a push waiting on a row locked elsewhere does not stall every client; 0: no limit"},
	{"source", "LANIAKEA_SOURCE", OPT_STR, offsetof(config, source), "auto", 0, 0,
	"where changes come from: wal (logical decoding of publication laniakea_changes on a temporary "
	"slot; needs wal_level=logical and a role with REPLICATION), notify (NOTIFY from the tracked "
	"tables' triggers), or auto: wal when the database allows it, else notify (logged)"},
	{"static-dir", "LANIAKEA_STATIC_DIR", OPT_STR, offsetof(config, static_dir), "", 0, 0,
	"directory served over HTTP at / (the client library and demo page)"},
	{"wal-window-bytes", "LANIAKEA_WAL_WINDOW_BYTES", OPT_INT, offsetof(config, wal_window_bytes), "67108864", 0,
		1073741824,
	"with the WAL source: bytes of received changes kept until reads can see them; past it, rows read "
	"meanwhile are read again once they can (docs/operations.md)"},
	{"websocket", "LANIAKEA_WEBSOCKET", OPT_INT, offsetof(config, websocket), "1", 0, 1,
	"0: refuse WebSocket upgrades, so that clients fall back to LongPoll (tests, networks that break WebSockets)"},
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static void
usage(FILE *out)
{
	fprintf(out,
			"laniakea-bridge " BRIDGE_VERSION " — PostgreSQL LISTEN/NOTIFY to Phoenix Channels\n\n"
			"usage: laniakea-bridge [--option value ...]\n\n"
			"Every option can also be set by the environment variable shown; a flag wins.\n\n");
	for (size_t i = 0; i < NOPTIONS; i++)
		fprintf(out, "  --%-18s %-27s %s (default: %s)\n", options[i].flag, options[i].env,
				options[i].help, options[i].def[0] ? options[i].def : "none");
	fprintf(out, "  --%-18s %-27s %s\n", "help", "", "print this and exit");
	fprintf(out, "  --%-18s %-27s %s\n", "version", "", "print the version and exit");
	fprintf(out,
			"\nEndpoints: ws://HOST:PORT/socket/websocket?vsn=2.0.0 (Phoenix Channels V2),\n"
			"http://HOST:PORT/socket/longpoll?vsn=2.0.0 (the same over Phoenix LongPoll),\n"
			"/view/TABLE/KEY (a row as an HTML page with forms, no JavaScript needed),\n"
			"/healthz, /metrics (Prometheus text), the client package from --client-dir\n"
			"(/laniakea.js) and static files from --static-dir.\n");
}

static int
set(config *c, const option *o, const char *value, const char *source)
{
	void	   *field = (char *) c + o->offset;

	if (o->type == OPT_STR)
	{
		/* the default, then the environment, then a flag: each replaces the last */
		free(*(char **) field);
		*(char **) field = xstrdup(value);
		return 0;
	}
	else
	{
		char	   *end;
		long		v;

		errno = 0;
		v = strtol(value, &end, 10);
		if (errno || end == value || *end || v < o->min || v > o->max)
		{
			fprintf(stderr, "laniakea-bridge: invalid value \"%s\" for %s: expected an integer from %d to %d\n",
					value, source, o->min, o->max);
			return -1;
		}
		*(int *) field = (int) v;
		return 0;
	}
}

/*
 * --client-dir auto: the package as the repository builds it (client/lib
 * beside bridge/), found from the executable's own path so that it does not
 * depend on the working directory; none when it is not built.
 */
static int
resolve_client_dir(config *c)
{
	char		exe[4096];
	char	   *dir;
	char	   *entry;
	char	   *slash;
	ssize_t		n;
	int			rc = 0;

	if (strcmp(c->client_dir, "auto") != 0)
		return 0;
	c->client_dir[0] = '\0';
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return 0;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL)
		return 0;
	*slash = '\0';
	dir = xasprintf("%s/../client/lib", exe);
	entry = xasprintf("%s/laniakea.js", dir);
	if (access(entry, R_OK) == 0)
		rc = set(c, &options[0], dir, "--client-dir auto");
	free(dir);
	free(entry);
	return rc;
}

int
config_load(config *c, int argc, char **argv)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NOPTIONS; i++)
	{
		const char *env = getenv(options[i].env);

		set(c, &options[i], options[i].def, "default");
		if (env && set(c, &options[i], env, options[i].env) != 0)
			return -1;
	}
	for (int a = 1; a < argc; a++)
	{
		const char *arg = argv[a];
		const char *value = NULL;
		const char *eq;
		size_t		n;
		size_t		i;
		char	   *flag;
		int			rc;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
		{
			usage(stdout);
			return 1;
		}
		if (strcmp(arg, "--version") == 0)
		{
			printf("laniakea-bridge " BRIDGE_VERSION "\n");
			return 1;
		}
		if (strncmp(arg, "--", 2) != 0)
		{
			fprintf(stderr, "laniakea-bridge: unexpected argument \"%s\" (see --help)\n", arg);
			return -1;
		}
		arg += 2;
		eq = strchr(arg, '=');
		n = eq ? (size_t) (eq - arg) : strlen(arg);
		for (i = 0; i < NOPTIONS; i++)
			if (strlen(options[i].flag) == n && strncmp(options[i].flag, arg, n) == 0)
				break;
		if (i == NOPTIONS)
		{
			fprintf(stderr, "laniakea-bridge: unknown option \"--%.*s\" (see --help)\n", (int) n, arg);
			return -1;
		}
		if (eq)
			value = eq + 1;
		else if (a + 1 < argc)
			value = argv[++a];
		else
		{
			fprintf(stderr, "laniakea-bridge: option \"--%s\" needs a value\n", options[i].flag);
			return -1;
		}
		/* name the option, not argv[a]: after "--port abc" that is the value */
		flag = xasprintf("--%s", options[i].flag);
		rc = set(c, &options[i], value, flag);
		free(flag);
		if (rc != 0)
			return -1;
	}
	if (strcmp(c->log_level, "error") && strcmp(c->log_level, "warn") &&
		strcmp(c->log_level, "info") && strcmp(c->log_level, "debug"))
	{
		fprintf(stderr, "laniakea-bridge: invalid log level \"%s\": expected error, warn, info or debug\n",
				c->log_level);
		return -1;
	}
	if (strcmp(c->source, "auto") && strcmp(c->source, "wal") && strcmp(c->source, "notify"))
	{
		fprintf(stderr, "laniakea-bridge: invalid source \"%s\": expected auto, wal or notify\n", c->source);
		return -1;
	}
	return resolve_client_dir(c);
}
