/*
 * frame.c - WhatsApp frame codec (PROTOCOL.md 1.1-1.2): len24 framing, the
 * one-time intro header, and a reassembler for arbitrarily split input.
 * Buffers at most one partial frame, bounded by the reader's limit; never
 * logs, never looks inside payloads.
 */
#include <string.h>

#include "frame.h"

const uint8_t frame_intro[FRAME_INTRO_LEN] = { 'W', 'A', 6, 3 };
static const uint8_t frame_ed_prefix[FRAME_INTRO_LEN] = { 'E', 'D', 0, 1 };

enum frame_intro_phase {
	FRAME_INTRO_DONE = 0,
	FRAME_INTRO_MAGIC,	/* 'W','A',6,3 or 'E','D',0,1 */
	FRAME_INTRO_ED_LEN,	/* len24 of routing_info */
	FRAME_INTRO_ED_SKIP,	/* routing_info bytes */
	FRAME_INTRO_WA		/* 'W','A',6,3 after the ED prefix */
};

void
frame_reader_init(struct frame_reader *r, size_t max_payload)
{
	memset(r, 0, sizeof(*r));
	r->max = max_payload == 0 || max_payload > FRAME_MAX_PAYLOAD ?
	    FRAME_MAX_PAYLOAD : max_payload;
	buf_init(&r->body, 0);
}

void
frame_reader_expect_intro(struct frame_reader *r)
{
	r->intro = FRAME_INTRO_MAGIC;
	r->hdrlen = 0;
}

void
frame_reader_free(struct frame_reader *r)
{
	buf_free(&r->body);
	r->hdrlen = 0;
	r->inframe = 0;
}

size_t
frame_reader_pending(const struct frame_reader *r)
{
	return r->hdrlen + (r->inframe ? r->body.len : 0);
}

/* Copy up to `want` header bytes; returns bytes used. */
static size_t
frame_collect(struct frame_reader *r, size_t want, const uint8_t *p,
    size_t len)
{
	size_t n = want - r->hdrlen;

	if (n > len)
		n = len;
	memcpy(r->hdr + r->hdrlen, p, n);
	r->hdrlen += n;
	return n;
}

/* Intro state machine; returns bytes used or a negative error. */
static long
frame_intro_step(struct frame_reader *r, const uint8_t *p, size_t len)
{
	size_t n;

	switch (r->intro) {
	case FRAME_INTRO_MAGIC:
	case FRAME_INTRO_WA:
		n = frame_collect(r, FRAME_INTRO_LEN, p, len);
		if (r->hdrlen < FRAME_INTRO_LEN)
			return (long)n;
		r->hdrlen = 0;
		if (memcmp(r->hdr, frame_intro, FRAME_INTRO_LEN) == 0)
			r->intro = FRAME_INTRO_DONE;
		else if (r->intro == FRAME_INTRO_MAGIC &&
		    memcmp(r->hdr, frame_ed_prefix, FRAME_INTRO_LEN) == 0)
			r->intro = FRAME_INTRO_ED_LEN;
		else
			return FRAME_EINTRO;
		return (long)n;
	case FRAME_INTRO_ED_LEN:
		n = frame_collect(r, FRAME_HDR_LEN, p, len);
		if (r->hdrlen < FRAME_HDR_LEN)
			return (long)n;
		r->hdrlen = 0;
		r->skip = (size_t)r->hdr[0] << 16 | (size_t)r->hdr[1] << 8 |
		    r->hdr[2];
		if (r->skip > FRAME_ROUTING_MAX)
			return FRAME_EINTRO;
		r->intro = r->skip ? FRAME_INTRO_ED_SKIP : FRAME_INTRO_WA;
		return (long)n;
	case FRAME_INTRO_ED_SKIP:
		n = len < r->skip ? len : r->skip;
		r->skip -= n;
		if (r->skip == 0)
			r->intro = FRAME_INTRO_WA;
		return (long)n;
	default:
		return FRAME_EINTRO;
	}
}

int
frame_reader_feed(struct frame_reader *r, const void *data, size_t len,
    frame_cb cb, void *arg)
{
	const uint8_t *p = data;
	size_t n;
	long used;
	int rc = 0;

	if (r->err != 0)
		return r->err;
	while (len > 0) {
		if (r->intro != FRAME_INTRO_DONE) {
			if ((used = frame_intro_step(r, p, len)) < 0) {
				rc = (int)used;
				goto out;
			}
			p += used;
			len -= (size_t)used;
			continue;
		}
		if (!r->inframe) {
			n = frame_collect(r, FRAME_HDR_LEN, p, len);
			p += n;
			len -= n;
			if (r->hdrlen < FRAME_HDR_LEN)
				break;
			r->hdrlen = 0;
			r->need = (size_t)r->hdr[0] << 16 |
			    (size_t)r->hdr[1] << 8 | r->hdr[2];
			if (r->need > r->max) {
				rc = FRAME_ETOOBIG;
				goto out;
			}
			if (len >= r->need) {
				/* whole frame in this chunk: no copy */
				rc = cb(arg, p, r->need);
				p += r->need;
				len -= r->need;
				if (rc < 0)
					goto out;
				rc = 0;
				continue;
			}
			r->inframe = 1;
			buf_reset(&r->body);
			r->body.max = r->need;
		}
		n = r->need - r->body.len;
		if (n > len)
			n = len;
		if (buf_append(&r->body, p, n) != 0) {
			rc = FRAME_ETOOBIG;	/* cannot happen: n <= need */
			goto out;
		}
		p += n;
		len -= n;
		if (r->body.len < r->need)
			break;
		r->inframe = 0;
		rc = cb(arg, r->body.data, r->body.len);
		buf_free(&r->body);	/* do not keep up to 16 MiB around */
		if (rc < 0)
			goto out;
		rc = 0;
	}
out:
	if (rc < 0)
		r->err = rc;
	return rc;
}

int
frame_writer_init(struct frame_writer *w, const uint8_t *routing,
    size_t rlen)
{
	memset(w, 0, sizeof(*w));
	if (routing == NULL || rlen == 0)
		return 0;
	if (rlen > FRAME_ROUTING_MAX)
		return FRAME_ETOOBIG;
	memcpy(w->routing, routing, rlen);
	w->routinglen = rlen;
	return 0;
}

static int
frame_put_len24(struct buf *out, size_t len)
{
	uint8_t h[FRAME_HDR_LEN];

	h[0] = (uint8_t)(len >> 16);
	h[1] = (uint8_t)(len >> 8);
	h[2] = (uint8_t)len;
	return buf_append(out, h, sizeof(h));
}

int
frame_encode(const void *payload, size_t len, struct buf *out)
{
	size_t start = out->len;

	if (len > FRAME_MAX_PAYLOAD)
		return FRAME_ETOOBIG;
	if (frame_put_len24(out, len) != 0 ||
	    buf_append(out, payload, len) != 0) {
		out->len = start;
		return FRAME_ENOSPC;
	}
	return 0;
}

int
frame_write(struct frame_writer *w, const void *payload, size_t len,
    struct buf *out)
{
	size_t start = out->len;
	int rc;

	if (len > FRAME_MAX_PAYLOAD)
		return FRAME_ETOOBIG;
	if (!w->intro_sent) {
		if (w->routinglen > 0 &&
		    (buf_append(out, frame_ed_prefix, FRAME_INTRO_LEN) != 0 ||
		    frame_put_len24(out, w->routinglen) != 0 ||
		    buf_append(out, w->routing, w->routinglen) != 0))
			goto full;
		if (buf_append(out, frame_intro, FRAME_INTRO_LEN) != 0)
			goto full;
	}
	if ((rc = frame_encode(payload, len, out)) != 0) {
		out->len = start;
		return rc;
	}
	w->intro_sent = 1;
	return 0;
full:
	out->len = start;
	return FRAME_ENOSPC;
}

const char *
frame_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case FRAME_ETOOBIG:
		return "frame too large";
	case FRAME_EINTRO:
		return "bad connection intro";
	case FRAME_ENOSPC:
		return "output buffer full";
	default:
		return "frame callback error";
	}
}
