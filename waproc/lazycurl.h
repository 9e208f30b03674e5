/* lazycurl.h - libcurl loaded on first use (lazycurl.c). */
#ifndef LAZYCURL_H
#define LAZYCURL_H

/* 0 once libcurl is loaded, -1 if it cannot be (tried once, logged). */
int	lazycurl_load(void);
/* Whether libcurl has been loaded into this process. */
int	lazycurl_loaded(void);

#endif
