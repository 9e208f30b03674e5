/*
 * fuzz_frame.c - libFuzzer target for the frame reassembler (waproc/frame.c).
 * Byte 0 chooses the mode (client/server intro, frame size limit), byte 1
 * seeds the chunk sizes; the rest is the stream.  Frames seen when fed in
 * chunks must equal those seen when fed in one piece, and the reader must
 * never buffer more than one frame.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_frame_log {
	struct buf	 b;	/* len (4 bytes) || payload, per frame */
	size_t		 max;
};

static int
fuzz_frame_cb(void *arg, const uint8_t *p, size_t len)
{
	struct fuzz_frame_log *l = arg;
	uint8_t h[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16),
	    (uint8_t)(len >> 8), (uint8_t)len };

	if (len > l->max)
		abort();
	if (buf_append(&l->b, h, 4) != 0 || buf_append(&l->b, p, len) != 0)
		abort();
	return 0;
}

static int
fuzz_frame_run(const uint8_t *p, size_t len, int intro, size_t max,
    uint8_t seed, struct fuzz_frame_log *l)
{
	struct frame_reader r;
	size_t off = 0, n;
	int rc = 0;

	buf_init(&l->b, 1u << 20);
	l->max = max;
	frame_reader_init(&r, max);
	if (intro)
		frame_reader_expect_intro(&r);
	while (off < len && rc == 0) {
		n = seed == 0 ? len - off : (size_t)(seed % 7) + 1;
		seed = (uint8_t)(seed * 37 + 11);
		if (n > len - off)
			n = len - off;
		rc = frame_reader_feed(&r, p + off, n, fuzz_frame_cb, l);
		off += n;
		if (frame_reader_pending(&r) > max + FRAME_HDR_LEN)
			abort();
	}
	frame_reader_free(&r);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_frame_log whole, chunked;
	size_t max;
	int rc1, rc2, intro;

	if (size < 2)
		return 0;
	intro = data[0] & 1;
	max = (data[0] & 2) ? 64 : 0;
	if (max == 0)
		max = FRAME_MAX_PAYLOAD;
	rc1 = fuzz_frame_run(data + 2, size - 2, intro, max, 0, &whole);
	rc2 = fuzz_frame_run(data + 2, size - 2, intro, max,
	    (uint8_t)(data[1] | 1), &chunked);
	if (rc1 != rc2 || whole.b.len != chunked.b.len ||
	    (whole.b.len && memcmp(whole.b.data, chunked.b.data,
	    whole.b.len) != 0))
		abort();
	buf_free(&whole.b);
	buf_free(&chunked.b);
	return 0;
}
