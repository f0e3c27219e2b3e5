/*
 * lws/workarounds.c — header limits and raw-file writeable requests
 * (workarounds.h says why).
 */
#include "lws/workarounds.h"

void
lwsw_header_limits(struct lws_context_creation_info *info)
{
	static struct lws_token_limits limits;

	for (int i = 0; i < WSI_TOKEN_COUNT; i++)
		limits.token_limit[i] = LWSW_HEADER_BYTES;
	limits.token_limit[WSI_TOKEN_PROTOCOL] = 126;
	info->token_limits = &limits;
	info->max_http_header_data = LWSW_HEADER_BYTES;
}

static void
rearm(lws_sorted_usec_list_t *sul)
{
	lwsw_raw_writable *w = lws_container_of(sul, lwsw_raw_writable, sul);

	if (w->wsi)
		lws_callback_on_writable(w->wsi);
}

void
lwsw_raw_want_writable(struct lws_context *ctx, lwsw_raw_writable *w, struct lws *wsi, bool in_callback)
{
	if (!wsi)
		return;
	if (!in_callback)
	{
		lws_callback_on_writable(wsi);
		return;
	}
	w->wsi = wsi;
	lws_sul_schedule(ctx, 0, &w->sul, rearm, 1);
}

void
lwsw_raw_cancel(lwsw_raw_writable *w)
{
	lws_sul_cancel(&w->sul);
	w->wsi = NULL;
}
