/*
 * jid.c - WhatsApp JID parsing and formatting (PROTOCOL.md 3.4, 4).
 * Only string handling on caller-owned, fixed-size values: no allocation,
 * no I/O.  Anything malformed or too long is refused with JID_EINVAL.
 */
#include <stdio.h>
#include <string.h>

#include "jid.h"

/* Decimal number of 1..5 digits, no sign, no leading '+', <= max. */
static int
jid_parse_num(const char *s, size_t len, unsigned long max,
    unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	*out = 0;
	if (len == 0 || len > 5)
		return JID_EINVAL;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return JID_EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return JID_EINVAL;
	*out = v;
	return 0;
}

static int
jid_valid_server(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= JID_SERVER_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		    s[i] == '-' || s[i] == '_'))
			return 0;
	}
	return 1;
}

/* User part: printable, no separators that would make formatting ambiguous. */
static int
jid_valid_user(const char *s, size_t len)
{
	size_t i;

	if (len >= JID_USER_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c == 0x7f || c == '@' || c == ':')
			return 0;
	}
	return 1;
}

/* A '.' in a PN user would read back as a legacy agent. */
static int
jid_valid_user_on(const char *user, size_t len, const char *server)
{
	if (!jid_valid_user(user, len))
		return 0;
	if (strcmp(server, JID_SERVER_PN) == 0 &&
	    memchr(user, '.', len) != NULL)
		return 0;
	return 1;
}

static const void *
jid_memrchr(const char *s, int c, size_t len)
{
	while (len > 0) {
		len--;
		if (s[len] == c)
			return s + len;
	}
	return NULL;
}

int
jid_parsen(struct jid *j, const char *s, size_t len)
{
	const char *at, *colon, *dot, *dash, *user, *server;
	size_t ulen, slen;
	unsigned long v;
	int rc = JID_EINVAL;

	memset(j, 0, sizeof(*j));
	if (s == NULL || memchr(s, '\0', len) != NULL)
		goto out;
	user = s;
	at = memchr(s, '@', len);
	if (at == NULL) {
		/* "s.whatsapp.net": a server JID (whatsmeow's form) */
		ulen = 0;
		server = s;
		slen = len;
	} else {
		ulen = (size_t)(at - s);
		server = at + 1;
		slen = len - ulen - 1;
	}
	if (!jid_valid_server(server, slen))
		goto out;
	memcpy(j->server, server, slen);
	j->server[slen] = '\0';

	/* device: user:device */
	colon = memchr(user, ':', ulen);
	if (colon != NULL) {
		size_t dlen = ulen - (size_t)(colon - user) - 1;

		if (jid_parse_num(colon + 1, dlen, 65535, &v) != 0)
			goto out;
		j->device = (uint16_t)v;
		ulen = (size_t)(colon - user);
		if (ulen == 0)
			goto out;
	}
	/* legacy agent: user.agent[:device]@s.whatsapp.net */
	if (strcmp(j->server, JID_SERVER_PN) == 0 &&
	    (dot = jid_memrchr(user, '.', ulen)) != NULL) {
		size_t alen = ulen - (size_t)(dot - user) - 1;

		if (jid_parse_num(dot + 1, alen, 255, &v) != 0)
			goto out;
		j->agent = (uint8_t)v;
		ulen = (size_t)(dot - user);
		if (ulen == 0)
			goto out;
	}
	/* interop: integrator-user[:device]@interop */
	if (strcmp(j->server, JID_SERVER_INTEROP) == 0 &&
	    (dash = memchr(user, '-', ulen)) != NULL &&
	    jid_parse_num(user, (size_t)(dash - user), 65535, &v) == 0) {
		j->integrator = (uint16_t)v;
		ulen -= (size_t)(dash - user) + 1;
		user = dash + 1;
		if (ulen == 0)
			goto out;
	}
	if (!jid_valid_user_on(user, ulen, j->server))
		goto out;
	memcpy(j->user, user, ulen);
	j->user[ulen] = '\0';
	rc = 0;
out:
	if (rc != 0)
		memset(j, 0, sizeof(*j));
	return rc;
}

int
jid_parse(struct jid *j, const char *s)
{
	if (s == NULL) {
		memset(j, 0, sizeof(*j));
		return JID_EINVAL;
	}
	return jid_parsen(j, s, strlen(s));
}

int
jid_set(struct jid *j, const char *user, const char *server,
    uint16_t device)
{
	size_t ulen = user ? strlen(user) : 0;
	size_t slen = server ? strlen(server) : 0;

	memset(j, 0, sizeof(*j));
	if (!jid_valid_server(server, slen) ||
	    !jid_valid_user_on(user, ulen, server) ||
	    (device != 0 && ulen == 0))
		return JID_EINVAL;
	if (ulen)
		memcpy(j->user, user, ulen);
	memcpy(j->server, server, slen);
	j->device = device;
	return 0;
}

int
jid_format(const struct jid *j, char *out, size_t outsz)
{
	char integ[8] = "", agent[8] = "", dev[8] = "";
	int n;

	if (outsz == 0)
		return JID_EINVAL;
	out[0] = '\0';
	if (j->server[0] == '\0')
		return JID_EINVAL;
	if (j->user[0] == '\0')
		n = snprintf(out, outsz, "@%s", j->server);
	else {
		if (strcmp(j->server, JID_SERVER_INTEROP) == 0)
			snprintf(integ, sizeof(integ), "%u-",
			    (unsigned int)j->integrator);
		if (j->agent != 0)
			snprintf(agent, sizeof(agent), ".%u",
			    (unsigned int)j->agent);
		if (j->device != 0 || j->agent != 0)
			snprintf(dev, sizeof(dev), ":%u",
			    (unsigned int)j->device);
		n = snprintf(out, outsz, "%s%s%s%s@%s", integ, j->user, agent,
		    dev, j->server);
	}
	if (n < 0 || (size_t)n >= outsz) {
		out[0] = '\0';
		return JID_EINVAL;
	}
	return n;
}

uint8_t
jid_ad_domain(const struct jid *j)
{
	if (strcmp(j->server, JID_SERVER_LID) == 0)
		return JID_DOMAIN_LID;
	if (strcmp(j->server, JID_SERVER_HOSTED) == 0)
		return JID_DOMAIN_HOSTED;
	if (strcmp(j->server, JID_SERVER_HOSTED_LID) == 0)
		return JID_DOMAIN_HOSTED_LID;
	return j->agent;
}

int
jid_from_ad(struct jid *j, uint8_t domain, uint8_t device, const char *user,
    size_t userlen)
{
	const char *server = JID_SERVER_PN;

	memset(j, 0, sizeof(*j));
	switch (domain) {
	case JID_DOMAIN_LID:
		server = JID_SERVER_LID;
		break;
	case JID_DOMAIN_HOSTED:
		server = JID_SERVER_HOSTED;
		break;
	case JID_DOMAIN_HOSTED_LID:
		server = JID_SERVER_HOSTED_LID;
		break;
	default:
		j->agent = domain;	/* 0 or a legacy agent */
		break;
	}
	if (!jid_valid_user_on(user, userlen, server)) {
		memset(j, 0, sizeof(*j));
		return JID_EINVAL;
	}
	memcpy(j->user, user, userlen);
	j->user[userlen] = '\0';
	memcpy(j->server, server, strlen(server) + 1);
	j->device = device;
	return 0;
}

int
jid_equal(const struct jid *a, const struct jid *b)
{
	return strcmp(a->user, b->user) == 0 &&
	    strcmp(a->server, b->server) == 0 && a->device == b->device &&
	    a->agent == b->agent && a->integrator == b->integrator;
}

int
jid_server_is(const struct jid *j, const char *server)
{
	return strcmp(j->server, server) == 0;
}

int
jid_is_user(const struct jid *j)
{
	return j->user[0] != '\0' && (jid_server_is(j, JID_SERVER_PN) ||
	    jid_server_is(j, JID_SERVER_LID) ||
	    jid_server_is(j, JID_SERVER_HOSTED) ||
	    jid_server_is(j, JID_SERVER_HOSTED_LID));
}

int
jid_is_group(const struct jid *j)
{
	return j->user[0] != '\0' && jid_server_is(j, JID_SERVER_GROUP);
}

int
jid_is_broadcast(const struct jid *j)
{
	return j->user[0] != '\0' && jid_server_is(j, JID_SERVER_BROADCAST);
}

int
jid_is_status(const struct jid *j)
{
	return jid_is_broadcast(j) && strcmp(j->user, "status") == 0;
}

int
jid_is_newsletter(const struct jid *j)
{
	return j->user[0] != '\0' && jid_server_is(j, JID_SERVER_NEWSLETTER);
}

void
jid_to_bare(struct jid *dst, const struct jid *src)
{
	if (dst != src)
		memcpy(dst, src, sizeof(*dst));
	dst->device = 0;
	dst->agent = 0;
}

int
jid_signal_name(const struct jid *j, char *out, size_t outsz)
{
	uint8_t dom = jid_ad_domain(j);
	int n;

	if (outsz == 0)
		return JID_EINVAL;
	if (dom == 0)
		n = snprintf(out, outsz, "%s", j->user);
	else
		n = snprintf(out, outsz, "%s_%u", j->user, (unsigned int)dom);
	if (n < 0 || (size_t)n >= outsz) {
		out[0] = '\0';
		return JID_EINVAL;
	}
	return n;
}
