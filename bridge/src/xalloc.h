/*
 * xalloc.h — the bridge's one allocation rule: these never return NULL.
 *
 * Out of memory is not an error the bridge can answer: every allocation goes
 * through this family, which prints what it could not allocate and aborts
 * (as Redis's zmalloc does), so no caller has a NULL path to get wrong.  The
 * CRDT core's lk_std_alloc follows the same rule, and main.c hands jansson
 * xmalloc too.  (libjwt has no allocation hook: its failures are errors,
 * which refuse the token; libpq's are errors of the query or connection.)
 * Memory is released with free().
 */
#ifndef BRIDGE_XALLOC_H
#define BRIDGE_XALLOC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "lk_buf.h"

void	   *xmalloc(size_t size);
void	   *xcalloc(size_t n, size_t size);
void	   *xrealloc(void *p, size_t size);
char	   *xstrdup(const char *s);
char	   *xstrndup(const char *s, size_t n);

/* A string formatted as by printf, in memory of its exact size. */
char	   *xasprintf(const char *fmt,...) __attribute__((format(printf, 1, 2)));
char	   *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/*
 * snprintf into a fixed buffer whose size the caller proved sufficient (a
 * number's digits): a truncation would be a bug, and aborts like one.
 */
#define xsnprintf(buf, size, ...) snprintf_fits(snprintf((buf), (size), __VA_ARGS__), (size))
void		snprintf_fits(int n, size_t size);

/* Append text formatted as by printf to b, which grows to hold it. */
void		buf_printf(lk_buf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));

#endif
