/*
 * lazycurl.c - libcurl, loaded on first use.
 *
 * libcurl pulls about twenty libraries into a process (GnuTLS, p11-kit,
 * nghttp2, LDAP, SSH, RTMP, IDN, ...), and each of them costs every
 * process its own relocated data pages: ~0.4 MiB of PSS per waproc, a
 * sixth of an idle one.  Most waprocs never make an HTTP request (no
 * webhook URL, no media), so waproc does not link libcurl: the curl_*
 * functions that media.c and msghook.c call are defined here and resolve
 * libcurl with dlopen() the first time one of them runs.  Those files use
 * the ordinary libcurl API and need not know.
 *
 * If libcurl cannot be loaded, the constructors fail (curl_global_init
 * returns CURLE_FAILED_INIT, curl_multi_init / curl_easy_init /
 * curl_slist_append return NULL) and the failure is logged once; nothing
 * else can be reached without a handle from one of those.
 *
 * The three variadic setters / getters take exactly one argument after
 * the option, whose C type libcurl encodes in the option's number
 * (CURLOPTTYPE_* ranges, CURLINFO_TYPEMASK): it is read with that type
 * and passed on.
 */
#define CURL_DISABLE_TYPECHECK 1

#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>

#include <curl/curl.h>

#include "lazycurl.h"
#include "log.h"

#define LIBCURL_SONAME	"libcurl.so.4"

typedef void	(*lc_fn)(void);

/*
 * Pass on the one argument after an easy or multi option, read with the
 * type its number's CURLOPTTYPE range gives (multi options have no blob
 * range; a blob is a pointer anyway).
 */
#define LC_PASS_OPT(fn, h, opt, ap, rc) do {				\
	if ((opt) < CURLOPTTYPE_OBJECTPOINT)				\
		(rc) = (fn)((h), (opt), va_arg((ap), long));		\
	else if ((opt) < CURLOPTTYPE_FUNCTIONPOINT)			\
		(rc) = (fn)((h), (opt), va_arg((ap), void *));		\
	else if ((opt) < CURLOPTTYPE_OFF_T)				\
		(rc) = (fn)((h), (opt), va_arg((ap), lc_fn));		\
	else if ((opt) < CURLOPTTYPE_BLOB)				\
		(rc) = (fn)((h), (opt), va_arg((ap), curl_off_t));	\
	else								\
		(rc) = (fn)((h), (opt), va_arg((ap), void *));		\
} while (0)

static struct {
	int		 state;		/* 0 not tried, 1 loaded, -1 failed */
	void		*dl;
	CURLcode	(*global_init)(long);
	void		(*global_cleanup)(void);
	CURL		*(*easy_init)(void);
	void		(*easy_cleanup)(CURL *);
	CURLcode	(*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode	(*easy_getinfo)(CURL *, CURLINFO, ...);
	const char	*(*easy_strerror)(CURLcode);
	CURLM		*(*multi_init)(void);
	CURLMcode	(*multi_cleanup)(CURLM *);
	CURLMcode	(*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode	(*multi_add_handle)(CURLM *, CURL *);
	CURLMcode	(*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode	(*multi_socket_action)(CURLM *, curl_socket_t, int,
			    int *);
	CURLMsg		*(*multi_info_read)(CURLM *, int *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void		(*slist_free_all)(struct curl_slist *);
} lc;

static int
lc_sym(const char *name, void *fnp)
{
	void *p;

	if ((p = dlsym(lc.dl, name)) == NULL) {
		log_warnx("lazycurl: %s: %s", LIBCURL_SONAME, name);
		return -1;
	}
	*(void **)fnp = p;
	return 0;
}

/* 0 once libcurl is loaded, -1 if it cannot be (tried once). */
int
lazycurl_load(void)
{
	const char *e;

	if (lc.state != 0)
		return lc.state > 0 ? 0 : -1;
	lc.state = -1;
	if ((lc.dl = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		e = dlerror();
		log_warnx("lazycurl: %s", e != NULL ? e : LIBCURL_SONAME);
		return -1;
	}
	if (lc_sym("curl_global_init", &lc.global_init) == -1 ||
	    lc_sym("curl_global_cleanup", &lc.global_cleanup) == -1 ||
	    lc_sym("curl_easy_init", &lc.easy_init) == -1 ||
	    lc_sym("curl_easy_cleanup", &lc.easy_cleanup) == -1 ||
	    lc_sym("curl_easy_setopt", &lc.easy_setopt) == -1 ||
	    lc_sym("curl_easy_getinfo", &lc.easy_getinfo) == -1 ||
	    lc_sym("curl_easy_strerror", &lc.easy_strerror) == -1 ||
	    lc_sym("curl_multi_init", &lc.multi_init) == -1 ||
	    lc_sym("curl_multi_cleanup", &lc.multi_cleanup) == -1 ||
	    lc_sym("curl_multi_setopt", &lc.multi_setopt) == -1 ||
	    lc_sym("curl_multi_add_handle", &lc.multi_add_handle) == -1 ||
	    lc_sym("curl_multi_remove_handle", &lc.multi_remove_handle) == -1 ||
	    lc_sym("curl_multi_socket_action", &lc.multi_socket_action) == -1 ||
	    lc_sym("curl_multi_info_read", &lc.multi_info_read) == -1 ||
	    lc_sym("curl_slist_append", &lc.slist_append) == -1 ||
	    lc_sym("curl_slist_free_all", &lc.slist_free_all) == -1) {
		dlclose(lc.dl);
		lc.dl = NULL;
		return -1;
	}
	lc.state = 1;
	return 0;
}

/* Whether libcurl is in this process (for tests and figures). */
int
lazycurl_loaded(void)
{
	return lc.state > 0;
}

CURLcode
curl_global_init(long flags)
{
	if (lazycurl_load() == -1)
		return CURLE_FAILED_INIT;
	return lc.global_init(flags);
}

void
curl_global_cleanup(void)
{
	if (lc.state > 0)
		lc.global_cleanup();
}

CURL *
curl_easy_init(void)
{
	if (lazycurl_load() == -1)
		return NULL;
	return lc.easy_init();
}

void
curl_easy_cleanup(CURL *h)
{
	if (lc.state > 0)
		lc.easy_cleanup(h);
}

CURLcode
curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	va_list ap;
	CURLcode rc;

	if (lc.state <= 0)
		return CURLE_FAILED_INIT;
	va_start(ap, opt);
	LC_PASS_OPT(lc.easy_setopt, h, opt, ap, rc);
	va_end(ap);
	return rc;
}

CURLcode
curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	va_list ap;
	CURLcode rc;

	if (lc.state <= 0)
		return CURLE_FAILED_INIT;
	/* every kind of CURLINFO takes a pointer to where the value goes */
	va_start(ap, info);
	rc = lc.easy_getinfo(h, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

const char *
curl_easy_strerror(CURLcode code)
{
	if (lc.state <= 0)
		return "libcurl could not be loaded";
	return lc.easy_strerror(code);
}

CURLM *
curl_multi_init(void)
{
	if (lazycurl_load() == -1)
		return NULL;
	return lc.multi_init();
}

CURLMcode
curl_multi_cleanup(CURLM *m)
{
	if (lc.state <= 0)
		return CURLM_BAD_HANDLE;
	return lc.multi_cleanup(m);
}

CURLMcode
curl_multi_setopt(CURLM *m, CURLMoption opt, ...)
{
	va_list ap;
	CURLMcode rc;

	if (lc.state <= 0)
		return CURLM_BAD_HANDLE;
	va_start(ap, opt);
	LC_PASS_OPT(lc.multi_setopt, m, opt, ap, rc);
	va_end(ap);
	return rc;
}

CURLMcode
curl_multi_add_handle(CURLM *m, CURL *h)
{
	if (lc.state <= 0)
		return CURLM_BAD_HANDLE;
	return lc.multi_add_handle(m, h);
}

CURLMcode
curl_multi_remove_handle(CURLM *m, CURL *h)
{
	if (lc.state <= 0)
		return CURLM_BAD_HANDLE;
	return lc.multi_remove_handle(m, h);
}

CURLMcode
curl_multi_socket_action(CURLM *m, curl_socket_t fd, int ev, int *running)
{
	if (lc.state <= 0)
		return CURLM_BAD_HANDLE;
	return lc.multi_socket_action(m, fd, ev, running);
}

CURLMsg *
curl_multi_info_read(CURLM *m, int *left)
{
	if (lc.state <= 0) {
		*left = 0;
		return NULL;
	}
	return lc.multi_info_read(m, left);
}

struct curl_slist *
curl_slist_append(struct curl_slist *l, const char *s)
{
	if (lazycurl_load() == -1)
		return NULL;
	return lc.slist_append(l, s);
}

void
curl_slist_free_all(struct curl_slist *l)
{
	if (l != NULL && lc.state > 0)
		lc.slist_free_all(l);
}
