/* test_binnode.c - WABinary tokens, node codec, frame codec, JIDs. */
#include <stdint.h>
#include <stdlib.h>
#include <json-c/json.h>
#include <zlib.h>

#include "t.h"
#include "binnode.h"
#include "buf.h"
#include "frame.h"
#include "jid.h"
#include "wa_tokens.h"

#define VEC_MAX	16

struct vec {
	char		 name[128];
	uint8_t		*enc;		/* encoded payload (flag byte first) */
	size_t		 enclen;
	json_object	*node;		/* input node, NULL for the zlib one */
	json_object	*decoded;
};

static struct vec vecs[VEC_MAX];
static size_t nvecs;

/* xorshift64*: deterministic test input, no libc PRNG. */
static uint64_t prng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
prng(void)
{
	prng_state ^= prng_state >> 12;
	prng_state ^= prng_state << 25;
	prng_state ^= prng_state >> 27;
	return prng_state * 2685821657736338717ULL;
}

static uint8_t *
unhex_alloc(const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2;
	uint8_t *p = malloc(n + 1);
	int r = t_unhex(hex, p, n + 1);

	*len = r < 0 ? 0 : (size_t)r;
	return p;
}

static int
load_vectors(void)
{
	json_object *root, *v, *x;
	size_t i;

	if (nvecs)
		return 1;
	root = json_object_from_file(t_shared("wa/vectors/binary_vectors.json"));
	if (root == NULL || !json_object_is_type(root, json_type_array))
		return 0;
	for (i = 0; i < json_object_array_length(root) && nvecs < VEC_MAX;
	    i++) {
		struct vec *vv = &vecs[nvecs];

		v = json_object_array_get_idx(root, i);
		if (!json_object_object_get_ex(v, "encoded_hex", &x))
			continue;
		vv->enc = unhex_alloc(json_object_get_string(x), &vv->enclen);
		if (json_object_object_get_ex(v, "name", &x))
			snprintf(vv->name, sizeof(vv->name), "%s",
			    json_object_get_string(x));
		if (json_object_object_get_ex(v, "node", &x))
			vv->node = json_tokener_parse(json_object_get_string(x));
		if (json_object_object_get_ex(v, "decoded", &x))
			vv->decoded =
			    json_tokener_parse(json_object_get_string(x));
		nvecs++;
	}
	json_object_put(root);
	return nvecs > 0;
}

static void
free_vectors(void)
{
	size_t i;

	for (i = 0; i < nvecs; i++) {
		free(vecs[i].enc);
		json_object_put(vecs[i].node);
		json_object_put(vecs[i].decoded);
	}
	nvecs = 0;
}

/* JSON node (vector format) -> binnode; '@' values become typed JIDs,
 * as Baileys does. */
static struct binnode *
node_from_json(json_object *o)
{
	json_object *x, *h;
	struct binnode *n, *c;
	struct jid j;
	size_t i, len;
	uint8_t *bytes;

	if (!json_object_object_get_ex(o, "tag", &x))
		return NULL;
	n = binnode_new(json_object_get_string(x));
	if (json_object_object_get_ex(o, "attrs", &x)) {
		json_object_object_foreach(x, key, val) {
			const char *s = json_object_get_string(val);

			if (strchr(s, '@') != NULL && jid_parse(&j, s) == 0)
				binnode_set_attr_jid(n, key, &j);
			else
				binnode_set_attr(n, key, s);
		}
	}
	if (json_object_object_get_ex(o, "content", &x)) {
		if (json_object_is_type(x, json_type_array)) {
			n->type = BINNODE_LIST;
			for (i = 0; i < json_object_array_length(x); i++) {
				c = node_from_json(
				    json_object_array_get_idx(x, i));
				binnode_add_child(n, &c);
			}
		} else if (json_object_is_type(x, json_type_string))
			binnode_set_string(n, json_object_get_string(x));
		else if (json_object_object_get_ex(x, "hex", &h)) {
			bytes = unhex_alloc(json_object_get_string(h), &len);
			binnode_set_bytes(n, bytes, len);
			free(bytes);
		}
	}
	return n;
}

/* Does n match the vector's "decoded" JSON? */
static int
node_matches_json(const struct binnode *n, json_object *o)
{
	json_object *x, *h;
	size_t i, len, nattrs = 0;
	uint8_t *bytes;
	int ok;

	if (!json_object_object_get_ex(o, "tag", &x) ||
	    strcmp(n->tag, json_object_get_string(x)) != 0)
		return 0;
	if (json_object_object_get_ex(o, "attrs", &x)) {
		json_object_object_foreach(x, key, val) {
			const char *v = binnode_attr(n, key);

			if (v == NULL || strcmp(v, json_object_get_string(val)))
				return 0;
			nattrs++;
		}
	}
	if (nattrs != n->nattrs)
		return 0;
	if (!json_object_object_get_ex(o, "content", &x))
		return n->type == BINNODE_NONE;
	if (json_object_is_type(x, json_type_array)) {
		if (n->type != BINNODE_LIST ||
		    n->nchildren != json_object_array_length(x))
			return 0;
		for (i = 0; i < n->nchildren; i++)
			if (!node_matches_json(n->children[i],
			    json_object_array_get_idx(x, i)))
				return 0;
		return 1;
	}
	if (json_object_is_type(x, json_type_string))
		return n->type == BINNODE_STRING &&
		    strcmp((char *)n->data, json_object_get_string(x)) == 0;
	if (!json_object_object_get_ex(x, "hex", &h) ||
	    n->type != BINNODE_BYTES)
		return 0;
	bytes = unhex_alloc(json_object_get_string(h), &len);
	ok = len == n->len && memcmp(bytes, n->data, len) == 0;
	free(bytes);
	return ok;
}

static void
test_tokens(void)
{
	unsigned int d, i, dd, ii;
	int bad = 0;

	T_EQ_STR(wa_tokens_single(1), "xmlstreamstart", "single 1");
	T_EQ_STR(wa_tokens_single(3), "s.whatsapp.net", "single 3");
	T_EQ_STR(wa_tokens_single(235), "screen_height", "single 235");
	T_OK(wa_tokens_single(0) == NULL, "single 0 is no token");
	T_OK(wa_tokens_single(236) == NULL, "single 236 out of range");
	T_EQ_STR(wa_tokens_double(0, 0), "read-self", "double 0/0");
	T_OK(wa_tokens_double(4, 0) == NULL, "dict 4 out of range");
	for (i = 1; i < WA_TOKENS_NSINGLE; i++) {
		const char *s = wa_tokens_single(i);

		if (wa_tokens_lookup(s, strlen(s), &dd, &ii) !=
		    WA_TOKEN_SINGLE || ii != i)
			bad++;
	}
	T_EQ_INT(bad, 0, "every single-byte token looks up to itself");
	bad = 0;
	for (d = 0; d < WA_TOKENS_NDICT; d++)
		for (i = 0; i < WA_TOKENS_NDOUBLE; i++) {
			const char *s = wa_tokens_double(d, i);

			if (wa_tokens_lookup(s, strlen(s), &dd, &ii) !=
			    WA_TOKEN_DOUBLE || dd != d || ii != i)
				bad++;
		}
	T_EQ_INT(bad, 0, "every double-byte token looks up to itself");
	T_EQ_INT(wa_tokens_lookup("ib", 2, &dd, &ii), WA_TOKEN_NONE,
	    "\"ib\" is no token");
	T_EQ_INT(wa_tokens_lookup("", 0, &dd, &ii), WA_TOKEN_NONE,
	    "empty is no token");
	T_EQ_INT(wa_tokens_lookup("typex", 4, &dd, &ii), WA_TOKEN_SINGLE,
	    "length-delimited lookup");
	T_EQ_INT(ii, 4, "\"type\" is 4");
}

static void
test_vectors_encode(void)
{
	struct binnode *n;
	struct buf b;
	size_t i, tested = 0;
	int rc;

	T_OK(load_vectors(), "vectors loaded from %s",
	    t_shared("wa/vectors/binary_vectors.json"));
	T_EQ_INT(nvecs, 16, "16 vectors");
	buf_init(&b, 1 << 20);
	for (i = 0; i < nvecs; i++) {
		if (vecs[i].node == NULL)
			continue;
		n = node_from_json(vecs[i].node);
		buf_reset(&b);
		rc = binnode_encode(n, &b);
		T_OK(rc == 0 && b.len == vecs[i].enclen &&
		    memcmp(b.data, vecs[i].enc, b.len) == 0,
		    "encode \"%s\" byte-exact", vecs[i].name);
		binnode_free(n);
		tested++;
	}
	T_EQ_INT(tested, 15, "15 node vectors encoded");
	buf_free(&b);
}

static void
test_vectors_decode(void)
{
	struct binnode *n, *n2, *ref = NULL;
	struct buf b;
	size_t i;
	int rc;

	if (!load_vectors())
		return;
	buf_init(&b, 1 << 20);
	for (i = 0; i < nvecs; i++) {
		rc = binnode_decode(vecs[i].enc, vecs[i].enclen, &n);
		T_OK(rc == 0 && n != NULL, "decode \"%s\" (%s)", vecs[i].name,
		    binnode_strerror(rc));
		if (n == NULL)
			continue;
		T_OK(vecs[i].decoded && node_matches_json(n, vecs[i].decoded),
		    "decoded \"%s\" matches", vecs[i].name);
		buf_reset(&b);
		rc = binnode_encode(n, &b);
		if (vecs[i].enc[0] == 0)
			T_OK(rc == 0 && b.len == vecs[i].enclen &&
			    memcmp(b.data, vecs[i].enc, b.len) == 0,
			    "re-encode \"%s\" byte-exact", vecs[i].name);
		else if (ref != NULL) {
			/* the compressed vector holds vector 1 */
			T_OK(binnode_equal(n, ref),
			    "compressed frame equals vector 1");
			T_OK(rc == 0 && b.len == vecs[0].enclen &&
			    memcmp(b.data, vecs[0].enc, b.len) == 0,
			    "compressed frame re-encodes to vector 1");
		}
		rc = binnode_decode(b.data, b.len, &n2);
		T_OK(rc == 0 && binnode_equal(n, n2), "\"%s\" round-trips",
		    vecs[i].name);
		binnode_free(n2);
		if (i == 0)
			ref = n;
		else
			binnode_free(n);
	}
	binnode_free(ref);
	buf_free(&b);
}

/* Encode the JID as the content of <x> and compare the JID's bytes. */
static int
jid_bytes_are(const char *s, const char *hex)
{
	struct binnode *n = binnode_new("x");
	uint8_t want[64];
	struct jid j;
	struct buf b;
	int wl = t_unhex(hex, want, sizeof(want)), ok;

	buf_init(&b, 1024);
	if (jid_parse(&j, s) != 0) {
		binnode_free(n);
		return 0;
	}
	binnode_set_jid(n, &j);
	/* f8 02 fc 01 78 = list(2) "x" (raw) */
	ok = binnode_encode_node(n, &b) == 0 && wl > 0 &&
	    b.len == (size_t)wl + 5 && memcmp(b.data + 5, want, wl) == 0;
	binnode_free(n);
	buf_free(&b);
	return ok;
}

static void
test_spec_bytes(void)
{
	struct binnode *n = binnode_new("x");
	struct buf b;
	uint8_t want[32];
	int wl;

	T_OK(jid_bytes_are("5511987654321:12@s.whatsapp.net",
	    "f7000cff875511987654321f"), "AD_JID PN device (3.4)");
	T_OK(jid_bytes_are("123456789012345:5@lid",
	    "f70105ff88123456789012345f"), "AD_JID LID device (3.4)");
	T_OK(jid_bytes_are("120363012345678901@g.us",
	    "faff091203630123456789011c"), "JID_PAIR group (3.4)");
	T_OK(jid_bytes_are("s.whatsapp.net", "fa0003"), "server JID (3.4)");
	T_OK(jid_bytes_are("5511987654321:0@s.whatsapp.net",
	    "faff875511987654321f03"), "device 0 as JID_PAIR");
	T_OK(jid_bytes_are("5511.7:2@s.whatsapp.net", "f70702ff025511"),
	    "legacy agent in AD_JID");
	T_OK(jid_bytes_are("77@hosted", "f78000ff0177"), "hosted AD_JID");
	T_OK(jid_bytes_are("77:99@hosted.lid", "f78163ff0177"),
	    "hosted.lid AD_JID");
	T_OK(jid_bytes_are("12:3@msgr", "f6cf0003cc"), "FB_JID");
	T_OK(jid_bytes_are("9-12:3@interop",
	    "f5cf00030009fc07696e7465726f70"), "INTEROP_JID");

	buf_init(&b, 4096);
	binnode_set_string(n, "1234.5678-1");
	T_OK(binnode_encode_node(n, &b) == 0, "encode nibble");
	wl = t_unhex("ff861234b5678a1f", want, sizeof(want));
	T_EQ_MEM(b.data + 5, b.len - 5, want, wl, "\"1234.5678-1\" (3.3)");
	buf_reset(&b);
	binnode_set_string(n, "");
	binnode_encode_node(n, &b);
	T_EQ_MEM(b.data + 5, b.len - 5, "\xfc\x00", 2, "empty string FC 00");
	buf_reset(&b);
	binnode_set_string(n, "3eb0");
	binnode_encode_node(n, &b);
	T_EQ_MEM(b.data + 5, b.len - 5, "\xfc\x04" "3eb0", 6,
	    "lowercase hex raw");
	buf_reset(&b);
	binnode_set_string(n, "3EB");
	binnode_encode_node(n, &b);
	T_EQ_MEM(b.data + 5, b.len - 5, "\xfb\x82\x3e\xbf", 4, "odd hex");
	binnode_free(n);
	buf_free(&b);
}

static struct binnode *
make_big_node(void)
{
	static const char *jids[] = {
		"5511987654321@s.whatsapp.net", "5511987654321:3@s.whatsapp.net",
		"123456789012345:5@lid", "123456789012345@lid",
		"120363012345678901@g.us", "5511987654321-1600000000@g.us",
		"status@broadcast", "120363000000000000@newsletter",
		"s.whatsapp.net", "5511.7:2@s.whatsapp.net", "77@hosted",
		"77:99@hosted.lid", "12:3@msgr", "9-12:3@interop", "meta@bot",
		"5511987654321@c.us",
	};
	struct binnode *root = binnode_new("iq"), *c;
	char s[300], key[16];
	struct jid j;
	uint8_t *big;
	size_t i;

	binnode_set_attr(root, "id", "1234.5678-1");
	binnode_set_attr(root, "type", "result");
	binnode_set_attr(root, "weird key", "value with \"quotes\" & <xml>");
	for (i = 0; i < sizeof(jids) / sizeof(jids[0]); i++) {
		snprintf(key, sizeof(key), "j%zu", i);
		if (jid_parse(&j, jids[i]) == 0)
			binnode_set_attr_jid(root, key, &j);
		c = binnode_add_new(root, "jid");
		binnode_set_jid(c, &j);
	}
	/* packed limit: 127 digits nibble, 128 raw */
	memset(s, '7', sizeof(s));
	s[127] = '\0';
	binnode_set_string(binnode_add_new(root, "n127"), s);
	s[127] = '8';
	s[128] = '\0';
	binnode_set_string(binnode_add_new(root, "n128"), s);
	memset(s, 'A', 127);
	s[127] = '\0';
	binnode_set_attr(binnode_add_new(root, "h127"), "v", s);
	/* BINARY_20 string and BINARY_32 bytes */
	memset(s, 'x', 299);
	s[299] = '\0';
	binnode_set_attr(binnode_add_new(root, "long"), "v", s);
	big = malloc((1 << 20) + 7);
	for (i = 0; i < (1u << 20) + 7; i++)
		big[i] = (uint8_t)(prng() >> 24);
	binnode_set_bytes(binnode_add_new(root, "b32"), big, (1 << 20) + 7);
	free(big);
	/* LIST_16 children and an empty list */
	c = binnode_add_new(root, "list");
	for (i = 0; i < 300; i++)
		binnode_set_attr(binnode_add_new(c, "item"), "id", "AAA");
	c = binnode_add_new(root, "empty");
	c->type = BINNODE_LIST;
	binnode_set_string(binnode_add_new(root, "tok"), "s.whatsapp.net");
	binnode_set_string(binnode_add_new(root, "dbl"), "read-self");
	binnode_set_bytes(binnode_add_new(root, "nul"), "a\0b", 3);
	return root;
}

static void
test_roundtrip(void)
{
	struct binnode *n = make_big_node(), *d = NULL, *c;
	struct buf b, small;
	struct jid j;
	int rc;

	buf_init(&b, 4 << 20);
	rc = binnode_encode(n, &b);
	T_EQ_INT(rc, 0, "encode big node");
	rc = binnode_decode(b.data, b.len, &d);
	T_OK(rc == 0, "decode big node (%s)", binnode_strerror(rc));
	T_OK(binnode_equal(n, d), "big node round-trips");
	if (d != NULL) {
		T_OK(binnode_attr_jid(d, "j2", &j) == 0 && j.device == 5 &&
		    jid_server_is(&j, "lid"), "typed JID attribute back");
		T_EQ_STR(binnode_attr(d, "j13"), "9-12:3@interop",
		    "interop formatted");
		T_EQ_STR(binnode_attr(d, "j9"), "5511.7:2@s.whatsapp.net",
		    "agent formatted");
		c = binnode_child(d, "b32");
		T_OK(c && c->type == BINNODE_BYTES && c->len == (1u << 20) + 7,
		    "BINARY_32 content");
		c = binnode_child(d, "list");
		T_EQ_INT(binnode_count(c, "item"), 300, "LIST_16 children");
		T_EQ_INT(binnode_count(d, "jid"), 16, "count by tag");
		T_OK(binnode_child(d, "nope") == NULL, "missing child");
		c = binnode_child(d, "tok");
		T_OK(c && c->type == BINNODE_STRING &&
		    strcmp((char *)c->data, "s.whatsapp.net") == 0,
		    "token content decodes as string");
	}
	binnode_free(d);

	/* output cap: error, buffer unchanged */
	buf_init(&small, 100);
	buf_append(&small, "zz", 2);
	T_EQ_INT(binnode_encode(n, &small), BINNODE_ENOSPC, "cap -> ENOSPC");
	T_EQ_INT(small.len, 2, "nothing half-written");
	buf_free(&small);

	/* attribute setters */
	{
		uint64_t u;

		binnode_set_attrs(n, "t", "1700000000", "skip", NULL,
		    "big", "18446744073709551615", "over",
		    "18446744073709551616", "neg", "-1", (char *)NULL);
		T_OK(binnode_attr_u64(n, "t", &u) == 0 && u == 1700000000,
		    "attr_u64");
		T_OK(binnode_attr_u64(n, "big", &u) == 0 && u == UINT64_MAX,
		    "attr_u64 max");
		T_OK(binnode_attr_u64(n, "over", &u) != 0, "attr_u64 overflow");
		T_OK(binnode_attr_u64(n, "neg", &u) != 0, "attr_u64 sign");
		T_OK(binnode_attr(n, "skip") == NULL, "NULL value skipped");
	}
	binnode_set_attr(n, "id", "other");
	T_EQ_STR(binnode_attr(n, "id"), "other", "attr replaced");
	binnode_set_attr(n, "id", "");
	T_OK(binnode_attr(n, "id") == NULL, "empty value removes");
	binnode_set_attr(n, "type", NULL);
	T_OK(binnode_attr(n, "type") == NULL, "NULL value removes");
	T_OK(binnode_attr_jid(n, "weird key", &j) != 0, "non-JID attr");
	binnode_free(n);

	/* unencodable */
	n = binnode_new("");
	buf_reset(&b);
	T_EQ_INT(binnode_encode(n, &b), BINNODE_EINVAL, "empty tag refused");
	binnode_free(n);
	n = binnode_new("x");
	binnode_set_attr(n, "", "v");
	T_EQ_INT(binnode_encode(n, &b), BINNODE_EINVAL, "empty key refused");
	binnode_free(n);
	n = binnode_new("x");
	jid_set(&j, "1", "s.whatsapp.net", 300);
	binnode_set_attr_jid(n, "to", &j);
	T_EQ_INT(binnode_encode(n, &b), BINNODE_EJID, "device 300 refused");
	binnode_free(n);
	buf_free(&b);
}

static void
test_compressed(void)
{
	struct binnode *n = make_big_node(), *d = NULL;
	struct buf b;
	uLongf clen;
	uint8_t *z, *bomb;
	size_t blen = BINNODE_MAX_INFLATE + 1;
	int rc;

	buf_init(&b, 4 << 20);
	binnode_encode(n, &b);
	clen = compressBound(b.len) + 1;
	z = malloc(clen);
	z[0] = BINNODE_FLAG_ZLIB;
	clen--;
	compress2(z + 1, &clen, b.data + 1, b.len - 1, 6);
	rc = binnode_decode(z, clen + 1, &d);
	T_OK(rc == 0 && binnode_equal(n, d), "compressed big node (%s)",
	    binnode_strerror(rc));
	binnode_free(d);
	rc = binnode_decode(z, clen, &d);
	T_OK(rc == BINNODE_EZLIB && d == NULL, "truncated zlib refused");
	z[clen / 2] ^= 0x55;
	rc = binnode_decode(z, clen + 1, &d);
	T_OK(rc < 0 && d == NULL, "corrupt zlib refused");
	free(z);

	/* 16 MiB + 1 inflated: refused */
	bomb = calloc(1, blen);
	clen = compressBound(blen) + 1;
	z = malloc(clen);
	z[0] = BINNODE_FLAG_ZLIB;
	clen--;
	compress2(z + 1, &clen, bomb, blen, 9);
	rc = binnode_decode(z, clen + 1, &d);
	T_EQ_INT(rc, BINNODE_ELIMIT, "inflate cap 16 MiB");
	free(z);
	free(bomb);
	binnode_free(n);
	buf_free(&b);
}

static void
test_garbage(void)
{
	static const char *bad[] = {
		"", "00", "f800", "f801", "f8", "f9", "f90001", "f801f0",
		"f80100", "f802fc0178", "f802fc0178fd", "f802fc0178fe7fffffff",
		"f802fc0178f801", "f802fc0178f8ff", "f802fc0178ec",
		"f801ff81", "f801ffff", "f801ff01cc", "f801fc0100",
		"f803fc0178fc0161fa", "f803fc0178fc0161faff", "f803fc0178fc0161fafafa0003",
		"f803fc0178fc0161f7", "f803fc0178fc0161f700", "f803fc0178fc0161f70001",
		"f803fc0178fc0161f6fc01610000fc0161",
		"f803fc0178fc0161fa00fc0141",
		"f801fa0003", "f803fc0178f800", "f801fc0178ff",
	};
	struct binnode *n;
	uint8_t in[256], *p;
	size_t i, k, v, fails = 0, oks = 0, total = 0;
	struct buf b;
	int rc, len;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = t_unhex(bad[i], in, sizeof(in));
		rc = binnode_decode_node(in, (size_t)len, &n);
		T_OK(rc < 0 && n == NULL, "garbage %s -> %s", bad[i],
		    binnode_strerror(rc));
		binnode_free(n);
	}
	len = t_unhex("f801fc0178", in, sizeof(in));
	T_EQ_INT(binnode_decode_node(in, (size_t)len, &n), 0, "minimal node");
	binnode_free(n);
	T_EQ_INT(binnode_decode_node(in, (size_t)len + 1, &n), BINNODE_ETRAIL,
	    "trailing byte");
	T_EQ_INT(binnode_decode(NULL, 0, &n), BINNODE_ETRUNC, "empty payload");
	in[0] = 0xf0;
	T_EQ_INT(binnode_decode_node(in, 2, &n), BINNODE_EINVAL, "tag 0xf0");

	if (!load_vectors())
		return;
	/* every truncation of every vector is an error */
	for (i = 0; i < nvecs; i++)
		for (k = 0; k < vecs[i].enclen; k++) {
			p = malloc(k ? k : 1);
			memcpy(p, vecs[i].enc, k);
			if (binnode_decode(p, k, &n) >= 0 || n != NULL)
				fails++;
			binnode_free(n);
			free(p);
			total++;
		}
	T_OK(fails == 0, "all %zu truncations refused (%zu not)", total,
	    fails);

	/* every single-byte change: error, or a node that round-trips */
	buf_init(&b, 1 << 22);
	fails = total = 0;
	for (i = 0; i < nvecs; i++)
		for (k = 0; k < vecs[i].enclen && k < 80; k++)
			for (v = 0; v < 256; v++) {
				struct binnode *d2 = NULL;

				p = malloc(vecs[i].enclen);
				memcpy(p, vecs[i].enc, vecs[i].enclen);
				p[k] = (uint8_t)v;
				total++;
				if (binnode_decode(p, vecs[i].enclen, &n) == 0) {
					oks++;
					buf_reset(&b);
					if (binnode_encode(n, &b) != 0 ||
					    binnode_decode(b.data, b.len,
					    &d2) != 0 || !binnode_equal(n, d2))
						fails++;
				}
				binnode_free(n);
				binnode_free(d2);
				free(p);
			}
	T_OK(fails == 0, "%zu mutants (%zu valid) re-encode equal (%zu not)",
	    total, oks, fails);

	/* random bytes, some starting like a node */
	fails = 0;
	for (i = 0; i < 50000; i++) {
		uint8_t r[64];
		size_t rl = prng() % sizeof(r);

		for (k = 0; k < rl; k++)
			r[k] = (uint8_t)(prng() >> 32);
		if (rl > 2 && (i & 1)) {
			r[0] = 0;
			r[1] = 0xf8;
			r[2] = (uint8_t)(r[2] % 6);
		}
		if (binnode_decode(r, rl, &n) == 0) {
			buf_reset(&b);
			if (binnode_encode(n, &b) != 0)
				fails++;
		}
		binnode_free(n);
	}
	T_EQ_INT(fails, 0, "random input never crashes");
	buf_free(&b);
}

/* depth nodes, each the only child of the previous one */
static uint8_t *
nested(size_t depth, size_t *len)
{
	uint8_t *p = malloc(5 * depth + 3);
	size_t i;

	for (i = 0; i + 1 < depth; i++)
		memcpy(p + 5 * i, "\xf8\x02\x39\xf8\x01", 5);
	memcpy(p + 5 * i, "\xf8\x01\x39", 3);
	*len = 5 * i + 3;
	return p;
}

static void
test_limits(void)
{
	struct binnode *n;
	uint8_t *p;
	size_t i, len;
	int rc;

	/* nesting: BINNODE_MAX_DEPTH ok, one more refused */
	p = nested(BINNODE_MAX_DEPTH, &len);
	rc = binnode_decode_node(p, len, &n);
	T_EQ_INT(rc, 0, "depth 64 accepted");
	binnode_free(n);
	free(p);
	p = nested(BINNODE_MAX_DEPTH + 1, &len);
	rc = binnode_decode_node(p, len, &n);
	T_EQ_INT(rc, BINNODE_ELIMIT, "depth 65 refused");
	T_OK(n == NULL, "no node on error");
	free(p);

	/* LIST_16 claiming 65535 children with 3 bytes of data */
	rc = binnode_decode_node((const uint8_t *)"\xf8\x02\x39\xf9\xff\xff"
	    "\xf8\x01\x39", 9, &n);
	T_EQ_INT(rc, BINNODE_ETRUNC, "huge list, little data");
	/* BINARY_32 claiming 4 GiB */
	rc = binnode_decode_node((const uint8_t *)"\xf8\x02\x39\xfe\xff\xff"
	    "\xff\xff\x00", 9, &n);
	T_EQ_INT(rc, BINNODE_ETRUNC, "huge binary, little data");

	/* node-count cap: 300000 children over several lists */
	len = 0;
	p = malloc(8 + 6 * 65535 * 5);
	p[len++] = 0xf8; p[len++] = 0x02; p[len++] = 0x39;
	p[len++] = 0xf8; p[len++] = 5;
	for (i = 0; i < 5; i++) {
		size_t k;

		p[len++] = 0xf8; p[len++] = 0x02; p[len++] = 0x39;
		p[len++] = 0xf9; p[len++] = 0xff; p[len++] = 0xff;
		for (k = 0; k < 65535; k++) {
			p[len++] = 0xf8; p[len++] = 0x01; p[len++] = 0x39;
		}
	}
	rc = binnode_decode_node(p, len, &n);
	T_EQ_INT(rc, BINNODE_ELIMIT, "node count cap");
	free(p);
}

static void
test_print(void)
{
	struct binnode *n = NULL;
	struct buf b;
	const char *s;

	if (!load_vectors())
		return;
	buf_init(&b, 1 << 16);
	binnode_decode(vecs[0].enc, vecs[0].enclen, &n);
	T_EQ_INT(binnode_print(n, &b), 0, "print");
	T_EQ_STR(buf_cstr(&b), "<iq id=\"1234.5678-1\" to=\"@s.whatsapp.net\" "
	    "type=\"get\" xmlns=\"w:p\">\n  <ping/>\n</iq>\n", "print text");
	binnode_free(n);
	n = binnode_new("enc");
	binnode_set_bytes(n, "SECRETSECRET", 12);
	binnode_set_attr(n, "q", "a\"<\x01");
	buf_reset(&b);
	binnode_print(n, &b);
	s = buf_cstr(&b);
	T_OK(strstr(s, "SECRET") == NULL, "bytes not printed");
	T_OK(strstr(s, "12 bytes") != NULL, "byte count printed");
	T_OK(strstr(s, "q=\"a&quot;&lt;\\x01\"") != NULL, "escaped: %s", s);
	buf_free(&b);
	buf_init(&b, 10);
	T_EQ_INT(binnode_print(n, &b), BINNODE_ENOSPC, "print cap");
	buf_free(&b);
	binnode_free(n);
}

/* --- frames --- */

struct frames {
	uint8_t	data[8][64];
	size_t	len[8];
	size_t	n;
	int	fail_at;	/* callback error on this frame index */
};

static int
frames_cb(void *arg, const uint8_t *p, size_t len)
{
	struct frames *f = arg;

	if (f->fail_at >= 0 && (size_t)f->fail_at == f->n)
		return -42;
	if (f->n >= 8 || len > 64)
		return -99;
	memcpy(f->data[f->n], p, len);
	f->len[f->n++] = len;
	return 0;
}

static void
test_frame_writer(void)
{
	struct frame_writer w;
	struct buf b;
	uint8_t want[128], hello[64], fin[96];
	int wl, hl, fl;
	json_object *root, *x;

	buf_init(&b, 1 << 25);
	frame_writer_init(&w, NULL, 0);
	root = json_object_from_file(
	    t_shared("wa/vectors/noise_handshake_vector.json"));
	T_OK(root != NULL, "noise vector loaded");
	if (root != NULL &&
	    json_object_object_get_ex(root, "frame1_ClientHello_protobuf", &x)) {
		hl = t_unhex(json_object_get_string(x), hello, sizeof(hello));
		json_object_object_get_ex(root, "frame1_on_wire", &x);
		wl = t_unhex(json_object_get_string(x), want, sizeof(want));
		T_OK(hl > 0 && frame_write(&w, hello, (size_t)hl, &b) == 0,
		    "write first frame");
		T_EQ_MEM(b.data, b.len, want, wl, "frame1_on_wire");
		json_object_object_get_ex(root, "frame3_ClientFinish_protobuf",
		    &x);
		fl = t_unhex(json_object_get_string(x), fin, sizeof(fin));
		json_object_object_get_ex(root, "frame3_on_wire", &x);
		wl = t_unhex(json_object_get_string(x), want, sizeof(want));
		buf_reset(&b);
		T_OK(fl > 0 && frame_write(&w, fin, (size_t)fl, &b) == 0,
		    "write later frame");
		T_EQ_MEM(b.data, b.len, want, wl, "frame3_on_wire (no intro)");
	}
	json_object_put(root);

	buf_reset(&b);
	T_OK(frame_writer_init(&w, (const uint8_t *)"RI", 2) == 0, "routing");
	frame_write(&w, "x", 1, &b);
	T_EQ_MEM(b.data, b.len, "ED\x00\x01\x00\x00\x02RIWA\x06\x03\x00\x00\x01x",
	    17, "ED routing prefix");
	buf_reset(&b);
	T_EQ_INT(frame_encode(NULL, 1 << 24, &b), FRAME_ETOOBIG,
	    "writer refuses 1<<24");
	T_EQ_INT(b.len, 0, "nothing written");
	buf_free(&b);
	buf_init(&b, 4);
	T_EQ_INT(frame_encode("hello", 5, &b), FRAME_ENOSPC, "cap");
	T_EQ_INT(b.len, 0, "nothing half-written");
	buf_free(&b);
}

static int
frames_feed_split(const uint8_t *stream, size_t len, const size_t *cuts,
    size_t ncuts, struct frames *f, int intro)
{
	struct frame_reader r;
	size_t prev = 0, i;
	int rc = 0;

	memset(f, 0, sizeof(*f));
	f->fail_at = -1;
	frame_reader_init(&r, 0);
	if (intro)
		frame_reader_expect_intro(&r);
	for (i = 0; i <= ncuts && rc == 0; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		rc = frame_reader_feed(&r, stream + prev, end - prev,
		    frames_cb, f);
		prev = end;
	}
	if (rc == 0 && frame_reader_pending(&r) != 0)
		rc = -100;
	frame_reader_free(&r);
	return rc;
}

static int
frames_ok(const struct frames *f)
{
	return f->n == 3 && f->len[0] == 5 && memcmp(f->data[0], "hello", 5) == 0
	    && f->len[1] == 0 && f->len[2] == 3 &&
	    memcmp(f->data[2], "abc", 3) == 0;
}

struct big_seen {
	size_t	n;
	uint8_t	last;
};

static int
big_cb(void *arg, const uint8_t *p, size_t len)
{
	struct big_seen *s = arg;

	if (len != FRAME_MAX_PAYLOAD)
		return -1;
	s->n++;
	s->last = p[len - 1];
	return 0;
}

static void
test_frame_reader(void)
{
	static const uint8_t stream[] = "\x00\x00\x05hello\x00\x00\x00"
	    "\x00\x00\x03" "abc";
	static const uint8_t istream[] = "ED\x00\x01\x00\x00\x02RIWA\x06\x03"
	    "\x00\x00\x05hello\x00\x00\x00\x00\x00\x03" "abc";
	size_t len = sizeof(stream) - 1, ilen = sizeof(istream) - 1;
	size_t cuts[64], i, k, bad = 0, n = 0;
	struct frame_reader r;
	struct frames f;
	int rc;

	T_OK(frames_feed_split(stream, len, NULL, 0, &f, 0) == 0 &&
	    frames_ok(&f), "one chunk, three frames (one empty)");
	for (i = 0; i <= len; i++) {
		cuts[0] = i;
		if (frames_feed_split(stream, len, cuts, 1, &f, 0) != 0 ||
		    !frames_ok(&f))
			bad++;
		n++;
	}
	for (i = 0; i <= len; i++)
		for (k = i; k <= len; k++) {
			cuts[0] = i;
			cuts[1] = k;
			if (frames_feed_split(stream, len, cuts, 2, &f, 0) != 0
			    || !frames_ok(&f))
				bad++;
			n++;
		}
	for (i = 0; i < len; i++)
		cuts[i] = i + 1;
	if (frames_feed_split(stream, len, cuts, len, &f, 0) != 0 ||
	    !frames_ok(&f))
		bad++;
	T_OK(bad == 0, "every split point (%zu splits, %zu bad)", n + 1,
	    bad);

	bad = 0;
	for (i = 0; i <= ilen; i++) {
		cuts[0] = i;
		if (frames_feed_split(istream, ilen, cuts, 1, &f, 1) != 0 ||
		    !frames_ok(&f))
			bad++;
	}
	for (i = 0; i < ilen; i++)
		cuts[i] = i + 1;
	if (frames_feed_split(istream, ilen, cuts, ilen, &f, 1) != 0 ||
	    !frames_ok(&f))
		bad++;
	T_EQ_INT(bad, 0, "server side: ED + WA intro, every split");
	T_EQ_INT(frames_feed_split((const uint8_t *)"WA\x06\x02\x00\x00\x00",
	    7, NULL, 0, &f, 1), FRAME_EINTRO, "wrong dict version refused");

	/* oversize: limit 4 */
	memset(&f, 0, sizeof(f));
	f.fail_at = -1;
	frame_reader_init(&r, 4);
	rc = frame_reader_feed(&r, "\x00\x00\x04" "abcd\x00", 8, frames_cb,
	    &f);
	T_OK(rc == 0 && f.n == 1, "4 bytes at limit 4");
	rc = frame_reader_feed(&r, "\x00\x05" "abcde", 7, frames_cb, &f);
	T_EQ_INT(rc, FRAME_ETOOBIG, "5 bytes over limit 4 (split header)");
	T_EQ_INT(frame_reader_feed(&r, "\x00\x00\x01x", 4, frames_cb, &f),
	    FRAME_ETOOBIG, "error is sticky");
	T_EQ_INT(f.n, 1, "no frame after the error");
	frame_reader_free(&r);

	/* the default limit is the wire limit; buffering grows with data */
	frame_reader_init(&r, 0);
	rc = frame_reader_feed(&r, "\xff\xff\xff" "abc", 6, frames_cb, &f);
	T_OK(rc == 0 && frame_reader_pending(&r) == 3 && r.body.cap < 4096,
	    "max frame announced, only data buffered");
	frame_reader_free(&r);

	/* a full 2^24-1 frame, fed in 1 MiB chunks */
	{
		size_t total = FRAME_HDR_LEN + FRAME_MAX_PAYLOAD, off, chunk;
		uint8_t *big = calloc(1, total);
		struct big_seen seen = { 0, 0 };

		big[0] = big[1] = big[2] = 0xff;
		big[total - 1] = 0x5a;
		frame_reader_init(&r, 0);
		rc = 0;
		for (off = 0; off < total && rc == 0; off += chunk) {
			chunk = total - off < (1u << 20) ? total - off : 1u << 20;
			rc = frame_reader_feed(&r, big + off, chunk, big_cb,
			    &seen);
		}
		T_OK(rc == 0 && seen.n == 1 && seen.last == 0x5a,
		    "largest frame (16 MiB - 1) reassembled");
		frame_reader_free(&r);
		free(big);
	}

	/* callback error stops and sticks */
	memset(&f, 0, sizeof(f));
	f.fail_at = 1;
	frame_reader_init(&r, 0);
	T_EQ_INT(frame_reader_feed(&r, stream, len, frames_cb, &f), -42,
	    "callback error returned");
	T_EQ_INT(f.n, 1, "stopped at the failing frame");
	frame_reader_free(&r);
}

static void
test_jid(void)
{
	static const struct {
		const char	*in;
		const char	*user;
		const char	*server;
		int		 device, agent, integ;
		const char	*out;
	} ok[] = {
		{ "5511987654321@s.whatsapp.net", "5511987654321",
		    "s.whatsapp.net", 0, 0, 0, NULL },
		{ "5511987654321:3@s.whatsapp.net", "5511987654321",
		    "s.whatsapp.net", 3, 0, 0, NULL },
		{ "5511987654321:0@s.whatsapp.net", "5511987654321",
		    "s.whatsapp.net", 0, 0, 0, "5511987654321@s.whatsapp.net" },
		{ "123456789012345:5@lid", "123456789012345", "lid", 5, 0, 0,
		    NULL },
		{ "120363012345678901@g.us", "120363012345678901", "g.us", 0,
		    0, 0, NULL },
		{ "5511987654321-1600000000@g.us", "5511987654321-1600000000",
		    "g.us", 0, 0, 0, NULL },
		{ "status@broadcast", "status", "broadcast", 0, 0, 0, NULL },
		{ "120363000000000000@newsletter", "120363000000000000",
		    "newsletter", 0, 0, 0, NULL },
		{ "s.whatsapp.net", "", "s.whatsapp.net", 0, 0, 0,
		    "@s.whatsapp.net" },
		{ "@g.us", "", "g.us", 0, 0, 0, NULL },
		{ "1234.1:2@s.whatsapp.net", "1234", "s.whatsapp.net", 2, 1, 0,
		    NULL },
		{ "99-123:4@interop", "123", "interop", 4, 0, 99, NULL },
		{ "5:99@hosted", "5", "hosted", 99, 0, 0, NULL },
		{ "a.b@bot", "a.b", "bot", 0, 0, 0, NULL },
		{ "5511987654321@c.us", "5511987654321", "c.us", 0, 0, 0,
		    NULL },
	};
	static const char *bad[] = {
		"", "@", "a@", "a@b@c", "a:@s.whatsapp.net",
		"a:70000@s.whatsapp.net", "a:1x@s.whatsapp.net",
		":1@s.whatsapp.net", "a@S.WHATSAPP.NET", "a b@s.whatsapp.net",
		"a.300@s.whatsapp.net", "a.x@s.whatsapp.net",
		".1@s.whatsapp.net", "a:1:2@s.whatsapp.net",
		"19.9234.0:2@s.whatsapp.net", "1.2.3@s.whatsapp.net",
		"a@averyveryveryveryverylongservername.net",
	};
	char s[JID_STR_MAX], longu[300];
	struct jid j, k;
	size_t i;
	int bad_n = 0;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int rc = jid_parse(&j, ok[i].in);

		T_OK(rc == 0 && strcmp(j.user, ok[i].user) == 0 &&
		    strcmp(j.server, ok[i].server) == 0 &&
		    j.device == ok[i].device && j.agent == ok[i].agent &&
		    j.integrator == ok[i].integ, "parse %s", ok[i].in);
		jid_format(&j, s, sizeof(s));
		T_EQ_STR(s, ok[i].out ? ok[i].out : ok[i].in, "format");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (jid_parse(&j, bad[i]) == 0) {
			printf("# accepted bad JID %s\n", bad[i]);
			bad_n++;
		}
	memset(longu, '1', sizeof(longu));
	memcpy(longu + 200, "@lid", 5);
	if (jid_parse(&j, longu) == 0)
		bad_n++;
	T_EQ_INT(bad_n, 0, "bad JIDs refused");
	T_EQ_INT(jid_parsen(&j, "1@lid\0x", 7), JID_EINVAL, "embedded NUL");
	T_EQ_INT(jid_parsen(&j, "1@lidxx", 5), 0, "length-delimited");
	T_EQ_STR(j.server, "lid", "length-delimited server");

	jid_parse(&j, "123456789012345:5@lid");
	T_OK(jid_is_user(&j) && !jid_is_group(&j), "lid is a user");
	T_EQ_INT(jid_ad_domain(&j), JID_DOMAIN_LID, "lid domain 1");
	jid_signal_name(&j, s, sizeof(s));
	T_EQ_STR(s, "123456789012345_1", "signal name lid");
	jid_parse(&j, "5511:2@s.whatsapp.net");
	jid_signal_name(&j, s, sizeof(s));
	T_EQ_STR(s, "5511", "signal name pn");
	jid_parse(&j, "5:99@hosted.lid");
	jid_signal_name(&j, s, sizeof(s));
	T_EQ_STR(s, "5_129", "signal name hosted lid");
	jid_to_bare(&k, &j);
	jid_format(&k, s, sizeof(s));
	T_EQ_STR(s, "5@hosted.lid", "to_bare");
	T_OK(!jid_equal(&j, &k), "device differs");
	jid_parse(&j, "status@broadcast");
	T_OK(jid_is_status(&j) && jid_is_broadcast(&j), "status");
	jid_parse(&j, "1@newsletter");
	T_OK(jid_is_newsletter(&j), "newsletter");
	T_EQ_INT(jid_format(&j, s, 5), JID_EINVAL, "format: small buffer");
	T_EQ_STR(s, "", "format: small buffer gives \"\"");
	T_EQ_INT(jid_from_ad(&j, 129, 3, "77", 2), 0, "from AD 129");
	jid_format(&j, s, sizeof(s));
	T_EQ_STR(s, "77:3@hosted.lid", "from AD 129 format");
	T_EQ_INT(jid_from_ad(&j, 9, 3, "77", 2), 0, "from AD agent 9");
	jid_format(&j, s, sizeof(s));
	T_EQ_STR(s, "77.9:3@s.whatsapp.net", "legacy agent format");
	T_EQ_INT(jid_set(&j, "", "s.whatsapp.net", 2), JID_EINVAL,
	    "device without user");
	T_EQ_INT(jid_set(&j, "1", "lid", 2), 0, "set");
	T_EQ_INT(jid_set(&j, "1.2", "s.whatsapp.net", 0), JID_EINVAL,
	    "no '.' in a PN user");
	T_EQ_INT(jid_set(&j, "1.2", "lid", 0), 0, "'.' fine elsewhere");
	T_EQ_INT(jid_from_ad(&j, 0, 0, "1.2", 3), JID_EINVAL,
	    "no '.' in a PN user (AD)");
	jid_parse(&j, "abc@interop");
	jid_format(&j, s, sizeof(s));
	T_EQ_STR(s, "0-abc@interop", "interop integrator always written");
	jid_set(&j, "5-abc", "interop", 0);
	jid_format(&j, s, sizeof(s));
	jid_parse(&k, s);
	T_OK(jid_equal(&j, &k), "interop user with '-' round-trips");
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_tokens);
	T_RUN(test_vectors_encode);
	T_RUN(test_vectors_decode);
	T_RUN(test_spec_bytes);
	T_RUN(test_roundtrip);
	T_RUN(test_compressed);
	T_RUN(test_garbage);
	T_RUN(test_limits);
	T_RUN(test_print);
	T_RUN(test_frame_writer);
	T_RUN(test_frame_reader);
	T_RUN(test_jid);
	free_vectors();
	return t_done();
}
