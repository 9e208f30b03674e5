/*
 * sio.c - Engine.IO 4 / Socket.IO 5 packet parsing and encoding (the wire
 * format socket.io-client 4.x speaks on its websocket transport).  Pure text:
 * no sockets, no state.  Every parse is bounded by the frame length and
 * rejects what a client may not send (OPEN, UPGRADE, binary packets).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "buf.h"
#include "sio.h"

#define SIO_JSON_FLAGS	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

int
sio_parse(const char *p, size_t len, struct sio_packet *pk)
{
	size_t i = 0, n;
	long ack;

	memset(pk, 0, sizeof(*pk));
	pk->type = -1;
	pk->ack = -1;
	pk->nsp[0] = '/';
	if (p == NULL || len == 0 || p[0] < '0' || p[0] > '6')
		return -1;
	pk->eio = p[0] - '0';
	i = 1;
	switch (pk->eio) {
	case SIO_EIO_OPEN:
	case SIO_EIO_UPGRADE:
		return -1;	/* server -> client only / not on this transport */
	case SIO_EIO_MESSAGE:
		break;
	default:
		pk->data = p + i;
		pk->datalen = len - i;
		return 0;
	}
	/* Socket.IO packet inside the Engine.IO message. */
	if (i >= len || p[i] < '0' || p[i] > '6')
		return -1;
	pk->type = p[i++] - '0';
	if (pk->type == SIO_BINARY_EVENT || pk->type == SIO_BINARY_ACK ||
	    pk->type == SIO_CONNECT_ERROR)
		return -1;	/* no binary attachments; 44 is server-only */
	if (i < len && p[i] == '/') {
		for (n = 0; i < len && p[i] != ','; i++, n++) {
			if (n + 1 >= sizeof(pk->nsp) ||
			    !isgraph((unsigned char)p[i]))
				return -1;
			pk->nsp[n] = p[i];
		}
		pk->nsp[n] = '\0';
		if (i < len)
			i++;	/* the ',' */
	}
	if (i < len && isdigit((unsigned char)p[i])) {
		ack = 0;
		while (i < len && isdigit((unsigned char)p[i])) {
			ack = ack * 10 + (p[i++] - '0');
			if (ack > SIO_ACK_MAX)
				return -1;
		}
		pk->ack = ack;
	}
	pk->data = p + i;
	pk->datalen = len - i;
	switch (pk->type) {
	case SIO_EVENT:
		if (pk->datalen == 0 || pk->data[0] != '[')
			return -1;
		break;
	case SIO_ACK:
		if (pk->ack < 0 || pk->datalen == 0 || pk->data[0] != '[')
			return -1;
		break;
	case SIO_CONNECT:
		if (pk->ack >= 0 || (pk->datalen > 0 && pk->data[0] != '{'))
			return -1;
		break;
	case SIO_DISCONNECT:
		if (pk->ack >= 0 || pk->datalen != 0)
			return -1;
		break;
	}
	return 0;
}

int
sio_event_parse(const char *data, size_t len, char name[SIO_NAME_MAX],
    struct json_object **arg)
{
	struct json_tokener *tok;
	struct json_object *arr = NULL, *el;
	const char *s;
	int rc = -1;

	name[0] = '\0';
	*arg = NULL;
	if (data == NULL || len == 0 || len > (size_t)INT32_MAX)
		return -1;
	if ((tok = json_tokener_new_ex(16)) == NULL)
		return -1;
	arr = json_tokener_parse_ex(tok, data, (int)len);
	if (arr == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len)
		goto out;
	if (!json_object_is_type(arr, json_type_array) ||
	    json_object_array_length(arr) < 1)
		goto out;
	el = json_object_array_get_idx(arr, 0);
	if (!json_object_is_type(el, json_type_string))
		goto out;
	s = json_object_get_string(el);
	if ((size_t)json_object_get_string_len(el) >= SIO_NAME_MAX ||
	    strlen(s) != (size_t)json_object_get_string_len(el) || *s == '\0')
		goto out;
	memcpy(name, s, strlen(s) + 1);
	if (json_object_array_length(arr) >= 2)
		*arg = json_object_get(json_object_array_get_idx(arr, 1));
	rc = 0;
out:
	if (arr != NULL)
		json_object_put(arr);
	json_tokener_free(tok);
	if (rc != 0)
		name[0] = '\0';
	return rc;
}

static int
sio_put_jstring(struct buf *b, const char *s)
{
	struct json_object *o = json_object_new_string(s ? s : "");
	int rc;

	rc = buf_puts(b, json_object_to_json_string_ext(o, SIO_JSON_FLAGS));
	json_object_put(o);
	return rc;
}

int
sio_encode_open(struct buf *b, const char *sid, long ping_interval_ms,
    long ping_timeout_ms, long max_payload)
{
	return buf_printf(b, "0{\"sid\":\"%s\",\"upgrades\":[],"
	    "\"pingInterval\":%ld,\"pingTimeout\":%ld,\"maxPayload\":%ld}",
	    sid, ping_interval_ms, ping_timeout_ms, max_payload);
}

int
sio_encode_event(struct buf *b, const char *name, const char *json)
{
	if (buf_puts(b, "42[") == -1 || sio_put_jstring(b, name) == -1)
		return -1;
	if (json != NULL && (buf_putc(b, ',') == -1 || buf_puts(b, json) == -1))
		return -1;
	return buf_putc(b, ']');
}

int
sio_encode_ack(struct buf *b, long ack, const char *json)
{
	return buf_printf(b, "43%ld[%s]", ack, json ? json : "");
}

int
sio_encode_connect(struct buf *b, const char *sid)
{
	return buf_printf(b, "40{\"sid\":\"%s\"}", sid);
}

int
sio_encode_connect_error(struct buf *b, const char *nsp, const char *message)
{
	if (buf_puts(b, "44") == -1)
		return -1;
	if (nsp != NULL && strcmp(nsp, "/") != 0 &&
	    (buf_puts(b, nsp) == -1 || buf_putc(b, ',') == -1))
		return -1;
	if (buf_puts(b, "{\"message\":") == -1 ||
	    sio_put_jstring(b, message) == -1)
		return -1;
	return buf_putc(b, '}');
}

void
sio_new_sid(char out[21])
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char r[20];
	size_t i;

	randombytes_buf(r, sizeof(r));
	for (i = 0; i < sizeof(r); i++)
		out[i] = b64[r[i] & 63];
	out[20] = '\0';
}
