/*
 * bundle.c - prekey-bundle fetch IQ and its answer (PROTOCOL.md §6.4).
 * Pure; every length checked; no I/O, no logging.
 */
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "xmalloc.h"

struct binnode *
bundle_query(const struct jid *devs, size_t n, int reason_identity)
{
	struct binnode *iq, *key, *u;
	struct jid srv;
	size_t i;

	if (devs == NULL || n == 0 || n > BUNDLE_MAX_USERS)
		return NULL;
	for (i = 0; i < n; i++)
		if (!jid_is_user(&devs[i]))
			return NULL;
	iq = binnode_new("iq");
	jid_set(&srv, "", JID_SERVER_PN, 0);
	binnode_set_attr_jid(iq, "to", &srv);
	binnode_set_attrs(iq, "xmlns", "encrypt", "type", "get", NULL);
	key = binnode_add_new(iq, "key");
	for (i = 0; i < n; i++) {
		u = binnode_add_new(key, "user");
		binnode_set_attr_jid(u, "jid", &devs[i]);
		if (reason_identity)
			binnode_set_attr(u, "reason", "identity");
	}
	return iq;
}

/* Bytes of child tag with exactly len bytes; NULL otherwise. */
static const uint8_t *
child_bytes(const struct binnode *n, const char *tag, size_t len)
{
	const struct binnode *c = binnode_child(n, tag);

	if (c == NULL || (c->type != BINNODE_BYTES &&
	    c->type != BINNODE_STRING) || c->len != len)
		return NULL;
	return c->data;
}

static int
id24(const uint8_t *p, uint32_t *out)
{
	if (p == NULL)
		return -1;
	*out = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
	return 0;
}

int
bundle_parse_user(const struct binnode *u, struct signal_bundle *b)
{
	const struct binnode *keys, *k, *sk;
	const uint8_t *p;

	memset(b, 0, sizeof(*b));
	if (u == NULL)
		return BUNDLE_EINVAL;
	keys = binnode_child(u, "keys") != NULL ? binnode_child(u, "keys") : u;
	/* registration id: in the user node (also accepted in <keys>) */
	if ((p = child_bytes(u, "registration", 4)) == NULL &&
	    (p = child_bytes(keys, "registration", 4)) == NULL)
		return BUNDLE_EINVAL;
	b->registration_id = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	if ((p = child_bytes(keys, "type", 1)) != NULL && p[0] != 0x05)
		return BUNDLE_EINVAL;
	if ((p = child_bytes(keys, "identity", 32)) == NULL)
		return BUNDLE_EINVAL;
	memcpy(b->identity_pub, p, 32);
	if ((sk = binnode_child(keys, "skey")) == NULL ||
	    id24(child_bytes(sk, "id", 3), &b->signed_prekey_id) != 0 ||
	    (p = child_bytes(sk, "value", 32)) == NULL)
		return BUNDLE_EINVAL;
	memcpy(b->signed_prekey_pub, p, 32);
	if ((p = child_bytes(sk, "signature", 64)) == NULL)
		return BUNDLE_EINVAL;
	memcpy(b->signed_prekey_sig, p, 64);
	if ((k = binnode_child(keys, "key")) != NULL) {
		if (id24(child_bytes(k, "id", 3), &b->prekey_id) != 0 ||
		    (p = child_bytes(k, "value", 32)) == NULL ||
		    b->prekey_id == 0xFFFFFF)
			return BUNDLE_EINVAL;
		memcpy(b->prekey_pub, p, 32);
		b->has_prekey = 1;
	}
	return 0;
}

int
bundle_parse(const struct binnode *reply, struct bundle_user **users,
    size_t *n)
{
	const struct binnode *list, *u, *e;
	struct bundle_user *arr;
	const char *t;
	uint64_t code;
	size_t i, cnt, k;

	*users = NULL;
	*n = 0;
	if (reply == NULL)
		return BUNDLE_EINVAL;
	if (binnode_tag_is(reply, "iq")) {
		t = binnode_attr(reply, "type");
		if (t != NULL && strcmp(t, "error") == 0)
			return BUNDLE_EIQ;
		list = binnode_child(reply, "list");
	} else
		list = reply;
	if (list == NULL || !binnode_tag_is(list, "list"))
		return BUNDLE_EINVAL;
	cnt = binnode_count(list, "user");
	if (cnt > BUNDLE_MAX_USERS)
		return BUNDLE_ELIMIT;
	arr = xcalloc(cnt ? cnt : 1, sizeof(*arr));
	for (i = 0, k = 0; i < list->nchildren; i++) {
		u = list->children[i];
		if (!binnode_tag_is(u, "user"))
			continue;
		if (binnode_attr_jid(u, "jid", &arr[k].jid) != 0 ||
		    !jid_is_user(&arr[k].jid)) {
			free(arr);
			return BUNDLE_EINVAL;
		}
		if ((e = binnode_child(u, "error")) != NULL) {
			arr[k].error_code = binnode_attr_u64(e, "code",
			    &code) == 0 && code < 100000 ? (int)code : -1;
		} else if (bundle_parse_user(u, &arr[k].bundle) == 0)
			arr[k].ok = 1;
		else
			arr[k].error_code = -1;
		k++;
	}
	*users = arr;
	*n = k;
	return 0;
}
