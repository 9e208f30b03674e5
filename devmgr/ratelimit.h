/*
 * ratelimit.h - fixed-window request counters per key ("u:<user>",
 * "a:<addr>"), in a table with a hard maximum of keys: when it is full,
 * expired windows are dropped first, then the key whose window started
 * longest ago.  Pure computation: the caller passes the clock.
 */
#ifndef DEVMGR_RATELIMIT_H
#define DEVMGR_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_KEY_MAX	96

struct ratelimit_info {
	uint32_t	limit;
	uint32_t	remaining;
	uint32_t	reset;		/* seconds until the window resets */
};

struct ratelimit;

struct ratelimit	*ratelimit_new(size_t max_keys);
void			 ratelimit_free(struct ratelimit *);
/*
 * Count one hit of key at time now (seconds).  Returns 1 when allowed,
 * 0 when over the limit (the hit is then not counted).  limit 0 = off:
 * always 1.  Fills *info when not NULL.
 */
int			 ratelimit_hit(struct ratelimit *, const char *key,
			    uint32_t limit, uint32_t window, uint64_t now,
			    struct ratelimit_info *info);
size_t			 ratelimit_size(const struct ratelimit *);

#endif
