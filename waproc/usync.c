/*
 * usync.c - usync device-list query and answer (PROTOCOL.md §6.3).
 * Pure: binnode in, binnode/structs out; no I/O, no logging.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "usync.h"
#include "xmalloc.h"

struct binnode *
usync_devices_query(const struct jid *users, size_t n, const char *sid,
    int with_lid)
{
	struct binnode *iq, *us, *q, *list, *u;
	struct jid srv, bare;
	char sidbuf[40];
	uint8_t r[8];
	size_t i;

	if (users == NULL || n == 0 || n > USYNC_MAX_USERS)
		return NULL;
	for (i = 0; i < n; i++)
		if (!jid_is_user(&users[i]))
			return NULL;
	if (sid == NULL) {
		randombytes_buf(r, sizeof(r));
		sodium_bin2hex(sidbuf, sizeof(sidbuf), r, sizeof(r));
		sid = sidbuf;
	}
	iq = binnode_new("iq");
	jid_set(&srv, "", JID_SERVER_PN, 0);
	binnode_set_attr_jid(iq, "to", &srv);
	binnode_set_attrs(iq, "type", "get", "xmlns", "usync", NULL);
	us = binnode_add_new(iq, "usync");
	binnode_set_attrs(us, "sid", sid, "mode", "query", "last", "true",
	    "index", "0", "context", "message", NULL);
	q = binnode_add_new(us, "query");
	binnode_set_attr(binnode_add_new(q, "devices"), "version", "2");
	if (with_lid)
		binnode_add_new(q, "lid");
	list = binnode_add_new(us, "list");
	for (i = 0; i < n; i++) {
		jid_to_bare(&bare, &users[i]);
		u = binnode_add_new(list, "user");
		binnode_set_attr_jid(u, "jid", &bare);
	}
	return iq;
}

static int
parse_user(const struct binnode *u, struct usync_user *out)
{
	const struct binnode *devs, *dl, *d, *kil, *lid;
	const char *v;
	struct jid j;
	uint64_t x;
	size_t i;

	if (binnode_attr_jid(u, "jid", &j) != 0 || !jid_is_user(&j))
		return USYNC_EINVAL;
	jid_to_bare(&out->jid, &j);
	if ((lid = binnode_child(u, "lid")) != NULL &&
	    (v = binnode_attr(lid, "val")) != NULL && v[0] != '\0') {
		if (binnode_attr_jid(lid, "val", &out->lid) != 0 ||
		    !jid_is_user(&out->lid))
			return USYNC_EINVAL;
		out->has_lid = 1;
	}
	devs = binnode_child(u, "devices");
	if (devs == NULL || binnode_child(devs, "error") != NULL ||
	    (dl = binnode_child(devs, "device-list")) == NULL) {
		out->error = 1;
		return 0;
	}
	for (i = 0; i < dl->nchildren; i++) {
		struct usync_device *ud;

		d = dl->children[i];
		if (!binnode_tag_is(d, "device"))
			continue;
		if (binnode_attr_u64(d, "id", &x) != 0 || x > 0xFFFF)
			return USYNC_EINVAL;
		if (out->ndevices == USYNC_MAX_DEVICES)
			return USYNC_ELIMIT;
		ud = &out->devices[out->ndevices++];
		ud->id = (uint16_t)x;
		if ((v = binnode_attr(d, "key-index")) != NULL) {
			if (binnode_attr_u64(d, "key-index", &x) != 0 ||
			    x > UINT32_MAX)
				return USYNC_EINVAL;
			ud->has_key_index = 1;
			ud->key_index = (uint32_t)x;
		}
		v = binnode_attr(d, "is_hosted");
		ud->hosted = v != NULL && strcmp(v, "true") == 0;
	}
	if ((kil = binnode_child(devs, "key-index-list")) != NULL &&
	    binnode_attr(kil, "ts") != NULL &&
	    binnode_attr_u64(kil, "ts", &x) == 0)
		out->key_index_ts = x;
	return 0;
}

int
usync_parse_devices(const struct binnode *reply, struct usync_user **users,
    size_t *n)
{
	const struct binnode *us, *list;
	const char *t;
	struct usync_user *arr = NULL;
	size_t i, cnt = 0, k;
	int rc;

	*users = NULL;
	*n = 0;
	if (reply == NULL)
		return USYNC_EINVAL;
	if (binnode_tag_is(reply, "iq")) {
		t = binnode_attr(reply, "type");
		if (t != NULL && strcmp(t, "error") == 0)
			return USYNC_EIQ;
		us = binnode_child(reply, "usync");
	} else
		us = reply;
	if (us == NULL || !binnode_tag_is(us, "usync") ||
	    (list = binnode_child(us, "list")) == NULL)
		return USYNC_EINVAL;
	cnt = binnode_count(list, "user");
	if (cnt > USYNC_MAX_USERS)
		return USYNC_ELIMIT;
	arr = xcalloc(cnt ? cnt : 1, sizeof(*arr));
	for (i = 0, k = 0; i < list->nchildren; i++) {
		if (!binnode_tag_is(list->children[i], "user"))
			continue;
		if ((rc = parse_user(list->children[i], &arr[k])) != 0) {
			free(arr);
			return rc;
		}
		k++;
	}
	*users = arr;
	*n = k;
	return 0;
}

size_t
usync_device_jids(const struct usync_user *u, int drop_unindexed,
    int skip_hosted, struct jid *out, size_t max)
{
	const struct usync_device *d;
	const char *server;
	size_t i, k = 0;
	int lid;

	if (u->error)
		return 0;
	lid = jid_server_is(&u->jid, JID_SERVER_LID) ||
	    jid_server_is(&u->jid, JID_SERVER_HOSTED_LID);
	for (i = 0; i < u->ndevices && k < max; i++) {
		d = &u->devices[i];
		if (drop_unindexed && d->id != 0 && !d->has_key_index)
			continue;
		if (d->hosted && skip_hosted)
			continue;
		if (d->hosted)
			server = lid ? JID_SERVER_HOSTED_LID :
			    JID_SERVER_HOSTED;
		else
			server = u->jid.server;
		if (jid_set(&out[k], u->jid.user, server, d->id) != 0)
			continue;
		k++;
	}
	return k;
}
