/*
 * ctl.c - the workers-socket link to devmgr (ctl.h).  Sends never block
 * (ipc_send uses ZMQ_DONTWAIT); a lost devmgr is noticed by its silence.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "ctl.h"
#include "log.h"
#include "xmalloc.h"

/* A message held back by ctl_hold: its header and packed body. */
struct held {
	struct held	*next;
	size_t		 len;
	uint8_t		 hdr[IPC_HDR_LEN];
	uint8_t		 body[];
};

#define HELD_MAX	(64u << 20)	/* bytes held at most */

struct ctl {
	void		*sock;
	int		 hold;
	struct held	*hhead, *htail;
	size_t		 hbytes;
	char		 device[17];
	int		 ready;
	uint32_t	 next_id;
	uint64_t	 last_rx;	/* mono ms */
	uint64_t	 last_tx;
	long		 interval;
	long		 timeout;
};

struct ctl *
ctl_new(void *zctx, const char *endpoint, const char *device,
    long interval, long timeout)
{
	struct ctl *c = xcalloc(1, sizeof(*c));
	int linger = 200, ivl = 100;

	snprintf(c->device, sizeof(c->device), "%s", device);
	c->interval = interval > 0 ? interval : 5000;
	c->timeout = timeout > 0 ? timeout : 20000;
	if ((c->sock = zmq_socket(zctx, ZMQ_DEALER)) == NULL)
		fatal("zmq_socket");
	zmq_setsockopt(c->sock, ZMQ_ROUTING_ID, c->device, strlen(c->device));
	zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(c->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	if (zmq_connect(c->sock, endpoint) == -1)
		fatalx("connect %s: %s", endpoint, zmq_strerror(errno));
	c->last_rx = c->last_tx = ipc_mono_ms();
	return c;
}

void
ctl_free(struct ctl *c)
{
	if (c == NULL)
		return;
	ctl_drop(c);
	zmq_close(c->sock);
	free(c);
}

void *
ctl_socket(struct ctl *c)
{
	return c->sock;
}

int
ctl_ready(const struct ctl *c)
{
	return c->ready;
}

void
ctl_hold(struct ctl *c)
{
	c->hold = 1;
}

void
ctl_flush(struct ctl *c)
{
	struct held *m;

	for (m = c->hhead; m != NULL; m = m->next) {
		if (ipc_send_packed(c->sock, NULL, 0, m->hdr, m->body,
		    m->len) == -1)
			log_debug("send held: %s", zmq_strerror(errno));
		else
			c->last_tx = ipc_mono_ms();
	}
	ctl_drop(c);	/* sent: freed, and no longer holding */
}

void
ctl_drop(struct ctl *c)
{
	struct held *m;

	while ((m = c->hhead) != NULL) {
		c->hhead = m->next;
		free(m);
	}
	c->htail = NULL;
	c->hbytes = 0;
	c->hold = 0;
}

/* Held: packed now, sent by ctl_flush in order. */
static int
ctl_keep(struct ctl *c, const struct ipc_hdr *h, const ProtobufCMessage *body)
{
	struct held *m;
	size_t len = body != NULL ? protobuf_c_message_get_packed_size(body) :
	    0;

	if (len > IPC_BODY_MAX || c->hbytes + len > HELD_MAX) {
		log_warnx("%s: too much held back; dropped",
		    ipc_type_name(h->type));
		return -1;
	}
	m = xmalloc(sizeof(*m) + len);
	m->next = NULL;
	m->len = len;
	ipc_hdr_encode(h, m->hdr);
	if (body != NULL)
		protobuf_c_message_pack(body, m->body);
	if (c->htail != NULL)
		c->htail->next = m;
	else
		c->hhead = m;
	c->htail = m;
	c->hbytes += len;
	return 0;
}

static int
ctl_send(struct ctl *c, uint16_t type, uint32_t reqid, int flags,
    const ProtobufCMessage *body)
{
	struct ipc_hdr h = { IPC_VERSION, (uint8_t)flags, type, reqid, 0 };

	if (reqid == 0 && !(flags & IPC_F_REPLY))
		h.reqid = ++c->next_id;
	if (c->hold)
		return ctl_keep(c, &h, body);
	if (ipc_send(c->sock, NULL, 0, &h, body) == -1) {
		log_debug("send %s: %s", ipc_type_name(type),
		    zmq_strerror(errno));
		return -1;
	}
	c->last_tx = ipc_mono_ms();
	return 0;
}

int
ctl_hello(struct ctl *c, const char *token, const char *version)
{
	Ipc__Hello h = IPC__HELLO__INIT;

	h.device = c->device;
	h.token = (char *)token;
	h.pid = (int32_t)getpid();
	h.version = (char *)version;
	return ctl_send(c, IPC_HELLO, 0, 0, (const ProtobufCMessage *)&h);
}

static long
ctl_rss_kb(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f != NULL) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

long
ctl_tick(struct ctl *c, uint64_t now)
{
	Ipc__Heartbeat hb = IPC__HEARTBEAT__INIT;
	uint64_t next;

	if (now - c->last_rx > 3 * (uint64_t)c->timeout)
		return -1;
	if (c->ready && now - c->last_tx >= (uint64_t)c->interval) {
		hb.ts_ms = (int64_t)ipc_now_ms();
		hb.rss_kb = (uint64_t)ctl_rss_kb();
		ctl_send(c, IPC_HEARTBEAT, 0, 0, (const ProtobufCMessage *)&hb);
	}
	next = c->last_tx + (uint64_t)c->interval;
	return next > now ? (long)(next - now) : 0;
}

int
ctl_status(struct ctl *c, const char *state, const char *jid,
    const char *push_name, const char *cause, const char *json)
{
	Ipc__Status s = IPC__STATUS__INIT;

	s.device = c->device;
	s.state = (char *)state;
	s.jid = (char *)(jid ? jid : "");
	s.push_name = (char *)(push_name ? push_name : "");
	s.cause = (char *)(cause ? cause : "");
	if (json != NULL) {
		s.json.data = (uint8_t *)json;
		s.json.len = strlen(json);
	}
	return ctl_send(c, IPC_STATUS, 0, 0, (const ProtobufCMessage *)&s);
}

int
ctl_event(struct ctl *c, const char *type, const char *json, const char *id)
{
	Ipc__Event e = IPC__EVENT__INIT;

	e.device = c->device;
	e.type = (char *)type;
	e.ts_ms = (int64_t)ipc_now_ms();
	e.id = (char *)(id ? id : "");
	if (json != NULL) {
		e.json.data = (uint8_t *)json;
		e.json.len = strlen(json);
	}
	return ctl_send(c, IPC_WAEVENT, 0, 0, (const ProtobufCMessage *)&e);
}

int
ctl_reply(struct ctl *c, uint32_t reqid, int status, const char *code,
    const char *message, const char *json)
{
	Ipc__Reply *r = ipc_reply_new(status, code, message, json);
	int rc;

	rc = ctl_send(c, IPC_DEVICE_CALL, reqid, IPC_F_REPLY,
	    (const ProtobufCMessage *)r);
	ipc_reply_free(r);
	return rc;
}

int
ctl_dispatch(struct ctl *c, ctl_call_fn fn, void *arg)
{
	struct ipc_msg m;
	Ipc__Reply *r;
	Ipc__Request *req;
	int stop = 0, n;

	for (n = 0; n < 256 && !stop; n++) {
		if (ipc_recv(c->sock, 0, &m, 0) == -1) {
			if (errno == EPROTO)
				continue;
			break;
		}
		c->last_rx = ipc_mono_ms();
		switch (m.hdr.type) {
		case IPC_HELLO:
			if (!(m.hdr.flags & IPC_F_REPLY))
				break;
			r = ipc_reply_unpack(&m);
			if (r != NULL && r->status == 200) {
				c->ready = 1;
				log_debug("HELLO accepted");
			} else {
				log_warnx("devmgr refused the HELLO");
				stop = 1;
			}
			ipc_reply_free(r);
			break;
		case IPC_HEARTBEAT:
			break;
		case IPC_SHUTDOWN:
			log_info("shutdown requested");
			stop = 1;
			break;
		case IPC_DEVICE_CALL:
			if (m.hdr.flags & IPC_F_REPLY)
				break;
			if (m.hdr.deadline_ms != 0 &&
			    m.hdr.deadline_ms < ipc_now_ms())
				break;		/* the caller gave up */
			if ((req = ipc_request_unpack(&m)) == NULL) {
				ctl_reply(c, m.hdr.reqid, 400, "BAD_REQUEST",
				    "malformed request", NULL);
				break;
			}
			fn(c, m.hdr.reqid, req, arg);
			ipc__request__free_unpacked(req, NULL);
			break;
		default:
			log_debug("unexpected %s", ipc_type_name(m.hdr.type));
			break;
		}
		ipc_msg_clear(&m);
	}
	return stop;
}
