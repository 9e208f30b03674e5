/* test_ratelimit.c - fixed window, independent keys, bounded table. */
#include "t.h"
#include "ratelimit.h"

static void
test_window(void)
{
	struct ratelimit *rl = ratelimit_new(16);
	struct ratelimit_info ri;
	int i, ok = 1;

	for (i = 0; i < 3; i++)
		ok &= ratelimit_hit(rl, "u:bob", 3, 60, 1000 + i, &ri);
	T_OK(ok, "three hits within the limit");
	T_EQ_INT(ri.remaining, 0, "none remaining");
	T_EQ_INT(ri.limit, 3, "limit reported");
	T_EQ_INT(ri.reset, 58, "reset counts down from the window start");
	T_EQ_INT(ratelimit_hit(rl, "u:bob", 3, 60, 1010, &ri), 0,
	    "fourth refused");
	T_EQ_INT(ri.remaining, 0, "refused: remaining 0");
	T_EQ_INT(ratelimit_hit(rl, "u:bob", 3, 60, 1059, &ri), 0,
	    "still refused at the window's last second");
	T_EQ_INT(ratelimit_hit(rl, "u:bob", 3, 60, 1060, &ri), 1,
	    "new window allows again");
	T_EQ_INT(ri.remaining, 2, "new window: 2 remaining");
	T_EQ_INT(ri.reset, 60, "new window: full reset time");
	T_EQ_INT(ratelimit_hit(rl, "u:bob", 0, 60, 1060, &ri), 1,
	    "limit 0 means off");
	ratelimit_free(rl);
}

static void
test_independent_keys(void)
{
	struct ratelimit *rl = ratelimit_new(16);

	T_EQ_INT(ratelimit_hit(rl, "u:a", 1, 60, 5, NULL), 1, "a first");
	T_EQ_INT(ratelimit_hit(rl, "u:a", 1, 60, 5, NULL), 0, "a limited");
	T_EQ_INT(ratelimit_hit(rl, "u:b", 1, 60, 5, NULL), 1,
	    "b unaffected by a");
	T_EQ_INT(ratelimit_hit(rl, "a:127.0.0.1", 1, 60, 5, NULL), 1,
	    "address key separate");
	T_EQ_INT(ratelimit_size(rl), 3, "three keys");
	ratelimit_free(rl);
}

static void
test_eviction(void)
{
	struct ratelimit *rl = ratelimit_new(4);
	char key[32];
	int i;

	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "u:%d", i);
		ratelimit_hit(rl, key, 1, 100, (uint64_t)(10 + i), NULL);
	}
	T_EQ_INT(ratelimit_size(rl), 4, "table full");
	/* No window expired: the oldest (u:0) goes. */
	T_EQ_INT(ratelimit_hit(rl, "u:new", 1, 100, 20, NULL), 1,
	    "new key admitted into a full table");
	T_EQ_INT(ratelimit_size(rl), 4, "size stays at the maximum");
	T_EQ_INT(ratelimit_hit(rl, "u:1", 1, 100, 21, NULL), 0,
	    "u:1 kept its count");
	T_EQ_INT(ratelimit_hit(rl, "u:0", 1, 100, 21, NULL), 1,
	    "u:0 was evicted (fresh window)");
	/* Later, expired windows are dropped before live ones. */
	T_EQ_INT(ratelimit_hit(rl, "u:late", 1, 100, 111, NULL), 1,
	    "admitted after expiry");
	T_OK(ratelimit_size(rl) <= 4, "bounded");
	T_EQ_INT(ratelimit_hit(rl, "u:0", 1, 100, 112, NULL), 0,
	    "live window u:0 survived the sweep");
	for (i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "a:10.0.%d.%d", i / 256, i % 256);
		ratelimit_hit(rl, key, 5, 100, 200, NULL);
	}
	T_EQ_INT(ratelimit_size(rl), 4, "10000 keys: still 4 entries");
	ratelimit_free(rl);
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_window);
	T_RUN(test_independent_keys);
	T_RUN(test_eviction);
	return t_done();
}
