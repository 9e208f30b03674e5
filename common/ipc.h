/*
 * ipc.h - the versioned IPC contract between the gateway's processes.
 *
 * Every message is a ZeroMQ multipart message:
 *     [identity]  (only as seen on a ROUTER socket)
 *     [header]    16 bytes, big-endian, struct ipc_hdr below
 *     [body]      protobuf-c message from ipc.proto (may be empty)
 *
 * Message types are numbered by area; the table in ipc.c names them.
 * Every request carries an absolute deadline: a receiver drops a request
 * whose deadline passed, so a client that gave up never causes a late side
 * effect.  Clients use DEALER sockets with request ids (ipc_client_*),
 * never a bare REQ, so a lost reply never blocks them.
 */
#ifndef COMMON_IPC_H
#define COMMON_IPC_H

#include <stddef.h>
#include <stdint.h>

#include "ipc.pb-c.h"

#define IPC_VERSION		1
#define IPC_HDR_LEN		16
#define IPC_BODY_MAX		(32 * 1024 * 1024)	/* media in JSON/base64 */

#define IPC_F_REPLY		0x01

enum ipc_type {
	/* 0x01xx lifecycle: waproc <-> devmgr */
	IPC_HELLO		= 0x0101,
	IPC_HEARTBEAT		= 0x0102,
	IPC_STATUS		= 0x0103,
	IPC_SHUTDOWN		= 0x0104,	/* devmgr -> waproc: stop cleanly */
	IPC_WAEVENT		= 0x0105,	/* waproc -> devmgr: event to publish */

	/* 0x02xx control: fcgi-app / wactl / wsrelay -> devmgr */
	IPC_PING		= 0x0200,
	IPC_AUTH_INFO		= 0x0201,	/* user record incl. hash, for verify */
	IPC_AUTH_LOGIN		= 0x0202,	/* record a successful login */
	IPC_USER_LIST		= 0x0210,
	IPC_USER_ADD		= 0x0211,
	IPC_USER_DELETE		= 0x0212,
	IPC_USER_PASSWD		= 0x0213,
	IPC_USER_GET		= 0x0214,
	IPC_DEVICE_LIST		= 0x0220,
	IPC_DEVICE_REGISTER	= 0x0221,
	IPC_DEVICE_UPDATE	= 0x0222,
	IPC_DEVICE_DELETE	= 0x0223,
	IPC_DEVICE_INFO		= 0x0224,
	IPC_DEVICE_START	= 0x0225,
	IPC_DEVICE_STOP		= 0x0226,
	IPC_DEVICE_RESTART	= 0x0227,
	IPC_HEALTH		= 0x0230,	/* json: {"what":"detailed|devices|..."} */
	IPC_AUTO_HEAL		= 0x0231,
	IPC_STATS		= 0x0232,
	IPC_RATE_CHECK		= 0x0233,	/* count one request, nothing else */

	/* 0x03xx messaging: device API calls, relayed devmgr -> waproc */
	IPC_DEVICE_CALL		= 0x0301,

	/* 0x04xx events */
	IPC_EVENT		= 0x0401,
};

struct ipc_hdr {
	uint8_t		version;
	uint8_t		flags;
	uint16_t	type;
	uint32_t	reqid;
	uint64_t	deadline_ms;	/* absolute, CLOCK_REALTIME ms; 0 none */
};

/* A received message.  Owns body and identity. */
struct ipc_msg {
	uint8_t		id[256];	/* ROUTER identity */
	size_t		idlen;
	struct ipc_hdr	hdr;
	uint8_t		*body;
	size_t		bodylen;
};

const char	*ipc_type_name(uint16_t type);
uint64_t	 ipc_now_ms(void);		/* CLOCK_REALTIME ms */
uint64_t	 ipc_mono_ms(void);		/* CLOCK_MONOTONIC ms */

void	 ipc_hdr_encode(const struct ipc_hdr *, uint8_t out[IPC_HDR_LEN]);
int	 ipc_hdr_decode(const uint8_t *, size_t, struct ipc_hdr *);

/*
 * Send [identity] header [body].  body may be NULL (empty frame).  Uses
 * ZMQ_DONTWAIT: returns -1 (errno EAGAIN) instead of blocking when the
 * peer is absent or its queue is full.
 */
int	 ipc_send(void *sock, const uint8_t *id, size_t idlen,
	    const struct ipc_hdr *, const ProtobufCMessage *body);
/* The same, header already encoded and body already packed. */
int	 ipc_send_packed(void *sock, const uint8_t *id, size_t idlen,
	    const uint8_t hdr[IPC_HDR_LEN], const uint8_t *body, size_t len);
/*
 * Receive one message, waiting up to timeout_ms (-1 forever, 0 poll).
 * router: expect an identity frame first.  Returns 0, or -1 with errno
 * EAGAIN on timeout, EPROTO on a malformed message (already drained).
 */
int	 ipc_recv(void *sock, int router, struct ipc_msg *, int timeout_ms);
void	 ipc_msg_clear(struct ipc_msg *);

/* Build / parse helpers for the common bodies.  */
Ipc__Reply	*ipc_reply_new(int status, const char *code, const char *msg,
		    const char *json);
void		 ipc_reply_free(Ipc__Reply *);
Ipc__Request	*ipc_request_unpack(const struct ipc_msg *);
Ipc__Reply	*ipc_reply_unpack(const struct ipc_msg *);

/*
 * Client side: a DEALER connected to one endpoint (ZMQ_IMMEDIATE, linger 0).
 * ipc_client_call sends a request with a fresh id and deadline and waits
 * for the reply with that id, dropping stale replies.  Returns 0 and sets
 * *rep, or -1 with errno: EAGAIN timeout, EHOSTUNREACH no peer, EPROTO.
 */
struct ipc_client;
struct ipc_client	*ipc_client_new(void *zctx, const char *endpoint);
void			 ipc_client_free(struct ipc_client *);
int			 ipc_client_call(struct ipc_client *, uint16_t type,
			    const Ipc__Request *, Ipc__Reply **rep,
			    int timeout_ms);

#endif
