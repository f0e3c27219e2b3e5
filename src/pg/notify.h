/*
 * notify.h — the change notifications of tracked tables (notify.c).
 */
#ifndef LK_NOTIFY_H
#define LK_NOTIFY_H

#include "tracked.h"

/* Define laniakea.notify_memory and hook into transaction ends; once per backend. */
void		lk_notify_init(void);

/* Record, for this transaction's notifications, that a row or table is gone. */
void		notify_deleted(tracked_rel *tr, const char *key, int64 cl);
void		notify_truncated(tracked_rel *tr);

#endif
