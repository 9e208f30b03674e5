/*
 * msg-send.c - GOWA send requests -> validated wamsg.Message bytes
 * (SEED_API.md §3.1, §3.3, §3.7; PROTOCOL.md §7.1, §7.4).
 *
 * One table row per kind: its route, its status text and its builder.
 * Validation reproduces GOWA v7.8.0 (ozzo-validation texts, the same order
 * of checks); the Message shapes are those GOWA builds through whatsmeow
 * (BuildPollCreation, BuildRevoke, BuildEdit).  Pure: no I/O, no logging,
 * never prints message content.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "wamsg.pb-c.h"

#include "msg-send.h"
#include "msgid.h"
#include "xmalloc.h"

#define PROTO_REVOKE		0
#define PROTO_MESSAGE_EDIT	14

struct kind_info {
	const char	*route;		/* last path component */
	const char	*status_fmt;	/* %s jid, %s timestamp */
	int		 media;		/* needs ctx->media */
};

static const struct kind_info kinds[MSG_SEND_NKINDS] = {
	[MSG_SEND_TEXT]     = { "message",
	    "Message sent to %s (server timestamp: %s)", 0 },
	[MSG_SEND_IMAGE]    = { "image",
	    "Message sent to %s (server timestamp: %s)", 1 },
	[MSG_SEND_FILE]     = { "file",
	    "Document sent to %s (server timestamp: %s)", 1 },
	[MSG_SEND_VIDEO]    = { "video",
	    "Video sent to %s (server timestamp: %s)", 1 },
	[MSG_SEND_AUDIO]    = { "audio",
	    "Send audio success %s (server timestamp: %s)", 1 },
	[MSG_SEND_STICKER]  = { "sticker",
	    "Sticker sent to %s (server timestamp: %s)", 1 },
	[MSG_SEND_CONTACT]  = { "contact",
	    "Contact sent to %s (server timestamp: %s)", 0 },
	[MSG_SEND_LINK]     = { "link",
	    "Link sent to %s (server timestamp: %s)", 0 },
	[MSG_SEND_LOCATION] = { "location",
	    "Send location success %s (server timestamp: %s)", 0 },
	[MSG_SEND_POLL]     = { "poll",
	    "Send poll success %s (server timestamp: %s)", 0 },
	[MSG_SEND_REACTION] = { "reaction",
	    "Reaction sent to %s (server timestamp: %s)", 0 },
	[MSG_SEND_REVOKE]   = { "revoke",
	    "Revoke success %s (server timestamp: %s)", 0 },
	[MSG_SEND_EDIT]     = { "update",
	    "Update message success %s (server timestamp: %s)", 0 },
};

/* ------------------------------------------------------------ errors */

static int
seterr(struct msg_send_error *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
seterr(struct msg_send_error *err, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return MSG_SEND_EINVAL;
	snprintf(err->code, sizeof(err->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	err->http_status = 400;
	return MSG_SEND_EINVAL;
}

/*
 * ozzo-validation's aggregate: one error per field (a later rule on the
 * same field replaces an earlier one), printed sorted by field name as
 * "a: msg; b: msg."
 */
#define OZZO_MAX	8
struct ozzo {
	struct {
		const char	*field;
		char		 msg[96];
	} e[OZZO_MAX];
	size_t n;
};

static void
ozzo_set(struct ozzo *o, const char *field, const char *msg)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		if (strcmp(o->e[i].field, field) == 0)
			break;
	if (i == o->n) {
		if (o->n == OZZO_MAX)
			return;
		o->n++;
	}
	o->e[i].field = field;
	snprintf(o->e[i].msg, sizeof(o->e[i].msg), "%s", msg);
}

static void
ozzo_required(struct ozzo *o, const char *field, const char *v)
{
	if (v == NULL || v[0] == '\0')
		ozzo_set(o, field, "cannot be blank");
}

static int
ozzo_fail(struct ozzo *o, struct msg_send_error *err)
{
	char buf[512];
	size_t i, j, len = 0;
	int used[OZZO_MAX] = { 0 }, best;

	if (o->n == 0)
		return 0;
	buf[0] = '\0';
	for (i = 0; i < o->n; i++) {
		best = -1;
		for (j = 0; j < o->n; j++)
			if (!used[j] && (best < 0 ||
			    strcmp(o->e[j].field, o->e[best].field) < 0))
				best = (int)j;
		used[best] = 1;
		len += (size_t)snprintf(buf + len, len < sizeof(buf) ?
		    sizeof(buf) - len : 0, "%s%s: %s", i ? "; " : "",
		    o->e[best].field, o->e[best].msg);
		if (len >= sizeof(buf))
			break;
	}
	return seterr(err, MSG_SEND_ERR_VALIDATION, "%s.", buf);
}

/* ------------------------------------------------------------ JSON */

static struct json_object *
jget(struct json_object *body, const char *key)
{
	struct json_object *v = NULL;

	if (body == NULL || !json_object_is_type(body, json_type_object) ||
	    !json_object_object_get_ex(body, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

/* String field: strings as they are, numbers as their decimal text
 * (phone numbers sent as JSON numbers).  *bad = 1 for other types. */
static char *
jstr(struct json_object *body, const char *key, int *bad)
{
	struct json_object *v = jget(body, key);
	const char *s;

	if (v == NULL)
		return NULL;
	if (json_object_is_type(v, json_type_int)) {
		char *r;

		xasprintf(&r, "%" PRId64, json_object_get_int64(v));
		return r;
	}
	if (!json_object_is_type(v, json_type_string)) {
		*bad = 1;
		return NULL;
	}
	s = json_object_get_string(v);
	if (strlen(s) > MSG_SEND_TEXT_MAX) {
		*bad = 1;
		return NULL;
	}
	return xstrdup(s);
}

/* Integer field (JSON number or decimal string, multipart style).
 * 0 absent, 1 present, -1 wrong type. */
static int
jint(struct json_object *body, const char *key, int64_t *out)
{
	struct json_object *v = jget(body, key);
	const char *s;
	char *end;
	long long n;

	*out = 0;
	if (v == NULL)
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		errno = 0;
		*out = json_object_get_int64(v);
		return errno == 0 ? 1 : -1;
	}
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);

		if (d != floor(d) || d < -9.2e18 || d > 9.2e18)
			return -1;
		*out = (int64_t)d;
		return 1;
	}
	if (!json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	if (*s == '\0')
		return 0;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s)
		return -1;
	*out = n;
	return 1;
}

/* Boolean field: true/false, or "true"/"false"/"1"/"0"/"" (forms). */
static int
jbool(struct json_object *body, const char *key, int *out)
{
	struct json_object *v = jget(body, key);
	const char *s;

	*out = 0;
	if (v == NULL)
		return 0;
	if (json_object_is_type(v, json_type_boolean)) {
		*out = json_object_get_boolean(v);
		return 1;
	}
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v) != 0;
		return 1;
	}
	if (!json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0 ||
	    strcmp(s, "on") == 0)
		*out = 1;
	else if (strcmp(s, "false") != 0 && strcmp(s, "0") != 0 &&
	    strcmp(s, "off") != 0 && s[0] != '\0')
		return -1;
	return 1;
}

const char *
msg_send_reply_id(struct json_object *body)
{
	struct json_object *v = jget(body, "reply_message_id");

	if (v == NULL || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* ------------------------------------------------------------ kinds */

int
msg_send_kind_from_route(const char *route)
{
	const char *last;
	size_t n;
	int i;

	if (route == NULL)
		return -1;
	n = strlen(route);
	while (n > 0 && route[n - 1] == '/')
		n--;
	last = route + n;
	while (last > route && last[-1] != '/')
		last--;
	n = (size_t)(route + n - last);
	for (i = 0; i < MSG_SEND_NKINDS; i++)
		if (strlen(kinds[i].route) == n &&
		    strncmp(kinds[i].route, last, n) == 0)
			return i;
	return -1;
}

int
msg_send_kind_is_media(enum msg_send_kind k)
{
	return (int)k >= 0 && k < MSG_SEND_NKINDS && kinds[k].media;
}

const char *
msg_send_kind_name(enum msg_send_kind k)
{
	if ((int)k < 0 || k >= MSG_SEND_NKINDS)
		return "?";
	return kinds[k].route;
}

/* ------------------------------------------------------------ phone */

static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

int
msg_send_normalize_phone(const char *in, struct jid *out, char *str,
    size_t strsz, struct msg_send_error *err)
{
	char buf[JID_STR_MAX + 32];
	const char *s, *dash;
	struct jid j;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (str != NULL && strsz > 0)
		str[0] = '\0';
	if (in == NULL || in[0] == '\0')
		return seterr(err, MSG_SEND_ERR_VALIDATION,
		    "phone: cannot be blank.");
	n = strlen(in);
	if (n >= JID_STR_MAX)
		return seterr(err, MSG_SEND_ERR_JID, "your JID is invalid");
	/* SanitizePhone: the length test counts a leading '+'. */
	if (strchr(in, '@') == NULL)
		snprintf(buf, sizeof(buf), "%s@%s", in,
		    n <= MSG_SEND_PHONE_MAX ? JID_SERVER_PN : JID_SERVER_GROUP);
	else
		snprintf(buf, sizeof(buf), "%s", in);
	s = buf[0] == '+' ? buf + 1 : buf;
	if (jid_parse(&j, s) != 0 || j.user[0] == '\0')
		return seterr(err, MSG_SEND_ERR_JID, "your JID is invalid");
	if (jid_server_is(&j, JID_SERVER_PN) ||
	    jid_server_is(&j, JID_SERVER_LID) ||
	    jid_server_is(&j, JID_SERVER_NEWSLETTER)) {
		if (!all_digits(j.user))
			return seterr(err, MSG_SEND_ERR_JID,
			    "your JID is invalid");
	} else if (jid_server_is(&j, JID_SERVER_GROUP)) {
		/* new groups: digits; old ones: <creator>-<unix time> */
		char u[JID_USER_MAX];

		snprintf(u, sizeof(u), "%s", j.user);
		if ((dash = strchr(u, '-')) != NULL) {
			u[dash - u] = '\0';
			if (!all_digits(u) || !all_digits(dash + 1))
				return seterr(err, MSG_SEND_ERR_JID,
				    "your JID is invalid");
		} else if (!all_digits(u))
			return seterr(err, MSG_SEND_ERR_JID,
			    "your JID is invalid");
	} else
		return seterr(err, MSG_SEND_ERR_JID, "your JID is invalid");
	jid_to_bare(out, &j);
	if (str != NULL && jid_format(out, str, strsz) < 0)
		return seterr(err, MSG_SEND_ERR_JID, "your JID is invalid");
	return 0;
}

/* GOWA validatePhoneNumber: on the sanitized value, after a '+'. */
static int
phone_format(const char *phone, struct msg_send_error *err, const char *pfx)
{
	const char *p = phone;

	if (p[0] == '+')
		p++;
	if (p[0] == '0')
		return seterr(err, MSG_SEND_ERR_VALIDATION, "%sphone number "
		    "must be in international format (should not start with "
		    "0). For Indonesian numbers, use 62xxx format instead of "
		    "08xxx", pfx);
	return 0;
}

/* ------------------------------------------------------------ checks */

/* govalidator-like URL test: optional http/https/ftp scheme, a host with
 * a dot (or localhost / an IPv6 literal), optional port and path. */
static int
is_url(const char *s)
{
	const char *h, *p;
	size_t n = strlen(s), hl;
	int dot = 0;

	if (n == 0 || n > 2083)
		return 0;
	for (p = s; *p; p++)
		if (isspace((unsigned char)*p) || (unsigned char)*p < 0x20)
			return 0;
	h = s;
	if ((p = strstr(s, "://")) != NULL) {
		if (!((p - s == 4 && strncasecmp(s, "http", 4) == 0) ||
		    (p - s == 5 && strncasecmp(s, "https", 5) == 0) ||
		    (p - s == 3 && strncasecmp(s, "ftp", 3) == 0)))
			return 0;
		h = p + 3;
	}
	if ((p = strchr(h, '@')) != NULL && p < h + strcspn(h, "/?#"))
		h = p + 1;		/* user:pass@ */
	if (*h == '[')
		return strchr(h, ']') != NULL;
	hl = strcspn(h, ":/?#");
	if (hl == 0 || h[0] == '.' || h[0] == '-' || h[hl - 1] == '.')
		return 0;
	if (hl == 9 && strncasecmp(h, "localhost", 9) == 0)
		return 1;
	for (p = h; p < h + hl; p++) {
		if (*p == '.') {
			if (p[1] == '.')
				return 0;
			dot = 1;
		} else if (!isalnum((unsigned char)*p) && *p != '-' &&
		    *p != '_' && (unsigned char)*p < 0x80)
			return 0;
	}
	if (!dot)
		return 0;
	if (h[hl] == ':') {
		p = h + hl + 1;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
		if (*p != '\0' && *p != '/' && *p != '?' && *p != '#')
			return 0;
	}
	return 1;
}

/* govalidator latitude / longitude (decimal degrees, optional sign). */
static int
is_degrees(const char *s, int max)
{
	const char *p = s, *int_start;
	long v;
	char *end;

	if (*p == '+' || *p == '-')
		p++;
	int_start = p;
	while (isdigit((unsigned char)*p))
		p++;
	if (p == int_start || p - int_start > 3)
		return 0;
	if (p - int_start > 1 && *int_start == '0')
		return 0;
	v = strtol(int_start, &end, 10);
	if (*p == '.') {
		const char *f = ++p;

		while (isdigit((unsigned char)*p))
			p++;
		if (p == f)
			return 0;
		if (v == max)
			for (; f < p; f++)
				if (*f != '0')
					return 0;
	}
	return *p == '\0' && v <= max;
}

static const char *const image_mimes[] = { "image/jpeg", "image/jpg",
    "image/png", NULL };
static const char *const sticker_mimes[] = { "image/jpeg", "image/jpg",
    "image/png", "image/webp", "image/gif", NULL };
static const char *const video_mimes[] = { "video/mp4", "video/x-matroska",
    "video/avi", "video/x-msvideo", NULL };
/* sorted, as GOWA prints them */
static const char *const audio_mimes[] = { "audio/aac", "audio/amr",
    "audio/flac", "audio/m4a", "audio/m4r", "audio/mp3", "audio/mpeg",
    "audio/ogg", "audio/vnd.wav", "audio/vnd.wave", "audio/wav",
    "audio/wave", "audio/wma", "audio/x-ms-wma", "audio/x-pn-wav",
    "audio/x-wav", NULL };

static int
in_list(const char *s, const char *const *list)
{
	for (; s != NULL && *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

/* GOWA's "either X or XURL" family of checks for media kinds. */
static int
check_media(const struct msg_send_req *r, const struct msg_send_file *f,
    struct msg_send_error *err)
{
	int has_file = f != NULL && f->present;
	const char *url = r->media_url;
	char list[512];
	size_t len = 0;
	const char *const *m;

	switch (r->kind) {
	case MSG_SEND_IMAGE:
		if (!has_file && (url == NULL || *url == '\0'))
			return seterr(err, MSG_SEND_ERR_VALIDATION,
			    "either Image or ImageURL must be provided");
		if (has_file && !in_list(f->content_type, image_mimes))
			return seterr(err, MSG_SEND_ERR_VALIDATION, "your image "
			    "is not allowed. please use jpg/jpeg/png");
		if (url != NULL && *url == '\0')
			return seterr(err, MSG_SEND_ERR_VALIDATION,
			    "ImageURL cannot be empty");
		if (url != NULL && !is_url(url))
			return seterr(err, MSG_SEND_ERR_VALIDATION,
			    "ImageURL must be a valid URL");
		break;
	case MSG_SEND_VIDEO:
		if (!has_file && (url == NULL || *url == '\0'))
			return seterr(err, MSG_SEND_ERR_VALIDATION,
			    "either Video or VideoURL must be provided");
		if (has_file && !in_list(f->content_type, video_mimes))
			return seterr(err, MSG_SEND_ERR_VALIDATION, "your video "
			    "type is not allowed. please use "
			    "mp4/mkv/avi/x-msvideo");
		if (has_file && f->size > 100ULL * 1000 * 1000)
			return seterr(err, MSG_SEND_ERR_VALIDATION, "max video "
			    "upload is 100 MB, please upload in cloud and send "
			    "via text if your file is higher than 100 MB");
		if (url != NULL && *url == '\0')
			return seterr(err, MSG_SEND_ERR_VALIDATION,
			    "VideoURL cannot be empty");
		if (url != NULL && !is_url(url))
			return seterr(err, MSG_SEND_ERR_VALIDATION,
			    "VideoURL must be a valid URL");
		break;
	case MSG_SEND_AUDIO:
		if (!has_file && (url == NULL || *url == '\0'))
			return seterr(err, MSG_SEND_ERR_VALIDATION,
			    "either Audio or AudioURL must be provided");
		if (has_file && !in_list(f->content_type, audio_mimes)) {
			list[0] = '\0';
			for (m = audio_mimes; *m != NULL; m++)
				len += (size_t)snprintf(list + len,
				    sizeof(list) - len, "%s,", *m);
			return seterr(err, MSG_SEND_ERR_VALIDATION, "your audio "
			    "type is not allowed. please use (%s)", list);
		}
		if (url != NULL && *url == '\0')
			return seterr(err, MSG_SEND_ERR_VALIDATION,
			    "AudioURL cannot be empty");
		if (url != NULL && !is_url(url))
			return seterr(err, MSG_SEND_ERR_VALIDATION,
			    "AudioURL must be a valid URL");
		break;
	case MSG_SEND_STICKER:
		if (!has_file && (url == NULL || *url == '\0'))
			return seterr(err, MSG_SEND_ERR_VALIDATION,
			    "either Sticker or StickerURL must be provided");
		if (has_file && url != NULL && *url != '\0')
			return seterr(err, MSG_SEND_ERR_VALIDATION,
			    "cannot provide both Sticker file and StickerURL");
		if (has_file && !in_list(f->content_type, sticker_mimes))
			return seterr(err, MSG_SEND_ERR_VALIDATION, "your "
			    "sticker is not allowed. please use "
			    "jpg/jpeg/png/webp/gif");
		if (url != NULL && *url != '\0' && !is_url(url))
			return seterr(err, MSG_SEND_ERR_VALIDATION,
			    "StickerURL must be a valid URL");
		break;
	case MSG_SEND_FILE:
		/* file: required part; a URL (GOWA v8 file_url) also does */
		if (!has_file && (url == NULL || *url == '\0'))
			return seterr(err, MSG_SEND_ERR_VALIDATION,
			    "file: cannot be blank.");
		if (has_file && f->size > 50ULL * 1000 * 1000)
			return seterr(err, MSG_SEND_ERR_VALIDATION, "max file "
			    "upload is 50 MB, please upload in cloud and send "
			    "via text if your file is higher than 50 MB");
		if (url != NULL && *url != '\0' && !is_url(url))
			return seterr(err, MSG_SEND_ERR_VALIDATION,
			    "FileURL must be a valid URL");
		break;
	default:
		break;
	}
	return 0;
}

/* ------------------------------------------------------------ parse */

void
msg_send_req_free(struct msg_send_req *r)
{
	size_t i;

	if (r == NULL)
		return;
	free(r->client_id);
	free(r->message);
	free(r->reply_message_id);
	free(r->caption);
	free(r->media_url);
	free(r->contact_name);
	free(r->contact_phone);
	free(r->link);
	free(r->location_name);
	free(r->location_address);
	free(r->question);
	for (i = 0; i < r->noptions; i++)
		free(r->options[i]);
	free(r->options);
	free(r->message_id);
	free(r->emoji);
	memset(r, 0, sizeof(*r));
}

static const char *
media_url_key(enum msg_send_kind k)
{
	switch (k) {
	case MSG_SEND_IMAGE:	return "image_url";
	case MSG_SEND_VIDEO:	return "video_url";
	case MSG_SEND_AUDIO:	return "audio_url";
	case MSG_SEND_STICKER:	return "sticker_url";
	case MSG_SEND_FILE:	return "file_url";
	default:		return NULL;
	}
}

int
msg_send_parse(enum msg_send_kind kind, struct json_object *body,
    const char *path_message_id, const struct msg_send_file *file,
    struct msg_send_req *r, struct msg_send_error *err)
{
	struct ozzo oz;
	struct json_object *opts;
	char *phone = NULL, *lat = NULL, *lon = NULL;
	int bad = 0, rc = MSG_SEND_EINVAL, b;
	int64_t n;
	size_t i, j;

	memset(r, 0, sizeof(*r));
	memset(&oz, 0, sizeof(oz));
	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if ((int)kind < 0 || kind >= MSG_SEND_NKINDS)
		return seterr(err, MSG_SEND_ERR_VALIDATION, "unknown route");
	if (body != NULL && !json_object_is_type(body, json_type_object))
		return seterr(err, MSG_SEND_ERR_VALIDATION,
		    "request body must be a JSON object");
	r->kind = kind;

	/* Typed fields; a wrong JSON type is reported like a bad value. */
	phone = jstr(body, "phone", &bad);
	if (bad) {
		rc = seterr(err, MSG_SEND_ERR_VALIDATION,
		    "phone: must be a string.");
		goto out;
	}
#define STR(field, key) do {						\
	r->field = jstr(body, key, &bad);				\
	if (bad) {							\
		rc = seterr(err, MSG_SEND_ERR_VALIDATION,		\
		    "%s: must be a string.", key);			\
		goto out;						\
	}								\
} while (0)
#define BOOL(field, key) do {						\
	if (jbool(body, key, &b) < 0) {					\
		rc = seterr(err, MSG_SEND_ERR_VALIDATION,		\
		    "%s: must be a boolean.", key);			\
		goto out;						\
	}								\
	r->field = b;							\
} while (0)
	STR(client_id, "id");
	BOOL(is_forwarded, "is_forwarded");
	switch (jint(body, "duration", &n)) {
	case -1:
		rc = seterr(err, MSG_SEND_ERR_VALIDATION,
		    "duration: must be an integer.");
		goto out;
	case 1:
		if (n < 0 || (uint64_t)n > MSG_SEND_DURATION_MAX) {
			rc = seterr(err, MSG_SEND_ERR_VALIDATION, "duration must "
			    "be between 0 and %llu seconds (0 means no expiry)",
			    MSG_SEND_DURATION_MAX);
			goto out;
		}
		r->has_duration = 1;
		r->duration = (uint32_t)n;
		break;
	}

	switch (kind) {
	case MSG_SEND_TEXT:
		STR(message, "message");
		STR(reply_message_id, "reply_message_id");
		ozzo_required(&oz, "message", r->message);
		break;
	case MSG_SEND_IMAGE:
	case MSG_SEND_VIDEO:
	case MSG_SEND_AUDIO:
	case MSG_SEND_STICKER:
	case MSG_SEND_FILE:
		STR(caption, "caption");
		STR(media_url, media_url_key(kind));
		STR(reply_message_id, "reply_message_id");
		BOOL(view_once, "view_once");
		BOOL(ptt, "ptt");
		BOOL(gif_playback, "gif_playback");
		r->compress = 1;
		if (jget(body, "compress") != NULL)
			BOOL(compress, "compress");
		break;
	case MSG_SEND_CONTACT:
		STR(contact_name, "contact_name");
		STR(contact_phone, "contact_phone");
		ozzo_required(&oz, "contact_name", r->contact_name);
		ozzo_required(&oz, "contact_phone", r->contact_phone);
		break;
	case MSG_SEND_LINK:
		STR(link, "link");
		STR(caption, "caption");
		ozzo_required(&oz, "link", r->link);
		if (r->link != NULL && *r->link != '\0' && !is_url(r->link))
			ozzo_set(&oz, "link", "must be a valid URL");
		ozzo_required(&oz, "caption", r->caption);
		break;
	case MSG_SEND_LOCATION:
		if (jget(body, "latitude") != NULL &&
		    json_object_is_type(jget(body, "latitude"),
		    json_type_double))
			xasprintf(&lat, "%.15f", json_object_get_double(
			    jget(body, "latitude")));
		else {
			lat = jstr(body, "latitude", &bad);
			if (bad)
				ozzo_set(&oz, "latitude", "must be a string");
			bad = 0;
		}
		if (jget(body, "longitude") != NULL &&
		    json_object_is_type(jget(body, "longitude"),
		    json_type_double))
			xasprintf(&lon, "%.15f", json_object_get_double(
			    jget(body, "longitude")));
		else {
			lon = jstr(body, "longitude", &bad);
			if (bad)
				ozzo_set(&oz, "longitude", "must be a string");
			bad = 0;
		}
		STR(location_name, "name");
		STR(location_address, "address");
		ozzo_required(&oz, "latitude", lat);
		if (lat != NULL && *lat != '\0' && !is_degrees(lat, 90))
			ozzo_set(&oz, "latitude", "must be a valid latitude");
		ozzo_required(&oz, "longitude", lon);
		if (lon != NULL && *lon != '\0' && !is_degrees(lon, 180))
			ozzo_set(&oz, "longitude", "must be a valid longitude");
		break;
	case MSG_SEND_POLL:
		opts = jget(body, "options");
		if (opts == NULL || !json_object_is_type(opts,
		    json_type_array) || json_object_array_length(opts) == 0) {
			rc = seterr(err, MSG_SEND_ERR_VALIDATION,
			    "options: cannot be blank.");
			goto out;
		}
		if (json_object_array_length(opts) > MSG_SEND_POLL_MAX) {
			rc = seterr(err, MSG_SEND_ERR_VALIDATION,
			    "options: the length must be no more than %d.",
			    MSG_SEND_POLL_MAX);
			goto out;
		}
		r->noptions = json_object_array_length(opts);
		r->options = xcalloc(r->noptions, sizeof(char *));
		for (i = 0; i < r->noptions; i++) {
			struct json_object *o = json_object_array_get_idx(opts,
			    i);
			char m[64];

			if (o == NULL || !json_object_is_type(o,
			    json_type_string) ||
			    strlen(json_object_get_string(o)) >
			    MSG_SEND_TEXT_MAX) {
				snprintf(m, sizeof(m), "(%zu: must be a "
				    "string.)", i);
				ozzo_set(&oz, "options", m);
				r->options[i] = xstrdup("");
				continue;
			}
			r->options[i] = xstrdup(json_object_get_string(o));
			if (r->options[i][0] == '\0') {
				snprintf(m, sizeof(m), "(%zu: cannot be "
				    "blank.)", i);
				ozzo_set(&oz, "options", m);
			}
		}
		STR(question, "question");
		ozzo_required(&oz, "question", r->question);
		switch (jint(body, "max_answer", &n)) {
		case -1:
			ozzo_set(&oz, "max_answer", "must be an integer");
			break;
		case 0:
			ozzo_set(&oz, "max_answer", "cannot be blank");
			break;
		default:
			if (n == 0)
				ozzo_set(&oz, "max_answer", "cannot be blank");
			else if (n < 1)
				ozzo_set(&oz, "max_answer",
				    "must be no less than 1");
			else if ((uint64_t)n > r->noptions) {
				char m[64];

				snprintf(m, sizeof(m), "must be no greater "
				    "than %zu", r->noptions);
				ozzo_set(&oz, "max_answer", m);
			} else {
				r->max_answer = (uint32_t)n;
			}
		}
		break;
	case MSG_SEND_REACTION:
		STR(emoji, "emoji");
		ozzo_required(&oz, "emoji", r->emoji);
		break;
	case MSG_SEND_EDIT:
		STR(message, "message");
		ozzo_required(&oz, "message", r->message);
		break;
	case MSG_SEND_REVOKE:
	default:
		break;
	}
	if (kind == MSG_SEND_REACTION || kind == MSG_SEND_REVOKE ||
	    kind == MSG_SEND_EDIT) {
		const char *id = path_message_id;

		if (id == NULL || *id == '\0') {
			r->message_id = jstr(body, "message_id", &bad);
			bad = 0;
		} else
			r->message_id = xstrdup(id);
		ozzo_required(&oz, "message_id", r->message_id);
	}
	ozzo_required(&oz, "phone", phone);
	if ((rc = ozzo_fail(&oz, err)) != 0)
		goto out;

	/* After the struct rules, GOWA's custom checks, in its order. */
	if (kind <= MSG_SEND_POLL && (rc = phone_format(phone, err, "")) != 0)
		goto out;
	if (kind == MSG_SEND_CONTACT) {
		if ((rc = phone_format(r->contact_phone, err, "contact ")) != 0)
			goto out;
		/* vCard waid: digits only */
		{
			char *p = r->contact_phone, *q = p;

			for (; *p; p++)
				if (isdigit((unsigned char)*p))
					*q++ = *p;
			*q = '\0';
			if (r->contact_phone[0] == '\0') {
				rc = seterr(err, MSG_SEND_ERR_VALIDATION,
				    "contact_phone: must contain digits.");
				goto out;
			}
		}
	}
	if ((rc = check_media(r, file, err)) != 0)
		goto out;
	if (kind == MSG_SEND_POLL)
		for (i = 0; i < r->noptions; i++)
			for (j = i + 1; j < r->noptions; j++)
				if (strcmp(r->options[i], r->options[j]) == 0) {
					rc = seterr(err,
					    MSG_SEND_ERR_VALIDATION,
					    "options should be unique");
					goto out;
				}
	if (r->message_id != NULL && !msgid_valid_ref(r->message_id)) {
		rc = seterr(err, MSG_SEND_ERR_VALIDATION,
		    "message_id: must be a valid message id.");
		goto out;
	}
	if (r->reply_message_id != NULL && *r->reply_message_id != '\0' &&
	    !msgid_valid_ref(r->reply_message_id)) {
		rc = seterr(err, MSG_SEND_ERR_VALIDATION,
		    "reply_message_id: must be a valid message id.");
		goto out;
	}
	if (r->client_id != NULL && !msgid_valid_new(r->client_id)) {
		rc = seterr(err, MSG_SEND_ERR_VALIDATION, "id: must be 16 to "
		    "64 uppercase hexadecimal characters.");
		goto out;
	}
	if (kind == MSG_SEND_LOCATION) {
		r->latitude = strtod(lat, NULL);
		r->longitude = strtod(lon, NULL);
	}
	if ((rc = msg_send_normalize_phone(phone, &r->to, r->to_str,
	    sizeof(r->to_str), err)) != 0)
		goto out;
	rc = 0;
out:
#undef STR
#undef BOOL
	free(phone);
	free(lat);
	free(lon);
	if (rc != 0)
		msg_send_req_free(r);
	return rc;
}

/* ------------------------------------------------------------ build */

static char *
cs(const char *s)
{
	return (char *)(uintptr_t)s;
}

static ProtobufCBinaryData
bin(const uint8_t *p, size_t len)
{
	ProtobufCBinaryData b;

	b.data = (uint8_t *)(uintptr_t)p;
	b.len = len;
	return b;
}

/* Mentions: every "@<digits>" in the text, de-duplicated, as PN JIDs
 * (GOWA getMentionFromText). */
static size_t
mentions(const char *text, char **out, size_t max)
{
	const char *p = text, *q;
	size_t n = 0, i, len;
	char *j;

	while (p != NULL && (p = strchr(p, '@')) != NULL && n < max) {
		q = ++p;
		while (isdigit((unsigned char)*q))
			q++;
		len = (size_t)(q - p);
		if (len == 0 || len > 20) {
			p = q;
			continue;
		}
		xasprintf(&j, "%.*s@%s", (int)len, p, JID_SERVER_PN);
		for (i = 0; i < n; i++)
			if (strcmp(out[i], j) == 0)
				break;
		if (i < n)
			free(j);
		else
			out[n++] = j;
		p = q;
	}
	return n;
}

void
msg_send_out_free(struct msg_send_out *o)
{
	if (o == NULL)
		return;
	free(o->msg);
	memset(o, 0, sizeof(*o));
}

static const Wamsg__Message *
unwrap(const Wamsg__Message *m)
{
	int depth;
	const Wamsg__FutureProofMessage *f;

	for (depth = 0; m != NULL && depth < 8; depth++) {
		if ((f = m->viewoncemessage) == NULL &&
		    (f = m->viewoncemessagev2) == NULL &&
		    (f = m->viewoncemessagev2extension) == NULL &&
		    (f = m->ephemeralmessage) == NULL &&
		    (f = m->documentwithcaptionmessage) == NULL)
			break;
		if (f->message == NULL)
			break;
		m = f->message;
	}
	return m;
}

static const char *
media_type(const Wamsg__Message *m)
{
	m = unwrap(m);
	if (m == NULL)
		return "";
	if (m->extendedtextmessage != NULL &&
	    m->extendedtextmessage->title != NULL)
		return "url";
	if (m->imagemessage != NULL)
		return "image";
	if (m->stickermessage != NULL)
		return "sticker";
	if (m->documentmessage != NULL)
		return "document";
	if (m->audiomessage != NULL)
		return m->audiomessage->ptt ? "ptt" : "audio";
	if (m->videomessage != NULL)
		return m->videomessage->gifplayback ? "gif" : "video";
	if (m->contactmessage != NULL)
		return "vcard";
	return "";
}

static const char *
edit_attr(const Wamsg__Message *m, int depth)
{
	const Wamsg__ProtocolMessage *p;

	if (m == NULL || depth > 4)
		return "";
	if (m->editedmessage != NULL && m->editedmessage->message != NULL)
		return edit_attr(m->editedmessage->message, depth + 1);
	if ((p = m->protocolmessage) != NULL && p->key != NULL) {
		if (p->type == PROTO_REVOKE)
			return p->key->fromme ? "7" : "8";
		if (p->type == PROTO_MESSAGE_EDIT && p->editedmessage != NULL)
			return "1";
	}
	if (m->reactionmessage != NULL && (m->reactionmessage->text == NULL ||
	    m->reactionmessage->text[0] == '\0'))
		return "7";
	return "";
}

void
msg_send_classify_msg(const Wamsg__Message *msg, struct msg_send_out *o)
{
	const Wamsg__Message *m = unwrap(msg);
	const char *type = "text", *edit;

	o->type[0] = o->mediatype[0] = o->edit[0] = '\0';
	o->hide_fail = 0;
	if (m == NULL)
		return;
	snprintf(o->mediatype, sizeof(o->mediatype), "%s", media_type(m));
	if (m->reactionmessage != NULL)
		type = "reaction";
	else if (m->pollcreationmessage != NULL ||
	    m->pollcreationmessagev2 != NULL ||
	    m->pollcreationmessagev3 != NULL)
		type = "poll";
	else if (o->mediatype[0] != '\0')
		type = "media";
	snprintf(o->type, sizeof(o->type), "%s", type);
	edit = edit_attr(msg, 0);
	snprintf(o->edit, sizeof(o->edit), "%s", edit);
	o->hide_fail = m->reactionmessage != NULL || strcmp(edit, "1") == 0;
}

int
msg_send_classify(const uint8_t *msg, size_t len, struct msg_send_out *o)
{
	Wamsg__Message *m;

	memset(o, 0, sizeof(*o));
	if ((m = wamsg__message__unpack(NULL, len, msg)) == NULL)
		return -1;
	msg_send_classify_msg(m, o);
	wamsg__message__free_unpacked(m, NULL);
	return 0;
}

static int64_t
now_ms(const struct msg_send_ctx *c)
{
	struct timespec ts;

	if (c->now_ms > 0)
		return c->now_ms;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ContextInfo for the non-text kinds: only when forwarded or timed. */
static Wamsg__ContextInfo *
ctx_info(const struct msg_send_req *r, Wamsg__ContextInfo *ci)
{
	wamsg__context_info__init(ci);
	if (!r->is_forwarded && !(r->has_duration && r->duration > 0))
		return NULL;
	if (r->is_forwarded) {
		ci->has_isforwarded = ci->isforwarded = 1;
		ci->has_forwardingscore = 1;
		ci->forwardingscore = 100;
	}
	if (r->has_duration && r->duration > 0) {
		ci->has_expiration = 1;
		ci->expiration = r->duration;
	}
	return ci;
}

int
msg_send_build(const struct msg_send_req *r, const struct msg_send_ctx *c,
    struct msg_send_out *o, struct msg_send_error *err)
{
	static const struct msg_send_ctx noctx;
	Wamsg__Message m, quoted, edited, inner;
	Wamsg__FutureProofMessage fp;
	Wamsg__ContextInfo ci;
	Wamsg__ExtendedTextMessage et;
	Wamsg__ImageMessage im;
	Wamsg__VideoMessage vm;
	Wamsg__AudioMessage am;
	Wamsg__DocumentMessage dm;
	Wamsg__StickerMessage sm;
	Wamsg__ContactMessage cm;
	Wamsg__LocationMessage lm;
	Wamsg__PollCreationMessage pm;
	Wamsg__PollCreationMessage__Option opt[MSG_SEND_POLL_MAX];
	Wamsg__PollCreationMessage__Option *optp[MSG_SEND_POLL_MAX];
	Wamsg__MessageContextInfo mci;
	Wamsg__ReactionMessage rm;
	Wamsg__ProtocolMessage pr;
	Wamsg__MessageKey key;
	const struct msg_media *md;
	char *ment[MSG_SEND_MENTIONS_MAX], *vcard = NULL, *text = NULL;
	uint8_t secret[32];
	size_t nment = 0, i;
	int rc = MSG_SEND_EINVAL;

	memset(o, 0, sizeof(*o));
	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (c == NULL)
		c = &noctx;
	md = c->media;
	if ((int)r->kind < 0 || r->kind >= MSG_SEND_NKINDS)
		return seterr(err, MSG_SEND_ERR_VALIDATION, "unknown kind");
	if (kinds[r->kind].media && (md == NULL || md->url == NULL ||
	    md->direct_path == NULL)) {
		seterr(err, "UPLOAD_MEDIA_ERROR", "media upload result missing");
		if (err != NULL)
			err->http_status = 500;
		return MSG_SEND_EINVAL;
	}
	wamsg__message__init(&m);
	wamsg__message__init(&quoted);
	wamsg__message__init(&edited);
	wamsg__message__init(&inner);
	wamsg__future_proof_message__init(&fp);
	wamsg__message_key__init(&key);

	switch (r->kind) {
	case MSG_SEND_TEXT:
		/* GOWA: always an ExtendedTextMessage with a ContextInfo
		 * whose expiration is the duration or the chat default. */
		wamsg__extended_text_message__init(&et);
		wamsg__context_info__init(&ci);
		et.text = cs(r->message);
		et.contextinfo = &ci;
		if (r->is_forwarded) {
			ci.has_isforwarded = ci.isforwarded = 1;
			ci.has_forwardingscore = 1;
			ci.forwardingscore = 100;
		}
		ci.has_expiration = 1;
		ci.expiration = r->has_duration && r->duration > 0 ?
		    r->duration : c->default_expiration;
		nment = mentions(r->message, ment, MSG_SEND_MENTIONS_MAX);
		ci.n_mentionedjid = nment;
		ci.mentionedjid = nment ? ment : NULL;
		if (r->reply_message_id != NULL && *r->reply_message_id &&
		    c->quoted != NULL) {
			ci.stanzaid = r->reply_message_id;
			ci.participant = cs(c->quoted->sender);
			quoted.conversation = cs(c->quoted->text ?
			    c->quoted->text : "");
			ci.quotedmessage = &quoted;
		}
		m.extendedtextmessage = &et;
		break;
	case MSG_SEND_IMAGE:
		wamsg__image_message__init(&im);
		im.caption = cs(r->caption ? r->caption : "");
		im.url = cs(md->url);
		im.directpath = cs(md->direct_path);
		im.mediakey = bin(md->media_key, 32);
		im.has_mediakey = 1;
		im.mimetype = cs(md->mimetype ? md->mimetype : "image/jpeg");
		im.fileencsha256 = bin(md->file_enc_sha256, 32);
		im.has_fileencsha256 = 1;
		im.filesha256 = bin(md->file_sha256, 32);
		im.has_filesha256 = 1;
		im.has_filelength = 1;
		im.filelength = md->file_length;
		im.has_viewonce = 1;
		im.viewonce = r->view_once;
		if (md->width && md->height) {
			im.has_width = im.has_height = 1;
			im.width = md->width;
			im.height = md->height;
		}
		if (md->media_key_timestamp) {
			im.has_mediakeytimestamp = 1;
			im.mediakeytimestamp = md->media_key_timestamp;
		}
		if (md->thumbnail != NULL) {
			im.has_jpegthumbnail = 1;
			im.jpegthumbnail = bin(md->thumbnail,
			    md->thumbnail_len);
		}
		im.contextinfo = ctx_info(r, &ci);
		m.imagemessage = &im;
		break;
	case MSG_SEND_VIDEO:
		wamsg__video_message__init(&vm);
		vm.url = cs(md->url);
		vm.directpath = cs(md->direct_path);
		vm.mimetype = cs(md->mimetype ? md->mimetype : "video/mp4");
		vm.caption = cs(r->caption ? r->caption : "");
		vm.has_filelength = 1;
		vm.filelength = md->file_length;
		vm.mediakey = bin(md->media_key, 32);
		vm.has_mediakey = 1;
		vm.fileencsha256 = bin(md->file_enc_sha256, 32);
		vm.has_fileencsha256 = 1;
		vm.filesha256 = bin(md->file_sha256, 32);
		vm.has_filesha256 = 1;
		vm.has_viewonce = 1;
		vm.viewonce = r->view_once;
		if (md->seconds) {
			vm.has_seconds = 1;
			vm.seconds = md->seconds;
		}
		if (r->gif_playback)
			vm.has_gifplayback = vm.gifplayback = 1;
		if (md->width && md->height) {
			vm.has_width = vm.has_height = 1;
			vm.width = md->width;
			vm.height = md->height;
		}
		if (md->media_key_timestamp) {
			vm.has_mediakeytimestamp = 1;
			vm.mediakeytimestamp = md->media_key_timestamp;
		}
		if (md->thumbnail != NULL) {
			vm.has_jpegthumbnail = 1;
			vm.jpegthumbnail = bin(md->thumbnail,
			    md->thumbnail_len);
		}
		vm.contextinfo = ctx_info(r, &ci);
		m.videomessage = &vm;
		break;
	case MSG_SEND_AUDIO:
		wamsg__audio_message__init(&am);
		am.url = cs(md->url);
		am.directpath = cs(md->direct_path);
		am.mimetype = cs(md->mimetype ? md->mimetype : "audio/ogg");
		am.has_filelength = 1;
		am.filelength = md->file_length;
		am.filesha256 = bin(md->file_sha256, 32);
		am.has_filesha256 = 1;
		am.fileencsha256 = bin(md->file_enc_sha256, 32);
		am.has_fileencsha256 = 1;
		am.mediakey = bin(md->media_key, 32);
		am.has_mediakey = 1;
		if (md->seconds) {
			am.has_seconds = 1;
			am.seconds = md->seconds;
		}
		if (r->ptt || md->ptt)
			am.has_ptt = am.ptt = 1;
		if (md->media_key_timestamp) {
			am.has_mediakeytimestamp = 1;
			am.mediakeytimestamp = md->media_key_timestamp;
		}
		am.contextinfo = ctx_info(r, &ci);
		m.audiomessage = &am;
		break;
	case MSG_SEND_FILE:
		wamsg__document_message__init(&dm);
		dm.url = cs(md->url);
		dm.mimetype = cs(md->mimetype ? md->mimetype :
		    "application/octet-stream");
		dm.title = cs(md->file_name ? md->file_name : "");
		dm.filename = cs(md->file_name ? md->file_name : "");
		dm.filesha256 = bin(md->file_sha256, 32);
		dm.has_filesha256 = 1;
		dm.has_filelength = 1;
		dm.filelength = md->file_length;
		dm.mediakey = bin(md->media_key, 32);
		dm.has_mediakey = 1;
		dm.fileencsha256 = bin(md->file_enc_sha256, 32);
		dm.has_fileencsha256 = 1;
		dm.directpath = cs(md->direct_path);
		dm.caption = cs(r->caption ? r->caption : "");
		if (md->media_key_timestamp) {
			dm.has_mediakeytimestamp = 1;
			dm.mediakeytimestamp = md->media_key_timestamp;
		}
		dm.contextinfo = ctx_info(r, &ci);
		m.documentmessage = &dm;
		break;
	case MSG_SEND_STICKER:
		wamsg__sticker_message__init(&sm);
		sm.url = cs(md->url);
		sm.directpath = cs(md->direct_path);
		sm.mimetype = cs(md->mimetype ? md->mimetype : "image/webp");
		sm.has_filelength = 1;
		sm.filelength = md->file_length;
		sm.filesha256 = bin(md->file_sha256, 32);
		sm.has_filesha256 = 1;
		sm.fileencsha256 = bin(md->file_enc_sha256, 32);
		sm.has_fileencsha256 = 1;
		sm.mediakey = bin(md->media_key, 32);
		sm.has_mediakey = 1;
		if (md->width && md->height) {
			sm.has_width = sm.has_height = 1;
			sm.width = md->width;
			sm.height = md->height;
		}
		sm.has_isanimated = 1;
		sm.isanimated = 0;
		if (md->media_key_timestamp) {
			sm.has_mediakeytimestamp = 1;
			sm.mediakeytimestamp = md->media_key_timestamp;
		}
		sm.contextinfo = ctx_info(r, &ci);
		m.stickermessage = &sm;
		break;
	case MSG_SEND_CONTACT:
		wamsg__contact_message__init(&cm);
		xasprintf(&vcard, "BEGIN:VCARD\nVERSION:3.0\nN:;%s;;;\nFN:%s\n"
		    "TEL;type=CELL;waid=%s:+%s\nEND:VCARD", r->contact_name,
		    r->contact_name, r->contact_phone, r->contact_phone);
		cm.displayname = r->contact_name;
		cm.vcard = vcard;
		cm.contextinfo = ctx_info(r, &ci);
		m.contactmessage = &cm;
		break;
	case MSG_SEND_LINK:
		wamsg__extended_text_message__init(&et);
		xasprintf(&text, "%s\n%s", r->caption, r->link);
		et.text = text;
		et.title = cs(c->link_title ? c->link_title : "");
		et.matchedtext = r->link;
		et.description = cs(c->link_description ?
		    c->link_description : "");
		if (c->link_thumbnail != NULL) {
			et.has_jpegthumbnail = 1;
			et.jpegthumbnail = bin(c->link_thumbnail,
			    c->link_thumbnail_len);
		}
		et.contextinfo = ctx_info(r, &ci);
		m.extendedtextmessage = &et;
		break;
	case MSG_SEND_LOCATION:
		wamsg__location_message__init(&lm);
		lm.has_degreeslatitude = lm.has_degreeslongitude = 1;
		lm.degreeslatitude = r->latitude;
		lm.degreeslongitude = r->longitude;
		if (r->location_name != NULL && *r->location_name)
			lm.name = r->location_name;
		if (r->location_address != NULL && *r->location_address)
			lm.address = r->location_address;
		lm.contextinfo = ctx_info(r, &ci);
		m.locationmessage = &lm;
		break;
	case MSG_SEND_POLL:
		/* whatsmeow BuildPollCreation + GOWA's timer */
		wamsg__poll_creation_message__init(&pm);
		wamsg__message_context_info__init(&mci);
		pm.name = r->question;
		for (i = 0; i < r->noptions && i < MSG_SEND_POLL_MAX; i++) {
			wamsg__poll_creation_message__option__init(&opt[i]);
			opt[i].optionname = r->options[i];
			optp[i] = &opt[i];
		}
		pm.n_options = i;
		pm.options = optp;
		pm.has_selectableoptionscount = 1;
		pm.selectableoptionscount = r->max_answer;
		if (r->has_duration && r->duration > 0) {
			wamsg__context_info__init(&ci);
			ci.has_expiration = 1;
			ci.expiration = r->duration;
			pm.contextinfo = &ci;
		}
		if (c->message_secret != NULL)
			memcpy(secret, c->message_secret, 32);
		else
			randombytes_buf(secret, sizeof(secret));
		mci.has_messagesecret = 1;
		mci.messagesecret = bin(secret, 32);
		m.pollcreationmessage = &pm;
		m.messagecontextinfo = &mci;
		break;
	case MSG_SEND_REACTION:
	case MSG_SEND_REVOKE:
	case MSG_SEND_EDIT:
		/* MessageKey of the target (whatsmeow BuildRevoke rules) */
		key.remotejid = cs(r->to_str);
		key.id = r->message_id;
		key.has_fromme = 1;
		key.fromme = 1;
		if (c->target != NULL && !c->target->from_me &&
		    c->target->sender != NULL &&
		    (c->own_user == NULL || strncmp(c->target->sender,
		    c->own_user, strlen(c->own_user)) != 0 ||
		    (c->target->sender[strlen(c->own_user)] != '@' &&
		    c->target->sender[strlen(c->own_user)] != ':'))) {
			key.fromme = 0;
			if (!jid_server_is(&r->to, JID_SERVER_PN) &&
			    !jid_server_is(&r->to, JID_SERVER_LID))
				key.participant = cs(c->target->sender);
		}
		if (r->kind == MSG_SEND_REACTION) {
			wamsg__reaction_message__init(&rm);
			rm.key = &key;
			rm.text = r->emoji;
			rm.has_sendertimestampms = 1;
			rm.sendertimestampms = now_ms(c);
			m.reactionmessage = &rm;
		} else if (r->kind == MSG_SEND_REVOKE) {
			wamsg__protocol_message__init(&pr);
			pr.key = &key;
			pr.has_type = 1;
			pr.type = PROTO_REVOKE;
			m.protocolmessage = &pr;
		} else {
			wamsg__protocol_message__init(&pr);
			key.has_fromme = 1;
			key.fromme = 1;	/* only own messages can be edited */
			key.participant = NULL;
			pr.key = &key;
			pr.has_type = 1;
			pr.type = PROTO_MESSAGE_EDIT;
			edited.conversation = r->message;
			pr.editedmessage = &edited;
			pr.has_timestampms = 1;
			pr.timestampms = now_ms(c);
			inner.protocolmessage = &pr;
			fp.message = &inner;
			m.editedmessage = &fp;
		}
		break;
	default:
		goto out;
	}
	o->msglen = wamsg__message__get_packed_size(&m);
	o->msg = xmalloc(o->msglen ? o->msglen : 1);
	wamsg__message__pack(&m, o->msg);
	msg_send_classify_msg(&m, o);
	rc = 0;
out:
	for (i = 0; i < nment; i++)
		free(ment[i]);
	free(vcard);
	free(text);
	sodium_memzero(secret, sizeof(secret));
	return rc;
}

/* ------------------------------------------------------------ replies */

/* Go's time.Time.String() of time.Unix(ts, 0) in UTC. */
static void
go_time(int64_t ts, char *out, size_t outsz)
{
	struct tm tm;
	time_t t = (time_t)ts;

	if (gmtime_r(&t, &tm) == NULL) {
		snprintf(out, outsz, "%" PRId64, ts);
		return;
	}
	strftime(out, outsz, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
}

int
msg_send_status(const struct msg_send_req *r, int64_t server_ts, char *out,
    size_t outsz)
{
	char ts[64];
	int n;

	if ((int)r->kind < 0 || r->kind >= MSG_SEND_NKINDS || outsz == 0)
		return -1;
	go_time(server_ts, ts, sizeof(ts));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	n = snprintf(out, outsz, kinds[r->kind].status_fmt, r->to_str, ts);
#pragma GCC diagnostic pop
	return n < 0 || (size_t)n >= outsz ? -1 : n;
}

char *
msg_send_response(const struct msg_send_req *r, const char *message_id,
    int64_t server_ts)
{
	struct json_object *o, *res;
	char status[JID_STR_MAX + 128];
	char *s;

	if (msg_send_status(r, server_ts, status, sizeof(status)) < 0)
		status[0] = '\0';
	o = json_object_new_object();
	res = json_object_new_object();
	json_object_object_add(o, "code", json_object_new_string("SUCCESS"));
	json_object_object_add(o, "message", json_object_new_string(status));
	json_object_object_add(res, "message_id",
	    json_object_new_string(message_id ? message_id : ""));
	json_object_object_add(res, "status", json_object_new_string(status));
	json_object_object_add(o, "results", res);
	s = xstrdup(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

char *
msg_send_error_json(const struct msg_send_error *e)
{
	struct json_object *o = json_object_new_object();
	char *s;

	json_object_object_add(o, "code", json_object_new_string(e->code));
	json_object_object_add(o, "message",
	    json_object_new_string(e->message));
	s = xstrdup(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}
