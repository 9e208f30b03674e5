/*
 * payload.h - the ClientPayload protobuf sent (encrypted) in the Noise
 * ClientFinish (PROTOCOL.md 2): registration of a new companion device
 * (2.1, with DevicePairingRegistrationData and DeviceProps) or login of a
 * paired one (2.2).  The app version is configurable ("2.3000.<rev>",
 * config WA_APP_VERSION) because the server refuses outdated ones (405).
 * payload_parse is the fake server's view of the same message.
 * No I/O, no logging, no state.
 */
#ifndef WAPROC_PAYLOAD_H
#define WAPROC_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define PAYLOAD_MAX		4096	/* a serialized ClientPayload */
#define PAYLOAD_VERSION_MAX	48	/* "4294967295.4294967295.4294967295" */
#define PAYLOAD_NAME_MAX	64

/* DeviceProps.PlatformType values the phone understands. */
#define PAYLOAD_PLATFORM_UNKNOWN	0
#define PAYLOAD_PLATFORM_CHROME		1
#define PAYLOAD_PLATFORM_FIREFOX	2
#define PAYLOAD_PLATFORM_SAFARI		5
#define PAYLOAD_PLATFORM_EDGE		6
#define PAYLOAD_PLATFORM_DESKTOP	7

#define PAYLOAD_OK		0
#define PAYLOAD_EINVAL		(-1)	/* bad argument / version string */
#define PAYLOAD_EPARSE		(-2)	/* not a usable ClientPayload */
#define PAYLOAD_ETOOBIG		(-3)

struct payload_version {
	uint32_t	primary;	/* 2 */
	uint32_t	secondary;	/* 3000 */
	uint32_t	tertiary;	/* client revision */
	char		str[PAYLOAD_VERSION_MAX];	/* "2.3000.<rev>" */
};

struct payload_opts {
	struct payload_version	version;
	char			push_name[PAYLOAD_NAME_MAX];	/* "" none */
	char			os_name[PAYLOAD_NAME_MAX];	/* phone list */
	int			platform_type;	/* PAYLOAD_PLATFORM_* */
};

/* What registration needs from the device's Signal credentials. */
struct payload_reg {
	uint32_t	registration_id;
	uint8_t		identity_pub[32];
	uint32_t	signed_prekey_id;	/* 24-bit; 1 for a new device */
	uint8_t		signed_prekey_pub[32];
	uint8_t		signed_prekey_sig[64];	/* over 0x05||spk pub */
};

/* A received ClientPayload, as the fake server sees it. */
struct payload_info {
	int			login;		/* 1 login, 0 registration */
	uint64_t		username;	/* login: phone number */
	uint32_t		device;		/* login: device id */
	int			passive;
	struct payload_version	version;
	char			push_name[PAYLOAD_NAME_MAX];
	char			os_name[PAYLOAD_NAME_MAX];	/* DeviceProps */
	struct payload_reg	reg;		/* registration only */
	uint8_t			build_hash[16];	/* registration only */
};

/* "2.3000.1045649367" -> 2 / 3000 / 1045649367.  0 or PAYLOAD_EINVAL. */
int	 payload_version_parse(const char *s, struct payload_version *);
/*
 * Defaults: version from config WA_APP_VERSION (or the built-in one when
 * that is malformed), os_name "WhatsApp Gateway", platform CHROME.
 */
void	 payload_opts_default(struct payload_opts *);

/* Append the serialized ClientPayload to out.  0 or PAYLOAD_E*. */
int	 payload_build_registration(const struct payload_opts *,
	    const struct payload_reg *, struct buf *out);
int	 payload_build_login(const struct payload_opts *, uint64_t username,
	    uint32_t device, struct buf *out);

/* Decode a ClientPayload.  0 or PAYLOAD_EPARSE. */
int	 payload_parse(const uint8_t *in, size_t len, struct payload_info *);

#endif
