/*
 * fcgi.h - the private interface of the fcgi-app program: a request as
 * parsed from the FastCGI parameters and body (struct request), the answer
 * being built (struct response), the route table (struct route), the
 * worker's state (struct app) and the functions of each file.
 *
 * The request-handling core (app_handle) needs no FastCGI: tests build a
 * struct request from a CGI-style environment and read the struct response.
 * Nothing here keeps state between requests beyond config, the JWT secret,
 * the IPC socket, the Basic-auth cache and counters.
 */
#ifndef FCGI_APP_FCGI_H
#define FCGI_APP_FCGI_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "auth.h"
#include "buf.h"
#include "ipc.h"

#define FCGI_VERSION		"1.0.0"

/* Hard limits of the request parser. */
#define REQ_PATH_MAX		2048	/* raw path without the query */
#define REQ_SEGS_MAX		16
#define REQ_QUERY_MAX		8192	/* QUERY_STRING bytes */
#define REQ_KV_MAX		64	/* query parameters, form fields */
#define REQ_PARAMS_MAX		4	/* :params in one route */
#define REQ_JSON_DEPTH		32
#define REQ_IDEM_MAX		128
#define REQ_ADDR_MAX		64
#define MP_PARTS_MAX		64
#define MP_HDR_MAX		4096

/* Methods, as a bit mask so a route can accept several. */
enum {
	M_GET = 0x01, M_POST = 0x02, M_PUT = 0x04, M_DELETE = 0x08,
	M_PATCH = 0x10, M_HEAD = 0x20, M_OPTIONS = 0x40,
};

struct kv {
	char	*key;
	char	*val;
	size_t	 vallen;
};

struct request;
struct response;
struct route;
struct app;

typedef void (*route_fn)(struct app *, struct request *, struct response *,
    const struct route *);

/* Route flags. */
#define R_PUBLIC	0x01	/* no authentication */
#define R_DEVICE	0x02	/* needs a device hash */
#define R_ADMIN		0x04	/* admin role (devmgr re-checks) */
#define R_QR		0x08	/* /app/login: QR post-processing */
#define R_OPTAUTH	0x10	/* public, but uses credentials if given */
#define R_NORATE	0x20	/* not counted (health probes) */

struct route {
	int		 methods;	/* M_* mask */
	const char	*pattern;	/* "/api/message/:message_id/read" */
	int		 flags;
	route_fn	 fn;
	const char	*arg;		/* handler-specific (call path, what) */
	uint16_t	 ipc;		/* IPC type for generic handlers */
	const char	*tag;		/* OpenAPI tag */
	const char	*summary;
};

enum auth_kind { AUTHK_NONE = 0, AUTHK_BEARER, AUTHK_BASIC, AUTHK_OFF };

struct request {
	char		**env;		/* CGI parameters NAME=VALUE */
	int		 method;	/* M_* */
	const char	*method_str;
	char		 path[REQ_PATH_MAX];	/* raw, no query */
	char		 segbuf[REQ_PATH_MAX];	/* decoded segments */
	char		*segs[REQ_SEGS_MAX];
	int		 nsegs;
	const char	*query_string;
	char		 qbuf[REQ_QUERY_MAX + 1];	/* decoded query */
	struct kv	 query[REQ_KV_MAX];
	int		 nquery;
	const char	*content_type;
	long long	 content_length;	/* -1 when absent */
	size_t		 body_max;	/* cap chosen from the content type */
	char		 addr[REQ_ADDR_MAX];	/* client (rate-limit key) */
	int		 loopback;	/* REMOTE_ADDR is loopback */
	struct buf	 body;
	json_object	*json;		/* body as an object, or NULL */
	struct json_tokener *tok;	/* kept across requests (one per
					 * request thread) */
	const char	*params[REQ_PARAMS_MAX];
	int		 nparams;
	/* Who, once authenticated. */
	int		 auth;		/* enum auth_kind */
	char		 user[AUTH_USER_MAX + 1];
	char		 role[16];
	long		 iat, exp;
	char		 device[17];
	const struct route *route;	/* matched route, once known */
};

struct response {
	int		 status;
	const char	*ctype;		/* default application/json */
	struct buf	 hdrs;		/* extra "Name: value\r\n" lines */
	struct buf	 body;
	int		 rated;		/* rate headers already added */
	int		 rate_counted;	/* a counted call was made */
};

/* Basic-auth verification cache (authn.c). */
#define AUTHN_CACHE_SIZE	256
#define AUTHN_CACHE_TTL		300	/* seconds */

struct authn_slot {
	uint8_t		 key[32];
	char		 role[16];
	long		 at;
};

/* Verified bearer tokens (authn.c): libjwt's parse + HMAC once per token. */
#define AUTHN_TOKENS		64

struct authn_tok {
	uint8_t		 key[16];	/* keyed BLAKE2b of the token */
	struct auth_claims claims;
};

typedef int (*app_call_fn)(struct app *, uint16_t type, const Ipc__Request *,
    Ipc__Reply **, int timeout_ms);

struct app {
	void		*zctx;
	struct ipc_client *ipc;
	app_call_fn	 call;		/* ipc_client_call; tests replace it */
	void		*call_arg;
	uint8_t		 secret[AUTH_SECRET_MAX];
	size_t		 secretlen;
	char		 issuer[128];
	long		 jwt_ttl;
	char		 jwt_ttl_str[32];
	int		 auth_enabled;
	char		 admin_user[AUTH_USER_MAX + 1];
	int		 ipc_timeout;
	int		 device_timeout;
	size_t		 body_max;
	size_t		 upload_max;
	long		 rate_window;
	char		 trusted[1024];	/* TRUSTED_PROXIES, comma list */
	uint8_t		 cache_key[32];
	struct authn_slot cache[AUTHN_CACHE_SIZE];
	struct authn_tok tokens[AUTHN_TOKENS];
	long		 started;
	int		 worker;
	/* metrics: requests per status class. */
	unsigned long	 nstatus[600];
	unsigned long	 nrequests;
	char		*openapi;	/* generated once */
};

/* app.c */
void	 app_init(struct app *, int worker);	/* config must be loaded */
void	 app_connect(struct app *);		/* zmq context + client */
void	 app_free(struct app *);
void	 app_handle(struct app *, struct request *, struct response *);
/* app_handle in three steps, so the body is read only once the route and
 * the credentials are known: app_begin returns 0 when the handler should
 * run (after the body is read) or -1 when resp is final; app_run parses the
 * body and runs the handler; app_end makes sure the request was counted. */
int	 app_begin(struct app *, struct request *, struct response *);
void	 app_run(struct app *, struct request *, struct response *);
void	 app_end(struct app *, struct request *, struct response *);
/* One IPC call with who/addr filled in; counted unless exempt.  Returns 0
 * with *rep set, or -1 after putting an error answer into resp. */
int	 app_call(struct app *, struct request *, struct response *,
	    uint16_t type, Ipc__Request *, Ipc__Reply **, int exempt);
/* A counted RATE_CHECK; -1 (resp filled) when over the limit.  When
 * devmgr is down, fail_open decides whether to go on. */
int	 app_rate_check(struct app *, struct request *, struct response *,
	    int fail_open);
/* Relay an IPC reply: status + gateway success shape with data. */
void	 app_reply_data(struct response *, const Ipc__Reply *,
	    const char *okmsg);
void	 app_reply_error(struct response *, const Ipc__Reply *);
/* Parse Reply.json (not NUL-terminated) as an object; NULL if not one. */
json_object *app_reply_json(const Ipc__Reply *);
json_object *app_parse_json(const char *, size_t);
/* Point a bytes field at o's serialisation (valid while o lives). */
void	 app_set_json(ProtobufCBinaryData *, json_object *);

/* request.c */
void	 request_init(struct request *);
void	 request_reset(struct request *);
void	 request_free(struct request *);
/* Parse method, path, query, length; fills resp with a 4xx and returns
 * -1 on a malformed request.  upload_max / body_max are the caps. */
int	 request_begin(struct request *, char **env, size_t body_max,
	    size_t upload_max, const char *trusted, struct response *);
/* Parse the body (JSON, urlencoded, multipart) into req->json. */
int	 request_parse_body(struct request *, struct response *);
const char *request_env(const struct request *, const char *name);
const char *request_header(const struct request *, const char *name);
const char *request_query(const struct request *, const char *key);
int	 request_method_from(const char *);
const char *request_method_name(int);
/* Device hash from header x-instance-id / deviceHash, query, body.
 * 0 ok (req->device set), -1 with resp filled. */
int	 request_device(struct request *, struct response *);
int	 request_valid_device_hash(const char *);
/* Client address: REMOTE_ADDR, or X-Forwarded-For behind a trusted proxy */
void	 request_client_addr(const char *remote, const char *xff,
	    const char *trusted, char *out, size_t outlen);
int	 request_accepts(const struct request *, const char *mime);
/* Body fields: 0 ok (*out NULL / -1 when absent), -1 wrong type (resp
 * filled with 400 VALIDATION_ERROR naming the field). */
int	 request_json_str(struct request *, struct response *,
	    const char *key, const char **out);
int	 request_json_bool(struct request *, struct response *,
	    const char *key, int *out);
/* Body field or, failing that, query parameter as a boolean. */
int	 request_param_bool(struct request *, struct response *,
	    const char *key, int *out);

/* form.c - query strings, urlencoded and multipart bodies. */
size_t	 form_pct_decode(char *s, size_t len, int plus);	/* in place */
int	 form_parse_query(char *s, struct kv *kv, int max);	/* in place */
/* urlencoded -> JSON object; -1 on malformed. */
int	 form_urlencoded_json(const char *s, size_t len, json_object **out);
/* multipart -> JSON object (files as {filename,mime,data_base64}). */
int	 form_multipart_json(const uint8_t *body, size_t len,
	    const char *content_type, json_object **out, const char **why);
/* Add key=value (string) to obj, coercing known booleans/ints/arrays. */
void	 form_add_field(json_object *obj, const char *key, const char *val,
	    size_t vallen);
int	 form_boundary(const char *content_type, char *out, size_t outlen);
int	 form_utf8_valid(const char *, size_t);

/* reply.c */
int	 reply_status_of(const char *code);	/* 500 if unknown */
void	 reply_reset(struct response *);
void	 reply_init(struct response *);
void	 reply_free(struct response *);
void	 reply_header(struct response *, const char *name, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));
/* {"success":false,"code","message","error"} with status from the table
 * (status 0) or the given one. */
void	 reply_error(struct response *, int status, const char *code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	 reply_json(struct response *, int status, json_object *);
void	 reply_raw(struct response *, int status, const char *ctype,
	    const void *data, size_t len);
void	 reply_json_string(struct buf *, const char *s);
void	 reply_rate_headers(struct response *, uint32_t limit,
	    uint32_t remaining, uint32_t reset, long window);
void	 reply_unauthorized(struct response *, const char *code,
	    const char *msg);
/* The full HTTP head written before the body (Status, headers). */
void	 reply_head(const struct response *, struct buf *out);
const char *reply_reason(int status);
char	*reply_iso8601(long t, char *out, size_t len);

/* route.c */
extern const struct route route_table[];
extern const size_t route_count;
/* Match method+segments.  Returns the route, or NULL with *allowed set to
 * the methods allowed on a matching path (0: no such path). */
const struct route *route_match(struct request *, int *allowed,
	    int *path_public);
int	 route_allow_header(int methods, char *out, size_t len);

/* authn.c - who is asking. */
/* 0 authenticated, -1 with resp filled (401/503/429). */
int	 authn_request(struct app *, struct request *, struct response *);
/* auth_jwt_verify with a per-worker cache of verified tokens. */
int	 authn_verify_token(struct app *, const char *token, long now,
	    struct auth_claims *);
int	 authn_parse_basic(const char *hdr, char *user, size_t ulen,
	    char *pw, size_t pwlen);
/* Verify user/password via AUTH_INFO + argon2id (cached); role out.
 * Returns 0 ok, 1 bad credentials, -1 error (resp filled). */
int	 authn_password(struct app *, struct request *, struct response *,
	    const char *user, const char *pw, char *role, size_t rolelen);
void	 authn_cache_digest(const struct app *, const char *user,
	    const char *pw, const char *hash, uint8_t out[32]);
int	 authn_cache_lookup(struct app *, const uint8_t key[32], char *role,
	    size_t rolelen, long now);
void	 authn_cache_store(struct app *, const uint8_t key[32],
	    const char *role, long now);

/* api-*.c handlers */
void	 api_auth_login(struct app *, struct request *, struct response *,
	    const struct route *);
void	 api_auth_logout(struct app *, struct request *, struct response *,
	    const struct route *);
void	 api_auth_me(struct app *, struct request *, struct response *,
	    const struct route *);
void	 api_auth_status(struct app *, struct request *, struct response *,
	    const struct route *);
void	 api_auth_users(struct app *, struct request *, struct response *,
	    const struct route *);
void	 api_auth_user_delete(struct app *, struct request *,
	    struct response *, const struct route *);
void	 api_auth_passwd(struct app *, struct request *, struct response *,
	    const struct route *);
void	 api_device_list(struct app *, struct request *, struct response *,
	    const struct route *);
void	 api_device_register(struct app *, struct request *,
	    struct response *, const struct route *);
void	 api_device_update(struct app *, struct request *, struct response *,
	    const struct route *);
void	 api_device_delete(struct app *, struct request *, struct response *,
	    const struct route *);
void	 api_device_info(struct app *, struct request *, struct response *,
	    const struct route *);
void	 api_device_action(struct app *, struct request *, struct response *,
	    const struct route *);
void	 api_health(struct app *, struct request *, struct response *,
	    const struct route *);
void	 api_health_what(struct app *, struct request *, struct response *,
	    const struct route *);
void	 api_health_heal(struct app *, struct request *, struct response *,
	    const struct route *);
void	 api_service_root(struct app *, struct request *,
	    struct response *, const struct route *);
void	 api_service_metrics(struct app *, struct request *,
	    struct response *, const struct route *);
void	 api_service_openapi(struct app *, struct request *,
	    struct response *, const struct route *);
void	 api_service_docs(struct app *, struct request *,
	    struct response *, const struct route *);
void	 api_proxy_call(struct app *, struct request *, struct response *,
	    const struct route *);
/* QR post-processing of an /app/login reply (api-proxy.c). */
int	 api_proxy_qr(struct request *, struct response *, int status,
	    const char *json, size_t len);
char	*api_service_openapi_build(void);

/* qr.c */
int	 qr_png(const char *text, uint8_t **png, size_t *len);
char	*qr_data_url(const char *text);		/* caller frees; NULL fail */

#endif
