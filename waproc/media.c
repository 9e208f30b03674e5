/*
 * media.c - media uploads, downloads and URL fetches of one waproc
 * (media.h), over its own libcurl multi handle driven by socket/timer
 * callbacks from the owner's zmq_poll loop (the msghook pattern, separate
 * state).  The crypto is media-crypto.c's; this file holds the
 * media_conn cache, the URLs, the caps and the transfer bookkeeping.
 * Never blocks on the network, never logs a query string, a key or
 * content.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <sodium.h>

#include "binnode.h"
#include "buf.h"
#include "conn.h"
#include "log.h"
#include "media.h"
#include "xmalloc.h"

#define MX_FDS_MAX		(MEDIA_ACTIVE_MAX * 4)
#define MX_REPLY_MAX		(64 * 1024)	/* upload JSON answer */
#define MX_ERR_MAX		(CURL_ERROR_SIZE + 64)
#define MX_ORIGIN		"https://web.whatsapp.com"
#define MX_CONNECT_MS		20000L
#define MX_TTL_DEFAULT		60L
#define MX_TTL_MAX		86400L

enum mx_type { MX_UPLOAD, MX_FETCH, MX_DOWNLOAD };
enum mx_state { MX_WAIT_CONN, MX_QUEUED, MX_ACTIVE, MX_DONE };

struct mx {
	struct mx		*next;
	enum mx_type		 type;
	enum mx_state		 state;
	CURL			*easy;
	struct curl_slist	*hdrs;
	char			*url;		/* may hold secrets: no logs */
	char			 kind[24];
	uint8_t			*body;		/* upload: ct || mac */
	size_t			 bodylen;
	struct buf		 resp;		/* capped */
	size_t			 max;		/* plaintext cap */
	int			 toobig;
	uint8_t			 media_key[MEDIA_KEY_LEN];
	uint8_t			 file_sha256[MEDIA_SHA256_LEN];
	uint8_t			 file_enc_sha256[MEDIA_SHA256_LEN];
	int			 have_enc;
	int			 detached;	/* easy out of the multi */
	size_t			 host;		/* media_conn host index */
	char			*dp;		/* download: direct path */
	uint64_t		 file_length;
	int64_t			 key_ts;
	int			 err;		/* MX_DONE before start */
	char			 errstr[MX_ERR_MAX];
	char			 curlerr[CURL_ERROR_SIZE];
	media_upload_cb		 ucb;
	media_fetch_cb		 fcb;
	void			*arg;
};

struct mx_fd {
	curl_socket_t	fd;
	int		what;		/* CURL_POLL_* */
};

/* The media_conn IQ's callback argument: outlives media_free (the conn
 * has no way to cancel an IQ), which only clears m. */
struct mx_ticket {
	struct media	*m;
};

struct media {
	CURLM			*multi;
	char			*ca_file;
	struct mx		*list;
	size_t			 nheld;
	size_t			 nactive;
	int			 ndone;		/* DONE before start */
	struct mx_fd		 fds[MX_FDS_MAX];
	size_t			 nfds;
	int64_t			 timer;		/* monotonic ms, -1 none */
	struct media_conn_info	 mc;
	int			 have_mc;
	struct mx_ticket	*ticket;	/* media_conn IQ in flight */
	long			 media_total_ms;
	long			 fetch_total_ms;
	long			 stall_ms;
};

static int64_t
mx_now(void)
{
	return (int64_t)conn_now_ms();
}

/* ------------------------------------------------------- pure parts */

const char *
media_strerror(int err)
{
	switch (err) {
	case MEDIA_OK:		return "ok";
	case MEDIA_EINVAL:	return "invalid argument";
	case MEDIA_ETOOBIG:	return "too big";
	case MEDIA_EBUSY:	return "too many media transfers";
	case MEDIA_ECONN:	return "no media connection";
	case MEDIA_ENET:	return "network error";
	case MEDIA_EHTTP:	return "HTTP error";
	case MEDIA_EEXPIRED:	return "media expired";
	case MEDIA_EREPLY:	return "bad media server answer";
	case MEDIA_ECRYPTO:	return "media verification failed";
	}
	return "media error";
}

struct binnode *
media_conn_iq(void)
{
	struct binnode *iq;
	struct jid srv;

	iq = binnode_new("iq");
	jid_set(&srv, "", JID_SERVER_PN, 0);
	binnode_set_attr_jid(iq, "to", &srv);
	binnode_set_attrs(iq, "type", "set", "xmlns", "w:m", NULL);
	(void)binnode_add_new(iq, "media_conn");
	return iq;
}

static int
mx_host_ok(const char *h)
{
	size_t i, n = strlen(h);

	if (n == 0 || n >= MEDIA_HOST_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '.' &&
		    h[i] != '-' && h[i] != ':')
			return 0;
	return h[0] != '.' && h[0] != '-' && h[0] != ':';
}

static long
mx_attr_long(const struct binnode *n, const char *key)
{
	uint64_t v;

	if (binnode_attr_u64(n, key, &v) != 0)
		return 0;
	return v > (uint64_t)MX_TTL_MAX ? MX_TTL_MAX : (long)v;
}

int
media_conn_parse(const struct binnode *reply, int64_t now_ms,
    struct media_conn_info *out)
{
	const struct binnode *mc, *h;
	const char *auth, *name;
	size_t i;
	long ttl;

	memset(out, 0, sizeof(*out));
	if (reply == NULL)
		return MEDIA_EREPLY;
	if (binnode_tag_is(reply, "media_conn"))
		mc = reply;
	else if ((mc = binnode_child(reply, "media_conn")) == NULL)
		return MEDIA_EREPLY;
	if ((auth = binnode_attr(mc, "auth")) == NULL || *auth == '\0' ||
	    strlen(auth) >= sizeof(out->auth))
		goto bad;
	snprintf(out->auth, sizeof(out->auth), "%s", auth);
	if (mc->type == BINNODE_LIST)
		for (i = 0; i < mc->nchildren &&
		    out->nhosts < MEDIA_HOSTS_MAX; i++) {
			h = mc->children[i];
			if (!binnode_tag_is(h, "host") ||
			    (name = binnode_attr(h, "hostname")) == NULL ||
			    !mx_host_ok(name))
				continue;
			snprintf(out->hosts[out->nhosts++], MEDIA_HOST_MAX,
			    "%s", name);
		}
	if (out->nhosts == 0)
		goto bad;
	out->ttl = mx_attr_long(mc, "ttl");
	out->auth_ttl = mx_attr_long(mc, "auth_ttl");
	ttl = out->ttl > 0 ? out->ttl : MX_TTL_DEFAULT;
	if (ttl > MX_TTL_MAX)
		ttl = MX_TTL_MAX;
	out->expires_ms = now_ms + (int64_t)ttl * 1000;
	return 0;
bad:
	sodium_memzero(out, sizeof(*out));
	return MEDIA_EREPLY;
}

size_t
media_max_size(const char *kind)
{
	static const struct {
		const char	*kind;
		size_t		 max;
	} caps[] = {
		{ "image",		MEDIA_MAX_IMAGE },
		{ "sticker",		MEDIA_MAX_IMAGE },
		{ "product",		MEDIA_MAX_IMAGE },
		{ "biz-cover-photo",	MEDIA_MAX_IMAGE },
		{ "thumbnail-link",	MEDIA_MAX_IMAGE },
		{ "video",		MEDIA_MAX_VIDEO },
		{ "gif",		MEDIA_MAX_VIDEO },
		{ "ptv",		MEDIA_MAX_VIDEO },
		{ "audio",		MEDIA_MAX_FILE },
		{ "ptt",		MEDIA_MAX_FILE },
		{ "document",		MEDIA_MAX_FILE },
	};
	size_t i;

	if (kind == NULL || media_crypto_info(kind) == NULL)
		return 0;
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		if (strcmp(caps[i].kind, kind) == 0)
			return caps[i].max;
	return MEDIA_MAX_FILE;
}

void
media_token(const uint8_t sha[MEDIA_SHA256_LEN], char out[48])
{
	sodium_bin2base64(out, 48, sha, MEDIA_SHA256_LEN,
	    sodium_base64_VARIANT_URLSAFE);
}

/* Append s %-encoded (RFC 3986 unreserved kept); -1 when full. */
static int
mx_pct(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' ||
		    c == '~') {
			if (buf_putc(b, c) != 0)
				return -1;
		} else if (buf_putc(b, '%') != 0 ||
		    buf_putc(b, (uint8_t)hex[c >> 4]) != 0 ||
		    buf_putc(b, (uint8_t)hex[c & 15]) != 0)
			return -1;
	}
	return 0;
}

static int
mx_path_ok(const char *p, int allow_query)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f ||
		    *p == '#' || (!allow_query && *p == '?'))
			return 0;
	return 1;
}

/* Copy b into out as a string; MEDIA_EINVAL when it does not fit. */
static int
mx_buf_out(struct buf *b, int rc, char *out, size_t outlen)
{
	if (rc == 0 && b->len < outlen) {
		memcpy(out, b->data, b->len);
		out[b->len] = '\0';
	} else {
		rc = MEDIA_EINVAL;
		if (outlen > 0)
			out[0] = '\0';
	}
	if (b->data != NULL)
		sodium_memzero(b->data, b->len);
	buf_free(b);
	return rc;
}

int
media_upload_url(char *out, size_t outlen, const char *host,
    const char *mms_path, const char *token, const char *auth)
{
	struct buf b;
	int rc;

	if (outlen > 0)
		out[0] = '\0';
	if (host == NULL || mms_path == NULL || token == NULL ||
	    auth == NULL || !mx_host_ok(host) || *mms_path == '\0' ||
	    *token == '\0' || !mx_path_ok(mms_path, 0) ||
	    strchr(mms_path, '/') != NULL || !mx_path_ok(token, 0) ||
	    strchr(token, '/') != NULL)
		return MEDIA_EINVAL;
	buf_init(&b, MEDIA_URL_MAX);
	rc = buf_printf(&b, "https://%s/mms/%s/%s?auth=", host, mms_path,
	    token) != 0 || mx_pct(&b, auth) != 0 ||
	    buf_puts(&b, "&token=") != 0 || mx_pct(&b, token) != 0 ? -1 : 0;
	return mx_buf_out(&b, rc, out, outlen);
}

int
media_download_url(char *out, size_t outlen, const char *host,
    const char *direct_path, const char *mms_path,
    const uint8_t *file_enc_sha256)
{
	struct buf b;
	char tok[48];
	int rc;

	if (outlen > 0)
		out[0] = '\0';
	if (host == NULL || direct_path == NULL || !mx_host_ok(host) ||
	    direct_path[0] != '/' || direct_path[1] == '/' ||
	    !mx_path_ok(direct_path, 1) ||
	    (mms_path != NULL && !mx_path_ok(mms_path, 0)))
		return MEDIA_EINVAL;
	buf_init(&b, MEDIA_URL_MAX);
	rc = buf_printf(&b, "https://%s%s", host, direct_path) != 0 ? -1 : 0;
	if (rc == 0 && file_enc_sha256 != NULL) {
		media_token(file_enc_sha256, tok);
		rc = buf_puts(&b, strchr(direct_path, '?') ? "&hash=" :
		    "?hash=") != 0 || mx_pct(&b, tok) != 0 ? -1 : 0;
	}
	if (rc == 0 && mms_path != NULL && *mms_path != '\0')
		rc = buf_printf(&b, "%cmms-type=%s&__wa-mms=",
		    strchr(buf_cstr(&b), '?') ? '&' : '?', mms_path) != 0 ?
		    -1 : 0;
	return mx_buf_out(&b, rc, out, outlen);
}

void
media_url_for_log(const char *url, char *out, size_t outlen)
{
	const char *p, *auth, *end, *at;
	size_t n, o = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (url == NULL)
		return;
	if ((p = strstr(url, "://")) == NULL || strcspn(url, "?#") <
	    (size_t)(p - url)) {
		snprintf(out, outlen, "(url)");
		return;
	}
	/* scheme:// */
	n = (size_t)(p - url) + 3;
	auth = url + n;
	end = auth + strcspn(auth, "/?#");
	/* drop user:password@ */
	for (at = auth; at < end; at++)
		if (*at == '@')
			auth = at + 1;
	o = snprintf(out, outlen, "%.*s%.*s", (int)n, url,
	    (int)(end - auth), auth);
	if (o < outlen)
		snprintf(out + o, outlen - o, "%.*s",
		    (int)strcspn(end, "?#"), end);
}

/* ----------------------------------------------------------- curl glue */

static int
mx_sockcb(CURL *e, curl_socket_t fd, int what, void *u, void *sp)
{
	struct media *m = u;
	size_t i;

	for (i = 0; i < m->nfds; i++)
		if (m->fds[i].fd == fd)
			break;
	if (what == CURL_POLL_REMOVE) {
		if (i < m->nfds)
			m->fds[i] = m->fds[--m->nfds];
		return 0;
	}
	if (i == m->nfds) {
		if (m->nfds == MX_FDS_MAX) {
			log_warnx("media: too many sockets");
			return -1;
		}
		m->nfds++;
	}
	m->fds[i].fd = fd;
	m->fds[i].what = what;
	return 0;
}

static int
mx_timercb(CURLM *multi, long ms, void *u)
{
	struct media *m = u;

	m->timer = ms < 0 ? -1 : mx_now() + ms;
	return 0;
}

static size_t
mx_write(char *p, size_t sz, size_t n, void *u)
{
	struct mx *x = u;
	long code = 0;

	/* an error page is not kept (nor counted against the cap) */
	if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code) ==
	    CURLE_OK && (code < 200 || code > 299))
		return sz * n;
	if (buf_append(&x->resp, p, sz * n) != 0) {
		x->toobig = 1;
		return 0;
	}
	return sz * n;
}

/* ------------------------------------------------------------ requests */

static struct mx *
mx_new(struct media *m, enum mx_type type, size_t respmax, media_fetch_cb fcb,
    media_upload_cb ucb, void *arg)
{
	struct mx *x;

	x = xcalloc(1, sizeof(*x));
	x->type = type;
	x->state = MX_QUEUED;
	buf_init(&x->resp, respmax);
	x->fcb = fcb;
	x->ucb = ucb;
	x->arg = arg;
	/* append: first come, first started */
	if (m->list == NULL)
		m->list = x;
	else {
		struct mx *t = m->list;

		while (t->next != NULL)
			t = t->next;
		t->next = x;
	}
	m->nheld++;
	return x;
}

static void
mx_unlink(struct media *m, struct mx *x)
{
	struct mx **pp;

	for (pp = &m->list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			x->next = NULL;
			m->nheld--;
			return;
		}
}

/* Take x's easy out of the multi (its socket and slot are free), keeping
 * it for curl_easy_getinfo. */
static void
mx_detach(struct media *m, struct mx *x)
{
	if (x->easy == NULL || x->detached)
		return;
	curl_multi_remove_handle(m->multi, x->easy);
	m->nactive--;
	x->detached = 1;
}

static void
mx_free(struct media *m, struct mx *x)
{
	if (x == NULL)
		return;
	mx_detach(m, x);
	if (x->easy != NULL)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->hdrs);
	if (x->url != NULL) {
		sodium_memzero(x->url, strlen(x->url));
		free(x->url);
	}
	free(x->body);
	free(x->dp);
	buf_free(&x->resp);
	sodium_memzero(x->media_key, sizeof(x->media_key));
	free(x);
}

/*
 * An upload (or a download by direct path) that could not reach
 * hosts[x->host] goes back to the queue for the next media_conn host
 * (Baileys and whatsmeow try each in turn).  0 requeued, -1 no other host.
 */
static int
mx_next_host(struct media *m, struct mx *x)
{
	struct mx **pp;

	if ((x->type != MX_UPLOAD && x->dp == NULL) || !m->have_mc ||
	    x->host + 1 >= m->mc.nhosts)
		return -1;
	mx_detach(m, x);
	curl_easy_cleanup(x->easy);
	x->easy = NULL;
	x->detached = 0;
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	sodium_memzero(x->url, strlen(x->url));
	free(x->url);
	x->url = NULL;
	buf_reset(&x->resp);
	x->toobig = 0;
	x->curlerr[0] = '\0';
	x->host++;
	x->state = MX_QUEUED;
	for (pp = &m->list; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = x;
	x->next = NULL;
	m->nheld++;
	return 0;
}

/* Deliver an error and free x (already unlinked). */
static void
mx_fail(struct media *m, struct mx *x, int err, const char *errstr)
{
	if (x->ucb != NULL)
		x->ucb(x->arg, err, errstr, NULL);
	else if (x->fcb != NULL)
		x->fcb(x->arg, err, errstr, NULL, 0, NULL);
	mx_free(m, x);
}

/* Mark x failed, to be delivered by the next media_service. */
static void
mx_defer_fail(struct media *m, struct mx *x, int err, const char *errstr)
{
	x->state = MX_DONE;
	x->err = err;
	snprintf(x->errstr, sizeof(x->errstr), "%s", errstr);
	m->ndone++;
}

/*
 * The multi handle, made on the first transfer: a waproc that never
 * moves media never loads libcurl (lazycurl.c).  NULL if libcurl cannot
 * be loaded or set up (the transfer fails with MEDIA_ENET).
 */
static CURLM *
mx_multi(struct media *m)
{
	if (m->multi != NULL)
		return m->multi;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		log_warnx("media: curl_global_init failed");
		return NULL;
	}
	if ((m->multi = curl_multi_init()) == NULL) {
		log_warnx("media: curl_multi_init failed");
		curl_global_cleanup();
		return NULL;
	}
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, mx_sockcb);
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, mx_timercb);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
	return m->multi;
}

static int
mx_start(struct media *m, struct mx *x)
{
	char tok[48], url[MEDIA_URL_MAX];
	long total;

	if (x->type == MX_UPLOAD) {
		media_token(x->file_enc_sha256, tok);
		if (!m->have_mc || x->host >= m->mc.nhosts ||
		    media_upload_url(url, sizeof(url),
		    m->mc.hosts[x->host], media_crypto_mms_path(x->kind), tok,
		    m->mc.auth) != 0)
			return MEDIA_ECONN;
		x->url = xstrdup(url);
		sodium_memzero(url, sizeof(url));
	} else if (x->type == MX_DOWNLOAD && x->dp != NULL) {
		if (media_download_url(url, sizeof(url), m->have_mc &&
		    x->host < m->mc.nhosts ? m->mc.hosts[x->host] :
		    MEDIA_DEFAULT_HOST, x->dp, media_crypto_mms_path(x->kind),
		    x->have_enc ? x->file_enc_sha256 : NULL) != 0)
			return MEDIA_EINVAL;
		x->url = xstrdup(url);
	}
	if (mx_multi(m) == NULL || (x->easy = curl_easy_init()) == NULL)
		return MEDIA_ENET;
	m->nactive++;
	total = x->type == MX_FETCH ? m->fetch_total_ms : m->media_total_ms;
	curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	/* HTTP/1.1: fakewa's media host (libwebsockets) loses large
	 * HTTP/2 bodies; the reference clients' servers speak both */
	curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, total);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    total < MX_CONNECT_MS ? total : MX_CONNECT_MS);
	curl_easy_setopt(x->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(x->easy, CURLOPT_LOW_SPEED_TIME,
	    m->stall_ms >= 1000 ? m->stall_ms / 1000 : 1L);
	curl_easy_setopt(x->easy, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)x->resp.max);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, mx_write);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->curlerr);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	if (m->ca_file != NULL)
		curl_easy_setopt(x->easy, CURLOPT_CAINFO, m->ca_file);
	if (x->type == MX_FETCH) {
		curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(x->easy, CURLOPT_MAXREDIRS,
		    (long)MEDIA_REDIRS_MAX);
		x->hdrs = curl_slist_append(x->hdrs,
		    "User-Agent: WhatsApp-Gateway/1.0");
	} else {
		curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
		x->hdrs = curl_slist_append(x->hdrs, "Origin: " MX_ORIGIN);
		x->hdrs = curl_slist_append(x->hdrs,
		    "Referer: " MX_ORIGIN "/");
	}
	if (x->type == MX_UPLOAD) {
		x->hdrs = curl_slist_append(x->hdrs,
		    "Content-Type: application/octet-stream");
		x->hdrs = curl_slist_append(x->hdrs, "Expect:");
		curl_easy_setopt(x->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)x->bodylen);
	}
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
	if (curl_multi_add_handle(m->multi, x->easy) != CURLM_OK) {
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
		m->nactive--;
		return MEDIA_ENET;
	}
	x->state = MX_ACTIVE;
	return 0;
}

/* Start queued requests while there is room; failures are deferred. */
static void
mx_start_queued(struct media *m)
{
	struct mx *x;
	int rc;

	for (x = m->list; x != NULL && m->nactive < MEDIA_ACTIVE_MAX;
	    x = x->next) {
		if (x->state != MX_QUEUED)
			continue;
		if ((rc = mx_start(m, x)) != 0)
			mx_defer_fail(m, x, rc, rc == MEDIA_ECONN ?
			    "no media host" : "cannot start the transfer");
	}
}

/* ------------------------------------------------------------ media_conn */

static void
mx_conn_done(void *arg, const struct binnode *reply, int err)
{
	struct mx_ticket *t = arg;
	struct media *m = t->m;
	struct media_conn_info mc;
	struct mx *x, *next, *failed = NULL, **tail = &failed;
	char why[96];
	int ok;

	why[0] = '\0';
	free(t);
	if (m == NULL)
		return;		/* media_free'd meanwhile */
	m->ticket = NULL;
	ok = err == CONN_OK && media_conn_parse(reply, mx_now(), &mc) == 0;
	if (ok) {
		media_set_conn_info(m, &mc);
		sodium_memzero(&mc, sizeof(mc));
		log_debug("media: media_conn: %zu host(s), ttl %ld s",
		    m->mc.nhosts, m->mc.ttl);
	} else {
		snprintf(why, sizeof(why), "media_conn failed (%s)",
		    err == CONN_OK ? "bad answer" : err == CONN_ETIMEOUT ?
		    "timeout" : err == CONN_EERROR ? "iq error" :
		    "disconnected");
		log_warnx("media: %s", why);
	}
	for (x = m->list; x != NULL; x = next) {
		next = x->next;
		if (x->state != MX_WAIT_CONN)
			continue;
		if (ok)
			x->state = MX_QUEUED;
		else {
			mx_unlink(m, x);
			*tail = x;
			tail = &x->next;
		}
	}
	if (ok)
		mx_start_queued(m);
	/* callbacks last: they may start new requests */
	while ((x = failed) != NULL) {
		failed = x->next;
		mx_fail(m, x, MEDIA_ECONN, why);
	}
}

void
media_set_conn_info(struct media *m, const struct media_conn_info *mc)
{
	sodium_memzero(&m->mc, sizeof(m->mc));
	m->have_mc = 0;
	if (mc == NULL || mc->nhosts == 0 || mc->auth[0] == '\0')
		return;
	m->mc = *mc;
	if (m->mc.nhosts > MEDIA_HOSTS_MAX)
		m->mc.nhosts = MEDIA_HOSTS_MAX;
	if (m->mc.expires_ms == 0)
		m->mc.expires_ms = mx_now() + (int64_t)(m->mc.ttl > 0 ?
		    m->mc.ttl : MX_TTL_DEFAULT) * 1000;
	m->have_mc = 1;
}

const struct media_conn_info *
media_conn_cached(struct media *m)
{
	if (!m->have_mc || mx_now() >= m->mc.expires_ms)
		return NULL;
	return &m->mc;
}

/* ------------------------------------------------------------ public */

struct media *
media_new(const char *ca_file)
{
	struct media *m;

	/* libcurl comes with the first transfer (mx_multi, lazycurl.c) */
	m = xcalloc(1, sizeof(*m));
	if (ca_file != NULL && *ca_file != '\0') {
		log_warnx("media: TEST ONLY: trusting %s instead of the "
		    "system CA store", ca_file);
		m->ca_file = xstrdup(ca_file);
	}
	m->timer = -1;
	media_set_timeouts(m, 0, 0, 0);
	return m;
}

void
media_free(struct media *m)
{
	struct mx *x;

	if (m == NULL)
		return;
	if (m->ticket != NULL)
		m->ticket->m = NULL;	/* the IQ answer frees it */
	while ((x = m->list) != NULL) {
		m->list = x->next;
		mx_free(m, x);
	}
	if (m->multi != NULL) {
		curl_multi_cleanup(m->multi);
		curl_global_cleanup();
	}
	free(m->ca_file);
	sodium_memzero(&m->mc, sizeof(m->mc));
	free(m);
}

void
media_set_timeouts(struct media *m, long media_total_ms, long fetch_total_ms,
    long stall_ms)
{
	m->media_total_ms = media_total_ms > 0 ? media_total_ms : 600000L;
	m->fetch_total_ms = fetch_total_ms > 0 ? fetch_total_ms : 60000L;
	m->stall_ms = stall_ms > 0 ? stall_ms : 30000L;
}

size_t
media_active(struct media *m)
{
	return m->nheld;
}

int
media_upload(struct media *m, struct conn *c, const char *kind,
    const uint8_t *plain, size_t len, media_upload_cb cb, void *arg)
{
	struct binnode *iq;
	struct mx *x;
	const char *info;
	size_t cap;
	int rc;

	if (kind == NULL || cb == NULL || (plain == NULL && len > 0) ||
	    (info = media_crypto_info(kind)) == NULL ||
	    media_crypto_mms_path(kind) == NULL ||
	    strlen(kind) >= sizeof(x->kind))
		return MEDIA_EINVAL;
	cap = media_max_size(kind);
	if (len > cap) {
		log_warnx("media: %s of %zu bytes refused (cap %zu)", kind,
		    len, cap);
		return MEDIA_ETOOBIG;
	}
	if (m->nheld >= MEDIA_QUEUE_MAX)
		return MEDIA_EBUSY;
	if (media_conn_cached(m) == NULL && m->ticket == NULL && c == NULL)
		return MEDIA_ECONN;
	x = mx_new(m, MX_UPLOAD, MX_REPLY_MAX, NULL, cb, arg);
	snprintf(x->kind, sizeof(x->kind), "%s", kind);
	randombytes_buf(x->media_key, sizeof(x->media_key));
	x->key_ts = (int64_t)time(NULL);
	x->file_length = len;
	if (media_crypto_encrypt(x->media_key, info, plain, len, &x->body,
	    &x->bodylen, x->file_sha256, x->file_enc_sha256) != 0) {
		mx_unlink(m, x);
		mx_free(m, x);
		return MEDIA_EINVAL;
	}
	if (media_conn_cached(m) != NULL) {
		mx_start_queued(m);
		return 0;
	}
	x->state = MX_WAIT_CONN;
	if (m->ticket != NULL)
		return 0;		/* rides on the IQ in flight */
	m->ticket = xcalloc(1, sizeof(*m->ticket));
	m->ticket->m = m;
	iq = media_conn_iq();
	rc = conn_send_iq(c, iq, 0, mx_conn_done, m->ticket);
	binnode_free(iq);
	if (rc != CONN_OK) {
		free(m->ticket);
		m->ticket = NULL;
		mx_unlink(m, x);
		mx_free(m, x);
		return MEDIA_ECONN;
	}
	return 0;
}

static int
mx_url_ok(const char *url, int https_only)
{
	size_t n = strlen(url);

	if (n == 0 || n >= MEDIA_URL_MAX || !mx_path_ok(url, 1))
		return 0;
	if (strncasecmp(url, "https://", 8) == 0)
		return url[8] != '\0' && url[8] != '/';
	if (!https_only && strncasecmp(url, "http://", 7) == 0)
		return url[7] != '\0' && url[7] != '/';
	return 0;
}

int
media_fetch_url(struct media *m, const char *url, size_t max,
    media_fetch_cb cb, void *arg)
{
	struct mx *x;

	if (url == NULL || cb == NULL || !mx_url_ok(url, 0))
		return MEDIA_EINVAL;
	if (max == 0 || max > MEDIA_MAX_DOWNLOAD)
		max = MEDIA_MAX_DOWNLOAD;
	if (m->nheld >= MEDIA_QUEUE_MAX)
		return MEDIA_EBUSY;
	x = mx_new(m, MX_FETCH, max, cb, NULL, arg);
	x->max = max;
	x->url = xstrdup(url);
	mx_start_queued(m);
	return 0;
}

int
media_download(struct media *m, const char *url_or_direct_path,
    const char *kind, const uint8_t media_key[MEDIA_KEY_LEN],
    const uint8_t *file_enc_sha256, size_t max, media_fetch_cb cb, void *arg)
{
	const struct media_conn_info *mc;
	char url[MEDIA_URL_MAX];
	const char *u = url_or_direct_path;
	struct mx *x;

	if (u == NULL || kind == NULL || media_key == NULL || cb == NULL ||
	    media_crypto_info(kind) == NULL || strlen(kind) >= sizeof(x->kind))
		return MEDIA_EINVAL;
	if (max == 0 || max > MEDIA_MAX_DOWNLOAD)
		max = MEDIA_MAX_DOWNLOAD;
	if (u[0] == '/') {
		/* checked now; built again per host when it starts */
		mc = media_conn_cached(m);
		if (media_download_url(url, sizeof(url), mc != NULL ?
		    mc->hosts[0] : MEDIA_DEFAULT_HOST, u,
		    media_crypto_mms_path(kind), file_enc_sha256) != 0)
			return MEDIA_EINVAL;
		u = url;
	} else if (!mx_url_ok(u, 1))
		return MEDIA_EINVAL;
	if (m->nheld >= MEDIA_QUEUE_MAX)
		return MEDIA_EBUSY;
	/* body = ct (plain + 1..16 padding) || 10-byte MAC */
	x = mx_new(m, MX_DOWNLOAD, max + 16 + MEDIA_MAC_LEN, cb, NULL, arg);
	x->max = max;
	snprintf(x->kind, sizeof(x->kind), "%s", kind);
	memcpy(x->media_key, media_key, MEDIA_KEY_LEN);
	if (file_enc_sha256 != NULL) {
		memcpy(x->file_enc_sha256, file_enc_sha256, MEDIA_SHA256_LEN);
		x->have_enc = 1;
	}
	if (u == url) {
		x->dp = xstrdup(url_or_direct_path);	/* URL per host */
		sodium_memzero(url, sizeof(url));
	} else
		x->url = xstrdup(u);
	mx_start_queued(m);
	return 0;
}

/* ------------------------------------------------------------ completion */

static void
mx_finish_upload(struct media *m, struct mx *x)
{
	struct media_upload_result r;
	struct json_object *o, *u, *dp;
	const char *us, *dps;

	o = json_tokener_parse(buf_cstr(&x->resp));
	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "url", &u) ||
	    !json_object_object_get_ex(o, "direct_path", &dp) ||
	    !json_object_is_type(u, json_type_string) ||
	    !json_object_is_type(dp, json_type_string) ||
	    (us = json_object_get_string(u)) == NULL ||
	    (dps = json_object_get_string(dp)) == NULL ||
	    strncmp(us, "https://", 8) != 0 || dps[0] != '/') {
		log_warnx("media: upload of %s: unusable answer", x->kind);
		if (o != NULL)
			json_object_put(o);
		mx_fail(m, x, MEDIA_EREPLY, "bad upload answer");
		return;
	}
	memset(&r, 0, sizeof(r));
	r.url = us;
	r.direct_path = dps;
	memcpy(r.media_key, x->media_key, MEDIA_KEY_LEN);
	memcpy(r.file_sha256, x->file_sha256, MEDIA_SHA256_LEN);
	memcpy(r.file_enc_sha256, x->file_enc_sha256, MEDIA_SHA256_LEN);
	r.file_length = x->file_length;
	r.media_key_timestamp = x->key_ts;
	log_info("media: uploaded %s of %llu bytes", x->kind,
	    (unsigned long long)x->file_length);
	x->ucb(x->arg, MEDIA_OK, NULL, &r);
	sodium_memzero(r.media_key, sizeof(r.media_key));
	json_object_put(o);
	mx_free(m, x);
}

static void
mx_finish_download(struct media *m, struct mx *x)
{
	uint8_t *plain = NULL;
	size_t plainlen = 0;
	int rc;

	rc = media_crypto_decrypt(x->media_key, media_crypto_info(x->kind),
	    x->resp.data, x->resp.len, x->have_enc ? x->file_enc_sha256 :
	    NULL, NULL, &plain, &plainlen);
	if (rc != 0) {
		log_warnx("media: download of %s: %s", x->kind,
		    rc == MEDIA_ERR_HASH ? "file hash mismatch" :
		    rc == MEDIA_ERR_MAC ? "MAC mismatch" : "cannot decrypt");
		mx_fail(m, x, MEDIA_ECRYPTO, rc == MEDIA_ERR_HASH ?
		    "file hash mismatch" : rc == MEDIA_ERR_MAC ?
		    "MAC mismatch" : "cannot decrypt");
		return;
	}
	if (plainlen > x->max) {
		free(plain);
		mx_fail(m, x, MEDIA_ETOOBIG, "media over the size cap");
		return;
	}
	log_debug("media: downloaded %s of %zu bytes", x->kind, plainlen);
	x->fcb(x->arg, MEDIA_OK, NULL, plain, plainlen, NULL);
	free(plain);
	mx_free(m, x);
}

/* A transfer curl is done with (x unlinked, still holding its easy). */
static void
mx_finish(struct media *m, struct mx *x, CURLcode res)
{
	static const char *names[] = { "upload", "fetch", "download" };
	char where[256], err[MX_ERR_MAX];
	char *ct = NULL, ctype[128];
	long code = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	media_url_for_log(x->url, where, sizeof(where));
	if ((res == CURLE_OK || res == CURLE_WRITE_ERROR ||
	    res == CURLE_FILESIZE_EXCEEDED) && code >= 300) {
		snprintf(err, sizeof(err), "HTTP %ld", code);
		log_warnx("media: %s %s: %s", names[x->type], where, err);
		if (x->type == MX_UPLOAD && (code == 401 || code == 403))
			media_set_conn_info(m, NULL);	/* auth is stale */
		mx_fail(m, x, x->type == MX_DOWNLOAD && (code == 403 ||
		    code == 404 || code == 410) ? MEDIA_EEXPIRED : MEDIA_EHTTP,
		    err);
		return;
	}
	if (x->toobig || res == CURLE_FILESIZE_EXCEEDED) {
		log_warnx("media: %s %s: over %zu bytes", names[x->type], where,
		    x->resp.max);
		mx_fail(m, x, MEDIA_ETOOBIG, "over the size cap");
		return;
	}
	if (res != CURLE_OK) {
		snprintf(err, sizeof(err), "%s", x->curlerr[0] ? x->curlerr :
		    curl_easy_strerror(res));
		/* curl's message may quote the URL: keep it out of the log
		 * and of the caller's error text */
		if (strstr(err, "://") != NULL || strchr(err, '?') != NULL)
			snprintf(err, sizeof(err), "%s",
			    curl_easy_strerror(res));
		log_warnx("media: %s %s: %s", names[x->type], where, err);
		if (res == CURLE_COULDNT_CONNECT ||
		    res == CURLE_COULDNT_RESOLVE_HOST ||
		    res == CURLE_OPERATION_TIMEDOUT ||
		    res == CURLE_SSL_CONNECT_ERROR) {
			if (mx_next_host(m, x) == 0) {
				mx_start_queued(m);
				return;
			}
		}
		mx_fail(m, x, MEDIA_ENET, err);
		return;
	}
	if (code < 200 || code > 299) {
		snprintf(err, sizeof(err), "HTTP %ld", code);
		log_warnx("media: %s %s: %s", names[x->type], where, err);
		mx_fail(m, x, MEDIA_EHTTP, err);
		return;
	}
	switch (x->type) {
	case MX_UPLOAD:
		mx_finish_upload(m, x);
		break;
	case MX_DOWNLOAD:
		mx_finish_download(m, x);
		break;
	case MX_FETCH:
		ctype[0] = '\0';
		if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct) ==
		    CURLE_OK && ct != NULL)
			snprintf(ctype, sizeof(ctype), "%s", ct);
		log_debug("media: fetched %zu bytes from %s", x->resp.len,
		    where);
		x->fcb(x->arg, MEDIA_OK, NULL, x->resp.data != NULL ?
		    x->resp.data : (const uint8_t *)"", x->resp.len,
		    ctype[0] ? ctype : NULL);
		mx_free(m, x);
		break;
	}
}

static void
mx_check_done(struct media *m)
{
	struct mx *x;
	CURLMsg *msg;
	CURLcode res;
	int left;

	if (m->multi == NULL)
		return;
	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		x = NULL;
		res = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &x);
		if (x == NULL)
			continue;
		mx_unlink(m, x);
		mx_detach(m, x);
		mx_finish(m, x, res);
	}
}

/* Deliver the failures found before a transfer could start. */
static void
mx_deliver_deferred(struct media *m)
{
	struct mx *x, *failed = NULL, **tail = &failed;
	struct mx *next;

	if (m->ndone == 0)
		return;
	for (x = m->list; x != NULL; x = next) {
		next = x->next;
		if (x->state == MX_DONE && x->easy == NULL) {
			mx_unlink(m, x);
			*tail = x;
			tail = &x->next;
		}
	}
	m->ndone = 0;
	while ((x = failed) != NULL) {
		failed = x->next;
		log_warnx("media: %s", x->errstr);
		mx_fail(m, x, x->err, x->errstr);
	}
}

/* ------------------------------------------------------------ poll loop */

size_t
media_pollfds(struct media *m, zmq_pollitem_t *items, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < m->nfds && n < max; i++, n++) {
		memset(&items[n], 0, sizeof(items[n]));
		items[n].fd = m->fds[i].fd;
		items[n].events = (short)(((m->fds[i].what & CURL_POLL_IN) ?
		    ZMQ_POLLIN : 0) | ((m->fds[i].what & CURL_POLL_OUT) ?
		    ZMQ_POLLOUT : 0));
	}
	return n;
}

long
media_timeout_ms(struct media *m)
{
	int64_t d;

	if (m->ndone > 0)
		return 0;
	if (m->timer < 0)
		return -1;
	d = m->timer - mx_now();
	return d < 0 ? 0 : (long)d;
}

void
media_service(struct media *m, const zmq_pollitem_t *items, size_t n)
{
	size_t i;
	int running, ev;

	for (i = 0; i < n && m->multi != NULL; i++) {
		if (items[i].revents == 0)
			continue;
		ev = ((items[i].revents & ZMQ_POLLIN) ? CURL_CSELECT_IN : 0) |
		    ((items[i].revents & ZMQ_POLLOUT) ? CURL_CSELECT_OUT : 0) |
		    ((items[i].revents & ZMQ_POLLERR) ? CURL_CSELECT_ERR : 0);
		curl_multi_socket_action(m->multi, items[i].fd, ev, &running);
	}
	if (m->multi != NULL && m->timer >= 0 && mx_now() >= m->timer) {
		m->timer = -1;
		curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0,
		    &running);
	}
	mx_check_done(m);
	mx_start_queued(m);
	mx_deliver_deferred(m);
}
