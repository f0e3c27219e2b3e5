/*
 * config.h — the bridge's settings: one sorted table of options, each
 * settable by flag or environment variable (flags win), with a default.
 */
#ifndef BRIDGE_CONFIG_H
#define BRIDGE_CONFIG_H

typedef struct config
{
	char	   *client_dir;		/* the client package (laniakea.js, its wasm); empty: none */
	char	   *db;				/* libpq conninfo; empty: libpq's environment */
	int			idle_timeout;	/* seconds without a valid frame before hangup */
	char	   *jwt_secret;		/* HS256 secret; empty: development mode */
	char	   *listen;			/* address to bind */
	char	   *log_level;
	int			longpoll_expiry;	/* ms a LongPoll session lives without a poll */
	int			longpoll_window;	/* ms a LongPoll GET is held when there is nothing to send */
	int			max_body;		/* bytes of an HTTP request body (LongPoll batch, view form) */
	int			max_channels;	/* channels one connection may join */
	int			max_message;	/* bytes in one client message */
	int			max_pending_pushes; /* pushes of one connection unanswered */
	int			max_per_ip;		/* WebSocket connections from one address */
	int			max_table_rows; /* rows in a table topic's join reply */
	int			pending_cap;	/* bytes of merged pending deltas of one channel */
	int			port;
	int			push_timeout;	/* ms a push may run in PostgreSQL (statement_timeout); 0: none */
	char	   *source;			/* where changes come from: auto, wal or notify (wal.h) */
	char	   *static_dir;		/* client library and demo page; empty: none */
	int			wal_window_bytes;	/* changes kept until visible (recent.h) */
	int			websocket;		/* 0: WebSocket upgrades are refused (LongPoll only) */
} config;

/*
 * Fill c from the defaults, then the environment, then argv.  Returns 0 to
 * run, 1 when --help or --version was printed, -1 after printing an error.
 */
int			config_load(config *c, int argc, char **argv);

#endif
