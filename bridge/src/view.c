/*
 * view.c — server-rendered pages of tracked rows (view.h).
 *
 *   GET  /view/<table>/<key>   the row as HTML: each CRDT column's value,
 *                              and forms to change it
 *   POST /view/<table>/<key>   a form: column, op (increment, decrement,
 *                              add, remove), by or element, csrf; answered
 *                              303 See Other back to the page
 *
 * <table> is the table's name as in its topics (URL-encoded), <key> the
 * row's key text.  The page reloads itself at the minimal profile's period
 * (<meta http-equiv="refresh">), so a browser without JavaScript sees the
 * row change.  Everything written into the page is HTML-escaped.
 *
 * Auth is a socket's: with --jwt-secret a request needs a valid token (the
 * cookie lk_token, or a token query parameter) allowing "read" of the row's
 * topic (and "write" for a form), else 401 (no or bad token) or 403; the
 * token's node is the node the forms write as.  In development mode the node
 * is the browser's own, kept in an lk_node cookie the page sets.
 *
 * CSRF: each form carries an HMAC-SHA256 of the requester's identity (the
 * token, or the lk_node cookie) and the row, under a key derived from the
 * JWT secret (so bridges that share a secret accept each other's forms) or,
 * in development mode, random per process; a form whose HMAC does not match
 * is refused 403, as is one whose Origin header names another host.  A
 * third-party page can neither read the HMAC nor compute it, and the
 * bridge's cookies are SameSite=Strict, so such a page's POST carries no
 * identity either.
 *
 * A form writes through push_build, the SQL of client pushes, with the
 * same checks (auth_current, the "write" claim, the push's own refusals).
 * Bad input: 404 for a malformed path, an untracked table or a key its
 * type does not take; 400 with a message for a column that is not one of
 * the table's CRDT columns, an operation its type does not have, or a
 * malformed form; 413 for a form over --max-body.
 */
#include "view.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "auth.h"
#include "bridge.h"
#include "catalog.h"
#include "cell.h"
#include "db.h"
#include "metrics.h"
#include "profile.h"
#include "push.h"
#include "render.h"
#include "xalloc.h"

#define CSRF_BYTES 32
#define NODE_COOKIE_BYTES 12

typedef enum view_state
{
	VIEW_BODY,					/* reading a form */
	VIEW_QUERY,					/* waiting for PostgreSQL */
	VIEW_READY					/* the answer can be written */
} view_state;

typedef struct view_req
{
	struct lws *wsi;			/* NULL once the request ended */
	view_state	state;
	bool		post;
	const table *t;				/* the catalog's, looked up again after every wait */
	char	   *table;			/* the path's table and key */
	char	   *key;
	char	   *topic;
	char	   *token;			/* the JWT as given, or NULL */
	bool		token_in_query; /* ... in the query string: links carry it on */
	char	   *node;			/* who writes */
	char	   *new_node;		/* a node cookie to set with the page */
	json_t	   *claims;
	lk_buf		form;
	bool		too_large;
	db_queue	q;
	int			in_flight;		/* queries sent, not yet answered */
	/* the answer */
	PGresult   *res;			/* the row read (GET) */
	int			status;
	char	   *message;		/* an error's, or the write's */
} view_req;

static unsigned char csrf_key[32];
static bool csrf_key_set;

/* ---- helpers ---- */

static void
put_escaped(lk_buf *b, const char *s)
{
	render_html_escape(b, s, strlen(s));
}

/* %XX-escape everything but RFC 3986's unreserved characters. */
static void
put_url_part(lk_buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			*p == '-' || *p == '.' || *p == '_' || *p == '~')
			lk_buf_put_u8(b, *p);
		else
			buf_printf(b, "%%%02X", *p);
	}
}

/* The page's own URL: /view/<table>/<key>, with ?token=… when it came that way. */
static char *
page_url(const view_req *v)
{
	lk_buf		b;
	char	   *s;

	lk_buf_init(&b, &lk_std_alloc, 128);
	lk_buf_put_str(&b, "/view/");
	put_url_part(&b, v->table);
	lk_buf_put_u8(&b, '/');
	put_url_part(&b, v->key);
	if (v->token_in_query)
	{
		lk_buf_put_str(&b, "?token=");
		put_url_part(&b, v->token);
	}
	lk_buf_put_u8(&b, '\0');
	s = xstrdup((const char *) b.data);
	lk_free(&lk_std_alloc, b.data);
	return s;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode a form value in place ('+' is a space); false on a malformed %-escape or a NUL. */
static bool
form_decode(char *s)
{
	char	   *o = s;

	for (char *p = s; *p; p++)
	{
		if (*p == '+')
			*o++ = ' ';
		else if (*p == '%')
		{
			int			hi = hexval(p[1]),
						lo = hi < 0 ? -1 : hexval(p[2]);

			if (lo < 0 || (hi == 0 && lo == 0))
				return false;
			*o++ = (char) (hi * 16 + lo);
			p += 2;
		}
		else
			*o++ = *p;
	}
	*o = '\0';
	return true;
}

/* The value of cookie name in the request, or NULL (malloc'd). */
static char *
cookie(struct lws *wsi, const char *name)
{
	int			len = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COOKIE);
	char	   *all;
	char	   *found = NULL;
	size_t		n = strlen(name);

	if (len <= 0)
		return NULL;
	all = xmalloc((size_t) len + 1);
	if (lws_hdr_copy(wsi, all, len + 1, WSI_TOKEN_HTTP_COOKIE) < 0)
	{
		free(all);
		return NULL;
	}
	for (char *p = all; p && *p && !found;)
	{
		char	   *end = strchr(p, ';');

		while (*p == ' ')
			p++;
		if (strncmp(p, name, n) == 0 && p[n] == '=')
			found = end ? xstrndup(p + n + 1, (size_t) (end - p - n - 1)) : xstrdup(p + n + 1);
		p = end ? end + 1 : NULL;
	}
	free(all);
	return found;
}

/* The token query parameter, or NULL (malloc'd). */
static char *
query_token(struct lws *wsi)
{
	char		frag[4096 + 16];

	for (int i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) >= 0; i++)
		if (strncmp(frag, "token=", 6) == 0)
			return xstrdup(frag + 6);
	return NULL;
}

static void
init_csrf_key(void)
{
	static const char label[] = "laniakea /view forms";
	unsigned int n = sizeof(csrf_key);

	if (csrf_key_set)
		return;
	if (CFG.jwt_secret[0])
		HMAC(EVP_sha256(), CFG.jwt_secret, (int) strlen(CFG.jwt_secret),
			 (const unsigned char *) label, sizeof(label) - 1, csrf_key, &n);
	else if (lws_get_random(CTX, csrf_key, sizeof(csrf_key)) != sizeof(csrf_key))
		return;
	csrf_key_set = true;
}

/* The form token of v's requester and row, as hex in out (2 * CSRF_BYTES + 1). */
static bool
csrf_token(const view_req *v, char *out)
{
	const char *who = v->token ? v->token : v->node;
	unsigned char mac[CSRF_BYTES];
	unsigned int n = sizeof(mac);
	lk_buf		msg;
	bool		ok;

	init_csrf_key();
	if (!csrf_key_set || !who)
		return false;
	/* NUL-separated: no two (who, table, key) give the same message */
	lk_buf_init(&msg, &lk_std_alloc, 256);
	lk_buf_put(&msg, who, strlen(who) + 1);
	lk_buf_put(&msg, v->table, strlen(v->table) + 1);
	lk_buf_put(&msg, v->key, strlen(v->key) + 1);
	ok = HMAC(EVP_sha256(), csrf_key, sizeof(csrf_key), msg.data, msg.len, mac, &n) != NULL;
	lk_free(&lk_std_alloc, msg.data);
	for (int i = 0; ok && i < CSRF_BYTES; i++)
		xsnprintf(out + 2 * i, 3, "%02x", mac[i]);
	return ok;
}

/* ---- answers ---- */

static void
page_begin(lk_buf *b, const char *title, bool refresh)
{
	lk_buf_put_str(b, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
				   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
	if (refresh)
		buf_printf(b, "<meta http-equiv=\"refresh\" content=\"%d\">\n",
				   (int) (profile_period(PROFILE_MINIMAL) / LWS_US_PER_SEC));
	lk_buf_put_str(b, "<title>");
	put_escaped(b, title);
	lk_buf_put_str(b, "</title>\n</head>\n<body>\n");
}

/* An error page: status and message (escaped). */
static int
fail(struct lws *wsi, http_reply *hr, int status, const char *message)
{
	char		title[32];

	M.view_errors_total++;
	http_body_begin(hr);
	xsnprintf(title, sizeof(title), "%d", status);
	page_begin(&hr->body, title, false);
	lk_buf_put_str(&hr->body, "<h1>");
	lk_buf_put_str(&hr->body, title);
	lk_buf_put_str(&hr->body, "</h1>\n<p class=\"lk-error\">");
	put_escaped(&hr->body, message);
	lk_buf_put_str(&hr->body, "</p>\n</body>\n</html>\n");
	return http_respond(wsi, hr, status, "text/html; charset=utf-8", NULL) ? -1 : 0;
}

/* The hidden fields every form of the page carries. */
static void
form_begin(lk_buf *b, const char *action, const char *csrf, const char *column)
{
	lk_buf_put_str(b, "<form method=\"post\" action=\"");
	put_escaped(b, action);
	lk_buf_put_str(b, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
	lk_buf_put_str(b, csrf);
	lk_buf_put_str(b, "\"><input type=\"hidden\" name=\"column\" value=\"");
	put_escaped(b, column);
	lk_buf_put_str(b, "\">");
}

static void
render_column(lk_buf *b, const column *col, const char *text, const char *action, const char *csrf,
			  const lk_alloc *a)
{
	lk_state	s;
	lk_error	err;
	int64_t		v;

	lk_buf_put_str(b, "<section class=\"lk-column\">\n<h2>");
	put_escaped(b, col->name);
	lk_buf_put_str(b, " <small>");
	lk_buf_put_str(b, lk_kind_name(col->kind));
	lk_buf_put_str(b, "</small></h2>\n");
	if (lk_state_parse(col->kind, text, strlen(text), a, &s, &err) != LK_OK)
	{
		cell_report("parse", "view", col->name, &err);
		lk_buf_put_str(b, "<p class=\"lk-error\">unreadable state</p>\n</section>\n");
		return;
	}
	switch (col->kind)
	{
		case LK_GCOUNTER:
		case LK_PNCOUNTER:
			lk_buf_put_str(b, "<p><output class=\"lk-");
			put_escaped(b, col->name);
			lk_buf_put_str(b, "\">");
			if ((col->kind == LK_GCOUNTER ? lk_gcounter_value(&s.u.gc, &v, &err) :
				 lk_pncounter_value(&s.u.pn, &v, &err)) == LK_OK)
				lk_buf_put_int(b, v);
			else
				lk_buf_put_str(b, "out of range");
			lk_buf_put_str(b, "</output></p>\n");
			form_begin(b, action, csrf, col->name);
			lk_buf_put_str(b, "<input type=\"number\" name=\"by\" value=\"1\" min=\"1\" aria-label=\"by\">"
						   "<button name=\"op\" value=\"increment\">Increment</button>");
			if (col->kind == LK_PNCOUNTER)
				lk_buf_put_str(b, "<button name=\"op\" value=\"decrement\">Decrement</button>");
			lk_buf_put_str(b, "</form>\n");
			break;
		case LK_ORSET:
			lk_buf_put_str(b, "<ul class=\"lk-");
			put_escaped(b, col->name);
			lk_buf_put_str(b, "\">\n");
			for (uint32_t e = 0; e < s.u.os.nelems; e++)
			{
				lk_buf_put_str(b, "<li><span>");
				render_html_escape(b, s.u.os.elems[e].s.p, s.u.os.elems[e].s.len);
				lk_buf_put_str(b, "</span> ");
				form_begin(b, action, csrf, col->name);
				lk_buf_put_str(b, "<input type=\"hidden\" name=\"element\" value=\"");
				render_html_escape(b, s.u.os.elems[e].s.p, s.u.os.elems[e].s.len);
				lk_buf_put_str(b, "\"><button name=\"op\" value=\"remove\">Remove</button></form></li>\n");
			}
			lk_buf_put_str(b, "</ul>\n");
			form_begin(b, action, csrf, col->name);
			lk_buf_put_str(b, "<input name=\"element\" required aria-label=\"element\">"
						   "<button name=\"op\" value=\"add\">Add</button></form>\n");
			break;
		case LK_LWWREG:
			/* read only: a register write carries a clock, which pushes take from clients */
			lk_buf_put_str(b, "<p><output class=\"lk-");
			put_escaped(b, col->name);
			lk_buf_put_str(b, "\">");
			if (s.u.lw.present)
				render_html_escape(b, s.u.lw.value.p, s.u.lw.value.len);
			lk_buf_put_str(b, "</output></p>\n");
			break;
	}
	lk_buf_put_str(b, "</section>\n");
}

/* The page of the row read. */
static int
render_page(struct lws *wsi, http_reply *hr, view_req *v)
{
	PGresult   *res = v->res;
	bool		exists = db_value(res, 0, ROW_CL) != NULL;
	bool		deleted = !exists && db_value(res, 0, ROW_TOMB) != NULL;
	char		csrf[2 * CSRF_BYTES + 1] = "";
	char	   *action = page_url(v);
	char	   *title = xasprintf("%s %s", v->table, v->key);
	char	   *set_cookie = NULL;
	const char *headers[3] = {NULL, NULL, NULL};
	arena	   *ar = arena_new();
	int			rc;

	csrf_token(v, csrf);
	http_body_begin(hr);
	page_begin(&hr->body, title, true);
	lk_buf_put_str(&hr->body, "<h1><span class=\"lk-table\">");
	put_escaped(&hr->body, v->table);
	lk_buf_put_str(&hr->body, "</span> <span class=\"lk-key\">");
	put_escaped(&hr->body, db_value(res, 0, ROW_KEY) ? db_value(res, 0, ROW_KEY) : v->key);
	lk_buf_put_str(&hr->body, "</span></h1>\n");
	if (deleted)
		lk_buf_put_str(&hr->body, "<p class=\"lk-deleted\">This row was deleted; a change writes it again.</p>\n");
	else if (!exists)
		lk_buf_put_str(&hr->body, "<p class=\"lk-new\">This row does not exist yet; a change writes it.</p>\n");
	for (int i = 0; i < v->t->ncol; i++)
	{
		const char *text = exists ? db_value(res, 0, ROW_COLS + i) : NULL;

		render_column(&hr->body, &v->t->cols[i], text ? text : "{}", action, csrf, arena_alloc(ar));
	}
	lk_buf_put_str(&hr->body, "</body>\n</html>\n");
	arena_free(ar);
	if (v->new_node)
	{
		set_cookie = xasprintf("lk_node=%s; Path=/view; HttpOnly; SameSite=Strict; Max-Age=31536000",
							   v->new_node);
		headers[0] = "set-cookie:";
		headers[1] = set_cookie;
	}
	M.views_total++;
	rc = http_respond(wsi, hr, HTTP_STATUS_OK, "text/html; charset=utf-8", headers) ? -1 : 0;
	free(set_cookie);
	free(action);
	free(title);
	return rc;
}

static int
redirect(struct lws *wsi, http_reply *hr, view_req *v)
{
	char	   *url = page_url(v);
	const char *headers[] = {"location:", url, NULL};
	int			rc;

	M.view_writes_total++;
	http_body_begin(hr);
	lk_buf_put_str(&hr->body, "<!doctype html>\n<p><a href=\"");
	put_escaped(&hr->body, url);
	lk_buf_put_str(&hr->body, "\">Back to the row</a></p>\n");
	rc = http_respond(wsi, hr, HTTP_STATUS_SEE_OTHER, "text/html; charset=utf-8", headers) ? -1 : 0;
	free(url);
	return rc;
}

/* ---- the request ---- */

static void
view_free(view_req *v)
{
	if (v->res)
		PQclear(v->res);
	if (v->claims)
		json_decref(v->claims);
	if (v->form.data)
		lk_free(&lk_std_alloc, v->form.data);
	free(v->table);
	free(v->key);
	free(v->topic);
	free(v->token);
	free(v->node);
	free(v->new_node);
	free(v->message);
	free(v);
}

static void
queried(void *arg, PGresult *res, const char *error)
{
	view_req   *v = arg;

	v->in_flight--;
	if (!v->wsi)
	{
		if (v->in_flight == 0)
			view_free(v);
		return;
	}
	if (res && (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK))
	{
		v->status = v->post ? HTTP_STATUS_SEE_OTHER : HTTP_STATUS_OK;
		if (!v->post)
		{
			/* PQclear is the caller's: keep a copy of what the page shows */
			v->res = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
		}
	}
	else
	{
		const char *why = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : error;
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

		/*
		 * The key does not parse as the key's type (22xxx) or is longer
		 * than a tracked key may be (54000): no such row can exist.
		 */
		v->status = state && (strncmp(state, "22", 2) == 0 || strcmp(state, "54000") == 0) ?
			(v->post ? HTTP_STATUS_BAD_REQUEST : HTTP_STATUS_NOT_FOUND) :
			db_ready() ? HTTP_STATUS_INTERNAL_SERVER_ERROR : HTTP_STATUS_SERVICE_UNAVAILABLE;
		v->message = xstrdup(why ? why : "database error");
	}
	v->state = VIEW_READY;
	lws_callback_on_writable(v->wsi);
}

static void
query(view_req *v, const char *sql, int nparams, const char *const *params)
{
	v->state = VIEW_QUERY;
	v->in_flight++;
	db_query_on(&v->q, sql, nparams, params, queried, v);
}

static int
view_writeable(struct lws *wsi, http_reply *hr)
{
	view_req   *v = hr->req;

	if (v->state != VIEW_READY)
		return 0;
	/* the catalog may have been read again meanwhile: the table as it is now */
	v->t = catalog_find(v->table);
	if (!v->t || v->t->stale || (v->res && PQnfields(v->res) != ROW_SNAPSHOT(v->t) + 1))
		return fail(wsi, hr, HTTP_STATUS_SERVICE_UNAVAILABLE, "the table changed: try again");
	if (v->message)
		return fail(wsi, hr, v->status, v->message);
	return v->post ? redirect(wsi, hr, v) : render_page(wsi, hr, v);
}

static int
view_body(struct lws *wsi, http_reply *hr, const char *in, size_t len)
{
	view_req   *v = hr->req;

	if (v->too_large || v->form.len + len > (size_t) CFG.max_body)
		v->too_large = true;	/* read on and drop, so the 413 reaches the client */
	else
		lk_buf_put(&v->form, in, len);
	return 0;
}

/* Does the request's Origin (when it has one) name the host it was sent to? */
static bool
same_origin(struct lws *wsi)
{
	char		origin[512] = "";
	char		host[512] = "";
	const char *o;

	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
		return true;
	/* one too long to copy is no host of ours: refused, not taken for none */
	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0 ||
		lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
		return false;
	o = strstr(origin, "://");
	return o && strcmp(o + 3, host) == 0;
}

static int
view_body_done(struct lws *wsi, http_reply *hr)
{
	view_req   *v = hr->req;
	char		expect[2 * CSRF_BYTES + 1];
	const char *csrf = NULL,
			   *colname = NULL,
			   *op = NULL,
			   *by = NULL,
			   *element = NULL;
	json_t	   *payload;
	push_sql	ps;
	const char *why;
	char	   *end;
	long long	n;

	if (v->too_large)
		return fail(wsi, hr, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "form larger than --max-body");
	if ((v->t = catalog_find(v->table)) == NULL || v->t->stale)
		return fail(wsi, hr, HTTP_STATUS_NOT_FOUND, "no such tracked table");
	lk_buf_put_u8(&v->form, '\0');
	for (char *f = (char *) v->form.data, *next; f && *f; f = next)
	{
		char	   *eq;
		const char **slot;

		next = strchr(f, '&');
		if (next)
			*next++ = '\0';
		if ((eq = strchr(f, '=')) == NULL)
			continue;
		*eq = '\0';
		if (!form_decode(f) || !form_decode(eq + 1))
			return fail(wsi, hr, HTTP_STATUS_BAD_REQUEST, "malformed form encoding");
		slot = strcmp(f, "csrf") == 0 ? &csrf : strcmp(f, "column") == 0 ? &colname :
			strcmp(f, "op") == 0 ? &op : strcmp(f, "by") == 0 ? &by :
			strcmp(f, "element") == 0 ? &element : NULL;
		/* which of two values is meant cannot be known: a page's forms never send two */
		if (slot && *slot)
		{
			char	   *m = xasprintf("field %s given more than once", f);
			int			rc = fail(wsi, hr, HTTP_STATUS_BAD_REQUEST, m);

			free(m);
			return rc;
		}
		if (slot)
			*slot = eq + 1;
	}
	if (!same_origin(wsi))
		return fail(wsi, hr, HTTP_STATUS_FORBIDDEN, "form posted from another origin");
	if (!csrf || !csrf_token(v, expect) || strlen(csrf) != strlen(expect) ||
		CRYPTO_memcmp(csrf, expect, strlen(expect)) != 0)
		return fail(wsi, hr, HTTP_STATUS_FORBIDDEN, "invalid form token: reload the page and try again");
	if (!colname || catalog_column(v->t, colname) < 0)
	{
		char	   *m = xasprintf("column \"%s\" is not a CRDT column of table %s", colname ? colname : "",
								  v->t->name);
		int			rc = fail(wsi, hr, HTTP_STATUS_BAD_REQUEST, m);

		free(m);
		return rc;
	}
	if (!op || (strcmp(op, "increment") && strcmp(op, "decrement") && strcmp(op, "add") && strcmp(op, "remove")))
		return fail(wsi, hr, HTTP_STATUS_BAD_REQUEST, "op must be increment, decrement, add or remove");
	payload = json_pack("{ss}", "column", colname);
	if (element)
		json_object_set_new(payload, "element", json_string(element));
	if (by && *by)
	{
		n = strtoll(by, &end, 10);
		/* not a number: push_build refuses it with its own message */
		json_object_set_new(payload, "by", *end ? json_string(by) : json_integer(n));
	}
	why = push_build(v->t, NULL, v->key, v->node, op, payload, &ps);
	if (why)
	{
		int			rc = fail(wsi, hr, HTTP_STATUS_BAD_REQUEST, why);

		json_decref(payload);
		return rc;
	}
	query(v, ps.sql, ps.nparams, ps.params);
	push_sql_free(&ps);
	json_decref(payload);
	return 0;
}

static void
view_done(http_reply *hr)
{
	view_req   *v = hr->req;

	v->wsi = NULL;
	/* the cancelled queries' callbacks run inside db_cancel: none of them may free v */
	v->in_flight++;
	db_cancel(&v->q);
	if (--v->in_flight == 0)
		view_free(v);
}

static const http_handler view_handler = {view_body, view_body_done, view_writeable, view_done};

/* Split "<table>/<key>" into v; false when either part is missing. */
static bool
parse_path(view_req *v, const char *rest)
{
	const char *slash = strchr(rest, '/');

	if (!slash || slash == rest || !slash[1])
		return false;
	v->table = xstrndup(rest, (size_t) (slash - rest));
	v->key = xstrdup(slash + 1);
	v->topic = xasprintf("crdt:%s:%s", v->table, v->key);
	return true;
}

int
view_serve(struct lws *wsi, http_reply *hr, const char *rest)
{
	view_req   *v = xcalloc(1, sizeof(view_req));
	const char *why;
	char		frag[8];

	v->wsi = wsi;
	v->post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	v->q.timeout_ms = CFG.push_timeout;
	lk_buf_init(&v->form, &lk_std_alloc, 256);
	hr->h = &view_handler;
	hr->req = v;
	if (!v->post && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0)
		return fail(wsi, hr, HTTP_STATUS_METHOD_NOT_ALLOWED, "a view answers GET and POST");
	if (!parse_path(v, rest))
		return fail(wsi, hr, HTTP_STATUS_NOT_FOUND, "not a view: /view/<table>/<key>");
	/* lws ends the path at a raw ';' or '&' (the rest is a second fragment): the key would be cut short */
	if (lws_hdr_copy_fragment(wsi, frag, sizeof(frag), v->post ? WSI_TOKEN_POST_URI : WSI_TOKEN_GET_URI, 1) >= 0)
		return fail(wsi, hr, HTTP_STATUS_NOT_FOUND, "a ; or & in a view's path must be escaped (%3B, %26)");
	if (!catalog_ready())
		return fail(wsi, hr, HTTP_STATUS_SERVICE_UNAVAILABLE, "database unavailable");
	if ((v->t = catalog_find(v->table)) == NULL || v->t->stale)
		return fail(wsi, hr, HTTP_STATUS_NOT_FOUND, "no such tracked table");

	if ((v->token = query_token(wsi)) != NULL)
		v->token_in_query = true;
	else
		v->token = cookie(wsi, "lk_token");
	if (CFG.jwt_secret[0])
	{
		if (!auth_verify(CFG.jwt_secret, v->token, &v->claims, &why))
			return fail(wsi, hr, HTTP_STATUS_UNAUTHORIZED, why);
		if (!auth_allows(v->claims, v->post ? "write" : "read", v->topic) ||
			(v->post && !auth_allows(v->claims, "read", v->topic)))
			return fail(wsi, hr, HTTP_STATUS_FORBIDDEN, "unauthorized");
		v->node = xstrdup(json_string_value(json_object_get(v->claims, "node")));
	}
	else
	{
		lk_error	err;

		free(v->token);
		v->token = NULL;
		v->token_in_query = false;
		v->node = cookie(wsi, "lk_node");
		if (v->node && lk_node_id_check(lk_str_make(v->node, strlen(v->node)), &err) != LK_OK)
		{
			free(v->node);
			v->node = NULL;
		}
		if (!v->node && !v->post)
		{
			unsigned char raw[NODE_COOKIE_BYTES];
			char		hex[2 * NODE_COOKIE_BYTES + 1];

			if (lws_get_random(CTX, raw, sizeof(raw)) != sizeof(raw))
				return fail(wsi, hr, HTTP_STATUS_INTERNAL_SERVER_ERROR, "no randomness for a node id");
			for (int i = 0; i < NODE_COOKIE_BYTES; i++)
				xsnprintf(hex + 2 * i, 3, "%02x", raw[i]);
			v->node = xasprintf("view-%s", hex);
			v->new_node = xstrdup(v->node);
		}
		if (!v->node)
			return fail(wsi, hr, HTTP_STATUS_FORBIDDEN, "no lk_node cookie: load the page first");
	}

	if (v->post)
	{
		char		length[32] = "";

		v->state = VIEW_BODY;
		if (http_body_unframed(wsi))
		{
			hr->close = true;
			return fail(wsi, hr, HTTP_STATUS_LENGTH_REQUIRED,
						"a form needs a Content-Length: chunked bodies are not read");
		}
		/* lws reads a body only when it has a length: none is an empty form */
		if (lws_hdr_copy(wsi, length, sizeof(length), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
			strtoll(length, NULL, 10) <= 0)
			return view_body_done(wsi, hr);
		return 0;
	}
	{
		const char *params[1] = {v->key};

		query(v, v->t->select_row, 1, params);
	}
	return 0;
}
