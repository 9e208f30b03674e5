/*
 * test_media.c - waproc/media.c: the pure parts (media_conn IQ and answer,
 * upload/download URLs, tokens, caps) and real transfers on loopback:
 * uploads to fakewa's HTTPS media host (media_conn injected from its GET
 * /root, and through a QR-paired conn doing the media_conn IQ), downloads
 * decrypted and compared byte for byte, tampering and expiry, and
 * media_fetch_url against a small forked HTTP server (redirects, caps,
 * file:// refused, stalls, many at once).
 *     build/tests/test_media [name...]
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <sodium.h>
#include <zmq.h>

#include "t.h"
#include "buf.h"
#include "log.h"
#include "binnode.h"
#include "conn.h"
#include "creds.h"
#include "media.h"
#include "pairing.h"

/* ------------------------------------------------------------ pure */

static void
test_conn_iq(void)
{
	struct binnode *iq = media_conn_iq(), *back = NULL;
	struct jid to;
	struct buf b;

	T_OK(binnode_tag_is(iq, "iq"), "tag iq");
	T_EQ_STR(binnode_attr(iq, "xmlns"), "w:m", "xmlns");
	T_EQ_STR(binnode_attr(iq, "type"), "set", "type");
	T_OK(binnode_child(iq, "media_conn") != NULL, "<media_conn/> child");
	buf_init(&b, 4096);
	T_OK(binnode_encode(iq, &b) == 0 &&
	    binnode_decode(b.data, b.len, &back) == 0 &&
	    binnode_equal(iq, back), "encodes and decodes");
	T_OK(back != NULL && binnode_attr_jid(back, "to", &to) == 0 &&
	    to.user[0] == '\0' && strcmp(to.server, "s.whatsapp.net") == 0,
	    "to=s.whatsapp.net on the wire");
	buf_free(&b);
	binnode_free(back);
	binnode_free(iq);
}

static struct binnode *
mc_node(const char *auth, const char *ttl, const char *const *hosts,
    size_t n)
{
	struct binnode *iq = binnode_new("iq"), *mc, *h;
	size_t i;

	binnode_set_attrs(iq, "type", "result", "id", "1", NULL);
	mc = binnode_add_new(iq, "media_conn");
	binnode_set_attrs(mc, "auth", auth, "ttl", ttl, "auth_ttl", "21600",
	    "max_buckets", "12", NULL);
	for (i = 0; i < n; i++) {
		h = binnode_add_new(mc, "host");
		binnode_set_attr(h, "hostname", hosts[i]);
	}
	return iq;
}

static void
test_conn_parse(void)
{
	static const char *hosts[] = { "mmg.whatsapp.net", "bad/host",
	    "127.0.0.1:4433", "x?y", "a.b", "c.d", "e.f" };
	struct media_conn_info mc;
	struct binnode *n;

	n = mc_node("AbC+/=", "3600", hosts, 7);
	T_EQ_INT(media_conn_parse(n, 1000, &mc), 0, "parses");
	T_EQ_STR(mc.auth, "AbC+/=", "auth");
	T_EQ_INT(mc.ttl, 3600, "ttl");
	T_EQ_INT(mc.auth_ttl, 21600, "auth_ttl");
	T_EQ_INT(mc.expires_ms, 1000 + 3600 * 1000LL, "expires = now + ttl");
	T_EQ_INT(mc.nhosts, MEDIA_HOSTS_MAX, "hosts capped, bad ones skipped");
	T_EQ_STR(mc.hosts[0], "mmg.whatsapp.net", "host 0");
	T_EQ_STR(mc.hosts[1], "127.0.0.1:4433", "host 1 (port kept)");
	T_EQ_STR(mc.hosts[2], "a.b", "host 2");
	/* the <media_conn> itself is accepted too */
	T_EQ_INT(media_conn_parse(binnode_child(n, "media_conn"), 0, &mc), 0,
	    "parses the child");
	binnode_free(n);

	n = mc_node("tok", NULL, hosts, 1);
	T_EQ_INT(media_conn_parse(n, 0, &mc), 0, "no ttl");
	T_EQ_INT(mc.expires_ms, 60 * 1000, "no ttl: 60 s");
	binnode_free(n);
	n = mc_node("tok", "99999999", hosts, 1);
	T_EQ_INT(media_conn_parse(n, 0, &mc), 0, "huge ttl");
	T_EQ_INT(mc.expires_ms, 86400 * 1000LL, "ttl capped at a day");
	binnode_free(n);

	n = mc_node(NULL, "3600", hosts, 1);
	T_EQ_INT(media_conn_parse(n, 0, &mc), MEDIA_EREPLY, "no auth");
	T_EQ_INT(mc.nhosts, 0, "cleared on error");
	binnode_free(n);
	n = mc_node("tok", "3600", hosts + 1, 1);
	T_EQ_INT(media_conn_parse(n, 0, &mc), MEDIA_EREPLY, "no usable host");
	binnode_free(n);
	n = binnode_new("iq");
	T_EQ_INT(media_conn_parse(n, 0, &mc), MEDIA_EREPLY, "no media_conn");
	binnode_free(n);
	T_EQ_INT(media_conn_parse(NULL, 0, &mc), MEDIA_EREPLY, "NULL");
}

static void
test_urls(void)
{
	uint8_t sha[32];
	char tok[48], url[MEDIA_URL_MAX], small[40];

	/* SHA-256("") */
	crypto_hash_sha256(sha, (const uint8_t *)"", 0);
	media_token(sha, tok);
	T_EQ_STR(tok, "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=",
	    "token = base64url with padding");

	T_EQ_INT(media_upload_url(url, sizeof(url), "mmg.whatsapp.net",
	    "image", tok, "a+b/c=d e"), 0, "upload url");
	T_EQ_STR(url, "https://mmg.whatsapp.net/mms/image/"
	    "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=?auth=a%2Bb%2Fc%3Dd%20e"
	    "&token=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU%3D",
	    "auth and token %-encoded in the query");
	T_EQ_INT(media_upload_url(url, sizeof(url), "127.0.0.1:8443",
	    "document", "t", "x"), 0, "host with port");
	T_EQ_STR(url, "https://127.0.0.1:8443/mms/document/t?auth=x&token=t",
	    "host with port url");
	T_EQ_INT(media_upload_url(url, sizeof(url), "evil.com/x?",
	    "image", tok, "a"), MEDIA_EINVAL, "bad host refused");
	T_EQ_INT(media_upload_url(url, sizeof(url), "h", "../x", tok, "a"),
	    MEDIA_EINVAL, "bad mms path refused");
	T_EQ_INT(media_upload_url(small, sizeof(small), "mmg.whatsapp.net",
	    "image", tok, "a"), MEDIA_EINVAL, "too small a buffer");
	T_EQ_STR(small, "", "nothing half-written");

	T_EQ_INT(media_download_url(url, sizeof(url), "mmg.whatsapp.net",
	    "/v/t62.7118-24/123_n.enc?ccb=11-4&oh=01_x", "image", sha), 0,
	    "download url (query in the direct path)");
	T_EQ_STR(url, "https://mmg.whatsapp.net/v/t62.7118-24/123_n.enc"
	    "?ccb=11-4&oh=01_x&hash=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
	    "%3D&mms-type=image&__wa-mms=", "whatsmeow style");
	T_EQ_INT(media_download_url(url, sizeof(url), "h.net", "/a/b", NULL,
	    NULL), 0, "no hash, no type");
	T_EQ_STR(url, "https://h.net/a/b", "bare direct path");
	T_EQ_INT(media_download_url(url, sizeof(url), "h.net", "/a/b",
	    "video", NULL), 0, "type only");
	T_EQ_STR(url, "https://h.net/a/b?mms-type=video&__wa-mms=",
	    "type only url");
	T_EQ_INT(media_download_url(url, sizeof(url), "h.net", "a/b", NULL,
	    NULL), MEDIA_EINVAL, "direct path must start with /");
	T_EQ_INT(media_download_url(url, sizeof(url), "h.net", "//evil/b",
	    NULL, NULL), MEDIA_EINVAL, "no //host direct path");
	T_EQ_INT(media_download_url(url, sizeof(url), "h.net", "/a b", NULL,
	    NULL), MEDIA_EINVAL, "no spaces");

	media_url_for_log("https://u:p@mmg.whatsapp.net/mms/image/t?auth=SECRET"
	    "&token=t", url, sizeof(url));
	T_EQ_STR(url, "https://mmg.whatsapp.net/mms/image/t",
	    "log form: no credentials, no query");
	media_url_for_log("http://h/x#frag?y", url, sizeof(url));
	T_EQ_STR(url, "http://h/x", "log form: no fragment");
	media_url_for_log("h?x=://", url, sizeof(url));
	T_EQ_STR(url, "(url)", "log form of garbage");
	media_url_for_log("https://h.net/abcdefghijklmnop?auth=S", small, 16);
	T_OK(strstr(small, "auth") == NULL, "truncated log form");
}

static void
test_caps(void)
{
	T_EQ_INT(media_max_size("image"), 20 << 20, "image 20 MB");
	T_EQ_INT(media_max_size("sticker"), 20 << 20, "sticker 20 MB");
	T_EQ_INT(media_max_size("video"), 100 << 20, "video 100 MB");
	T_EQ_INT(media_max_size("audio"), 50 << 20, "audio 50 MB");
	T_EQ_INT(media_max_size("document"), 50 << 20, "document 50 MB");
	T_EQ_INT(media_max_size("nonsense"), 0, "unknown kind");
	T_EQ_INT(media_max_size(NULL), 0, "NULL kind");
	T_OK(strlen(media_strerror(MEDIA_ETOOBIG)) > 0, "strerror");
}

/* ------------------------------------------------------------ loop */

struct res {
	int		 done;
	int		 err;
	char		 errstr[256];
	struct buf	 data;
	char		 ctype[128];
	char		 url[512];
	char		 dp[512];
	struct media_upload_result up;
};

static void
res_init(struct res *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->data, (size_t)64 << 20);
}

static void
res_free(struct res *r)
{
	buf_free(&r->data);
}

static void
on_fetch(void *arg, int err, const char *errstr, const uint8_t *data,
    size_t len, const char *ctype)
{
	struct res *r = arg;

	r->done++;
	r->err = err;
	snprintf(r->errstr, sizeof(r->errstr), "%s", errstr ? errstr : "");
	if (err == MEDIA_OK) {
		buf_reset(&r->data);
		(void)buf_append(&r->data, data, len);
	}
	snprintf(r->ctype, sizeof(r->ctype), "%s", ctype ? ctype : "");
}

static void
on_upload(void *arg, int err, const char *errstr,
    const struct media_upload_result *u)
{
	struct res *r = arg;

	r->done++;
	r->err = err;
	snprintf(r->errstr, sizeof(r->errstr), "%s", errstr ? errstr : "");
	if (err == MEDIA_OK) {
		r->up = *u;
		snprintf(r->url, sizeof(r->url), "%s", u->url);
		snprintf(r->dp, sizeof(r->dp), "%s", u->direct_path);
		r->up.url = r->url;
		r->up.direct_path = r->dp;
	}
}

static void
on_never(void *arg, int err, const char *errstr, const uint8_t *data,
    size_t len, const char *ctype)
{
	(*(int *)arg)++;
}

static void
on_never_up(void *arg, int err, const char *errstr,
    const struct media_upload_result *u)
{
	(*(int *)arg)++;
}

/* One turn of an owner's zmq_poll loop: conn (may be NULL) + media. */
static void
pump(struct media *m, struct conn *c, int max_ms)
{
	zmq_pollitem_t items[64];
	struct pollfd pfd[CONN_POLLFDS_MAX];
	size_t n = 0, k, i;
	long t, mt;
	int nc = 0;

	if (c != NULL) {
		nc = conn_pollfds(c, pfd, CONN_POLLFDS_MAX);
		for (i = 0; i < (size_t)nc; i++, n++) {
			memset(&items[n], 0, sizeof(items[n]));
			items[n].fd = pfd[i].fd;
			items[n].events = (short)(((pfd[i].events & POLLIN) ?
			    ZMQ_POLLIN : 0) | ((pfd[i].events & POLLOUT) ?
			    ZMQ_POLLOUT : 0));
		}
	}
	k = media_pollfds(m, items + n, 64 - n);
	t = max_ms;
	if (c != NULL && conn_timeout_ms(c) < t)
		t = conn_timeout_ms(c);
	if ((mt = media_timeout_ms(m)) >= 0 && mt < t)
		t = mt;
	(void)zmq_poll(items, (int)(n + k), t);
	if (c != NULL)
		conn_service(c);
	media_service(m, items + n, k);
}

static int
run_until(struct media *m, struct conn *c, const int *flag, int want, int ms)
{
	uint64_t end = conn_now_ms() + (uint64_t)ms;

	while (conn_now_ms() < end && *flag < want)
		pump(m, c, 20);
	return *flag >= want;
}

/* ------------------------------------------------------------ fakewa */

static char tmpl[] = "/tmp/test_media.XXXXXX";

static struct {
	pid_t	pid;
	int	ws, http, media;
	char	root[65];
	char	dir[256];
	char	cert[320];
	char	auth[128];
} fw;

static int
fw_start(void)
{
	int p[2];
	char line[512];
	size_t n = 0;
	const char *bin = getenv("FAKEWA");
	uint64_t end;

	if (bin == NULL)
		bin = "build/bin/fakewa";
	if (access(bin, X_OK) != 0 || pipe(p) != 0)
		return -1;
	if ((fw.pid = fork()) == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(p[1], 1);
		if (!getenv("FAKEWA_LOG") && devnull >= 0)
			dup2(devnull, 2);
		close(p[0]);
		execl(bin, "fakewa", "-d", fw.dir, "-p", "0", "-P", "0",
		    "-M", "0", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	end = conn_now_ms() + 10000;
	while (conn_now_ms() < end && n < sizeof(line) - 1) {
		struct pollfd pfd = { p[0], POLLIN, 0 };
		ssize_t r;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if ((r = read(p[0], line + n, sizeof(line) - 1 - n)) <= 0)
			break;
		n += (size_t)r;
		line[n] = '\0';
		if (strchr(line, '\n'))
			break;
	}
	close(p[0]);
	line[n] = '\0';
	if (sscanf(line, "fakewa ready ws=%d http=%d root=%64s media=%d",
	    &fw.ws, &fw.http, fw.root, &fw.media) != 4)
		return -1;
	snprintf(fw.cert, sizeof(fw.cert), "%s/tls-cert.pem", fw.dir);
	return 0;
}

static void
fw_stop(void)
{
	int st;

	if (fw.pid > 0) {
		kill(fw.pid, SIGTERM);
		waitpid(fw.pid, &st, 0);
		fw.pid = 0;
	}
}

static size_t
curl_write(char *p, size_t sz, size_t n, void *arg)
{
	return buf_append(arg, p, sz * n) == 0 ? sz * n : 0;
}

/* Blocking HTTP to fakewa's control API (the test's side only). */
static long
http(const char *method, const char *path, const char *body,
    struct json_object **out)
{
	CURL *h = curl_easy_init();
	struct buf b;
	char url[256];
	long status = -1;

	*out = NULL;
	buf_init(&b, 1 << 20);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fw.http, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curl_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(h) == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		*out = json_tokener_parse(buf_cstr(&b));
	}
	curl_easy_cleanup(h);
	buf_free(&b);
	return status;
}

static int
fw_root(void)
{
	struct json_object *o, *v;
	long port = 0;

	if (http("GET", "/root", NULL, &o) != 200 || o == NULL)
		return -1;
	if (json_object_object_get_ex(o, "media_port", &v))
		port = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "media_auth", &v))
		snprintf(fw.auth, sizeof(fw.auth), "%s",
		    json_object_get_string(v));
	json_object_put(o);
	return port == fw.media && fw.auth[0] != '\0' ? 0 : -1;
}

static void
inject(struct media *m, const char *auth)
{
	struct media_conn_info mc;

	memset(&mc, 0, sizeof(mc));
	snprintf(mc.auth, sizeof(mc.auth), "%s", auth);
	snprintf(mc.hosts[0], sizeof(mc.hosts[0]), "127.0.0.1:%d", fw.media);
	mc.nhosts = 1;
	mc.ttl = 3600;
	media_set_conn_info(m, &mc);
}

/* A loopback port nobody listens on (bound, then closed). */
static int
closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int s, port = 1;

	if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(s, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	close(s);
	return port;
}

static uint8_t *
random_bytes(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	randombytes_buf(p, n);
	return p;
}

/* ------------------------------------------------- fakewa: injected */

static void
upload_download(struct media *m, const char *kind, size_t len)
{
	struct res up, dl;
	uint8_t *plain = random_bytes(len), sha[32];

	res_init(&up);
	res_init(&dl);
	T_EQ_INT(media_upload(m, NULL, kind, plain, len, on_upload, &up), 0,
	    "upload accepted");
	T_EQ_INT(up.done, 0, "callback not called inside the call");
	if (!T_OK(run_until(m, NULL, &up.done, 1, 10000) &&
	    up.err == MEDIA_OK, "%s of %zu bytes uploaded", kind, len)) {
		printf("#   err %d %s\n", up.err, up.errstr);
		goto out;
	}
	crypto_hash_sha256(sha, plain, len);
	T_EQ_MEM(up.up.file_sha256, 32, sha, 32, "file_sha256");
	T_EQ_INT(up.up.file_length, len, "file_length");
	T_OK(up.up.media_key_timestamp > 1700000000, "media_key_timestamp");
	T_OK(strncmp(up.url, "https://127.0.0.1:", 18) == 0, "url: %s",
	    up.url);
	T_OK(strncmp(up.dp, "/mms-dl/", 8) == 0, "direct_path: %s", up.dp);

	/* whatsmeow style: media host + direct path (+hash, mms-type) */
	T_EQ_INT(media_download(m, up.dp, kind, up.up.media_key,
	    up.up.file_enc_sha256, 0, on_fetch, &dl), 0, "download accepted");
	if (T_OK(run_until(m, NULL, &dl.done, 1, 10000) &&
	    dl.err == MEDIA_OK, "downloaded by direct path"))
		T_EQ_MEM(dl.data.data, dl.data.len, plain, len,
		    "same bytes (direct path)");
	else
		printf("#   err %d %s\n", dl.err, dl.errstr);
	/* Baileys style: the url */
	dl.done = 0;
	T_EQ_INT(media_download(m, up.url, kind, up.up.media_key, NULL, 0,
	    on_fetch, &dl), 0, "download by url accepted");
	if (T_OK(run_until(m, NULL, &dl.done, 1, 10000) &&
	    dl.err == MEDIA_OK, "downloaded by url"))
		T_EQ_MEM(dl.data.data, dl.data.len, plain, len,
		    "same bytes (url)");
out:
	free(plain);
	res_free(&up);
	res_free(&dl);
}

static void
test_roundtrip(void)
{
	struct media *m = media_new(fw.cert);

	inject(m, fw.auth);
	T_OK(media_conn_cached(m) != NULL, "injected media_conn cached");
	upload_download(m, "image", 100000);
	upload_download(m, "document", 0);
	upload_download(m, "video", 3 << 20);
	upload_download(m, "sticker", 15);
	T_EQ_INT(media_active(m), 0, "nothing left held");
	media_free(m);

	/* first host unreachable: the upload moves on to the next one */
	{
		struct media_conn_info mc;
		int port;

		m = media_new(fw.cert);
		memset(&mc, 0, sizeof(mc));
		snprintf(mc.auth, sizeof(mc.auth), "%s", fw.auth);
		port = closed_port();
		snprintf(mc.hosts[0], sizeof(mc.hosts[0]), "127.0.0.1:%d",
		    port);
		snprintf(mc.hosts[1], sizeof(mc.hosts[1]), "127.0.0.1:%d",
		    fw.media);
		mc.nhosts = 2;
		mc.ttl = 60;
		media_set_conn_info(m, &mc);
		upload_download(m, "image", 2000);
		media_free(m);
	}
}

static void
test_download_errors(void)
{
	struct media *m = media_new(fw.cert);
	struct res up, dl;
	uint8_t *plain = random_bytes(5000), key[32], sha[32];

	res_init(&up);
	res_init(&dl);
	inject(m, fw.auth);
	(void)media_upload(m, NULL, "audio", plain, 5000, on_upload, &up);
	if (!T_OK(run_until(m, NULL, &up.done, 1, 10000) &&
	    up.err == MEDIA_OK, "uploaded"))
		goto out;
	/* wrong key: MAC fails */
	memcpy(key, up.up.media_key, 32);
	key[0] ^= 1;
	(void)media_download(m, up.dp, "audio", key, NULL, 0, on_fetch, &dl);
	run_until(m, NULL, &dl.done, 1, 10000);
	T_EQ_INT(dl.err, MEDIA_ECRYPTO, "wrong media key refused");
	T_EQ_STR(dl.errstr, "MAC mismatch", "MAC mismatch text");
	/* wrong kind: other keys, MAC fails */
	dl.done = 0;
	(void)media_download(m, up.dp, "image", up.up.media_key, NULL, 0,
	    on_fetch, &dl);
	run_until(m, NULL, &dl.done, 1, 10000);
	T_EQ_INT(dl.err, MEDIA_ECRYPTO, "wrong kind refused");
	/* wrong enc hash */
	memcpy(sha, up.up.file_enc_sha256, 32);
	sha[31] ^= 0x80;
	dl.done = 0;
	(void)media_download(m, up.url, "audio", up.up.media_key, sha, 0,
	    on_fetch, &dl);
	run_until(m, NULL, &dl.done, 1, 10000);
	T_EQ_INT(dl.err, MEDIA_ECRYPTO, "fileEncSha256 mismatch refused");
	/* plaintext over the caller's cap */
	dl.done = 0;
	(void)media_download(m, up.dp, "audio", up.up.media_key, NULL, 1000,
	    on_fetch, &dl);
	run_until(m, NULL, &dl.done, 1, 10000);
	T_EQ_INT(dl.err, MEDIA_ETOOBIG, "over the cap refused");
	/* gone */
	dl.done = 0;
	(void)media_download(m, "/mms-dl/audio/nothere?fakewa=1", "audio",
	    up.up.media_key, NULL, 0, on_fetch, &dl);
	run_until(m, NULL, &dl.done, 1, 10000);
	T_EQ_INT(dl.err, MEDIA_EEXPIRED, "404 = expired");
	T_EQ_STR(dl.errstr, "HTTP 404", "404 text");
	/* refused at once */
	T_EQ_INT(media_download(m, "http://127.0.0.1/x", "audio",
	    up.up.media_key, NULL, 0, on_fetch, &dl), MEDIA_EINVAL,
	    "download URL must be https");
	T_EQ_INT(media_download(m, "file:///etc/passwd", "audio",
	    up.up.media_key, NULL, 0, on_fetch, &dl), MEDIA_EINVAL,
	    "file:// refused");
	T_EQ_INT(media_download(m, up.dp, "nonsense", up.up.media_key, NULL,
	    0, on_fetch, &dl), MEDIA_EINVAL, "unknown kind");
	T_EQ_INT(dl.done, 1, "no callback for refused requests");
out:
	free(plain);
	res_free(&up);
	res_free(&dl);
	media_free(m);
}

static void
test_upload_errors(void)
{
	struct media *m = media_new(fw.cert);
	struct res up;
	uint8_t *big;
	int calls = 0;

	res_init(&up);
	/* no media_conn and no conn */
	T_EQ_INT(media_upload(m, NULL, "image", (const uint8_t *)"x", 1,
	    on_upload, &up), MEDIA_ECONN, "no media_conn, no conn");
	inject(m, fw.auth);
	T_EQ_INT(media_upload(m, NULL, "nonsense", (const uint8_t *)"x", 1,
	    on_upload, &up), MEDIA_EINVAL, "unknown kind");
	T_EQ_INT(media_upload(m, NULL, "thumbnail-image", (const uint8_t *)"x",
	    1, on_upload, &up), MEDIA_EINVAL, "kind without upload path");
	big = calloc(1, MEDIA_MAX_IMAGE + 1);
	T_EQ_INT(media_upload(m, NULL, "image", big, MEDIA_MAX_IMAGE + 1,
	    on_upload, &up), MEDIA_ETOOBIG, "image over 20 MB refused");
	free(big);
	T_EQ_INT(up.done, 0, "no callback for refused uploads");
	/* a stale auth: 401, and the cache is dropped */
	inject(m, "wrong-auth");
	T_EQ_INT(media_upload(m, NULL, "image", (const uint8_t *)"xyz", 3,
	    on_upload, &up), 0, "accepted");
	run_until(m, NULL, &up.done, 1, 10000);
	T_EQ_INT(up.err, MEDIA_EHTTP, "wrong auth: HTTP error");
	T_EQ_STR(up.errstr, "HTTP 401", "error text");
	T_OK(strstr(up.errstr, "wrong-auth") == NULL, "no auth in the error");
	T_OK(media_conn_cached(m) == NULL, "stale media_conn forgotten");
	/* media_free aborts without callbacks */
	inject(m, fw.auth);
	T_EQ_INT(media_upload(m, NULL, "image", (const uint8_t *)"xyz", 3,
	    on_never_up, &calls), 0, "accepted");
	media_free(m);
	T_EQ_INT(calls, 0, "media_free: no callback");
	res_free(&up);
}

/* --------------------------------------------- fakewa: through a conn */

struct cl {
	struct conn	*c;
	struct creds	 creds;
	char		 qr[PAIRING_QR_MAX];
	int		 nqr;
	int		 logged_in;
};

static void
cb_qr(void *arg, const char *qr, int ms)
{
	struct cl *cl = arg;

	snprintf(cl->qr, sizeof(cl->qr), "%s", qr);
	cl->nqr++;
}

static void
cb_in(void *arg)
{
	((struct cl *)arg)->logged_in++;
}

static void
cb_node(void *arg, const struct binnode *n)
{
	struct cl *cl = arg;

	if (binnode_tag_is(n, "message"))
		(void)conn_ack(cl->c, n);
}

static int
pair(struct cl *cl, struct media *m)
{
	struct conn_callbacks cb;
	struct conn_cfg cfg;
	struct json_object *o;
	char body[1024];
	long st;

	memset(cl, 0, sizeof(*cl));
	creds_generate(&cl->creds);
	conn_cfg_default(&cfg);
	snprintf(cfg.url, sizeof(cfg.url), "ws://127.0.0.1:%d/ws/chat", fw.ws);
	snprintf(cfg.cert_root_hex, sizeof(cfg.cert_root_hex), "%s",
	    fw.root);
	cfg.iq_timeout_ms = 5000;
	snprintf(cfg.popts.push_name, sizeof(cfg.popts.push_name), "t");
	memset(&cb, 0, sizeof(cb));
	cb.arg = cl;
	cb.qr = cb_qr;
	cb.logged_in = cb_in;
	cb.node = cb_node;
	cl->c = conn_new(&cfg, &cl->creds, &cb);
	conn_start(cl->c);
	if (!run_until(m, cl->c, &cl->nqr, 1, 5000))
		return 0;
	snprintf(body, sizeof(body), "{\"qr\":\"%s\",\"phone\":\"%s\"}",
	    cl->qr, "15550007001");
	st = http("POST", "/phone/scan", body, &o);
	if (o != NULL)
		json_object_put(o);
	if (st != 200)
		return 0;
	return run_until(m, cl->c, &cl->logged_in, 1, 10000);
}

static void
test_conn_upload(void)
{
	struct media *m = media_new(fw.cert), *m2;
	const struct media_conn_info *mc;
	struct res a, b, dl;
	struct cl cl;
	char host[64];
	uint8_t *plain = random_bytes(70000);
	int calls = 0;

	res_init(&a);
	res_init(&b);
	res_init(&dl);
	if (!T_OK(pair(&cl, m), "a conn paired and logged in"))
		goto out;
	/* two uploads share one media_conn IQ */
	T_EQ_INT(media_upload(m, cl.c, "image", plain, 70000, on_upload, &a),
	    0, "first upload accepted (IQ sent)");
	T_EQ_INT(media_upload(m, cl.c, "video", plain, 1000, on_upload, &b),
	    0, "second upload accepted (waits for the same IQ)");
	T_EQ_INT(media_active(m), 2, "two held");
	run_until(m, cl.c, &a.done, 1, 10000);
	run_until(m, cl.c, &b.done, 1, 10000);
	T_OK(a.err == MEDIA_OK && b.err == MEDIA_OK, "both uploaded (%s %s)",
	    a.errstr, b.errstr);
	mc = media_conn_cached(m);
	snprintf(host, sizeof(host), "127.0.0.1:%d", fw.media);
	T_OK(mc != NULL && strcmp(mc->hosts[0], host) == 0 &&
	    strcmp(mc->auth, fw.auth) == 0 && mc->ttl == 3600,
	    "media_conn from fakewa cached");
	if (a.err == MEDIA_OK) {
		(void)media_download(m, a.dp, "image", a.up.media_key,
		    a.up.file_enc_sha256, MEDIA_MAX_IMAGE, on_fetch, &dl);
		run_until(m, cl.c, &dl.done, 1, 10000);
		T_OK(dl.err == MEDIA_OK && dl.data.len == 70000 &&
		    memcmp(dl.data.data, plain, 70000) == 0,
		    "downloaded through the cached host, same bytes");
	}
	/* the cache serves a third upload without the conn */
	a.done = 0;
	T_EQ_INT(media_upload(m, NULL, "document", plain, 10, on_upload, &a),
	    0, "cached media_conn: no conn needed");
	run_until(m, cl.c, &a.done, 1, 10000);
	T_EQ_INT(a.err, MEDIA_OK, "uploaded with the cache");

	/* media_free while the IQ is in flight: the answer must not touch
	 * the freed media, and no callback runs */
	m2 = media_new(fw.cert);
	T_EQ_INT(media_upload(m2, cl.c, "image", plain, 10, on_never_up,
	    &calls), 0, "upload waiting for media_conn");
	media_free(m2);
	conn_run(cl.c, 500);
	T_EQ_INT(calls, 0, "no callback after media_free");

	/* conn gone before the answer: the upload fails with ECONN */
	a.done = 0;
	media_set_conn_info(m, NULL);
	T_EQ_INT(media_upload(m, cl.c, "image", plain, 10, on_upload, &a), 0,
	    "upload waiting for media_conn");
	conn_free(cl.c);
	cl.c = NULL;
	T_EQ_INT(a.done, 1, "failed when the conn went away");
	T_EQ_INT(a.err, MEDIA_ECONN, "ECONN");
out:
	conn_free(cl.c);
	creds_clear(&cl.creds);
	free(plain);
	res_free(&a);
	res_free(&b);
	res_free(&dl);
	media_free(m);
}

/* ------------------------------------------------ a tiny HTTP server */

static pid_t	hs_pid;
static int	hs_port;

static void
hs_write(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0 && (w = write(fd, c, n)) > 0) {
		c += w;
		n -= (size_t)w;
	}
}

static void
hs_body(int fd, size_t n)
{
	char chunk[4096];
	size_t i, k;

	for (i = 0; i < sizeof(chunk); i++)
		chunk[i] = (char)(i * 7);
	while (n > 0) {
		k = n < sizeof(chunk) ? n : sizeof(chunk);
		hs_write(fd, chunk, k);
		n -= k;
	}
}

static void
hs_handle(int fd)
{
	char req[4096], path[256], hdr[512];
	size_t n = 0;
	ssize_t r;

	while (n < sizeof(req) - 1 && (r = read(fd, req + n,
	    sizeof(req) - 1 - n)) > 0) {
		n += (size_t)r;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[n] = '\0';
	if (sscanf(req, "GET %255s ", path) != 1)
		return;
	if (strcmp(path, "/ok") == 0 || strcmp(path, "/big") == 0) {
		size_t len = path[1] == 'o' ? 1000 : 5000;

		snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nContent-Type: "
		    "image/png\r\nContent-Length: %zu\r\nConnection: close"
		    "\r\n\r\n", len);
		hs_write(fd, hdr, strlen(hdr));
		hs_body(fd, len);
	} else if (strcmp(path, "/nolen") == 0) {
		snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nConnection: "
		    "close\r\n\r\n");
		hs_write(fd, hdr, strlen(hdr));
		hs_body(fd, 50000);
	} else if (strncmp(path, "/redir", 6) == 0) {
		const char *to = strcmp(path, "/redir") == 0 ? "/ok" :
		    strcmp(path, "/redir-file") == 0 ? "file:///etc/passwd" :
		    "/redir-loop";

		snprintf(hdr, sizeof(hdr), "HTTP/1.1 302 Found\r\nLocation: "
		    "%s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", to);
		hs_write(fd, hdr, strlen(hdr));
	} else if (strcmp(path, "/stall") == 0) {
		sleep(5);
	} else {
		snprintf(hdr, sizeof(hdr), "HTTP/1.1 404 Not Found\r\n"
		    "Content-Length: 0\r\nConnection: close\r\n\r\n");
		hs_write(fd, hdr, strlen(hdr));
	}
}

static int
hs_start(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int s, fd, one = 1;

	if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(s, 64) != 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &sl) != 0) {
		close(s);
		return -1;
	}
	hs_port = ntohs(sa.sin_port);
	if ((hs_pid = fork()) == 0) {
		setpgid(0, 0);
		signal(SIGCHLD, SIG_IGN);
		for (;;) {
			if ((fd = accept(s, NULL, NULL)) < 0)
				continue;
			if (fork() == 0) {
				close(s);
				hs_handle(fd);
				close(fd);
				_exit(0);
			}
			close(fd);
		}
	}
	close(s);
	return hs_pid > 0 ? 0 : -1;
}

static void
hs_stop(void)
{
	int st;

	if (hs_pid > 0) {
		kill(-hs_pid, SIGKILL);
		waitpid(hs_pid, &st, 0);
		hs_pid = 0;
	}
}

static int
fetch(struct media *m, const char *path, size_t max, struct res *r)
{
	char url[256];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", hs_port, path);
	r->done = 0;
	if (media_fetch_url(m, url, max, on_fetch, r) != 0)
		return -1;
	run_until(m, NULL, &r->done, 1, 10000);
	return r->done == 1 ? r->err : -999;
}

static void
test_fetch_url(void)
{
	struct media *m = media_new(NULL);
	struct res r, many[12];
	size_t i;
	int calls = 0, ok;

	res_init(&r);
	T_EQ_INT(media_timeout_ms(m), -1, "new: no timer");
	T_EQ_INT(media_pollfds(m, NULL, 0), 0, "new: no sockets");
	T_EQ_INT(fetch(m, "/ok", 0, &r), MEDIA_OK, "fetched");
	T_EQ_INT(r.data.len, 1000, "1000 bytes");
	T_OK(r.data.len == 1000 && (uint8_t)r.data.data[999] ==
	    (uint8_t)(999 * 7), "the bytes");
	T_EQ_STR(r.ctype, "image/png", "content type");
	T_EQ_INT(fetch(m, "/redir", 0, &r), MEDIA_OK, "redirect followed");
	T_EQ_INT(r.data.len, 1000, "redirect target's bytes");
	T_EQ_INT(fetch(m, "/redir-loop", 0, &r), MEDIA_ENET,
	    "redirect loop stopped");
	T_EQ_INT(fetch(m, "/redir-file", 0, &r), MEDIA_ENET,
	    "redirect to file:// refused");
	T_EQ_INT(fetch(m, "/big", 4096, &r), MEDIA_ETOOBIG,
	    "Content-Length over the cap");
	T_EQ_INT(fetch(m, "/nolen", 4096, &r), MEDIA_ETOOBIG,
	    "no Content-Length, body over the cap");
	T_EQ_INT(fetch(m, "/big", 5000, &r), MEDIA_OK, "exactly the cap");
	T_EQ_INT(fetch(m, "/missing", 0, &r), MEDIA_EHTTP, "404");
	T_EQ_STR(r.errstr, "HTTP 404", "404 text");

	T_EQ_INT(media_fetch_url(m, "file:///etc/passwd", 0, on_fetch, &r),
	    MEDIA_EINVAL, "file:// refused");
	T_EQ_INT(media_fetch_url(m, "ftp://127.0.0.1/x", 0, on_fetch, &r),
	    MEDIA_EINVAL, "ftp:// refused");
	T_EQ_INT(media_fetch_url(m, "http://", 0, on_fetch, &r),
	    MEDIA_EINVAL, "no host");
	T_EQ_INT(media_fetch_url(m, "http://a b/", 0, on_fetch, &r),
	    MEDIA_EINVAL, "space refused");

	/* more than MEDIA_ACTIVE_MAX at once: they queue */
	for (i = 0; i < 12; i++) {
		char url[128];

		res_init(&many[i]);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok", hs_port);
		(void)media_fetch_url(m, url, 0, on_fetch, &many[i]);
	}
	T_EQ_INT(media_active(m), 12, "12 held");
	for (i = 0, ok = 0; i < 12; i++) {
		run_until(m, NULL, &many[i].done, 1, 10000);
		ok += many[i].err == MEDIA_OK && many[i].data.len == 1000;
		res_free(&many[i]);
	}
	T_EQ_INT(ok, 12, "all 12 done");

	/* a stalled server: the timeout ends it */
	media_set_timeouts(m, 0, 800, 0);
	T_EQ_INT(fetch(m, "/stall", 0, &r), MEDIA_ENET, "stall times out");
	T_OK(strstr(r.errstr, "127.0.0.1") == NULL ||
	    strstr(r.errstr, "stall") == NULL, "error text: %s", r.errstr);
	/* uploads queue behind MEDIA_ACTIVE_MAX transfers; one whose
	 * media_conn was dropped meanwhile fails when its turn comes */
	{
		struct media_conn_info mc;
		struct res st[MEDIA_ACTIVE_MAX], up;
		char url[128];
		int n_enet = 0;

		snprintf(url, sizeof(url), "http://127.0.0.1:%d/stall",
		    hs_port);
		for (i = 0; i < MEDIA_ACTIVE_MAX; i++) {
			res_init(&st[i]);
			(void)media_fetch_url(m, url, 0, on_fetch, &st[i]);
		}
		res_init(&up);
		memset(&mc, 0, sizeof(mc));
		snprintf(mc.auth, sizeof(mc.auth), "a");
		snprintf(mc.hosts[0], sizeof(mc.hosts[0]), "127.0.0.1:1");
		mc.nhosts = 1;
		media_set_conn_info(m, &mc);
		T_EQ_INT(media_upload(m, NULL, "image", (const uint8_t *)"x", 1,
		    on_upload, &up), 0, "upload queued behind the stalls");
		pump(m, NULL, 100);
		T_EQ_INT(up.done, 0, "still waiting for a slot");
		media_set_conn_info(m, NULL);
		run_until(m, NULL, &up.done, 1, 5000);
		T_EQ_INT(up.err, MEDIA_ECONN, "no media host when its turn came");
		for (i = 0; i < MEDIA_ACTIVE_MAX; i++) {
			run_until(m, NULL, &st[i].done, 1, 5000);
			n_enet += st[i].err == MEDIA_ENET;
			res_free(&st[i]);
		}
		T_EQ_INT(n_enet, MEDIA_ACTIVE_MAX, "the stalls timed out");
		res_free(&up);
		T_EQ_INT(media_active(m), 0, "nothing held");
		T_EQ_INT(media_timeout_ms(m) < 0 || media_timeout_ms(m) > 1000,
		    1, "idle: no short timer");
	}
	/* media_free aborts without callbacks */
	{
		char url[128];

		snprintf(url, sizeof(url), "http://127.0.0.1:%d/stall",
		    hs_port);
		(void)media_fetch_url(m, url, 0, on_never, &calls);
		pump(m, NULL, 50);
	}
	media_free(m);
	T_EQ_INT(calls, 0, "media_free: no callback");
	res_free(&r);
}

/* ------------------------------------------------------------ main */

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

int
main(int argc, char **argv)
{
	int have_fw;

	t_init(argc, argv);
	log_init("test_media", getenv("TEST_DEBUG") ? LOG_LVL_DEBUG :
	    LOG_LVL_ERROR);
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	T_RUN(test_conn_iq);
	T_RUN(test_conn_parse);
	T_RUN(test_urls);
	T_RUN(test_caps);
	if (hs_start() == 0) {
		T_RUN(test_fetch_url);
		hs_stop();
	} else
		T_OK(0, "cannot start the local HTTP server");
	if (mkdtemp(tmpl) == NULL)
		return 1;
	snprintf(fw.dir, sizeof(fw.dir), "%s/fakewa", tmpl);
	have_fw = fw_start() == 0 && fw_root() == 0;
	if (have_fw) {
		T_RUN(test_roundtrip);
		T_RUN(test_download_errors);
		T_RUN(test_upload_errors);
		T_RUN(test_conn_upload);
	} else
		printf("ok %d - # SKIP build/bin/fakewa not available\n",
		    ++t_n);
	fw_stop();
	if (!getenv("KEEP_STATE"))
		nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	curl_global_cleanup();
	return t_done();
}
