/*
 * fuzz_appstate.c - libFuzzer target for the app-state codec
 * (waproc/appstate.c).  The first byte picks the parser: a SyncdPatch
 * applied to a state, a SyncdSnapshot, a SyncdRecord, an index JSON.  A
 * patch or snapshot that fails must leave the state exactly as it was;
 * one that applies must move the version forward.  The key getter knows
 * one key (id 000000004232, keyData 00..1f), the one the seeds use.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t KEYID[6] = { 0, 0, 0, 0, 0x42, 0x32 };

static int
getkey(void *arg, const uint8_t *id, size_t len, struct appstate_keys *out)
{
	uint8_t	kd[32];
	int	i;

	if (len != sizeof(KEYID) || memcmp(id, KEYID, len) != 0)
		return APPSTATE_ENOKEY;
	for (i = 0; i < 32; i++)
		kd[i] = (uint8_t)i;
	appstate_expand_keys(kd, sizeof(kd), out);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct appstate_state	  st;
	struct appstate_mutation *m = NULL, one;
	uint8_t			  hash[APPSTATE_HASH_LEN];
	size_t			  n = 0, np, ent;
	uint64_t		  ver;
	char			 *s, **parts;
	int			  r;

	if (size < 1)
		return 0;
	appstate_state_init(&st, APPSTATE_REGULAR_HIGH);
	memcpy(hash, st.hash, sizeof(hash));
	ver = st.version;
	ent = st.nentries;
	switch (data[0] % 4) {
	case 0:
	case 1:
		r = data[0] % 4 == 0 ?
		    appstate_apply_patch(&st, data + 1, size - 1, 0, getkey,
		    NULL, &m, &n) :
		    appstate_apply_snapshot(&st, data + 1, size - 1, getkey,
		    NULL, &m, &n);
		if (r < 0 && (st.version != ver || st.nentries != ent ||
		    memcmp(st.hash, hash, sizeof(hash)) != 0 || m != NULL))
			abort();
		if (r == 0 && data[0] % 4 == 0 && st.version <= ver)
			abort();
		appstate_mutations_free(m, n);
		break;
	case 2:
		if (appstate_decode_record(data + 1, size - 1, APPSTATE_SET,
		    getkey, NULL, &one) == 0 && one.index == NULL)
			abort();
		appstate_mutation_clear(&one);
		break;
	default:
		if ((s = malloc(size)) == NULL)
			return 0;
		memcpy(s, data + 1, size - 1);
		s[size - 1] = '\0';
		if (appstate_index_parse(s, &parts, &np) == 0)
			appstate_index_free(parts, np);
		free(s);
		break;
	}
	appstate_state_free(&st);
	return 0;
}
