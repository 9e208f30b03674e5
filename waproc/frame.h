/*
 * frame.h - the WhatsApp frame layer under Noise (PROTOCOL.md 1.1-1.2):
 * every frame is len24 (3-byte big-endian length) || payload; the client's
 * first frame is preceded, once, by the intro 'W','A',6,3 (optionally the
 * "ED" routing prefix before it).
 *
 * The reader is fed arbitrary chunks (WebSocket message boundaries mean
 * nothing; even the 3-byte length may be split) and calls back once per
 * whole frame.  It buffers at most one partial frame, never more than its
 * max_payload, and refuses a longer announced frame with FRAME_ETOOBIG.
 * Errors are sticky: the connection must be dropped.  No I/O, no crypto.
 */
#ifndef WAPROC_FRAME_H
#define WAPROC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define FRAME_HDR_LEN		3
#define FRAME_MAX_PAYLOAD	((1u << 24) - 1)	/* len24 wire limit */
#define FRAME_INTRO_LEN		4
#define FRAME_ROUTING_MAX	1024	/* ED routing_info we accept/send */

#define FRAME_ETOOBIG	(-1)	/* frame longer than the limit */
#define FRAME_EINTRO	(-2)	/* bad intro header */
#define FRAME_ENOSPC	(-3)	/* output buffer reached its cap */

extern const uint8_t frame_intro[FRAME_INTRO_LEN];	/* 'W','A',6,3 */

/* Called once per complete frame; payload valid only during the call.
 * Return 0 to go on, negative to stop (that value is returned by feed). */
typedef int (*frame_cb)(void *arg, const uint8_t *payload, size_t len);

struct frame_reader {
	size_t		 max;		/* largest payload accepted */
	int		 err;		/* sticky error, 0 if fine */
	int		 intro;		/* intro-parsing phase, 0 = done */
	size_t		 skip;		/* intro bytes still to skip */
	uint8_t		 hdr[FRAME_INTRO_LEN];
	size_t		 hdrlen;	/* bytes of hdr collected */
	size_t		 need;		/* payload length of current frame */
	int		 inframe;	/* header complete, collecting body */
	struct buf	 body;		/* partial payload, max = need */
};

/* max_payload 0 means FRAME_MAX_PAYLOAD. */
void	frame_reader_init(struct frame_reader *r, size_t max_payload);
/* Server side: expect the client's intro (ED prefix allowed) first. */
void	frame_reader_expect_intro(struct frame_reader *r);
void	frame_reader_free(struct frame_reader *r);
/* Consume a chunk, calling cb per frame; 0 or a negative error. */
int	frame_reader_feed(struct frame_reader *r, const void *p, size_t len,
	    frame_cb cb, void *arg);
/* Bytes held for an incomplete frame (header and body). */
size_t	frame_reader_pending(const struct frame_reader *r);

struct frame_writer {
	int		 intro_sent;
	uint8_t		 routing[FRAME_ROUTING_MAX];
	size_t		 routinglen;
};

/* routing may be NULL; otherwise the intro gets the ED prefix (1.2).
 * Returns 0, or FRAME_ETOOBIG if rlen > FRAME_ROUTING_MAX. */
int	frame_writer_init(struct frame_writer *w, const uint8_t *routing,
	    size_t rlen);
/* Append [intro, first call only] len24 payload to out. */
int	frame_write(struct frame_writer *w, const void *payload, size_t len,
	    struct buf *out);
/* Append len24 payload (no intro; the server side). */
int	frame_encode(const void *payload, size_t len, struct buf *out);

const char *frame_strerror(int err);

#endif
