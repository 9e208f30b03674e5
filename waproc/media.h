/*
 * media.h - asynchronous media transfers of one waproc (PROTOCOL.md 9):
 * the media_conn IQ (cached until its ttl), encrypted uploads to the
 * media host, downloads of encrypted media (verified and decrypted with
 * media-crypto.c), and plain fetches of user-given http(s) URLs
 * ("image_url" in a send request).
 *
 * Single-threaded and non-blocking: libcurl's multi interface, driven from
 * the owner's zmq_poll loop exactly like msghook (its own multi handle and
 * state; nothing is shared with msghook):
 *
 *     n = conn/zmq items ...;
 *     k = media_pollfds(m, items + n, MAX - n);
 *     t = min(other timeouts, media_timeout_ms(m));    // -1: no timer
 *     zmq_poll(items, n + k, t);
 *     media_service(m, items + n, k);
 *
 * Every transfer is capped in size (CURLOPT_MAXFILESIZE and a write
 * callback that refuses to grow past the cap) and in time (a total
 * timeout and a stall timeout), follows redirects only for
 * media_fetch_url (at most MEDIA_REDIRS_MAX, http/https only), and never
 * logs a URL's query string (media auth tokens), keys or content.
 *
 * Callbacks: a function that returns 0 has taken the request and calls its
 * callback exactly once, later, from media_service() (or, for an upload
 * waiting for the media_conn IQ, from the conn's IQ callback inside
 * conn_service() or conn_free()), never from inside the call itself.  A negative return
 * (MEDIA_E*) means the callback will never be called.  Callbacks may start
 * new transfers but must not call media_free().  media_free() aborts what
 * is in flight WITHOUT calling the callbacks: the owner frees whatever
 * their args point to.
 *
 * Transfers use HTTP/1.1.  An upload, or a download by direct path, that
 * cannot reach a media_conn host (connect, resolve, TLS handshake,
 * timeout) tries the next one; nothing else is retried: the caller
 * decides.  An upload answered 401/403 drops the cached media_conn so the
 * next upload asks again.
 *
 * The CA file is TEST ONLY (fakewa's self-signed certificate); "" or NULL
 * means the system CA store, as the real media hosts use public CAs.
 * A large upload is encrypted in memory inside media_upload() (~1 s per
 * 100 MB at worst); everything else waits in the poll loop.
 */
#ifndef WAPROC_MEDIA_H
#define WAPROC_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "media-crypto.h"

struct binnode;
struct conn;
struct media;

/* Size caps of the seed (SEED_API.md 3.1, GOWA's WHATSAPP_SETTING_*). */
#define MEDIA_MAX_IMAGE		((size_t)20 * 1024 * 1024)
#define MEDIA_MAX_VIDEO		((size_t)100 * 1024 * 1024)
#define MEDIA_MAX_FILE		((size_t)50 * 1024 * 1024)  /* doc, audio */
#define MEDIA_MAX_DOWNLOAD	((size_t)500 * 1024 * 1024)

#define MEDIA_ACTIVE_MAX	8	/* transfers at once (more wait) */
#define MEDIA_QUEUE_MAX		64	/* requests held at once, all states */
#define MEDIA_HOSTS_MAX		4
#define MEDIA_HOST_MAX		256	/* "host[:port]" */
#define MEDIA_AUTH_MAX		512
#define MEDIA_URL_MAX		4096
#define MEDIA_REDIRS_MAX	3
#define MEDIA_DEFAULT_HOST	"mmg.whatsapp.net"

/* Error codes (callbacks and return values). */
#define MEDIA_OK		0
#define MEDIA_EINVAL		(-20)	/* bad argument, kind or URL */
#define MEDIA_ETOOBIG		(-21)	/* over the cap */
#define MEDIA_EBUSY		(-22)	/* MEDIA_QUEUE_MAX requests held */
#define MEDIA_ECONN		(-23)	/* no media_conn (IQ failed, offline) */
#define MEDIA_ENET		(-24)	/* network error or timeout */
#define MEDIA_EHTTP		(-25)	/* non-2xx answer */
#define MEDIA_EEXPIRED		(-26)	/* download: 403/404/410 (media gone) */
#define MEDIA_EREPLY		(-27)	/* upload: unusable JSON answer */
#define MEDIA_ECRYPTO		(-28)	/* download: hash, MAC or padding */

/* What media_conn answered (PROTOCOL.md 9.1). */
struct media_conn_info {
	char	auth[MEDIA_AUTH_MAX];
	char	hosts[MEDIA_HOSTS_MAX][MEDIA_HOST_MAX];
	size_t	nhosts;
	long	ttl;		/* seconds */
	long	auth_ttl;	/* seconds, 0 if absent */
	int64_t	expires_ms;	/* monotonic (conn_now_ms clock) */
};

struct media_upload_result {
	const char	*url;
	const char	*direct_path;
	uint8_t		 media_key[MEDIA_KEY_LEN];
	uint8_t		 file_sha256[MEDIA_SHA256_LEN];
	uint8_t		 file_enc_sha256[MEDIA_SHA256_LEN];
	uint64_t	 file_length;		/* plaintext bytes */
	int64_t		 media_key_timestamp;	/* unix seconds */
};

/* err MEDIA_OK: res filled (valid during the call only); else res NULL
 * and errstr says why (no secrets in it). */
typedef void (*media_upload_cb)(void *arg, int err, const char *errstr,
    const struct media_upload_result *res);
/* err MEDIA_OK: data/len (valid during the call only; len may be 0) and
 * content_type (the server's, NULL if none; downloads: NULL). */
typedef void (*media_fetch_cb)(void *arg, int err, const char *errstr,
    const uint8_t *data, size_t len, const char *content_type);

/* ---- pure parts ---- */

/* <iq xmlns="w:m" type="set" to="s.whatsapp.net"><media_conn/></iq>
 * (conn_send_iq adds the id). */
struct binnode	*media_conn_iq(void);
/*
 * Parse the answer (the <iq> or its <media_conn>): auth, ttl, auth_ttl and
 * up to MEDIA_HOSTS_MAX <host hostname> (only [A-Za-z0-9.:-] accepted).
 * expires_ms = now_ms + ttl (60 s when ttl is missing or 0, at most a
 * day).  0, or MEDIA_EREPLY (out cleared).
 */
int	 media_conn_parse(const struct binnode *reply, int64_t now_ms,
	    struct media_conn_info *out);
/* Largest plaintext for an upload kind; 0 for an unknown kind. */
size_t	 media_max_size(const char *kind);
/* base64url(sha256) with '=' padding (whatsmeow): 44 chars + NUL. */
void	 media_token(const uint8_t file_enc_sha256[MEDIA_SHA256_LEN],
	    char out[48]);
/*
 * https://<host>/mms/<mms_path>/<token>?auth=<%-encoded auth>&token=<%-
 * encoded token>.  0, or MEDIA_EINVAL (bad part, or out too small).
 */
int	 media_upload_url(char *out, size_t outlen, const char *host,
	    const char *mms_path, const char *token, const char *auth);
/*
 * Download URL of a direct path (whatsmeow style): https://<host><direct
 * path>{?|&}hash=<%-encoded token>&mms-type=<mms_path>&__wa-mms= (hash
 * only with file_enc_sha256).  direct_path must start with '/'.  0 or
 * MEDIA_EINVAL.
 */
int	 media_download_url(char *out, size_t outlen, const char *host,
	    const char *direct_path, const char *mms_path,
	    const uint8_t *file_enc_sha256);
/* "scheme://host/path" of url, without query and credentials, for logs. */
void	 media_url_for_log(const char *url, char *out, size_t outlen);
const char *media_strerror(int err);

/* ---- transfers ---- */

/* ca_file: TEST ONLY (see above).  Never NULL (fatal on failure). */
struct media	*media_new(const char *ca_file);
/* Abort everything in flight, callbacks NOT called.  NULL-safe. */
void		 media_free(struct media *);
/* Total and stall (no byte for stall_ms) timeouts of one transfer;
 * defaults 10 min / 60 s for media, 60 s / 30 s for fetch_url. */
void		 media_set_timeouts(struct media *, long media_total_ms,
		    long fetch_total_ms, long stall_ms);

/* Set (tests, or a media_conn learnt elsewhere) or forget (NULL) the
 * cached media_conn; expires_ms 0 means now + ttl. */
void		 media_set_conn_info(struct media *,
		    const struct media_conn_info *);
/* The cached media_conn if still valid, else NULL. */
const struct media_conn_info *media_conn_cached(struct media *);

/*
 * Upload plain (copied: encrypted at once into a new buffer) as kind
 * ("image", "video", "audio", "document", "sticker", and the other
 * media-crypto kinds that have an mms path) with a fresh media key.  The
 * media_conn comes from the cache or one IQ through c (shared by every
 * upload waiting for it).  c may be NULL when the cache is valid.
 */
int	media_upload(struct media *, struct conn *c, const char *kind,
	    const uint8_t *plain, size_t len, media_upload_cb cb, void *arg);

/*
 * GET a user-given http:// or https:// URL: at most max bytes (0: the
 * download cap), redirects <= MEDIA_REDIRS_MAX, http/https only.  Any
 * host is allowed, loopback and private addresses included: the API
 * client is trusted as much as GOWA trusts it.
 */
int	media_fetch_url(struct media *, const char *url, size_t max,
	    media_fetch_cb cb, void *arg);

/*
 * Download and decrypt media of kind: url_or_direct_path is an https://
 * URL, or a direct path ("/v/...") fetched from the cached media host (or
 * MEDIA_DEFAULT_HOST).  file_enc_sha256 (may be NULL) is checked, then
 * the MAC.  max bounds the plaintext (0: MEDIA_MAX_DOWNLOAD).  A message's
 * url comes from a peer: pass its direct path when it has one.
 */
int	media_download(struct media *, const char *url_or_direct_path,
	    const char *kind, const uint8_t media_key[MEDIA_KEY_LEN],
	    const uint8_t *file_enc_sha256, size_t max, media_fetch_cb cb,
	    void *arg);

/* Poll loop (see above). */
size_t	media_pollfds(struct media *, zmq_pollitem_t *items, size_t max);
long	media_timeout_ms(struct media *);
void	media_service(struct media *, const zmq_pollitem_t *items, size_t n);

/* Requests held (waiting, in flight): tests, stats. */
size_t	media_active(struct media *);

#endif
