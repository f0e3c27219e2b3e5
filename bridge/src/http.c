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
#include "longpoll.h"
#include "metrics.h"
#include "view.h"
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

int
http_respond(struct lws *wsi, http_reply *hr, int status, const char *ctype, const char *const *headers)
{
	/*
	 * Sized to the headers given: a view's Location carries its key and
	 * token %-escaped, up to three times the request's own URI.
	 */
	size_t		size = LWS_PRE + 1024;
	unsigned char *buf;
	unsigned char *start,
			   *p,
			   *end;
	int			rc = 1;

	for (int i = 0; headers && headers[i]; i += 2)
		size += strlen(headers[i]) + strlen(headers[i + 1]) + 4;
	buf = xmalloc(size);
	start = p = &buf[LWS_PRE];
	end = &buf[size - 1];
	hr->status = status;
	hr->ctype = ctype;
	if (lws_add_http_common_headers(wsi, (unsigned int) status, ctype, hr->body.len - LWS_PRE,
									&p, end) ||
		lws_add_http_header_by_name(wsi, (const unsigned char *) "cache-control:",
									(const unsigned char *) "no-store", 8, &p, end))
		goto out;
	for (int i = 0; headers && headers[i]; i += 2)
		if (lws_add_http_header_by_name(wsi, (const unsigned char *) headers[i],
										(const unsigned char *) headers[i + 1],
										(int) strlen(headers[i + 1]), &p, end))
			goto out;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		goto out;
	lws_callback_on_writable(wsi);
	rc = 0;
out:
	free(buf);
	return rc;
}

static int
respond(struct lws *wsi, http_reply *hr, int status, const char *ctype)
{
	return http_respond(wsi, hr, status, ctype, NULL);
}

void
http_body_begin(http_reply *hr)
{
	if (hr->body.data)
		lk_free(&lk_std_alloc, hr->body.data);
	/* lws_write needs LWS_PRE bytes of headroom before what it sends */
	lk_buf_init(&hr->body, &lk_std_alloc, LWS_PRE + 256);
	hr->body.len = LWS_PRE;
}

/* The request ends: its handler lets go of it. */
static void
request_done(http_reply *hr)
{
	const http_handler *h = hr->h;

	hr->h = NULL;
	if (h && h->done)
		h->done(hr);
	hr->req = NULL;
}

void
http_closed(http_reply *hr)
{
	request_done(hr);
	if (hr->body.data)
		lk_free(&lk_std_alloc, hr->body.data);
	hr->body.data = NULL;
}

int
http_body(struct lws *wsi, http_reply *hr, const char *in, size_t len)
{
	/* a request answered before its body came (a refusal): the body is dropped */
	return hr->h && hr->h->body && !hr->body.data ? hr->h->body(wsi, hr, in, len) : 0;
}

int
http_body_done(struct lws *wsi, http_reply *hr)
{
	return hr->h && hr->h->body_done && !hr->body.data ? hr->h->body_done(wsi, hr) : 0;
}

int
http_serve(struct lws *wsi, http_reply *hr, const char *path)
{
	char		file[4096];

	/* a keep-alive connection's next request */
	http_closed(hr);
	hr->close = false;
	if (strcmp(path, "/socket/longpoll") == 0)
		return longpoll_serve(wsi, hr);
	if (strncmp(path, "/view/", 6) == 0)
		return view_serve(wsi, hr, path + 6);
	http_body_begin(hr);
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
		return hr->h && hr->h->writeable ? hr->h->writeable(wsi, hr) : 0;
	n = lws_write(wsi, hr->body.data + LWS_PRE, hr->body.len - LWS_PRE, LWS_WRITE_HTTP_FINAL);
	lk_free(&lk_std_alloc, hr->body.data);
	hr->body.data = NULL;
	request_done(hr);
	if (n < 0 || hr->close)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}
