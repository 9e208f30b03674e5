/*
 * fuzz_jid.c - libFuzzer target for JID parsing (waproc/jid.c).  Whatever
 * parses must format within JID_STR_MAX and parse back to the same JID;
 * the AD_JID mapping must be stable for it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jid j, k;
	char s[JID_STR_MAX], name[JID_STR_MAX];
	int len;

	if (jid_parsen(&j, (const char *)data, size) != 0)
		return 0;
	if ((len = jid_format(&j, s, sizeof(s))) < 0 ||
	    (size_t)len != strlen(s))
		abort();
	if (jid_parse(&k, s) != 0 || !jid_equal(&j, &k))
		abort();
	if (jid_signal_name(&j, name, sizeof(name)) < 0)
		abort();
	if (jid_is_user(&j) &&
	    (jid_from_ad(&k, jid_ad_domain(&j), (uint8_t)j.device, j.user,
	    strlen(j.user)) != 0 || jid_ad_domain(&k) != jid_ad_domain(&j)))
		abort();
	return 0;
}
