/*
 * ratelimit.c - fixed-window counters in a bounded chained hash table
 * (ratelimit.h).  Keys are hashed with keyed SipHash (libsodium
 * crypto_shorthash) so a client cannot aim many keys at one bucket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ratelimit.h"
#include "xmalloc.h"

struct rl_entry {
	char		 key[RATELIMIT_KEY_MAX];
	uint64_t	 start;		/* window start, seconds */
	uint32_t	 count;
	int		 next;		/* chain; -1 end */
	int		 used;
};

struct ratelimit {
	struct rl_entry	*e;
	size_t		 max;
	size_t		 n;
	int		*bucket;
	size_t		 nbucket;	/* power of two */
	int		 free_head;
	uint8_t		 seed[crypto_shorthash_KEYBYTES];
};

struct ratelimit *
ratelimit_new(size_t max_keys)
{
	struct ratelimit *rl = xcalloc(1, sizeof(*rl));
	size_t i;

	if (max_keys < 1)
		max_keys = 1;
	rl->max = max_keys;
	rl->e = xcalloc(max_keys, sizeof(*rl->e));
	for (rl->nbucket = 16; rl->nbucket < max_keys; rl->nbucket *= 2)
		;
	rl->bucket = xcalloc(rl->nbucket, sizeof(int));
	for (i = 0; i < rl->nbucket; i++)
		rl->bucket[i] = -1;
	for (i = 0; i < max_keys; i++)
		rl->e[i].next = i + 1 < max_keys ? (int)i + 1 : -1;
	rl->free_head = 0;
	randombytes_buf(rl->seed, sizeof(rl->seed));
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->e);
	free(rl->bucket);
	free(rl);
}

size_t
ratelimit_size(const struct ratelimit *rl)
{
	return rl->n;
}

static size_t
rl_bucket(const struct ratelimit *rl, const char *key)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, (const unsigned char *)key, strlen(key), rl->seed);
	memcpy(&v, h, sizeof(v));
	return (size_t)(v & (rl->nbucket - 1));
}

static void
rl_remove(struct ratelimit *rl, int idx)
{
	size_t b = rl_bucket(rl, rl->e[idx].key);
	int *pp = &rl->bucket[b];

	while (*pp != -1 && *pp != idx)
		pp = &rl->e[*pp].next;
	if (*pp == idx)
		*pp = rl->e[idx].next;
	memset(&rl->e[idx], 0, sizeof(rl->e[idx]));
	rl->e[idx].next = rl->free_head;
	rl->free_head = idx;
	rl->n--;
}

/* Make room: drop expired windows; if none, the oldest window. */
static void
rl_evict(struct ratelimit *rl, uint32_t window, uint64_t now)
{
	size_t i;
	int oldest = -1, dropped = 0;

	for (i = 0; i < rl->max; i++) {
		if (!rl->e[i].used)
			continue;
		if (rl->e[i].start + window <= now) {
			rl_remove(rl, (int)i);
			dropped++;
		} else if (oldest == -1 || rl->e[i].start <
		    rl->e[oldest].start)
			oldest = (int)i;
	}
	if (!dropped && oldest != -1)
		rl_remove(rl, oldest);
}

int
ratelimit_hit(struct ratelimit *rl, const char *key, uint32_t limit,
    uint32_t window, uint64_t now, struct ratelimit_info *info)
{
	struct rl_entry *e = NULL;
	size_t b;
	int idx, ok;

	if (info != NULL)
		memset(info, 0, sizeof(*info));
	if (limit == 0)
		return 1;
	if (window == 0)
		window = 1;
	b = rl_bucket(rl, key);
	for (idx = rl->bucket[b]; idx != -1; idx = rl->e[idx].next)
		if (strncmp(rl->e[idx].key, key, sizeof(e->key)) == 0)
			break;
	if (idx == -1) {
		if (rl->free_head == -1)
			rl_evict(rl, window, now);
		idx = rl->free_head;
		e = &rl->e[idx];
		rl->free_head = e->next;
		memset(e, 0, sizeof(*e));
		snprintf(e->key, sizeof(e->key), "%s", key);
		e->used = 1;
		e->start = now;
		b = rl_bucket(rl, e->key);
		e->next = rl->bucket[b];
		rl->bucket[b] = idx;
		rl->n++;
	}
	e = &rl->e[idx];
	if (now >= e->start + window || now < e->start) {
		e->start = now;
		e->count = 0;
	}
	ok = e->count < limit;
	if (ok)
		e->count++;
	if (info != NULL) {
		info->limit = limit;
		info->remaining = limit - e->count;
		info->reset = (uint32_t)(e->start + window - now);
	}
	return ok;
}
