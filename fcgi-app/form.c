/*
 * form.c - query strings, application/x-www-form-urlencoded and
 * multipart/form-data bodies, turned into the JSON object the handlers and
 * devmgr/waproc see.  Form values are text; a few well-known GOWA/gateway
 * fields are coerced (booleans, integers, arrays) so a form post means the
 * same as its JSON twin.  File parts become {"filename","mime",
 * "data_base64"}.  Every loop is bounded by the input and by the part /
 * field caps; nothing here allocates more than a small multiple of the
 * (already capped) body.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "fcgi.h"
#include "xmalloc.h"

static const char *form_bools[] = {
	"view_once", "is_forwarded", "compress", "locked", "announce",
	"pinned", "is_preview", "is_community", "reset", "media_only",
	"is_from_me", "has_media", "autoStart", "force", "ptt", "hd",
	"gif_playback", "archived", "is_starred", "force_reupload", NULL
};
static const char *form_ints[] = {
	"duration", "max_answer", "limit", "offset", "timer_seconds",
	"count", NULL
};
static const char *form_arrays[] = {
	"participants", "options", "mentions", "services", NULL
};

static int
form_in(const char *key, const char **list)
{
	for (; *list; list++)
		if (strcmp(key, *list) == 0)
			return 1;
	return 0;
}

static int
form_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int
form_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str, *e = s + len;
	unsigned int c, n, i, min;

	while (s < e) {
		c = *s++;
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			min = 0x80;
			c &= 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			min = 0x800;
			c &= 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			min = 0x10000;
			c &= 0x07;
		} else
			return 0;
		if ((size_t)(e - s) < n)
			return 0;
		for (i = 0; i < n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			c = c << 6 | (s[i] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return 0;
		s += n;
	}
	return 1;
}

/*
 * Percent-decode s[0..len) in place (plus: '+' means space) and NUL
 * terminate.  Returns the new length, or (size_t)-1 on a bad escape or an
 * encoded NUL.
 */
size_t
form_pct_decode(char *s, size_t len, int plus)
{
	size_t i, o = 0;
	int h, l;

	for (i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (i + 2 >= len)
				return (size_t)-1;
			h = form_hexval((unsigned char)s[i + 1]);
			l = form_hexval((unsigned char)s[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				return (size_t)-1;
			s[o++] = (char)(h << 4 | l);
			i += 2;
		} else if (plus && s[i] == '+')
			s[o++] = ' ';
		else if (s[i] == '\0')
			return (size_t)-1;
		else
			s[o++] = s[i];
	}
	s[o] = '\0';
	return o;
}

/*
 * Split "a=1&b=2" in place into kv[] (decoded).  Returns the number of
 * pairs, or -1 when malformed or more than max.
 */
int
form_parse_query(char *s, struct kv *kv, int max)
{
	char *p, *amp, *eq;
	int n = 0;
	size_t kl, vl;

	for (p = s; p != NULL && *p; p = amp) {
		if ((amp = strchr(p, '&')) != NULL)
			*amp++ = '\0';
		if (*p == '\0')
			continue;
		if (n >= max)
			return -1;
		if ((eq = strchr(p, '=')) != NULL)
			*eq++ = '\0';
		else
			eq = p + strlen(p);	/* empty value */
		kl = form_pct_decode(p, strlen(p), 1);
		vl = form_pct_decode(eq, strlen(eq), 1);
		if (kl == (size_t)-1 || vl == (size_t)-1 || kl == 0)
			return -1;
		kv[n].key = p;
		kv[n].val = eq;
		kv[n].vallen = vl;
		n++;
	}
	return n;
}

static json_object *
form_scalar(const char *key, const char *val, size_t len)
{
	char *end;
	long long v;

	if (form_in(key, form_bools)) {
		if (strcasecmp(val, "true") == 0 || strcmp(val, "1") == 0 ||
		    strcasecmp(val, "on") == 0 || strcasecmp(val, "yes") == 0)
			return json_object_new_boolean(1);
		if (strcasecmp(val, "false") == 0 || strcmp(val, "0") == 0 ||
		    strcasecmp(val, "off") == 0 || strcasecmp(val, "no") == 0 ||
		    len == 0)
			return json_object_new_boolean(0);
	}
	if (form_in(key, form_ints) && len > 0 && len < 20 &&
	    (isdigit((unsigned char)val[0]) || val[0] == '-')) {
		v = strtoll(val, &end, 10);
		if (*end == '\0')
			return json_object_new_int64(v);
	}
	return json_object_new_string_len(val, (int)len);
}

void
form_add_field(json_object *obj, const char *key, const char *val,
    size_t vallen)
{
	char name[256];
	size_t kl = strlen(key);
	json_object *old, *arr, *v;
	int as_array = 0;

	if (kl >= 2 && strcmp(key + kl - 2, "[]") == 0) {
		kl -= 2;
		as_array = 1;
	}
	if (kl == 0 || kl >= sizeof(name))
		return;
	memcpy(name, key, kl);
	name[kl] = '\0';
	if (form_in(name, form_arrays))
		as_array = 1;
	v = form_scalar(name, val, vallen);
	if (json_object_object_get_ex(obj, name, &old)) {
		if (json_object_is_type(old, json_type_array)) {
			json_object_array_add(old, v);
			return;
		}
		/* repeated key: make it an array of both */
		arr = json_object_new_array();
		json_object_array_add(arr, json_object_get(old));
		json_object_array_add(arr, v);
		json_object_object_add(obj, name, arr);
		return;
	}
	if (as_array) {
		arr = json_object_new_array();
		json_object_array_add(arr, v);
		json_object_object_add(obj, name, arr);
	} else
		json_object_object_add(obj, name, v);
}

int
form_urlencoded_json(const char *s, size_t len, json_object **out)
{
	struct kv kv[REQ_KV_MAX];
	char *copy;
	int n, i, rc = -1;

	*out = NULL;
	copy = xstrndup(s, len);
	if (strlen(copy) != len)	/* raw NUL in the body */
		goto out;
	if ((n = form_parse_query(copy, kv, REQ_KV_MAX)) == -1)
		goto out;
	for (i = 0; i < n; i++)
		if (!form_utf8_valid(kv[i].key, strlen(kv[i].key)) ||
		    !form_utf8_valid(kv[i].val, kv[i].vallen))
			goto out;
	*out = json_object_new_object();
	for (i = 0; i < n; i++)
		form_add_field(*out, kv[i].key, kv[i].val, kv[i].vallen);
	rc = 0;
out:
	free(copy);
	return rc;
}

/* Value of parameter `name` in a header value like `a; name="x"; b=y`. */
static int
form_hparam(const char *h, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name), o = 0;
	const char *p = h;

	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, name, nl) != 0 || p[nl] != '=')
			continue;
		p += nl + 1;
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				if (o + 1 >= outlen)
					return -1;
				out[o++] = *p;
			}
			if (*p != '"')
				return -1;
		} else {
			for (; *p && *p != ';' && *p != ' ' && *p != '\t';
			    p++) {
				if (o + 1 >= outlen)
					return -1;
				out[o++] = *p;
			}
		}
		out[o] = '\0';
		return 0;
	}
	return -1;
}

int
form_boundary(const char *ct, char *out, size_t outlen)
{
	if (ct == NULL || strncasecmp(ct, "multipart/form-data", 19) != 0)
		return -1;
	if (form_hparam(ct, "boundary", out, outlen) == -1 || *out == '\0' ||
	    strlen(out) > 70)
		return -1;
	return 0;
}

static void
form_file(json_object *obj, const char *name, const char *filename,
    const char *mime, const uint8_t *data, size_t len)
{
	json_object *f = json_object_new_object(), *old, *arr;
	size_t b64len = sodium_base64_ENCODED_LEN(len,
	    sodium_base64_VARIANT_ORIGINAL);
	char *b64 = xmalloc(b64len);

	sodium_bin2base64(b64, b64len, data, len,
	    sodium_base64_VARIANT_ORIGINAL);
	json_object_object_add(f, "filename", json_object_new_string(filename));
	json_object_object_add(f, "mime", json_object_new_string(
	    *mime ? mime : "application/octet-stream"));
	json_object_object_add(f, "size", json_object_new_int64((int64_t)len));
	json_object_object_add(f, "data_base64",
	    json_object_new_string_len(b64, (int)(b64len - 1)));
	free(b64);
	if (json_object_object_get_ex(obj, name, &old)) {
		if (!json_object_is_type(old, json_type_array)) {
			arr = json_object_new_array();
			json_object_array_add(arr, json_object_get(old));
			json_object_object_add(obj, name, arr);
			old = arr;
		}
		json_object_array_add(old, f);
	} else
		json_object_object_add(obj, name, f);
}

/*
 * Parse one part's header block [h, h+hl): Content-Disposition name and
 * filename, Content-Type.  Returns 0 or -1.
 */
static int
form_part_headers(const char *h, size_t hl, char *name, size_t nlen,
    char *filename, size_t flen, int *isfile, char *mime, size_t mlen)
{
	char line[MP_HDR_MAX];
	const char *p = h, *e = h + hl, *nl;
	size_t l;
	int have_disp = 0;

	*isfile = 0;
	*name = *filename = *mime = '\0';
	while (p < e) {
		nl = memmem(p, (size_t)(e - p), "\r\n", 2);
		l = nl ? (size_t)(nl - p) : (size_t)(e - p);
		if (l >= sizeof(line))
			return -1;
		memcpy(line, p, l);
		line[l] = '\0';
		if (memchr(line, '\0', l) != NULL)
			return -1;
		if (strncasecmp(line, "Content-Disposition:", 20) == 0) {
			if (strstr(line, "form-data") == NULL)
				return -1;
			if (form_hparam(line, "name", name, nlen) == -1)
				return -1;
			if (form_hparam(line, "filename", filename, flen) == 0)
				*isfile = 1;
			have_disp = 1;
		} else if (strncasecmp(line, "Content-Type:", 13) == 0) {
			const char *v = line + 13;

			while (*v == ' ' || *v == '\t')
				v++;
			if (strlen(v) >= mlen)
				return -1;
			memcpy(mime, v, strlen(v) + 1);
		}
		p = nl ? nl + 2 : e;
	}
	return have_disp && *name ? 0 : -1;
}

int
form_multipart_json(const uint8_t *body, size_t len, const char *ct,
    json_object **out, const char **why)
{
	char bnd[80], delim[90], name[256], filename[256], mime[128];
	const uint8_t *p, *e = body + len, *hend, *next;
	size_t dl;
	int nparts = 0, isfile;
	json_object *obj = NULL;
	char *val;

	*out = NULL;
	*why = "malformed multipart body";
	if (form_boundary(ct, bnd, sizeof(bnd)) == -1) {
		*why = "missing or bad multipart boundary";
		return -1;
	}
	dl = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", bnd);
	/* The first delimiter may open the body without the CRLF. */
	if (len >= dl - 2 && memcmp(body, delim + 2, dl - 2) == 0)
		p = body + dl - 2;
	else {
		if ((p = memmem(body, len, delim, dl)) == NULL)
			return -1;
		p += dl;
	}
	obj = json_object_new_object();
	for (;;) {
		/* p is just past a delimiter. */
		if (e - p >= 2 && p[0] == '-' && p[1] == '-')
			break;			/* close delimiter */
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if (e - p < 2 || p[0] != '\r' || p[1] != '\n')
			goto bad;
		p += 2;
		if (++nparts > MP_PARTS_MAX) {
			*why = "too many multipart parts";
			goto bad;
		}
		hend = memmem(p, (size_t)(e - p), "\r\n\r\n", 4);
		if (hend == NULL && e - p >= 2 && p[0] == '\r' && p[1] == '\n')
			hend = p - 2;		/* no headers at all */
		if (hend == NULL || hend - p > MP_HDR_MAX)
			goto bad;
		if (form_part_headers((const char *)p, hend > p ?
		    (size_t)(hend - p) : 0, name, sizeof(name), filename,
		    sizeof(filename), &isfile, mime, sizeof(mime)) == -1) {
			*why = "bad multipart part headers";
			goto bad;
		}
		p = hend + 4;
		if (p > e)
			goto bad;
		if ((next = memmem(p, (size_t)(e - p), delim, dl)) == NULL) {
			*why = "unterminated multipart body";
			goto bad;
		}
		if (isfile && (!form_utf8_valid(filename, strlen(filename)) ||
		    !form_utf8_valid(mime, strlen(mime)) ||
		    !form_utf8_valid(name, strlen(name)))) {
			*why = "multipart names must be UTF-8";
			goto bad;
		}
		if (isfile)
			form_file(obj, name, filename, mime, p,
			    (size_t)(next - p));
		else {
			if (memchr(p, '\0', (size_t)(next - p)) != NULL ||
			    !form_utf8_valid((const char *)p,
			    (size_t)(next - p)) || !form_utf8_valid(name,
			    strlen(name))) {
				*why = "multipart field is not UTF-8 text";
				goto bad;
			}
			val = xstrndup((const char *)p, (size_t)(next - p));
			form_add_field(obj, name, val, (size_t)(next - p));
			free(val);
		}
		p = next + dl;
	}
	*out = obj;
	*why = NULL;
	return 0;
bad:
	json_object_put(obj);
	return -1;
}
