/*
 * sio.h - Engine.IO 4 / Socket.IO 5 (socket.io v4) packet framing over the
 * websocket transport: parse what a client sends in one text frame, encode
 * what the server sends.  Pure text work: no sockets, no libwebsockets, no
 * state.  Everything a client sends is untrusted; a frame that is not a
 * well-formed packet is reported as an error, never trusted further.
 */
#ifndef WSRELAY_SIO_H
#define WSRELAY_SIO_H

#include <stddef.h>

#include "buf.h"

/* Engine.IO packet types (first character of a frame). */
enum sio_eio {
	SIO_EIO_OPEN = 0,
	SIO_EIO_CLOSE = 1,
	SIO_EIO_PING = 2,
	SIO_EIO_PONG = 3,
	SIO_EIO_MESSAGE = 4,
	SIO_EIO_UPGRADE = 5,
	SIO_EIO_NOOP = 6,
};

/* Socket.IO packet types (first character of an Engine.IO message). */
enum sio_type {
	SIO_CONNECT = 0,
	SIO_DISCONNECT = 1,
	SIO_EVENT = 2,
	SIO_ACK = 3,
	SIO_CONNECT_ERROR = 4,
	SIO_BINARY_EVENT = 5,
	SIO_BINARY_ACK = 6,
};

#define SIO_NSP_MAX	64
#define SIO_NAME_MAX	64
#define SIO_ACK_MAX	999999999L

struct sio_packet {
	int		 eio;		/* enum sio_eio */
	int		 type;		/* enum sio_type, -1 unless eio MESSAGE */
	char		 nsp[SIO_NSP_MAX];	/* "/" unless given */
	long		 ack;		/* ack id, -1 none */
	const char	*data;		/* payload after the header (not NUL-terminated) */
	size_t		 datalen;
};

/*
 * Parse one text frame.  Returns 0, or -1 when the frame is not a packet a
 * client may send (unknown type, binary packets, bad namespace or ack id).
 */
int	 sio_parse(const char *frame, size_t len, struct sio_packet *);

/*
 * Split an EVENT payload `["name", arg…]` into the name and the JSON text of
 * the first argument (NULL when absent).  Returns 0 or -1 (not an array whose
 * first element is a string of at most SIO_NAME_MAX-1 bytes).  *arg is a
 * json-c object owned by the caller (json_object_put), may be NULL.
 */
struct json_object;
int	 sio_event_parse(const char *data, size_t len, char name[SIO_NAME_MAX],
	    struct json_object **arg);

/* "0{sid,upgrades:[],pingInterval,pingTimeout,maxPayload}" */
int	 sio_encode_open(struct buf *, const char *sid, long ping_interval_ms,
	    long ping_timeout_ms, long max_payload);
/* `42["name",<json>]`; json NULL means no argument.  ack >= 0 not used. */
int	 sio_encode_event(struct buf *, const char *name, const char *json);
/* `43<ack>[<json>]` */
int	 sio_encode_ack(struct buf *, long ack, const char *json);
/* `40{"sid":"…"}` */
int	 sio_encode_connect(struct buf *, const char *sid);
/* `44{"message":"…"}` (message JSON-escaped) */
int	 sio_encode_connect_error(struct buf *, const char *nsp,
	    const char *message);

/* Random session id: 20 characters of base64url. out >= 21 bytes. */
void	 sio_new_sid(char out[21]);

#endif
