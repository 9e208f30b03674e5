/*
 * noise.h - WhatsApp's Noise_XX_25519_AESGCM_SHA256 handshake and the
 * transport encryption that follows it (PROTOCOL.md 1.3), for both ends:
 * the client (initiator) in waproc and the fake server (responder) in tests.
 *
 * Handshake messages are the raw HandshakeMessage protobufs (no WA intro
 * header, no 3-byte length: framing is frame.c's job).  A typical client:
 *
 *     noise_hs_init(&hs, NOISE_INITIATOR, &noise_key, NULL);
 *     noise_initiator_hello(&hs, &out);          -> send (after "WA\6\3")
 *     noise_initiator_read_hello(&hs, msg, len, time(NULL), NULL);
 *     noise_initiator_finish(&hs, payload, plen, &out);   -> send
 *     noise_split(&hs, &tr);   then noise_encrypt / noise_decrypt per frame
 *
 * and the responder: noise_responder_read_hello, noise_responder_hello
 * (with a certificate chain, cert_create_chain), noise_responder_read_finish
 * (gives the client's static key and ClientPayload), noise_split.
 * The ephemeral key can be injected (tests); otherwise it is fresh.
 * Any error leaves the handshake failed (later calls give NOISE_EINVAL):
 * drop the connection and noise_hs_clear.  After NOISE_ECERT, hs.cert_err
 * says why (cert_strerror).  Key material is wiped by noise_hs_clear /
 * noise_split / noise_transport_clear and never logged.  No I/O here.
 */
#ifndef WAPROC_NOISE_H
#define WAPROC_NOISE_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define NOISE_KEY_LEN		32
#define NOISE_HASH_LEN		32
#define NOISE_TAG_LEN		16
#define NOISE_IV_LEN		12
#define NOISE_HEADER_LEN	4
#define NOISE_HS_MSG_MAX	65536		/* one handshake message */
#define NOISE_FRAME_MAX		((1 << 24) - 1)	/* one transport frame */

/* "Noise_XX_25519_AESGCM_SHA256\0\0\0\0" and the prologue "WA" 6 3. */
extern const uint8_t noise_protocol_name[NOISE_HASH_LEN];
extern const uint8_t noise_wa_header[NOISE_HEADER_LEN];

#define NOISE_OK		0
#define NOISE_EINVAL		(-1)	/* bad argument or wrong step */
#define NOISE_EPARSE		(-2)	/* malformed handshake message */
#define NOISE_EDECRYPT		(-3)	/* AES-GCM authentication failed */
#define NOISE_EKEY		(-4)	/* bad public key / DH result */
#define NOISE_ECERT		(-5)	/* server certificate rejected */
#define NOISE_ECRYPTO		(-6)	/* library failure */
#define NOISE_ETOOBIG		(-7)	/* exceeds a size limit */
#define NOISE_ECOUNTER		(-8)	/* nonce counter exhausted */

const char	*noise_strerror(int err);

enum noise_role {
	NOISE_INITIATOR = 1,	/* the client */
	NOISE_RESPONDER = 2,	/* the server */
};

/* Kinds of HandshakeMessage (its field number). */
enum noise_msg_type {
	NOISE_MSG_CLIENT_HELLO = 2,
	NOISE_MSG_SERVER_HELLO = 3,
	NOISE_MSG_CLIENT_FINISH = 4,
};

struct noise_keypair {
	uint8_t	pub[NOISE_KEY_LEN];
	uint8_t	priv[NOISE_KEY_LEN];	/* clamped */
};

/* Handshake state.  Fields are readable (tests); change them only here. */
struct noise_hs {
	int			role;
	int			step;		/* internal */
	uint8_t			h[NOISE_HASH_LEN];
	uint8_t			ck[NOISE_HASH_LEN];
	uint8_t			k[NOISE_KEY_LEN];
	uint32_t		n;
	struct noise_keypair	s;		/* our static */
	struct noise_keypair	e;		/* our ephemeral */
	uint8_t			re[NOISE_KEY_LEN];	/* peer ephemeral */
	uint8_t			rs[NOISE_KEY_LEN];	/* peer static */
	int			have_rs;
	int			cert_err;	/* CERT_* of the last check */
};

/* After the handshake: one key and counter per direction. */
struct noise_transport {
	uint8_t		wkey[NOISE_KEY_LEN];
	uint8_t		rkey[NOISE_KEY_LEN];
	uint32_t	wn;
	uint32_t	rn;
	int		ready;
};

/* A parsed HandshakeMessage; views point into pb (owned). */
struct noise_msg {
	int		 type;		/* enum noise_msg_type */
	const uint8_t	*ephemeral;
	size_t		 ephemeral_len;
	const uint8_t	*static_;
	size_t		 static_len;
	const uint8_t	*payload;
	size_t		 payload_len;
	void		*pb;
};

/* Keys: fresh (clamped) or from a private key (clamped on the way in). */
void	 noise_keypair_generate(struct noise_keypair *);
int	 noise_keypair_from_priv(struct noise_keypair *,
	    const uint8_t priv[NOISE_KEY_LEN]);
void	 noise_keypair_clear(struct noise_keypair *);

/*
 * Start a handshake: h = ck = protocol name, MixHash(WA header).
 * s: our static pair (the client's "noise key", the server's static key);
 * e: ephemeral pair to use, or NULL for a fresh one.
 */
int	 noise_hs_init(struct noise_hs *, int role,
	    const struct noise_keypair *s, const struct noise_keypair *e);
void	 noise_hs_clear(struct noise_hs *);

/* Initiator (client). Each appends one HandshakeMessage to out. */
int	 noise_initiator_hello(struct noise_hs *, struct buf *out);
/*
 * Process ServerHello: learns the server's ephemeral and static keys,
 * decrypts the certificate chain and verifies it (cert_verify_chain with
 * the current root at time now; NOISE_ECERT if rejected).  cert_out, when
 * not NULL, receives the decrypted chain.
 */
int	 noise_initiator_read_hello(struct noise_hs *, const uint8_t *msg,
	    size_t len, uint64_t now, struct buf *cert_out);
/* ClientFinish carrying our encrypted static key and payload. */
int	 noise_initiator_finish(struct noise_hs *, const uint8_t *payload,
	    size_t len, struct buf *out);

/* Responder (server). */
int	 noise_responder_read_hello(struct noise_hs *, const uint8_t *msg,
	    size_t len);
/* ServerHello with our ephemeral, encrypted static and cert chain. */
int	 noise_responder_hello(struct noise_hs *, const uint8_t *cert,
	    size_t certlen, struct buf *out);
/* ClientFinish: sets hs->rs (client static); payload appended to out. */
int	 noise_responder_read_finish(struct noise_hs *, const uint8_t *msg,
	    size_t len, struct buf *payload_out);

/*
 * Derive the transport keys (initiator writes with the first half, the
 * responder with the second) and wipe the handshake state.
 */
int	 noise_split(struct noise_hs *, struct noise_transport *);

/*
 * Transport frames: AES-256-GCM, IV = 8 zero bytes || counter BE, no AAD.
 * encrypt: outmax >= len + NOISE_TAG_LEN; decrypt: outmax >= len - 16.
 * The read counter advances even when decryption fails (as WhatsApp's
 * clients do), so one bad frame does not desynchronise the stream.
 */
int	 noise_encrypt(struct noise_transport *, const uint8_t *in,
	    size_t len, uint8_t *out, size_t outmax, size_t *outlen);
int	 noise_decrypt(struct noise_transport *, const uint8_t *in,
	    size_t len, uint8_t *out, size_t outmax, size_t *outlen);
void	 noise_transport_clear(struct noise_transport *);

/* HandshakeMessage codec.  NULL/0 fields are left out. */
int	 noise_msg_build(int type, const uint8_t *ephemeral, size_t elen,
	    const uint8_t *static_, size_t slen, const uint8_t *payload,
	    size_t plen, struct buf *out);
/* Exactly one of the three parts must be present.  Free with _free. */
int	 noise_msg_parse(const uint8_t *in, size_t len, struct noise_msg *);
void	 noise_msg_free(struct noise_msg *);

/*
 * Symmetric-state steps (exposed for tests and the fake server's fault
 * injection; the functions above are all a client needs).
 */
void	 noise_mix_hash(struct noise_hs *, const uint8_t *data, size_t len);
int	 noise_mix_key(struct noise_hs *, const uint8_t *ikm, size_t len);
/* out gets len + 16 bytes / len - 16 bytes; both MixHash the ciphertext. */
int	 noise_hs_encrypt(struct noise_hs *, const uint8_t *in, size_t len,
	    uint8_t *out);
int	 noise_hs_decrypt(struct noise_hs *, const uint8_t *in, size_t len,
	    uint8_t *out);

/* Primitives shared with pairing.c. */
/* HKDF-SHA256 (RFC 5869); salt NULL/0 = 32 zero bytes; olen <= 8160. */
int	 noise_hkdf(uint8_t *out, size_t olen, const uint8_t *salt,
	    size_t saltlen, const uint8_t *ikm, size_t ikmlen,
	    const uint8_t *info, size_t infolen);
/* AES-256-GCM with a 12-byte IV; seal appends the 16-byte tag. */
int	 noise_aesgcm_seal(const uint8_t key[NOISE_KEY_LEN],
	    const uint8_t iv[NOISE_IV_LEN], const uint8_t *aad, size_t aadlen,
	    const uint8_t *in, size_t len, uint8_t *out);
int	 noise_aesgcm_open(const uint8_t key[NOISE_KEY_LEN],
	    const uint8_t iv[NOISE_IV_LEN], const uint8_t *aad, size_t aadlen,
	    const uint8_t *in, size_t len, uint8_t *out);
/* X25519; NOISE_EKEY when the result is all zero (low-order point). */
int	 noise_dh(uint8_t out[NOISE_KEY_LEN], const uint8_t priv[NOISE_KEY_LEN],
	    const uint8_t pub[NOISE_KEY_LEN]);

#endif
