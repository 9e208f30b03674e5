/*
 * buf.h - growable byte buffer with a hard maximum (sshbuf in spirit).
 * Every append checks the cap and fails with -1 instead of growing past it;
 * input can never make a buffer larger than the limit its owner chose.
 */
#ifndef COMMON_BUF_H
#define COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t	*data;
	size_t	 len;
	size_t	 cap;	/* allocated */
	size_t	 max;	/* hard limit */
};

void	 buf_init(struct buf *, size_t max);
void	 buf_free(struct buf *);		/* frees data, keeps max */
void	 buf_reset(struct buf *);		/* len = 0 */
int	 buf_reserve(struct buf *, size_t more);
int	 buf_append(struct buf *, const void *, size_t);
int	 buf_putc(struct buf *, uint8_t);
int	 buf_puts(struct buf *, const char *);
int	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_consume(struct buf *, size_t);	/* drop n bytes from front */
char	*buf_cstr(struct buf *);		/* NUL-terminated view */

#endif
