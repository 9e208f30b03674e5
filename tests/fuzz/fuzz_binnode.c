/*
 * fuzz_binnode.c - libFuzzer target for the WABinary decoder
 * (waproc/binnode.c).
 * Any input: decode as a received payload (flag byte, maybe zlib) and as a
 * bare node.  Whatever decodes must encode, decode again to an equal tree,
 * and print within a bounded buffer.  Crashes, leaks, UB or a broken
 * round-trip are findings.
 */
#include <stdint.h>
#include <stdlib.h>

#include "binnode.h"
#include "buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_binnode_check(const struct binnode *n)
{
	struct binnode *again = NULL;
	struct buf b;

	buf_init(&b, 64u << 20);
	if (binnode_encode(n, &b) != 0)
		abort();	/* a decoded node must be encodable */
	if (binnode_decode(b.data, b.len, &again) != 0)
		abort();
	if (!binnode_equal(n, again))
		abort();
	binnode_free(again);
	buf_free(&b);

	buf_init(&b, 4096);
	(void)binnode_print(n, &b);	/* may hit the cap: fine */
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct binnode *n = NULL;

	if (binnode_decode(data, size, &n) == 0) {
		if (n == NULL)
			abort();
		fuzz_binnode_check(n);
		binnode_free(n);
	} else if (n != NULL)
		abort();
	if (binnode_decode_node(data, size, &n) == 0) {
		fuzz_binnode_check(n);
		binnode_free(n);
	}
	return 0;
}
