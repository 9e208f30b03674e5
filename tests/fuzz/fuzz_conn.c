/*
 * fuzz_conn.c - libFuzzer target for what the WhatsApp client parses after
 * the handshake and at start-up: byte 0 picks the mode, the rest is input.
 *   0  a stored credentials blob (creds_deserialize, then re-serialize and
 *      compare)
 *   1  a decrypted server payload (flag byte + binary node) handed to the
 *      connection's dispatcher (conn_inject): iq replies, pair-device,
 *      pair-success, success, failure, stream:error, notifications, pings
 * The connection is never connected, so nothing leaves the process; its
 * state (credentials reset on "logged out", QR refs) carries over between
 * inputs as it would on a long-lived connection.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "conn.h"
#include "creds.h"

static struct conn *conn;
static struct creds creds;

static void
init(void)
{
	struct conn_cfg cfg;

	log_init("fuzz_conn", LOG_LVL_ERROR);
	creds_generate(&creds);
	conn_cfg_default(&cfg);
	snprintf(cfg.url, sizeof(cfg.url), "ws://127.0.0.1:9/ws/chat");
	conn = conn_new(&cfg, &creds, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct creds c, d;
	struct buf b;

	if (conn == NULL)
		init();
	if (size < 1)
		return 0;
	switch (data[0]) {
	case 0:
		if (creds_deserialize(&c, data + 1, size - 1) == 0) {
			buf_init(&b, CREDS_BLOB_MAX);
			if (creds_serialize(&c, &b) != 0 ||
			    creds_deserialize(&d, b.data, b.len) != 0 ||
			    memcmp(c.identity.pub, d.identity.pub, 32) != 0 ||
			    strcmp(c.jid, d.jid) != 0)
				abort();
			buf_free(&b);
			creds_clear(&d);
		}
		creds_clear(&c);
		break;
	case 1:
		(void)conn_inject(conn, data + 1, size - 1);
		break;
	default:
		break;
	}
	return 0;
}
