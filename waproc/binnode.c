/*
 * binnode.c - WhatsApp binary XML nodes: build, encode, decode, print
 * (PROTOCOL.md 1.5, 3).  The decoder reads untrusted bytes: every read is
 * bounds-checked against the input, recursion depth, node count, allocated
 * memory and inflated size are capped, and errors are returned, never
 * logged or fatal.  No I/O and no knowledge of what stanzas mean.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "binnode.h"
#include "wa_tokens.h"
#include "xmalloc.h"

/* Tag bytes (3.1). */
#define TAG_LIST_EMPTY	0x00
#define TAG_DICT_0	0xec
#define TAG_DICT_3	0xef
#define TAG_INTEROP_JID	0xf5
#define TAG_FB_JID	0xf6
#define TAG_AD_JID	0xf7
#define TAG_LIST_8	0xf8
#define TAG_LIST_16	0xf9
#define TAG_JID_PAIR	0xfa
#define TAG_HEX_8	0xfb
#define TAG_BINARY_8	0xfc
#define TAG_BINARY_20	0xfd
#define TAG_BINARY_32	0xfe
#define TAG_NIBBLE_8	0xff

#define BINNODE_ALLOC_OVERHEAD	32	/* charged per allocation */
#define BINNODE_PRINT_MAXSTR	128	/* chars of a value the printer shows */

/* ------------------------------------------------------------------ */
/* building                                                           */

static char *
binnode_memdup(const void *p, size_t n)
{
	char *s = xmalloc(n + 1);

	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

struct binnode *
binnode_new(const char *tag)
{
	struct binnode *n = xcalloc(1, sizeof(*n));

	n->tag = xstrdup(tag ? tag : "");
	return n;
}

static void
binnode_attr_clear(struct binnode_attr *a)
{
	free(a->key);
	free(a->value);
	free(a->jid);
	memset(a, 0, sizeof(*a));
}

void
binnode_clear_content(struct binnode *n)
{
	size_t i;

	for (i = 0; i < n->nchildren; i++)
		binnode_free(n->children[i]);
	free(n->children);
	n->children = NULL;
	n->nchildren = n->children_cap = 0;
	free(n->data);
	n->data = NULL;
	n->len = 0;
	free(n->jid);
	n->jid = NULL;
	n->type = BINNODE_NONE;
}

void
binnode_free(struct binnode *n)
{
	size_t i;

	if (n == NULL)
		return;
	binnode_clear_content(n);
	for (i = 0; i < n->nattrs; i++)
		binnode_attr_clear(&n->attrs[i]);
	free(n->attrs);
	free(n->tag);
	free(n);
}

static struct binnode_attr *
binnode_find_attr(const struct binnode *n, const char *key)
{
	size_t i;

	for (i = 0; i < n->nattrs; i++)
		if (strcmp(n->attrs[i].key, key) == 0)
			return &n->attrs[i];
	return NULL;
}

/* Existing attribute emptied for reuse, or a new one appended. */
static struct binnode_attr *
binnode_attr_slot(struct binnode *n, const char *key)
{
	struct binnode_attr *a = binnode_find_attr(n, key);

	if (a != NULL) {
		free(a->value);
		free(a->jid);
		a->value = NULL;
		a->jid = NULL;
		return a;
	}
	if (n->nattrs == n->attrs_cap) {
		n->attrs_cap = n->attrs_cap ? n->attrs_cap * 2 : 4;
		n->attrs = xreallocarray(n->attrs, n->attrs_cap,
		    sizeof(*n->attrs));
	}
	a = &n->attrs[n->nattrs++];
	memset(a, 0, sizeof(*a));
	a->key = xstrdup(key);
	return a;
}

void
binnode_del_attr(struct binnode *n, const char *key)
{
	struct binnode_attr *a = binnode_find_attr(n, key);
	size_t i;

	if (a == NULL)
		return;
	i = (size_t)(a - n->attrs);
	binnode_attr_clear(a);
	memmove(&n->attrs[i], &n->attrs[i + 1],
	    (n->nattrs - i - 1) * sizeof(*n->attrs));
	n->nattrs--;
}

void
binnode_set_attr(struct binnode *n, const char *key, const char *value)
{
	struct binnode_attr *a;

	if (value == NULL || value[0] == '\0') {
		binnode_del_attr(n, key);
		return;
	}
	a = binnode_attr_slot(n, key);
	a->value = xstrdup(value);
	a->value_len = strlen(value);
}

void
binnode_set_attrs(struct binnode *n, ...)
{
	const char *key, *value;
	va_list ap;

	va_start(ap, n);
	while ((key = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		binnode_set_attr(n, key, value);
	}
	va_end(ap);
}

void
binnode_set_attr_jid(struct binnode *n, const char *key, const struct jid *j)
{
	struct binnode_attr *a = binnode_attr_slot(n, key);
	char s[JID_STR_MAX];
	int len;

	if ((len = jid_format(j, s, sizeof(s))) < 0)
		len = 0;
	a->value = binnode_memdup(s, (size_t)len);
	a->value_len = (size_t)len;
	a->jid = xmalloc(sizeof(*a->jid));
	memcpy(a->jid, j, sizeof(*a->jid));
}

void
binnode_set_bytes(struct binnode *n, const void *p, size_t len)
{
	binnode_clear_content(n);
	n->type = BINNODE_BYTES;
	n->data = (uint8_t *)binnode_memdup(p, len);
	n->len = len;
}

void
binnode_set_string(struct binnode *n, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	binnode_clear_content(n);
	n->type = BINNODE_STRING;
	n->data = (uint8_t *)binnode_memdup(s ? s : "", len);
	n->len = len;
}

void
binnode_set_jid(struct binnode *n, const struct jid *j)
{
	binnode_clear_content(n);
	n->type = BINNODE_JID;
	n->jid = xmalloc(sizeof(*n->jid));
	memcpy(n->jid, j, sizeof(*n->jid));
}

void
binnode_add_child(struct binnode *n, struct binnode **child)
{
	if (*child == NULL)
		return;
	if (n->type != BINNODE_LIST) {
		binnode_clear_content(n);
		n->type = BINNODE_LIST;
	}
	if (n->nchildren == n->children_cap) {
		n->children_cap = n->children_cap ? n->children_cap * 2 : 4;
		n->children = xreallocarray(n->children, n->children_cap,
		    sizeof(*n->children));
	}
	n->children[n->nchildren++] = *child;
	*child = NULL;
}

struct binnode *
binnode_add_new(struct binnode *n, const char *tag)
{
	struct binnode *c = binnode_new(tag), *ret = c;

	binnode_add_child(n, &c);
	return ret;
}

/* ------------------------------------------------------------------ */
/* reading                                                            */

const char *
binnode_attr(const struct binnode *n, const char *key)
{
	const struct binnode_attr *a;

	if (n == NULL || key == NULL || (a = binnode_find_attr(n, key)) == NULL)
		return NULL;
	return a->value;
}

int
binnode_attr_jid(const struct binnode *n, const char *key, struct jid *out)
{
	const struct binnode_attr *a;

	memset(out, 0, sizeof(*out));
	if (n == NULL || key == NULL || (a = binnode_find_attr(n, key)) == NULL)
		return BINNODE_EJID;
	if (a->jid != NULL) {
		memcpy(out, a->jid, sizeof(*out));
		return 0;
	}
	if (jid_parsen(out, a->value, a->value_len) != 0)
		return BINNODE_EJID;
	return 0;
}

int
binnode_attr_u64(const struct binnode *n, const char *key, uint64_t *out)
{
	const char *v = binnode_attr(n, key);
	uint64_t x = 0;
	size_t i;

	*out = 0;
	if (v == NULL || v[0] == '\0' || strlen(v) > 20)
		return BINNODE_EINVAL;
	for (i = 0; v[i] != '\0'; i++) {
		if (v[i] < '0' || v[i] > '9' ||
		    x > (UINT64_MAX - (uint64_t)(v[i] - '0')) / 10)
			return BINNODE_EINVAL;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 0;
}

struct binnode *
binnode_child(const struct binnode *n, const char *tag)
{
	size_t i;

	if (n == NULL || n->type != BINNODE_LIST)
		return NULL;
	for (i = 0; i < n->nchildren; i++)
		if (tag == NULL || strcmp(n->children[i]->tag, tag) == 0)
			return n->children[i];
	return NULL;
}

size_t
binnode_count(const struct binnode *n, const char *tag)
{
	size_t i, c = 0;

	if (n == NULL || n->type != BINNODE_LIST)
		return 0;
	for (i = 0; i < n->nchildren; i++)
		if (tag == NULL || strcmp(n->children[i]->tag, tag) == 0)
			c++;
	return c;
}

int
binnode_tag_is(const struct binnode *n, const char *tag)
{
	return n != NULL && tag != NULL && strcmp(n->tag, tag) == 0;
}

static int
binnode_attr_equal(const struct binnode_attr *a, const struct binnode_attr *b)
{
	if (a->jid != NULL && b->jid != NULL)
		return jid_equal(a->jid, b->jid);
	return a->value_len == b->value_len &&
	    memcmp(a->value, b->value, a->value_len) == 0;
}

static int
binnode_is_data(enum binnode_content t)
{
	return t == BINNODE_BYTES || t == BINNODE_STRING;
}

int
binnode_equal(const struct binnode *a, const struct binnode *b)
{
	const struct binnode_attr *ba;
	size_t i, j;

	if (a == NULL || b == NULL)
		return a == b;
	if (strcmp(a->tag, b->tag) != 0 || a->nattrs != b->nattrs)
		return 0;
	/* same count, and each attribute of a has an equal one in b (a
	 * decoded node may repeat a key) */
	for (i = 0; i < a->nattrs; i++) {
		for (j = 0; j < b->nattrs; j++) {
			ba = &b->attrs[j];
			if (strcmp(a->attrs[i].key, ba->key) == 0 &&
			    binnode_attr_equal(&a->attrs[i], ba))
				break;
		}
		if (j == b->nattrs)
			return 0;
	}
	/* STRING and BYTES are the same on the wire once decoded. */
	if (binnode_is_data(a->type) && binnode_is_data(b->type))
		return a->len == b->len &&
		    (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case BINNODE_LIST:
		if (a->nchildren != b->nchildren)
			return 0;
		for (i = 0; i < a->nchildren; i++)
			if (!binnode_equal(a->children[i], b->children[i]))
				return 0;
		return 1;
	case BINNODE_JID:
		return jid_equal(a->jid, b->jid);
	default:
		return 1;
	}
}

/* ------------------------------------------------------------------ */
/* encoder                                                            */

static int
binnode_put(struct buf *b, const void *p, size_t n)
{
	return buf_append(b, p, n) == 0 ? 0 : BINNODE_ENOSPC;
}

static int
binnode_put_u8(struct buf *b, unsigned int v)
{
	uint8_t c = (uint8_t)v;

	return binnode_put(b, &c, 1);
}

static int
binnode_put_u16(struct buf *b, unsigned int v)
{
	uint8_t c[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	return binnode_put(b, c, 2);
}

static int
binnode_enc_list_start(struct buf *b, size_t n)
{
	uint8_t h[3];

	if (n == 0)
		return binnode_put_u8(b, TAG_LIST_EMPTY);
	if (n < 256) {
		h[0] = TAG_LIST_8;
		h[1] = (uint8_t)n;
		return binnode_put(b, h, 2);
	}
	if (n < 65536) {
		h[0] = TAG_LIST_16;
		h[1] = (uint8_t)(n >> 8);
		h[2] = (uint8_t)n;
		return binnode_put(b, h, 3);
	}
	return BINNODE_ELIMIT;
}

static int
binnode_enc_raw(struct buf *b, const void *p, size_t n)
{
	uint8_t h[5];
	size_t hl;
	int rc;

	if (n < 256) {
		h[0] = TAG_BINARY_8;
		h[1] = (uint8_t)n;
		hl = 2;
	} else if (n < (1u << 20)) {
		h[0] = TAG_BINARY_20;
		h[1] = (uint8_t)((n >> 16) & 0x0f);
		h[2] = (uint8_t)(n >> 8);
		h[3] = (uint8_t)n;
		hl = 4;
	} else if (n <= UINT32_MAX) {
		h[0] = TAG_BINARY_32;
		h[1] = (uint8_t)(n >> 24);
		h[2] = (uint8_t)(n >> 16);
		h[3] = (uint8_t)(n >> 8);
		h[4] = (uint8_t)n;
		hl = 5;
	} else
		return BINNODE_ELIMIT;
	if ((rc = binnode_put(b, h, hl)) != 0)
		return rc;
	return binnode_put(b, p, n);
}

/* Nibble value of c for NIBBLE_8 (tag 0xff) or HEX_8 (0xfb), or -1. */
static int
binnode_pack_value(uint8_t tag, char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (tag == TAG_NIBBLE_8) {
		if (c == '-')
			return 10;
		if (c == '.')
			return 11;
	} else if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
binnode_packable(uint8_t tag, const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > BINNODE_PACKED_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (binnode_pack_value(tag, s[i]) < 0)
			return 0;
	return 1;
}

static int
binnode_enc_packed(struct buf *b, uint8_t tag, const char *s, size_t n)
{
	uint8_t out[2 + (BINNODE_PACKED_MAX + 1) / 2];
	size_t i, nb = (n + 1) / 2;
	int hi, lo;

	out[0] = tag;
	out[1] = (uint8_t)(nb | ((n & 1) ? 0x80 : 0));
	for (i = 0; i < nb; i++) {
		hi = binnode_pack_value(tag, s[2 * i]);
		lo = 2 * i + 1 < n ? binnode_pack_value(tag, s[2 * i + 1]) : 15;
		out[2 + i] = (uint8_t)((hi << 4) | lo);
	}
	return binnode_put(b, out, 2 + nb);
}

static int
binnode_enc_string(struct buf *b, const char *s, size_t n)
{
	unsigned int dict, idx;
	uint8_t h[2];

	switch (wa_tokens_lookup(s, n, &dict, &idx)) {
	case WA_TOKEN_SINGLE:
		return binnode_put_u8(b, idx);
	case WA_TOKEN_DOUBLE:
		h[0] = (uint8_t)(TAG_DICT_0 + dict);
		h[1] = (uint8_t)idx;
		return binnode_put(b, h, 2);
	default:
		break;
	}
	if (binnode_packable(TAG_NIBBLE_8, s, n))
		return binnode_enc_packed(b, TAG_NIBBLE_8, s, n);
	if (binnode_packable(TAG_HEX_8, s, n))
		return binnode_enc_packed(b, TAG_HEX_8, s, n);
	return binnode_enc_raw(b, s, n);
}

static int
binnode_enc_cstr(struct buf *b, const char *s)
{
	return binnode_enc_string(b, s, strlen(s));
}

static int
binnode_enc_jid(struct buf *b, const struct jid *j)
{
	uint8_t dom = jid_ad_domain(j);
	int rc;

	if (j->server[0] == '\0')
		return BINNODE_EJID;
	if (j->user[0] == '\0')
		goto pair;	/* a server JID */
	if (jid_server_is(j, JID_SERVER_HOSTED) ||
	    jid_server_is(j, JID_SERVER_HOSTED_LID) ||
	    ((jid_server_is(j, JID_SERVER_PN) ||
	    jid_server_is(j, JID_SERVER_LID)) &&
	    (j->device != 0 || j->agent != 0))) {
		if (j->device > 255)
			return BINNODE_EJID;
		if ((rc = binnode_put_u8(b, TAG_AD_JID)) != 0 ||
		    (rc = binnode_put_u8(b, dom)) != 0 ||
		    (rc = binnode_put_u8(b, j->device)) != 0)
			return rc;
		return binnode_enc_cstr(b, j->user);
	}
	if (jid_server_is(j, JID_SERVER_MSGR)) {
		if ((rc = binnode_put_u8(b, TAG_FB_JID)) != 0 ||
		    (rc = binnode_enc_cstr(b, j->user)) != 0 ||
		    (rc = binnode_put_u16(b, j->device)) != 0)
			return rc;
		return binnode_enc_cstr(b, j->server);
	}
	if (jid_server_is(j, JID_SERVER_INTEROP)) {
		if ((rc = binnode_put_u8(b, TAG_INTEROP_JID)) != 0 ||
		    (rc = binnode_enc_cstr(b, j->user)) != 0 ||
		    (rc = binnode_put_u16(b, j->device)) != 0 ||
		    (rc = binnode_put_u16(b, j->integrator)) != 0)
			return rc;
		return binnode_enc_cstr(b, j->server);
	}
pair:
	if ((rc = binnode_put_u8(b, TAG_JID_PAIR)) != 0)
		return rc;
	if (j->user[0] == '\0')
		rc = binnode_put_u8(b, TAG_LIST_EMPTY);
	else
		rc = binnode_enc_cstr(b, j->user);
	if (rc != 0)
		return rc;
	return binnode_enc_cstr(b, j->server);
}

static int
binnode_enc_node(struct buf *b, const struct binnode *n, int depth)
{
	const struct binnode_attr *a;
	size_t i;
	int rc;

	if (depth > BINNODE_MAX_DEPTH)
		return BINNODE_ELIMIT;
	if (n->tag == NULL || n->tag[0] == '\0')
		return BINNODE_EINVAL;
	if (n->nattrs > 32767)
		return BINNODE_ELIMIT;
	if ((rc = binnode_enc_list_start(b, 1 + 2 * n->nattrs +
	    (n->type != BINNODE_NONE ? 1 : 0))) != 0)
		return rc;
	if ((rc = binnode_enc_cstr(b, n->tag)) != 0)
		return rc;
	for (i = 0; i < n->nattrs; i++) {
		a = &n->attrs[i];
		if (a->key == NULL || a->key[0] == '\0' || a->value == NULL)
			return BINNODE_EINVAL;
		if ((rc = binnode_enc_cstr(b, a->key)) != 0)
			return rc;
		if (a->jid != NULL)
			rc = binnode_enc_jid(b, a->jid);
		else
			rc = binnode_enc_string(b, a->value, a->value_len);
		if (rc != 0)
			return rc;
	}
	switch (n->type) {
	case BINNODE_NONE:
		break;
	case BINNODE_LIST:
		if ((rc = binnode_enc_list_start(b, n->nchildren)) != 0)
			return rc;
		for (i = 0; i < n->nchildren; i++)
			if ((rc = binnode_enc_node(b, n->children[i],
			    depth + 1)) != 0)
				return rc;
		break;
	case BINNODE_BYTES:
		rc = binnode_enc_raw(b, n->data, n->len);
		break;
	case BINNODE_STRING:
		rc = binnode_enc_string(b, (const char *)n->data, n->len);
		break;
	case BINNODE_JID:
		rc = binnode_enc_jid(b, n->jid);
		break;
	default:
		rc = BINNODE_EINVAL;
		break;
	}
	return rc;
}

int
binnode_encode_node(const struct binnode *n, struct buf *out)
{
	size_t start = out->len;
	int rc;

	if (n == NULL)
		return BINNODE_EINVAL;
	if ((rc = binnode_enc_node(out, n, 1)) != 0)
		out->len = start;	/* nothing half-written */
	return rc;
}

int
binnode_encode(const struct binnode *n, struct buf *out)
{
	size_t start = out->len;
	int rc;

	if (n == NULL)
		return BINNODE_EINVAL;
	if ((rc = binnode_put_u8(out, 0)) == 0)
		rc = binnode_enc_node(out, n, 1);
	if (rc != 0)
		out->len = start;
	return rc;
}

/* ------------------------------------------------------------------ */
/* decoder                                                            */

struct binnode_dec {
	const uint8_t	*p;
	size_t		 len;
	size_t		 off;
	size_t		 nodes;
	size_t		 mem;
};

enum binnode_val_kind {
	BINNODE_VAL_NULL,	/* LIST_EMPTY where a string was expected */
	BINNODE_VAL_STRING,	/* token or packed */
	BINNODE_VAL_BYTES,	/* BINARY_8/20/32 */
	BINNODE_VAL_JID
};

/* A decoded string/JID; s points into the input, a token or pbuf. */
struct binnode_val {
	enum binnode_val_kind	 kind;
	const uint8_t		*s;
	size_t			 len;
	uint8_t			 pbuf[2 * BINNODE_PACKED_MAX + 2];
	struct jid		 jid;
};

static int
binnode_dec_charge(struct binnode_dec *d, size_t n)
{
	if (n > BINNODE_MAX_MEM - BINNODE_ALLOC_OVERHEAD ||
	    d->mem > BINNODE_MAX_MEM - BINNODE_ALLOC_OVERHEAD - n)
		return BINNODE_ELIMIT;
	d->mem += n + BINNODE_ALLOC_OVERHEAD;
	return 0;
}

static int
binnode_dec_need(struct binnode_dec *d, size_t n)
{
	return n > d->len - d->off ? BINNODE_ETRUNC : 0;
}

static int
binnode_dec_u8(struct binnode_dec *d, uint8_t *v)
{
	if (d->off >= d->len)
		return BINNODE_ETRUNC;
	*v = d->p[d->off++];
	return 0;
}

/* Big-endian unsigned of n (1..4) bytes. */
static int
binnode_dec_be(struct binnode_dec *d, size_t n, uint32_t *v)
{
	size_t i;

	*v = 0;
	if (binnode_dec_need(d, n) != 0)
		return BINNODE_ETRUNC;
	for (i = 0; i < n; i++)
		*v = (*v << 8) | d->p[d->off++];
	return 0;
}

static int
binnode_dec_take(struct binnode_dec *d, size_t n, const uint8_t **p)
{
	if (binnode_dec_need(d, n) != 0)
		return BINNODE_ETRUNC;
	*p = d->p + d->off;
	d->off += n;
	return 0;
}

static int
binnode_dec_list_size(struct binnode_dec *d, uint8_t tag, size_t *n)
{
	uint32_t v;
	int rc;

	*n = 0;
	switch (tag) {
	case TAG_LIST_EMPTY:
		return 0;
	case TAG_LIST_8:
		rc = binnode_dec_be(d, 1, &v);
		break;
	case TAG_LIST_16:
		rc = binnode_dec_be(d, 2, &v);
		break;
	default:
		return BINNODE_EINVAL;
	}
	*n = v;
	return rc;
}

static int
binnode_dec_packed(struct binnode_dec *d, uint8_t tag, struct binnode_val *v)
{
	static const char nibble_chars[] = "0123456789-.";
	static const char hex_chars[] = "0123456789ABCDEF";
	const uint8_t *p;
	uint8_t start;
	size_t nb, i, n = 0;
	unsigned int x, k;
	int rc;

	if ((rc = binnode_dec_u8(d, &start)) != 0)
		return rc;
	nb = start & 0x7f;
	if ((rc = binnode_dec_take(d, nb, &p)) != 0)
		return rc;
	if ((start & 0x80) && nb == 0)
		return BINNODE_EINVAL;
	for (i = 0; i < 2 * nb; i++) {
		x = (i & 1) ? (p[i / 2] & 0x0f) : (p[i / 2] >> 4);
		if ((start & 0x80) && i == 2 * nb - 1)
			break;		/* odd length: padding nibble */
		if (tag == TAG_HEX_8)
			v->pbuf[n++] = (uint8_t)hex_chars[x];
		else {
			k = x;
			if (k >= sizeof(nibble_chars) - 1)
				return BINNODE_EINVAL;
			v->pbuf[n++] = (uint8_t)nibble_chars[k];
		}
	}
	v->kind = BINNODE_VAL_STRING;
	v->s = v->pbuf;
	v->len = n;
	return 0;
}

static int binnode_dec_val(struct binnode_dec *, uint8_t, struct binnode_val *,
    int);

/* A string component of a JID: must be a plain string (or NULL). */
static int
binnode_dec_jid_part(struct binnode_dec *d, struct binnode_val *v,
    char *out, size_t outsz, int allow_null)
{
	uint8_t tag;
	int rc;

	out[0] = '\0';
	if ((rc = binnode_dec_u8(d, &tag)) != 0 ||
	    (rc = binnode_dec_val(d, tag, v, 0)) != 0)
		return rc;
	if (v->kind == BINNODE_VAL_NULL || v->len == 0)
		return allow_null ? 0 : BINNODE_EJID;
	if (v->len >= outsz ||
	    memchr(v->s, '\0', v->len) != NULL)
		return BINNODE_EJID;
	memcpy(out, v->s, v->len);
	out[v->len] = '\0';
	return 0;
}

static int
binnode_dec_jid(struct binnode_dec *d, uint8_t tag, struct binnode_val *v)
{
	struct binnode_val part;
	char user[JID_USER_MAX], server[JID_SERVER_MAX];
	uint8_t dom, dev8;
	uint32_t dev = 0, integ = 0;
	int rc;

	switch (tag) {
	case TAG_JID_PAIR:
		if ((rc = binnode_dec_jid_part(d, &part, user, sizeof(user),
		    1)) != 0 ||
		    (rc = binnode_dec_jid_part(d, &part, server,
		    sizeof(server), 0)) != 0)
			return rc;
		break;
	case TAG_AD_JID:
		if ((rc = binnode_dec_u8(d, &dom)) != 0 ||
		    (rc = binnode_dec_u8(d, &dev8)) != 0 ||
		    (rc = binnode_dec_jid_part(d, &part, user, sizeof(user),
		    0)) != 0)
			return rc;
		if (jid_from_ad(&v->jid, dom, dev8, user, strlen(user)) != 0)
			return BINNODE_EJID;
		v->kind = BINNODE_VAL_JID;
		return 0;
	case TAG_FB_JID:
		if ((rc = binnode_dec_jid_part(d, &part, user, sizeof(user),
		    0)) != 0 ||
		    (rc = binnode_dec_be(d, 2, &dev)) != 0 ||
		    (rc = binnode_dec_jid_part(d, &part, server,
		    sizeof(server), 0)) != 0)
			return rc;
		if (strcmp(server, JID_SERVER_MSGR) != 0)
			return BINNODE_EJID;
		break;
	case TAG_INTEROP_JID:
		if ((rc = binnode_dec_jid_part(d, &part, user, sizeof(user),
		    0)) != 0 ||
		    (rc = binnode_dec_be(d, 2, &dev)) != 0 ||
		    (rc = binnode_dec_be(d, 2, &integ)) != 0 ||
		    (rc = binnode_dec_jid_part(d, &part, server,
		    sizeof(server), 0)) != 0)
			return rc;
		if (strcmp(server, JID_SERVER_INTEROP) != 0)
			return BINNODE_EJID;
		break;
	default:
		return BINNODE_EINVAL;
	}
	if (jid_set(&v->jid, user, server, (uint16_t)dev) != 0)
		return BINNODE_EJID;
	v->jid.integrator = (uint16_t)integ;
	v->kind = BINNODE_VAL_JID;
	return 0;
}

/* Read the value that starts with tag byte `tag` (already consumed). */
static int
binnode_dec_val(struct binnode_dec *d, uint8_t tag, struct binnode_val *v,
    int allow_jid)
{
	const char *tok;
	uint8_t idx;
	uint32_t n;
	int rc;

	v->kind = BINNODE_VAL_NULL;
	v->s = NULL;
	v->len = 0;
	if (tag == TAG_LIST_EMPTY)
		return 0;
	if (tag < WA_TOKENS_NSINGLE) {
		if ((tok = wa_tokens_single(tag)) == NULL)
			return BINNODE_EINVAL;
		v->kind = BINNODE_VAL_STRING;
		v->s = (const uint8_t *)tok;
		v->len = strlen(tok);
		return 0;
	}
	switch (tag) {
	case TAG_DICT_0:
	case TAG_DICT_0 + 1:
	case TAG_DICT_0 + 2:
	case TAG_DICT_3:
		if ((rc = binnode_dec_u8(d, &idx)) != 0)
			return rc;
		tok = wa_tokens_double(tag - TAG_DICT_0, idx);
		if (tok == NULL)
			return BINNODE_EINVAL;
		v->kind = BINNODE_VAL_STRING;
		v->s = (const uint8_t *)tok;
		v->len = strlen(tok);
		return 0;
	case TAG_BINARY_8:
		rc = binnode_dec_be(d, 1, &n);
		break;
	case TAG_BINARY_20:
		rc = binnode_dec_be(d, 3, &n);
		n &= 0x0fffff;
		break;
	case TAG_BINARY_32:
		rc = binnode_dec_be(d, 4, &n);
		break;
	case TAG_NIBBLE_8:
	case TAG_HEX_8:
		return binnode_dec_packed(d, tag, v);
	case TAG_JID_PAIR:
	case TAG_AD_JID:
	case TAG_FB_JID:
	case TAG_INTEROP_JID:
		if (!allow_jid)
			return BINNODE_EINVAL;
		return binnode_dec_jid(d, tag, v);
	default:
		return BINNODE_EINVAL;	/* 240-244, lists */
	}
	if (rc != 0)
		return rc;
	if ((rc = binnode_dec_take(d, n, &v->s)) != 0)
		return rc;
	v->kind = BINNODE_VAL_BYTES;
	v->len = n;
	return 0;
}

/* A tag or attribute key: a non-empty string without NULs. */
static int
binnode_dec_name(struct binnode_dec *d, char **out)
{
	struct binnode_val v;
	uint8_t tag;
	int rc;

	*out = NULL;
	if ((rc = binnode_dec_u8(d, &tag)) != 0 ||
	    (rc = binnode_dec_val(d, tag, &v, 0)) != 0)
		return rc;
	if (v.kind == BINNODE_VAL_NULL || v.len == 0 ||
	    memchr(v.s, '\0', v.len) != NULL)
		return BINNODE_EINVAL;
	if ((rc = binnode_dec_charge(d, v.len + 1)) != 0)
		return rc;
	*out = binnode_memdup(v.s, v.len);
	return 0;
}

static int
binnode_dec_attr_value(struct binnode_dec *d, struct binnode_attr *a)
{
	struct binnode_val v;
	char s[JID_STR_MAX];
	uint8_t tag;
	int rc, len;

	if ((rc = binnode_dec_u8(d, &tag)) != 0 ||
	    (rc = binnode_dec_val(d, tag, &v, 1)) != 0)
		return rc;
	if (v.kind == BINNODE_VAL_JID) {
		if ((len = jid_format(&v.jid, s, sizeof(s))) < 0)
			return BINNODE_EJID;
		if ((rc = binnode_dec_charge(d,
		    sizeof(*a->jid) + (size_t)len + 1)) != 0)
			return rc;
		a->jid = xmalloc(sizeof(*a->jid));
		memcpy(a->jid, &v.jid, sizeof(*a->jid));
		a->value = binnode_memdup(s, (size_t)len);
		a->value_len = (size_t)len;
		return 0;
	}
	if ((rc = binnode_dec_charge(d, v.len + 1)) != 0)
		return rc;
	a->value = binnode_memdup(v.s, v.len);
	a->value_len = v.len;
	return 0;
}

static int binnode_dec_node(struct binnode_dec *, int, struct binnode **);

static int
binnode_dec_content(struct binnode_dec *d, int depth, struct binnode *n)
{
	struct binnode_val v;
	struct binnode *c;
	size_t count, i;
	uint8_t tag;
	int rc;

	if ((rc = binnode_dec_u8(d, &tag)) != 0)
		return rc;
	if (tag == TAG_LIST_EMPTY || tag == TAG_LIST_8 || tag == TAG_LIST_16) {
		if ((rc = binnode_dec_list_size(d, tag, &count)) != 0)
			return rc;
		/* each child takes at least 3 bytes: list header + tag */
		if (count > (d->len - d->off) / 3)
			return BINNODE_ETRUNC;
		if ((rc = binnode_dec_charge(d, count * sizeof(c))) != 0)
			return rc;
		n->type = BINNODE_LIST;
		if (count > 0)
			n->children = xcalloc(count, sizeof(*n->children));
		n->children_cap = count;
		for (i = 0; i < count; i++) {
			if ((rc = binnode_dec_node(d, depth + 1, &c)) != 0)
				return rc;
			n->children[n->nchildren++] = c;
		}
		return 0;
	}
	if ((rc = binnode_dec_val(d, tag, &v, 1)) != 0)
		return rc;
	if (v.kind == BINNODE_VAL_JID) {
		if ((rc = binnode_dec_charge(d, sizeof(*n->jid))) != 0)
			return rc;
		n->type = BINNODE_JID;
		n->jid = xmalloc(sizeof(*n->jid));
		memcpy(n->jid, &v.jid, sizeof(*n->jid));
		return 0;
	}
	if ((rc = binnode_dec_charge(d, v.len + 1)) != 0)
		return rc;
	n->type = v.kind == BINNODE_VAL_BYTES ? BINNODE_BYTES : BINNODE_STRING;
	n->data = (uint8_t *)binnode_memdup(v.s, v.len);
	n->len = v.len;
	return 0;
}

static int
binnode_dec_node(struct binnode_dec *d, int depth, struct binnode **out)
{
	struct binnode *n = NULL;
	size_t size, nattrs, i;
	uint8_t tag;
	int rc;

	*out = NULL;
	if (depth > BINNODE_MAX_DEPTH || ++d->nodes > BINNODE_MAX_NODES) {
		rc = BINNODE_ELIMIT;
		goto out;
	}
	if ((rc = binnode_dec_u8(d, &tag)) != 0 ||
	    (rc = binnode_dec_list_size(d, tag, &size)) != 0)
		goto out;
	if (size == 0) {
		rc = BINNODE_EINVAL;
		goto out;
	}
	if ((rc = binnode_dec_charge(d, sizeof(*n))) != 0)
		goto out;
	n = xcalloc(1, sizeof(*n));
	if ((rc = binnode_dec_name(d, &n->tag)) != 0)
		goto out;
	nattrs = (size - 1) / 2;
	if (nattrs > 0) {
		/* each attribute takes at least 2 bytes */
		if (nattrs > (d->len - d->off) / 2) {
			rc = BINNODE_ETRUNC;
			goto out;
		}
		if ((rc = binnode_dec_charge(d,
		    nattrs * sizeof(*n->attrs))) != 0)
			goto out;
		n->attrs = xcalloc(nattrs, sizeof(*n->attrs));
		n->attrs_cap = nattrs;
	}
	for (i = 0; i < nattrs; i++) {
		n->nattrs++;
		if ((rc = binnode_dec_name(d, &n->attrs[i].key)) != 0 ||
		    (rc = binnode_dec_attr_value(d, &n->attrs[i])) != 0)
			goto out;
	}
	if (size % 2 == 0 && (rc = binnode_dec_content(d, depth, n)) != 0)
		goto out;
	*out = n;
	n = NULL;
	rc = 0;
out:
	binnode_free(n);
	return rc;
}

int
binnode_decode_node(const uint8_t *p, size_t len, struct binnode **out)
{
	struct binnode_dec d;
	int rc;

	*out = NULL;
	memset(&d, 0, sizeof(d));
	d.p = p;
	d.len = p ? len : 0;
	if ((rc = binnode_dec_node(&d, 1, out)) != 0)
		return rc;
	if (d.off != d.len) {
		binnode_free(*out);
		*out = NULL;
		return BINNODE_ETRAIL;
	}
	return 0;
}

/* zlib (RFC 1950) stream -> *outp, at most BINNODE_MAX_INFLATE bytes. */
static int
binnode_inflate(const uint8_t *in, size_t inlen, uint8_t **outp,
    size_t *outlen)
{
	z_stream zs;
	uint8_t *out = NULL;
	size_t cap;
	int rc, zrc, inited = 0;

	*outp = NULL;
	*outlen = 0;
	memset(&zs, 0, sizeof(zs));
	if (inlen > UINT_MAX || inlen > BINNODE_MAX_INFLATE) {
		rc = BINNODE_ELIMIT;
		goto out;
	}
	if (inflateInit(&zs) != Z_OK) {
		rc = BINNODE_EZLIB;
		goto out;
	}
	inited = 1;
	cap = inlen < 1024 ? 4096 : inlen * 4;
	if (cap > BINNODE_MAX_INFLATE + 1)
		cap = BINNODE_MAX_INFLATE + 1;
	out = xmalloc(cap);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)inlen;
	for (;;) {
		if (zs.total_out > BINNODE_MAX_INFLATE) {
			rc = BINNODE_ELIMIT;
			goto out;
		}
		if (zs.total_out == cap) {
			cap = cap * 2 > BINNODE_MAX_INFLATE + 1 ?
			    BINNODE_MAX_INFLATE + 1 : cap * 2;
			out = xreallocarray(out, 1, cap);
		}
		zs.next_out = out + zs.total_out;
		zs.avail_out = (uInt)(cap - zs.total_out);
		zrc = inflate(&zs, Z_NO_FLUSH);
		if (zrc == Z_STREAM_END)
			break;
		if (zrc == Z_OK && zs.avail_out == 0)
			continue;	/* output full: grow */
		if (zrc == Z_BUF_ERROR && zs.avail_out == 0)
			continue;
		if (zrc == Z_OK && zs.avail_in > 0)
			continue;
		/* Z_DATA_ERROR, Z_NEED_DICT, or input ended mid-stream */
		rc = BINNODE_EZLIB;
		goto out;
	}
	if (zs.total_out > BINNODE_MAX_INFLATE) {
		rc = BINNODE_ELIMIT;
		goto out;
	}
	*outlen = zs.total_out;
	*outp = out;
	out = NULL;
	rc = 0;
out:
	if (inited)
		inflateEnd(&zs);
	free(out);
	return rc;
}

int
binnode_decode(const uint8_t *p, size_t len, struct binnode **out)
{
	uint8_t *plain = NULL;
	size_t plainlen;
	int rc;

	*out = NULL;
	if (p == NULL || len == 0)
		return BINNODE_ETRUNC;
	if ((p[0] & BINNODE_FLAG_ZLIB) == 0)
		return binnode_decode_node(p + 1, len - 1, out);
	if ((rc = binnode_inflate(p + 1, len - 1, &plain, &plainlen)) == 0)
		rc = binnode_decode_node(plain, plainlen, out);
	free(plain);
	return rc;
}

/* ------------------------------------------------------------------ */
/* debug printer                                                      */

/* Escaped, at most BINNODE_PRINT_MAXSTR input bytes. */
static int
binnode_print_str(struct buf *b, const uint8_t *s, size_t len)
{
	size_t i, n = len > BINNODE_PRINT_MAXSTR ? BINNODE_PRINT_MAXSTR : len;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		switch (s[i]) {
		case '&':
			rc = buf_puts(b, "&amp;");
			break;
		case '<':
			rc = buf_puts(b, "&lt;");
			break;
		case '>':
			rc = buf_puts(b, "&gt;");
			break;
		case '"':
			rc = buf_puts(b, "&quot;");
			break;
		default:
			if (s[i] < 0x20 || s[i] >= 0x7f)
				rc = buf_printf(b, "\\x%02x", s[i]);
			else
				rc = buf_putc(b, s[i]);
			break;
		}
	}
	if (rc == 0 && n < len)
		rc = buf_printf(b, "...(%zu bytes)", len);
	return rc;
}

static int
binnode_print_node(struct buf *b, const struct binnode *n, int depth)
{
	const char *tag = n->tag ? n->tag : "";
	char s[JID_STR_MAX];
	size_t i;
	int ind = depth > 32 ? 64 : depth * 2;

	if (buf_printf(b, "%*s<", ind, "") != 0 ||
	    binnode_print_str(b, (const uint8_t *)tag, strlen(tag)) != 0)
		return BINNODE_ENOSPC;
	for (i = 0; i < n->nattrs; i++) {
		if (buf_putc(b, ' ') != 0 ||
		    binnode_print_str(b, (const uint8_t *)n->attrs[i].key,
		    strlen(n->attrs[i].key)) != 0 ||
		    buf_puts(b, "=\"") != 0 ||
		    binnode_print_str(b, (const uint8_t *)n->attrs[i].value,
		    n->attrs[i].value_len) != 0 ||
		    buf_putc(b, '"') != 0)
			return BINNODE_ENOSPC;
	}
	switch (n->type) {
	case BINNODE_NONE:
		return buf_puts(b, "/>\n") == 0 ? 0 : BINNODE_ENOSPC;
	case BINNODE_LIST:
		if (buf_puts(b, n->nchildren ? ">\n" : ">") != 0)
			return BINNODE_ENOSPC;
		for (i = 0; i < n->nchildren; i++)
			if (binnode_print_node(b, n->children[i],
			    depth + 1) != 0)
				return BINNODE_ENOSPC;
		if (n->nchildren && buf_printf(b, "%*s", ind, "") != 0)
			return BINNODE_ENOSPC;
		break;
	case BINNODE_BYTES:
		if (buf_printf(b, "><!-- %zu bytes -->", n->len) != 0)
			return BINNODE_ENOSPC;
		break;
	case BINNODE_STRING:
		if (buf_putc(b, '>') != 0 ||
		    binnode_print_str(b, n->data, n->len) != 0)
			return BINNODE_ENOSPC;
		break;
	case BINNODE_JID:
		if (jid_format(n->jid, s, sizeof(s)) < 0)
			s[0] = '\0';
		if (buf_printf(b, ">%s", s) != 0)
			return BINNODE_ENOSPC;
		break;
	}
	if (buf_puts(b, "</") != 0 ||
	    binnode_print_str(b, (const uint8_t *)tag, strlen(tag)) != 0 ||
	    buf_puts(b, ">\n") != 0)
		return BINNODE_ENOSPC;
	return 0;
}

int
binnode_print(const struct binnode *n, struct buf *out)
{
	if (n == NULL)
		return buf_puts(out, "(null)\n") == 0 ? 0 : BINNODE_ENOSPC;
	return binnode_print_node(out, n, 0);
}

const char *
binnode_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case BINNODE_ETRUNC:
		return "truncated node";
	case BINNODE_EINVAL:
		return "invalid node";
	case BINNODE_ELIMIT:
		return "node exceeds limits";
	case BINNODE_EZLIB:
		return "bad zlib stream";
	case BINNODE_ETRAIL:
		return "trailing bytes after node";
	case BINNODE_EJID:
		return "bad JID";
	case BINNODE_ENOSPC:
		return "output buffer full";
	default:
		return "unknown binnode error";
	}
}
