/*
 * binnode.h - WhatsApp binary XML ("WABinary", PROTOCOL.md 3): the node tree,
 * its encoder and its decoder, and a debug printer.
 *
 * A node is a tag, an ordered attribute list (string or typed-JID values)
 * and optional content: a child list, raw bytes, a string or a JID.
 * The decoder takes untrusted input: it never reads out of bounds, caps
 * nesting depth, node count, memory and inflated size, and returns a
 * negative BINNODE_E* code on anything malformed.  It does no logging; the
 * caller decides what a bad stanza means.
 *
 * Ownership: binnode_new() allocates, binnode_free() frees the whole tree
 * (NULL-safe); binnode_add_child() takes the child (sets *child = NULL).
 */
#ifndef WAPROC_BINNODE_H
#define WAPROC_BINNODE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "jid.h"

#define BINNODE_MAX_DEPTH	64		/* nested node levels */
#define BINNODE_MAX_NODES	(1 << 18)	/* nodes in one decode */
#define BINNODE_MAX_MEM		(64u << 20)	/* bytes one decode may allocate */
#define BINNODE_MAX_INFLATE	(16u << 20)	/* inflated payload (3.6) */
#define BINNODE_PACKED_MAX	127		/* chars in a nibble/hex string */

/* Payload flag byte (1.5). */
#define BINNODE_FLAG_ZLIB	0x02

/* Error codes (all negative). */
#define BINNODE_ETRUNC	(-1)	/* input ends early */
#define BINNODE_EINVAL	(-2)	/* bad tag byte, token, packed char, shape */
#define BINNODE_ELIMIT	(-3)	/* depth/node/memory/inflate cap */
#define BINNODE_EZLIB	(-4)	/* corrupt zlib stream */
#define BINNODE_ETRAIL	(-5)	/* bytes left after the node */
#define BINNODE_EJID	(-6)	/* malformed or unencodable JID */
#define BINNODE_ENOSPC	(-7)	/* output buffer reached its cap */

enum binnode_content {
	BINNODE_NONE = 0,	/* no content */
	BINNODE_LIST,		/* children[0..nchildren), possibly none */
	BINNODE_BYTES,		/* raw bytes data[0..len) (BINARY_8/20/32) */
	BINNODE_STRING,		/* text data[0..len): token/packed/raw */
	BINNODE_JID		/* *jid */
};

struct binnode_attr {
	char		*key;
	char		*value;		/* NUL-terminated; a JID is formatted */
	size_t		 value_len;	/* may contain NULs if decoded so */
	struct jid	*jid;		/* non-NULL: the value is a typed JID */
};

struct binnode {
	char			 *tag;
	struct binnode_attr	 *attrs;
	size_t			  nattrs;
	size_t			  attrs_cap;
	enum binnode_content	  type;
	struct binnode		**children;
	size_t			  nchildren;
	size_t			  children_cap;
	uint8_t			 *data;		/* BYTES/STRING, NUL-terminated */
	size_t			  len;
	struct jid		 *jid;		/* JID content */
};

/* --- building --- */
struct binnode	*binnode_new(const char *tag);
void		 binnode_free(struct binnode *);
/* Set (replace) a string attribute; NULL or "" removes it, as the
 * reference clients never send empty attributes. */
void		 binnode_set_attr(struct binnode *, const char *key,
		    const char *value);
/* Set a typed JID attribute (encoded as JID_PAIR/AD_JID/...). */
void		 binnode_set_attr_jid(struct binnode *, const char *key,
		    const struct jid *);
/* Several string attributes: key, value, ..., NULL.  NULL/"" values
 * are skipped (removed), like binnode_set_attr. */
void		 binnode_set_attrs(struct binnode *, ...)
		    __attribute__((sentinel));
void		 binnode_del_attr(struct binnode *, const char *key);
/* Content setters replace any previous content. */
void		 binnode_set_bytes(struct binnode *, const void *, size_t);
void		 binnode_set_string(struct binnode *, const char *);
void		 binnode_set_jid(struct binnode *, const struct jid *);
void		 binnode_clear_content(struct binnode *);
/* Append *child (ownership taken, *child = NULL); content becomes LIST. */
void		 binnode_add_child(struct binnode *, struct binnode **child);
/* New child with this tag appended; returns it (owned by the parent). */
struct binnode	*binnode_add_new(struct binnode *, const char *tag);

/* --- reading --- */
/* Attribute value or NULL.  The decoder keeps attributes in wire order,
 * repeated keys included; lookups return the first. */
const char	*binnode_attr(const struct binnode *, const char *key);
/* 0 and *out filled if the attribute is a typed JID or parses as one. */
int		 binnode_attr_jid(const struct binnode *, const char *key,
		    struct jid *out);
/* 0 and *out set if the attribute is a plain decimal number. */
int		 binnode_attr_u64(const struct binnode *, const char *key,
		    uint64_t *out);
/* First child with this tag (NULL tag: first child), or NULL. */
struct binnode	*binnode_child(const struct binnode *, const char *tag);
/* Number of children with this tag. */
size_t		 binnode_count(const struct binnode *, const char *tag);
int		 binnode_tag_is(const struct binnode *, const char *tag);
/* Deep equality: attributes in any order, JIDs by value, STRING and
 * BYTES content by their bytes (what survives a wire round-trip). */
int		 binnode_equal(const struct binnode *, const struct binnode *);

/* --- wire --- */
/* Append 0x00 flag byte + node to out (a sent payload, 1.5). */
int		 binnode_encode(const struct binnode *, struct buf *out);
/* Append just the node. */
int		 binnode_encode_node(const struct binnode *, struct buf *out);
/* Decode a received payload: flag byte, zlib if flag & 2, then one node
 * that must use every byte.  *out = NULL on error. */
int		 binnode_decode(const uint8_t *p, size_t len,
		    struct binnode **out);
/* Decode one node without flag byte. */
int		 binnode_decode_node(const uint8_t *p, size_t len,
		    struct binnode **out);

/* --- debug --- */
/* XML-ish, indented, one node per line; raw bytes shown only as their
 * length, strings truncated.  Returns 0, or BINNODE_ENOSPC when out is
 * full (what fit is kept). */
int		 binnode_print(const struct binnode *, struct buf *out);
const char	*binnode_strerror(int err);

#endif
