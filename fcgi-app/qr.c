/*
 * qr.c - QR codes as PNG: libqrencode for the modules, libpng to write a
 * 1-bit grayscale image into memory (4-module quiet zone, scaled to about
 * 512 pixels like the seed's).  The only file that includes <qrencode.h>
 * and <png.h>.  Inputs are bounded (QR_TEXT_MAX); output is capped.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <qrencode.h>
#include <sodium.h>

#include "fcgi.h"
#include "xmalloc.h"

#define QR_TEXT_MAX	2048
#define QR_PNG_MAX	(2u * 1024 * 1024)
#define QR_TARGET_PX	512
#define QR_QUIET	4

static void
qr_write_cb(png_structp png, png_bytep data, png_size_t len)
{
	struct buf *b = png_get_io_ptr(png);

	if (buf_append(b, data, len) == -1)
		png_error(png, "qr: png too large");
}

static void
qr_flush_cb(png_structp png)
{
}

/* Write the module matrix as PNG into b; 0 or -1. */
static int
qr_write_png(const QRcode *qr, int scale, struct buf *b, uint8_t *row)
{
	png_structp png;
	png_infop info;
	int size = (qr->width + 2 * QR_QUIET) * scale;
	int y, x, mx, my;
	size_t rowlen = ((size_t)size + 7) / 8;

	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL,
	    NULL);
	if (png == NULL)
		return -1;
	if ((info = png_create_info_struct(png)) == NULL) {
		png_destroy_write_struct(&png, NULL);
		return -1;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return -1;
	}
	png_set_write_fn(png, b, qr_write_cb, qr_flush_cb);
	png_set_IHDR(png, info, (png_uint_32)size, (png_uint_32)size, 1,
	    PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
	    PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (y = 0; y < size; y++) {
		memset(row, 0xff, rowlen);	/* white */
		my = y / scale - QR_QUIET;
		if (my >= 0 && my < qr->width) {
			for (x = 0; x < size; x++) {
				mx = x / scale - QR_QUIET;
				if (mx < 0 || mx >= qr->width)
					continue;
				if (qr->data[my * qr->width + mx] & 1)
					row[x / 8] &= (uint8_t)~(0x80 >> (x % 8));
			}
		}
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return 0;
}

int
qr_png(const char *text, uint8_t **out, size_t *outlen)
{
	QRcode *qr;
	struct buf b;
	uint8_t *row;
	int scale, size, rc;

	*out = NULL;
	*outlen = 0;
	if (text == NULL || *text == '\0' || strlen(text) > QR_TEXT_MAX)
		return -1;
	qr = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_L);
	if (qr == NULL)
		return -1;
	scale = QR_TARGET_PX / (qr->width + 2 * QR_QUIET);
	if (scale < 1)
		scale = 1;
	size = (qr->width + 2 * QR_QUIET) * scale;
	row = xmalloc(((size_t)size + 7) / 8);
	buf_init(&b, QR_PNG_MAX);
	rc = qr_write_png(qr, scale, &b, row);
	free(row);
	QRcode_free(qr);
	if (rc == -1) {
		buf_free(&b);
		return -1;
	}
	*out = b.data;
	*outlen = b.len;
	return 0;
}

char *
qr_data_url(const char *text)
{
	static const char prefix[] = "data:image/png;base64,";
	uint8_t *png;
	size_t len, b64len;
	char *url;

	if (qr_png(text, &png, &len) == -1)
		return NULL;
	b64len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	url = xmalloc(sizeof(prefix) - 1 + b64len);
	memcpy(url, prefix, sizeof(prefix) - 1);
	sodium_bin2base64(url + sizeof(prefix) - 1, b64len, png, len,
	    sodium_base64_VARIANT_ORIGINAL);
	free(png);
	return url;
}
