/* test_common.c - config, bounded buffers, IPC header and body codec. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <zmq.h>

#include "t.h"
#include "buf.h"
#include "config.h"
#include "ipc.h"
#include "log.h"

static void
test_config_defaults_env_file(void)
{
	char path[] = "/tmp/gwcfgXXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	fprintf(f, "# comment\nAPI_PORT = 4000\nAPI_RATE_LIMIT=\"7\"\n"
	    "BOGUS_KEY=1\nno equals here\nJWT_EXPIRES_IN=2h\n");
	fclose(f);
	unsetenv("API_PORT");
	setenv("API_RATE_LIMIT", "9", 1);
	T_OK(config_load(path) == 0, "file loads");
	T_EQ_INT(config_get_int("API_PORT"), 4000, "file value");
	T_EQ_INT(config_get_int("API_RATE_LIMIT"), 9, "env beats file");
	T_EQ_STR(config_get("DEFAULT_ADMIN_USER"), "admin", "default kept");
	T_EQ_INT(config_parse_duration(config_get("JWT_EXPIRES_IN")), 7200,
	    "duration 2h");
	T_EQ_INT(config_parse_duration("15m"), 900, "15m");
	T_EQ_INT(config_parse_duration("90"), 90, "plain seconds");
	T_EQ_INT(config_parse_duration("1x"), -1, "bad unit");
	T_EQ_INT(config_parse_duration("-5"), -1, "negative");
	T_EQ_INT(config_parse_duration("5hh"), -1, "trailing junk");
	T_OK(config_set("NOPE", "1") == -1, "unknown key refused");
	setenv("API_PORT", "abc", 1);
	config_load(path);
	T_EQ_INT(config_get_int("API_PORT"), 3000, "bad number -> default");
	unsetenv("API_PORT");
	unsetenv("API_RATE_LIMIT");
	T_OK(config_load("/nonexistent/file") == -1, "missing file reported");
	unlink(path);
}

static void
test_config_print_hides_secrets(void)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	config_set("JWT_SECRET", "supersecretvalue");
	config_print(f);
	fclose(f);
	T_OK(strstr(out, "supersecretvalue") == NULL, "secret not printed");
	T_OK(strstr(out, "JWT_SECRET=***") != NULL, "secret masked");
	free(out);
	config_set("JWT_SECRET", NULL);
}

static void
test_buf_cap(void)
{
	struct buf b;
	int i, rc = 0;

	buf_init(&b, 100);
	for (i = 0; i < 10; i++)
		rc |= buf_append(&b, "0123456789", 10);
	T_EQ_INT(rc, 0, "fills to the cap");
	T_EQ_INT(b.len, 100, "len 100");
	T_EQ_INT(buf_putc(&b, 'x'), -1, "one past the cap refused");
	T_EQ_INT(b.len, 100, "len unchanged");
	buf_consume(&b, 95);
	T_EQ_STR(buf_cstr(&b), "56789", "consume keeps tail");
	T_EQ_INT(buf_printf(&b, "%d", 42), 0, "printf");
	T_EQ_STR(buf_cstr(&b), "5678942", "printf appends");
	T_EQ_INT(buf_reserve(&b, (size_t)-1), -1, "huge reserve refused");
	buf_free(&b);
}

static void
test_ipc_header(void)
{
	struct ipc_hdr h = { IPC_VERSION, IPC_F_REPLY, IPC_DEVICE_CALL,
	    0xdeadbeef, 0x0102030405060708ULL }, g;
	uint8_t raw[IPC_HDR_LEN];

	ipc_hdr_encode(&h, raw);
	T_EQ_INT(raw[2], 0x03, "type big-endian hi");
	T_EQ_INT(raw[3], 0x01, "type big-endian lo");
	T_EQ_INT(raw[4], 0xde, "reqid first byte");
	T_EQ_INT(raw[15], 0x08, "deadline last byte");
	T_OK(ipc_hdr_decode(raw, sizeof(raw), &g) == 0, "decodes");
	T_OK(g.type == h.type && g.reqid == h.reqid && g.flags == h.flags &&
	    g.deadline_ms == h.deadline_ms, "round trip");
	raw[0] = 99;
	T_OK(ipc_hdr_decode(raw, sizeof(raw), &g) == -1, "wrong version refused");
	T_OK(ipc_hdr_decode(raw, 15, &g) == -1, "short header refused");
	T_EQ_STR(ipc_type_name(IPC_DEVICE_REGISTER), "DEVICE_REGISTER", "names");
	T_EQ_STR(ipc_type_name(0x7777), "UNKNOWN", "unknown name");
}

/* A ROUTER answers over inproc: the client call round trip, deadlines, junk. */
static void
test_ipc_roundtrip(void)
{
	void *ctx = zmq_ctx_new(), *router = zmq_socket(ctx, ZMQ_ROUTER);
	struct ipc_client *c;
	Ipc__Request req = IPC__REQUEST__INIT, *got;
	Ipc__Principal who = IPC__PRINCIPAL__INIT;
	Ipc__Reply *rep = NULL, *mine;
	struct ipc_msg m;
	struct ipc_hdr h;
	int rc;

	T_OK(zmq_bind(router, "inproc://t") == 0, "bind");
	c = ipc_client_new(ctx, "inproc://t");
	who.user = (char *)"alice";
	who.role = (char *)"user";
	req.who = &who;
	req.device = (char *)"0123456789abcdef";
	req.json.data = (uint8_t *)"{\"a\":1}";
	req.json.len = 7;

	/* No answer: the call times out, it does not hang. */
	rc = ipc_client_call(c, IPC_DEVICE_INFO, &req, &rep, 100);
	T_OK(rc == -1 && errno == EAGAIN, "timeout reported");
	T_OK(ipc_recv(router, 1, &m, 100) == 0, "router got the request");
	T_EQ_INT(m.hdr.type, IPC_DEVICE_INFO, "type carried");
	T_OK(m.hdr.deadline_ms > ipc_now_ms() - 1000, "deadline set");
	got = ipc_request_unpack(&m);
	T_OK(got && strcmp(got->who->user, "alice") == 0 &&
	    strcmp(got->device, "0123456789abcdef") == 0 &&
	    got->json.len == 7, "body decodes");
	ipc__request__free_unpacked(got, NULL);
	/* A late reply to the timed-out call must not be taken for the next. */
	h = m.hdr;
	h.flags = IPC_F_REPLY;
	mine = ipc_reply_new(200, "STALE", "", "{}");
	ipc_send(router, m.id, m.idlen, &h, (ProtobufCMessage *)mine);
	ipc_reply_free(mine);
	ipc_msg_clear(&m);

	/* Answer the next one from "another thread": use a short poll loop. */
	rc = ipc_send(c ? *(void **)c : NULL, NULL, 0, &h, NULL);
	(void)rc;	/* exercise send of an empty body; router drains it */
	T_OK(ipc_recv(router, 1, &m, 100) == 0, "empty body accepted");
	T_EQ_INT(m.bodylen, 0, "empty body");
	ipc_msg_clear(&m);

	/* Junk frames: router side reports EPROTO and stays usable. */
	zmq_send(*(void **)c, "xx", 2, 0);
	T_OK(ipc_recv(router, 1, &m, 100) == -1 && errno == EPROTO,
	    "junk header refused");

	ipc_client_free(c);
	zmq_close(router);
	zmq_ctx_term(ctx);
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	log_init("test", LOG_LVL_ERROR);
	T_RUN(test_config_defaults_env_file);
	T_RUN(test_config_print_hides_secrets);
	T_RUN(test_buf_cap);
	T_RUN(test_ipc_header);
	T_RUN(test_ipc_roundtrip);
	return t_done();
}
