/*
 * session.h - the glue between one device's WhatsApp connection (conn.c)
 * and devmgr: credentials from/to the store, the device lifecycle
 * (DESIGN.md: disconnected, starting, qr, pairing_code, connected,
 * reconnecting, logged_out, failed, stopped) as STATUS, WAEVENTs for
 * wsrelay (qr, qr-expired, pairing_code, ready, logged_out, failed), and
 * the device API below /api (GOWA's /app/ routes).  Knows nothing of
 * ZeroMQ: what goes to devmgr goes through struct session_out, so tests
 * drive it in-process.
 *
 * A device with paired credentials connects at session_begin; one without
 * connects only when /app/login or /app/login-with-code asks for it.
 */
#ifndef WAPROC_SESSION_H
#define WAPROC_SESSION_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

struct store;
struct session;

struct session_out {
	void	*arg;
	void	(*status)(void *arg, const char *state, const char *jid,
		    const char *push_name, const char *cause);
	void	(*event)(void *arg, const char *type, const char *json);
	/* json is the whole answer body ({"code","message","results"}). */
	void	(*reply)(void *arg, uint32_t reqid, int status,
		    const char *code, const char *message, const char *json);
};

/* Longest wait for the first QR of a /app/login (then 504). */
#define SESSION_QR_WAIT_MS	20000
/* Longest wait for the server to confirm a /app/logout. */
#define SESSION_LOGOUT_WAIT_MS	2500

struct session	*session_new(struct store *, const struct conn_cfg *,
		    const struct session_out *, const char *device_hash);
void		 session_free(struct session *);
/* Connect when paired; report the first status. */
void		 session_begin(struct session *);
/* (Re)send the current status (e.g. once devmgr accepted the HELLO). */
void		 session_announce(struct session *);
/* A device call: path below /api (maybe with "?query"), query JSON, body
 * JSON, Idempotency-Key (NULL or "": none). */
void		 session_call(struct session *, uint32_t reqid,
		    const char *method, const char *path, const char *query,
		    size_t qlen, const char *body, size_t blen,
		    const char *idem_key);
/* Event loop. */
int		 session_pollfds(struct session *, struct pollfd *, int max);
int		 session_timeout_ms(struct session *);
/* The outbox's due sends (msgr), without the connection's service. */
void		 session_jobs(struct session *);
void		 session_service(struct session *);
/* Shutting down: close the connection (credentials stay). */
void		 session_stop(struct session *);

const char	*session_state(const struct session *);
int		 session_registered(const struct session *);
struct conn	*session_conn(struct session *);
/* Media transfers for sends and downloads (not owned). */
struct media;
void		 session_set_media(struct session *, struct media *);

/* Lifecycle name for a conn state/cause (NULL: no change to report). */
const char	*session_lifecycle(enum conn_state, enum conn_cause,
		    int was_connected, int code_requested);
/* Is s a phone number for login-with-code (^\+?[0-9]{1,15}$)? */
int		 session_valid_phone(const char *s);

#endif
