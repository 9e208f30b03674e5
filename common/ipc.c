/*
 * ipc.c - framing of the IPC contract (ipc.h) over ZeroMQ, and the DEALER
 * client with request ids and deadlines.  Knows nothing of what the bodies
 * mean; bounds every frame it accepts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <zmq.h>

#include "ipc.h"
#include "log.h"
#include "xmalloc.h"

static const struct {
	uint16_t	 type;
	const char	*name;
} ipc_names[] = {
	{ IPC_HELLO, "HELLO" }, { IPC_HEARTBEAT, "HEARTBEAT" },
	{ IPC_STATUS, "STATUS" }, { IPC_SHUTDOWN, "SHUTDOWN" },
	{ IPC_WAEVENT, "WAEVENT" },
	{ IPC_PING, "PING" }, { IPC_AUTH_INFO, "AUTH_INFO" },
	{ IPC_AUTH_LOGIN, "AUTH_LOGIN" },
	{ IPC_USER_LIST, "USER_LIST" }, { IPC_USER_ADD, "USER_ADD" },
	{ IPC_USER_DELETE, "USER_DELETE" }, { IPC_USER_PASSWD, "USER_PASSWD" },
	{ IPC_USER_GET, "USER_GET" },
	{ IPC_DEVICE_LIST, "DEVICE_LIST" },
	{ IPC_DEVICE_REGISTER, "DEVICE_REGISTER" },
	{ IPC_DEVICE_UPDATE, "DEVICE_UPDATE" },
	{ IPC_DEVICE_DELETE, "DEVICE_DELETE" },
	{ IPC_DEVICE_INFO, "DEVICE_INFO" }, { IPC_DEVICE_START, "DEVICE_START" },
	{ IPC_DEVICE_STOP, "DEVICE_STOP" },
	{ IPC_DEVICE_RESTART, "DEVICE_RESTART" },
	{ IPC_HEALTH, "HEALTH" }, { IPC_AUTO_HEAL, "AUTO_HEAL" },
	{ IPC_STATS, "STATS" }, { IPC_RATE_CHECK, "RATE_CHECK" },
	{ IPC_DEVICE_CALL, "DEVICE_CALL" }, { IPC_EVENT, "EVENT" },
};

const char *
ipc_type_name(uint16_t type)
{
	size_t i;

	for (i = 0; i < sizeof(ipc_names) / sizeof(ipc_names[0]); i++)
		if (ipc_names[i].type == type)
			return ipc_names[i].name;
	return "UNKNOWN";
}

uint64_t
ipc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
ipc_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
ipc_hdr_encode(const struct ipc_hdr *h, uint8_t out[IPC_HDR_LEN])
{
	int i;

	out[0] = h->version;
	out[1] = h->flags;
	out[2] = h->type >> 8;
	out[3] = h->type & 0xff;
	for (i = 0; i < 4; i++)
		out[4 + i] = (h->reqid >> (24 - 8 * i)) & 0xff;
	for (i = 0; i < 8; i++)
		out[8 + i] = (h->deadline_ms >> (56 - 8 * i)) & 0xff;
}

int
ipc_hdr_decode(const uint8_t *p, size_t len, struct ipc_hdr *h)
{
	int i;

	memset(h, 0, sizeof(*h));
	if (len != IPC_HDR_LEN || p[0] != IPC_VERSION)
		return -1;
	h->version = p[0];
	h->flags = p[1];
	h->type = (uint16_t)(p[2] << 8 | p[3]);
	for (i = 0; i < 4; i++)
		h->reqid = h->reqid << 8 | p[4 + i];
	for (i = 0; i < 8; i++)
		h->deadline_ms = h->deadline_ms << 8 | p[8 + i];
	return 0;
}

int
ipc_send(void *sock, const uint8_t *id, size_t idlen,
    const struct ipc_hdr *h, const ProtobufCMessage *body)
{
	uint8_t hdr[IPC_HDR_LEN], small[512], *packed = small;
	size_t len = 0;
	int rc;

	ipc_hdr_encode(h, hdr);
	if (body != NULL) {
		len = protobuf_c_message_get_packed_size(body);
		if (len > IPC_BODY_MAX) {
			errno = EMSGSIZE;
			return -1;
		}
		if (len > sizeof(small))
			packed = xmalloc(len);
		protobuf_c_message_pack(body, packed);
	}
	rc = ipc_send_packed(sock, id, idlen, hdr, packed, len);
	if (packed != small)
		free(packed);
	return rc;
}

int
ipc_send_packed(void *sock, const uint8_t *id, size_t idlen,
    const uint8_t hdr[IPC_HDR_LEN], const uint8_t *body, size_t len)
{
	if (id != NULL && zmq_send(sock, id, idlen, ZMQ_SNDMORE |
	    ZMQ_DONTWAIT) == -1)
		return -1;
	if (zmq_send(sock, hdr, IPC_HDR_LEN, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1)
		return -1;
	if (zmq_send(sock, body, len, ZMQ_DONTWAIT) == -1)
		return -1;
	return 0;
}

void
ipc_msg_clear(struct ipc_msg *m)
{
	free(m->body);
	memset(m, 0, sizeof(*m));
}

/* Drain the rest of a multipart message. */
static void
ipc_drain(void *sock)
{
	int more = 1;
	size_t sz = sizeof(more);
	zmq_msg_t part;

	for (;;) {
		if (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == -1 || !more)
			return;
		zmq_msg_init(&part);
		zmq_msg_recv(&part, sock, ZMQ_DONTWAIT);
		zmq_msg_close(&part);
	}
}

static int
ipc_more(void *sock)
{
	int more = 0;
	size_t sz = sizeof(more);

	if (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == -1)
		return 0;
	return more;
}

int
ipc_recv(void *sock, int router, struct ipc_msg *m, int timeout_ms)
{
	zmq_pollitem_t pi = { sock, 0, ZMQ_POLLIN, 0 };
	zmq_msg_t part;
	int n;

	memset(m, 0, sizeof(*m));
	if (timeout_ms != 0) {
		n = zmq_poll(&pi, 1, timeout_ms);
		if (n == -1)
			return -1;
		if (n == 0) {
			errno = EAGAIN;
			return -1;
		}
	}
	zmq_msg_init(&part);
	if (zmq_msg_recv(&part, sock, ZMQ_DONTWAIT) == -1) {
		zmq_msg_close(&part);
		return -1;
	}
	if (router) {
		if (zmq_msg_size(&part) > sizeof(m->id) || !ipc_more(sock))
			goto bad;
		m->idlen = zmq_msg_size(&part);
		memcpy(m->id, zmq_msg_data(&part), m->idlen);
		zmq_msg_close(&part);
		zmq_msg_init(&part);
		if (zmq_msg_recv(&part, sock, ZMQ_DONTWAIT) == -1)
			goto bad;
	}
	if (ipc_hdr_decode(zmq_msg_data(&part), zmq_msg_size(&part),
	    &m->hdr) == -1)
		goto bad;
	zmq_msg_close(&part);
	zmq_msg_init(&part);
	if (ipc_more(sock)) {
		if (zmq_msg_recv(&part, sock, ZMQ_DONTWAIT) == -1)
			goto bad;
		if (zmq_msg_size(&part) > IPC_BODY_MAX || ipc_more(sock))
			goto bad;
		m->bodylen = zmq_msg_size(&part);
		m->body = xmalloc(m->bodylen ? m->bodylen : 1);
		memcpy(m->body, zmq_msg_data(&part), m->bodylen);
	}
	zmq_msg_close(&part);
	return 0;
bad:
	zmq_msg_close(&part);
	ipc_drain(sock);
	ipc_msg_clear(m);
	errno = EPROTO;
	return -1;
}

Ipc__Reply *
ipc_reply_new(int status, const char *code, const char *msg, const char *json)
{
	Ipc__Reply *r = xcalloc(1, sizeof(*r));

	ipc__reply__init(r);
	r->status = status;
	r->code = xstrdup(code ? code : "");
	r->message = xstrdup(msg ? msg : "");
	if (json != NULL) {
		r->json.len = strlen(json);
		r->json.data = (uint8_t *)xstrdup(json);
	}
	return r;
}

void
ipc_reply_free(Ipc__Reply *r)
{
	if (r == NULL)
		return;
	/* Replies from ipc_reply_unpack are owned by protobuf-c. */
	ipc__reply__free_unpacked(r, NULL);
}

Ipc__Request *
ipc_request_unpack(const struct ipc_msg *m)
{
	return ipc__request__unpack(NULL, m->bodylen, m->body);
}

Ipc__Reply *
ipc_reply_unpack(const struct ipc_msg *m)
{
	return ipc__reply__unpack(NULL, m->bodylen, m->body);
}

struct ipc_client {
	void		*sock;
	uint32_t	 next_id;
};

struct ipc_client *
ipc_client_new(void *zctx, const char *endpoint)
{
	struct ipc_client *c = xcalloc(1, sizeof(*c));
	int one = 1, zero = 0, ivl = 100;

	if ((c->sock = zmq_socket(zctx, ZMQ_DEALER)) == NULL)
		fatal("zmq_socket");
	zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(c->sock, ZMQ_IMMEDIATE, &one, sizeof(one));
	zmq_setsockopt(c->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	if (zmq_connect(c->sock, endpoint) == -1)
		fatal("zmq_connect %s", endpoint);
	randombytes_buf(&c->next_id, sizeof(c->next_id));
	return c;
}

void
ipc_client_free(struct ipc_client *c)
{
	if (c == NULL)
		return;
	zmq_close(c->sock);
	free(c);
}

int
ipc_client_call(struct ipc_client *c, uint16_t type, const Ipc__Request *req,
    Ipc__Reply **rep, int timeout_ms)
{
	struct ipc_hdr h = { IPC_VERSION, 0, type, 0, 0 };
	struct ipc_msg m;
	uint64_t start = ipc_mono_ms(), now;
	int left, tries;

	*rep = NULL;
	h.reqid = ++c->next_id;
	h.deadline_ms = ipc_now_ms() + (uint64_t)timeout_ms;
	/*
	 * With ZMQ_IMMEDIATE a send fails at once while no connection is up;
	 * give a reconnecting peer a few short chances within the deadline.
	 */
	for (tries = 0;; tries++) {
		if (ipc_send(c->sock, NULL, 0, &h, (const ProtobufCMessage *)req)
		    == 0)
			break;
		if (errno != EAGAIN)
			return -1;
		now = ipc_mono_ms();
		if (now - start + 50 >= (uint64_t)timeout_ms || tries >= 8) {
			errno = EHOSTUNREACH;
			return -1;
		}
		zmq_poll(NULL, 0, 25);
	}
	for (;;) {
		now = ipc_mono_ms();
		if (now - start >= (uint64_t)timeout_ms) {
			errno = EAGAIN;
			return -1;
		}
		left = timeout_ms - (int)(now - start);
		if (ipc_recv(c->sock, 0, &m, left) == -1) {
			if (errno == EPROTO)
				continue;
			return -1;
		}
		if (!(m.hdr.flags & IPC_F_REPLY) || m.hdr.reqid != h.reqid) {
			ipc_msg_clear(&m);	/* stale reply of a timed-out call */
			continue;
		}
		*rep = ipc_reply_unpack(&m);
		ipc_msg_clear(&m);
		if (*rep == NULL) {
			errno = EPROTO;
			return -1;
		}
		return 0;
	}
}
