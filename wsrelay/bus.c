/*
 * bus.c - ZeroMQ plumbing of wsrelay: SUB to devmgr's PUB (events) and a
 * DEALER to its control ROUTER (DEVICE_INFO, asynchronous: request ids
 * matched by the caller).  Never blocks and never trusts a message: a
 * malformed one is drained and reported as -1.  No libwebsockets here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "bus.h"
#include "ipc.h"
#include "log.h"
#include "xmalloc.h"

#define BUS_SUB_HWM	100000	/* events buffered before libzmq drops */

struct bus {
	void		*zctx;
	void		*sub;
	void		*ctl;
	uint32_t	 next_id;
};

struct bus *
bus_new(const char *events_ep, const char *control_ep)
{
	struct bus *b = xcalloc(1, sizeof(*b));
	int zero = 0, one = 1, hwm = BUS_SUB_HWM, ivl = 100;

	if ((b->zctx = zmq_ctx_new()) == NULL)
		fatal("zmq_ctx_new");
	if ((b->sub = zmq_socket(b->zctx, ZMQ_SUB)) == NULL)
		fatal("zmq_socket SUB");
	zmq_setsockopt(b->sub, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(b->sub, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(b->sub, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	if (zmq_setsockopt(b->sub, ZMQ_SUBSCRIBE, "ev.", 3) == -1)
		fatal("zmq_setsockopt SUBSCRIBE");
	if (zmq_connect(b->sub, events_ep) == -1)
		fatal("zmq_connect %s", events_ep);

	if ((b->ctl = zmq_socket(b->zctx, ZMQ_DEALER)) == NULL)
		fatal("zmq_socket DEALER");
	zmq_setsockopt(b->ctl, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(b->ctl, ZMQ_IMMEDIATE, &one, sizeof(one));
	zmq_setsockopt(b->ctl, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	if (zmq_connect(b->ctl, control_ep) == -1)
		fatal("zmq_connect %s", control_ep);
	randombytes_buf(&b->next_id, sizeof(b->next_id));
	return b;
}

void
bus_free(struct bus *b)
{
	if (b == NULL)
		return;
	zmq_close(b->sub);
	zmq_close(b->ctl);
	zmq_ctx_term(b->zctx);
	free(b);
}

static int
bus_fd(void *sock)
{
	int fd = -1;
	size_t sz = sizeof(fd);

	if (zmq_getsockopt(sock, ZMQ_FD, &fd, &sz) == -1)
		fatal("zmq_getsockopt ZMQ_FD");
	return fd;
}

int
bus_sub_fd(struct bus *b)
{
	return bus_fd(b->sub);
}

int
bus_ctl_fd(struct bus *b)
{
	return bus_fd(b->ctl);
}

static int
bus_more(void *sock)
{
	int more = 0;
	size_t sz = sizeof(more);

	if (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == -1)
		return 0;
	return more;
}

static void
bus_drain_rest(void *sock)
{
	zmq_msg_t part;

	while (bus_more(sock)) {
		zmq_msg_init(&part);
		zmq_msg_recv(&part, sock, ZMQ_DONTWAIT);
		zmq_msg_close(&part);
	}
}

int
bus_event_next(struct bus *b, Ipc__Event **ev)
{
	zmq_msg_t topic, body;
	int rc = -1;

	*ev = NULL;
	zmq_msg_init(&topic);
	if (zmq_msg_recv(&topic, b->sub, ZMQ_DONTWAIT) == -1) {
		zmq_msg_close(&topic);
		return 0;	/* EAGAIN: drained */
	}
	zmq_msg_init(&body);
	if (!bus_more(b->sub) ||
	    zmq_msg_recv(&body, b->sub, ZMQ_DONTWAIT) == -1 || bus_more(b->sub))
		goto out;
	if (zmq_msg_size(&topic) < 3 ||
	    memcmp(zmq_msg_data(&topic), "ev.", 3) != 0)
		goto out;
	*ev = ipc__event__unpack(NULL, zmq_msg_size(&body),
	    zmq_msg_data(&body));
	if (*ev != NULL)
		rc = 1;
out:
	if (rc != 1)
		bus_drain_rest(b->sub);
	zmq_msg_close(&topic);
	zmq_msg_close(&body);
	return rc;
}

int
bus_device_info(struct bus *b, const char *user, const char *role,
    const char *hash, int timeout_ms, uint32_t *reqid)
{
	Ipc__Request req = IPC__REQUEST__INIT;
	Ipc__Principal who = IPC__PRINCIPAL__INIT;
	struct ipc_hdr h = { IPC_VERSION, 0, IPC_DEVICE_INFO, 0, 0 };

	*reqid = 0;
	who.user = (char *)user;
	who.role = (char *)role;
	req.who = &who;
	req.device = (char *)hash;
	req.rate_exempt = 1;
	if (++b->next_id == 0)
		b->next_id = 1;
	h.reqid = b->next_id;
	h.deadline_ms = ipc_now_ms() + (uint64_t)timeout_ms;
	if (ipc_send(b->ctl, NULL, 0, &h, (const ProtobufCMessage *)&req)
	    == -1)
		return -1;
	*reqid = h.reqid;
	return 0;
}

int
bus_reply_next(struct bus *b, uint32_t *reqid, int *status)
{
	struct ipc_msg m;
	Ipc__Reply *rep;

	*reqid = 0;
	*status = 0;
	if (ipc_recv(b->ctl, 0, &m, 0) == -1)
		return errno == EPROTO ? -1 : 0;
	if (!(m.hdr.flags & IPC_F_REPLY) || (rep = ipc_reply_unpack(&m)) ==
	    NULL) {
		ipc_msg_clear(&m);
		return -1;
	}
	*reqid = m.hdr.reqid;
	*status = rep->status;
	ipc__reply__free_unpacked(rep, NULL);
	ipc_msg_clear(&m);
	return 1;
}
