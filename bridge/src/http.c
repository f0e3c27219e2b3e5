/*
 * http.c — the HTTP side of the bridge's port.
 */
#include "http.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bridge.h"
#include "catalog.h"
#include "db.h"
#include "metrics.h"
#include "wal.h"
#include "xalloc.h"

static const struct
{
	const char *ext;
	const char *type;
}			mime[] = {
	{".html", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".mjs", "text/javascript; charset=utf-8"},
	{".ts", "text/plain; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".json", "application/json"},
	{".wasm", "application/wasm"},
	{".webmanifest", "application/manifest+json"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
};

static const char *
mime_of(const char *path)
{
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof(mime) / sizeof(mime[0]); i++)
		if (strcmp(dot, mime[i].ext) == 0)
			return mime[i].type;
	return "application/octet-stream";
}

/* True, with its path in file, when dir holds a regular file at path. */
static bool
find_file(const char *dir, const char *path, char *file, size_t size)
{
	struct stat st;

	return dir[0] && snprintf(file, size, "%s%s", dir, path) < (int) size &&
		stat(file, &st) == 0 && S_ISREG(st.st_mode);
}

static int
respond(struct lws *wsi, http_reply *hr, int status, const char *ctype)
{
	unsigned char buf[LWS_PRE + 512];
	unsigned char *start = &buf[LWS_PRE],
			   *p = start,
			   *end = &buf[sizeof(buf) - 1];

	hr->status = status;
	hr->ctype = ctype;
	if (lws_add_http_common_headers(wsi, (unsigned int) status, ctype, hr->body.len - LWS_PRE,
									&p, end) ||
		lws_add_http_header_by_name(wsi, (const unsigned char *) "cache-control:",
									(const unsigned char *) "no-store", 8, &p, end) ||
		lws_finalize_write_http_header(wsi, start, &p, end))
		return 1;
	lws_callback_on_writable(wsi);
	return 0;
}

int
http_serve(struct lws *wsi, http_reply *hr, const char *path)
{
	char		file[4096];

	/* lws_write needs LWS_PRE bytes of headroom before what it sends */
	lk_buf_init(&hr->body, &lk_std_alloc, LWS_PRE + 256);
	hr->body.len = LWS_PRE;
	if (strcmp(path, "/healthz") == 0)
	{
		/* "up" once joins can be answered: connected, listening, tracked tables read, changes flowing */
		buf_printf(&hr->body, "{\"status\":\"ok\",\"postgres\":\"%s\",\"source\":\"%s\"}\n",
				   db_ready() && catalog_ready() && wal_ready() ? "up" : "down",
				   wal_source_used() == SOURCE_WAL ? "wal" : wal_source_used() == SOURCE_NOTIFY ? "notify" : "undecided");
		return respond(wsi, hr, HTTP_STATUS_OK, "application/json");
	}
	if (strcmp(path, "/metrics") == 0)
	{
		metrics_render(&hr->body);
		return respond(wsi, hr, HTTP_STATUS_OK, "text/plain; version=0.0.4");
	}
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	/* the client package's files are at the top level, whatever the static dir holds */
	if (path[0] != '/' || strstr(path, "..") ||
		!((strchr(path + 1, '/') == NULL && find_file(CFG.client_dir, path, file, sizeof(file))) ||
		  find_file(CFG.static_dir, path, file, sizeof(file))))
	{
		lk_buf_put_str(&hr->body, "not found\n");
		return respond(wsi, hr, HTTP_STATUS_NOT_FOUND, "text/plain; charset=utf-8");
	}
	lk_free(&lk_std_alloc, hr->body.data);
	hr->body.data = NULL;
	if (lws_serve_http_file(wsi, file, mime_of(file), NULL, 0) < 0)
		return -1;
	return 0;
}

int
http_writeable(struct lws *wsi, http_reply *hr)
{
	int			n;

	if (!hr->body.data)
		return 0;
	n = lws_write(wsi, hr->body.data + LWS_PRE, hr->body.len - LWS_PRE, LWS_WRITE_HTTP_FINAL);
	lk_free(&lk_std_alloc, hr->body.data);
	hr->body.data = NULL;
	if (n < 0)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}
