/*
 * fuzz_sio.c - wsrelay's Engine.IO / Socket.IO packet parser: every text
 * frame a client can send goes through sio_parse, and an EVENT payload
 * through sio_event_parse.
 */
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "sio.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct sio_packet p;
	struct json_object *arg = NULL;
	char name[SIO_NAME_MAX];

	if (sio_parse((const char *)data, len, &p) == 0 &&
	    p.eio == SIO_EIO_MESSAGE && p.type == SIO_EVENT &&
	    sio_event_parse(p.data, p.datalen, name, &arg) == 0)
		json_object_put(arg);
	/* The payload parser alone, on raw bytes. */
	arg = NULL;
	if (sio_event_parse((const char *)data, len, name, &arg) == 0)
		json_object_put(arg);
	return 0;
}
