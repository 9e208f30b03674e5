/*
 * server.h - the wsrelay server: libwebsockets listener on loopback serving
 * /ws (plain JSON WebSocket) and /socket.io/ (Engine.IO 4, websocket
 * transport), fed by devmgr's event bus.  The only wsrelay file that
 * includes libwebsockets.
 */
#ifndef WSRELAY_SERVER_H
#define WSRELAY_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct server_conf {
	const char	*iface;		/* "127.0.0.1" */
	int		 port;
	size_t		 queue_max;	/* event frames queued per client */
	const char	*events_ep;
	const char	*control_ep;
	const uint8_t	*key;		/* JWT HS256 key */
	size_t		 keylen;
	const char	*issuer;
	int		 ipc_timeout_ms;
	long		 ping_interval_ms;
	long		 ping_timeout_ms;
};

/* Runs until server_stop(); returns 0 on a clean stop, -1 on start error. */
int	server_run(const struct server_conf *);
/* Async-signal-safe: asks the loop to stop. */
void	server_stop(void);

#endif
