/*
 * payload.c - build (client) and parse (fake server) the ClientPayload of
 * PROTOCOL.md 2.  Field values follow whatsmeow, the reference the spec
 * recommends (login: passive, pull, lidDbMigrated, lc=1).  Parsing treats
 * its input as hostile: every length is checked, strings are bounded.
 * Nothing here logs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "config.h"
#include "xmalloc.h"
#include "payload.h"
#include "wa.pb-c.h"

#define PAYLOAD_DEFAULT_VERSION	"2.3000.1027934701"
#define PAYLOAD_DEFAULT_OS	"WhatsApp Gateway"

static int
payload_u32(const char *s, const char **end, uint32_t *v)
{
	unsigned long long n;
	char *e;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &e, 10);
	if (errno != 0 || n > UINT32_MAX)
		return -1;
	*v = (uint32_t)n;
	*end = e;
	return 0;
}

int
payload_version_parse(const char *s, struct payload_version *v)
{
	const char *p;
	uint32_t a, b, c;

	if (v == NULL)
		return PAYLOAD_EINVAL;
	memset(v, 0, sizeof(*v));
	if (s == NULL)
		return PAYLOAD_EINVAL;
	if (payload_u32(s, &p, &a) != 0 || *p != '.' ||
	    payload_u32(p + 1, &p, &b) != 0 || *p != '.' ||
	    payload_u32(p + 1, &p, &c) != 0 || *p != '\0')
		return PAYLOAD_EINVAL;
	v->primary = a;
	v->secondary = b;
	v->tertiary = c;
	snprintf(v->str, sizeof(v->str), "%u.%u.%u", a, b, c);
	return PAYLOAD_OK;
}

void
payload_opts_default(struct payload_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (payload_version_parse(config_get("WA_APP_VERSION"),
	    &o->version) != 0)
		payload_version_parse(PAYLOAD_DEFAULT_VERSION, &o->version);
	snprintf(o->os_name, sizeof(o->os_name), "%s", PAYLOAD_DEFAULT_OS);
	o->platform_type = PAYLOAD_PLATFORM_CHROME;
}

/* Fields every ClientPayload carries (userAgent, webInfo, connect*). */
struct payload_base {
	Wa__ClientPayload				cp;
	Wa__ClientPayload__UserAgent			ua;
	Wa__ClientPayload__UserAgent__AppVersion	av;
	Wa__ClientPayload__WebInfo			wi;
};

static void
payload_base_init(struct payload_base *b, const struct payload_opts *o)
{
	wa__client_payload__init(&b->cp);
	wa__client_payload__user_agent__init(&b->ua);
	wa__client_payload__user_agent__app_version__init(&b->av);
	wa__client_payload__web_info__init(&b->wi);

	b->av.has_primary = b->av.has_secondary = b->av.has_tertiary = 1;
	b->av.primary = o->version.primary;
	b->av.secondary = o->version.secondary;
	b->av.tertiary = o->version.tertiary;

	b->ua.has_platform = 1;
	b->ua.platform = WA__CLIENT_PAYLOAD__USER_AGENT__PLATFORM__WEB;
	b->ua.appversion = &b->av;
	b->ua.mcc = "000";
	b->ua.mnc = "000";
	b->ua.osversion = "0.1";
	b->ua.manufacturer = "";
	b->ua.device = "Desktop";
	b->ua.osbuildnumber = "0.1";
	b->ua.has_releasechannel = 1;
	b->ua.releasechannel =
	    WA__CLIENT_PAYLOAD__USER_AGENT__RELEASE_CHANNEL__RELEASE;
	b->ua.localelanguageiso6391 = "en";
	b->ua.localecountryiso31661alpha2 = "US";

	b->wi.has_websubplatform = 1;
	b->wi.websubplatform =
	    WA__CLIENT_PAYLOAD__WEB_INFO__WEB_SUB_PLATFORM__WEB_BROWSER;

	b->cp.useragent = &b->ua;
	b->cp.webinfo = &b->wi;
	b->cp.has_connecttype = 1;
	b->cp.connecttype = WA__CLIENT_PAYLOAD__CONNECT_TYPE__WIFI_UNKNOWN;
	b->cp.has_connectreason = 1;
	b->cp.connectreason =
	    WA__CLIENT_PAYLOAD__CONNECT_REASON__USER_ACTIVATED;
	if (o->push_name[0] != '\0')
		b->cp.pushname = (char *)o->push_name;
}

static int
payload_pack(const ProtobufCMessage *m, struct buf *out)
{
	uint8_t *tmp;
	size_t n;
	int rc = PAYLOAD_ETOOBIG;

	n = protobuf_c_message_get_packed_size(m);
	if (n > PAYLOAD_MAX)
		return PAYLOAD_ETOOBIG;
	tmp = xmalloc(n ? n : 1);
	protobuf_c_message_pack(m, tmp);
	if (buf_append(out, tmp, n) == 0)
		rc = PAYLOAD_OK;
	free(tmp);
	return rc;
}

static int
payload_opts_ok(const struct payload_opts *o)
{
	return o != NULL && o->version.str[0] != '\0' &&
	    memchr(o->push_name, '\0', sizeof(o->push_name)) != NULL &&
	    memchr(o->os_name, '\0', sizeof(o->os_name)) != NULL;
}

int
payload_build_login(const struct payload_opts *o, uint64_t username,
    uint32_t device, struct buf *out)
{
	struct payload_base b;

	if (!payload_opts_ok(o) || out == NULL || username == 0)
		return PAYLOAD_EINVAL;
	payload_base_init(&b, o);
	b.cp.has_username = 1;
	b.cp.username = username;
	b.cp.has_device = 1;
	b.cp.device = device;
	b.cp.has_passive = 1;
	b.cp.passive = 1;
	b.cp.has_pull = 1;
	b.cp.pull = 1;
	b.cp.has_liddbmigrated = 1;
	b.cp.liddbmigrated = 1;
	b.cp.has_lc = 1;
	b.cp.lc = 1;
	return payload_pack(&b.cp.base, out);
}

/* Serialized DeviceProps: what the phone lists under "Linked devices". */
static int
payload_device_props(const struct payload_opts *o, uint8_t *out,
    size_t max, size_t *len)
{
	Wa__DeviceProps dp = WA__DEVICE_PROPS__INIT;
	Wa__DeviceProps__AppVersion v = WA__DEVICE_PROPS__APP_VERSION__INIT;
	Wa__DeviceProps__HistorySyncConfig h =
	    WA__DEVICE_PROPS__HISTORY_SYNC_CONFIG__INIT;

	v.has_primary = v.has_secondary = v.has_tertiary = 1;
	v.primary = 0;
	v.secondary = 1;
	v.tertiary = 0;
	h.has_storagequotamb = 1;
	h.storagequotamb = 10240;
	h.has_inlineinitialpayloadine2eemsg = 1;
	h.inlineinitialpayloadine2eemsg = 1;
	dp.os = (char *)o->os_name;
	dp.version = &v;
	dp.has_platformtype = 1;
	dp.platformtype = (Wa__DeviceProps__PlatformType)o->platform_type;
	dp.has_requirefullsync = 1;
	dp.requirefullsync = 0;
	dp.historysyncconfig = &h;
	if (wa__device_props__get_packed_size(&dp) > max)
		return PAYLOAD_ETOOBIG;
	*len = wa__device_props__pack(&dp, out);
	return PAYLOAD_OK;
}

int
payload_build_registration(const struct payload_opts *o,
    const struct payload_reg *r, struct buf *out)
{
	struct payload_base b;
	Wa__ClientPayload__DevicePairingRegistrationData d =
	    WA__CLIENT_PAYLOAD__DEVICE_PAIRING_REGISTRATION_DATA__INIT;
	uint8_t regid[4], keytype[1] = { 0x05 }, skeyid[3], hash[16];
	uint8_t props[512];
	unsigned int hlen = 0;
	size_t plen = 0;
	int rc;

	if (!payload_opts_ok(o) || r == NULL || out == NULL ||
	    r->signed_prekey_id > 0xffffff)
		return PAYLOAD_EINVAL;
	payload_base_init(&b, o);
	regid[0] = (uint8_t)(r->registration_id >> 24);
	regid[1] = (uint8_t)(r->registration_id >> 16);
	regid[2] = (uint8_t)(r->registration_id >> 8);
	regid[3] = (uint8_t)r->registration_id;
	skeyid[0] = (uint8_t)(r->signed_prekey_id >> 16);
	skeyid[1] = (uint8_t)(r->signed_prekey_id >> 8);
	skeyid[2] = (uint8_t)r->signed_prekey_id;
	if (EVP_Digest(o->version.str, strlen(o->version.str), hash, &hlen,
	    EVP_md5(), NULL) != 1 || hlen != sizeof(hash))
		return PAYLOAD_EINVAL;
	if ((rc = payload_device_props(o, props, sizeof(props),
	    &plen)) != PAYLOAD_OK)
		return rc;

#define PAYLOAD_BYTES(f, p, n) do {					\
	d.has_##f = 1;							\
	d.f.data = (uint8_t *)(p);					\
	d.f.len = (n);							\
} while (0)
	PAYLOAD_BYTES(eregid, regid, sizeof(regid));
	PAYLOAD_BYTES(ekeytype, keytype, sizeof(keytype));
	PAYLOAD_BYTES(eident, r->identity_pub, 32);
	PAYLOAD_BYTES(eskeyid, skeyid, sizeof(skeyid));
	PAYLOAD_BYTES(eskeyval, r->signed_prekey_pub, 32);
	PAYLOAD_BYTES(eskeysig, r->signed_prekey_sig, 64);
	PAYLOAD_BYTES(buildhash, hash, sizeof(hash));
	PAYLOAD_BYTES(deviceprops, props, plen);
#undef PAYLOAD_BYTES

	b.cp.devicepairingdata = &d;
	b.cp.has_passive = 1;
	b.cp.passive = 0;
	b.cp.has_pull = 1;
	b.cp.pull = 0;
	return payload_pack(&b.cp.base, out);
}

/* Copy a fixed-length bytes field; 0 when present with exactly n bytes. */
static int
payload_take(int has, const ProtobufCBinaryData *b, uint8_t *out, size_t n)
{
	if (!has || b->len != n || b->data == NULL)
		return -1;
	memcpy(out, b->data, n);
	return 0;
}

static void
payload_str(char *dst, size_t max, const char *s)
{
	if (s == NULL)
		dst[0] = '\0';
	else
		snprintf(dst, max, "%s", s);
}

int
payload_parse(const uint8_t *in, size_t len, struct payload_info *pi)
{
	Wa__ClientPayload *cp = NULL;
	Wa__ClientPayload__DevicePairingRegistrationData *d;
	Wa__DeviceProps *dp = NULL;
	const Wa__ClientPayload__UserAgent__AppVersion *av;
	uint8_t b4[4], b3[3], kt[1];
	int rc = PAYLOAD_EPARSE;

	if (pi == NULL)
		return PAYLOAD_EINVAL;
	memset(pi, 0, sizeof(*pi));
	if ((in == NULL && len) || len > PAYLOAD_MAX)
		goto out;
	if ((cp = wa__client_payload__unpack(NULL, len, in)) == NULL)
		goto out;
	if (cp->useragent == NULL || cp->useragent->appversion == NULL)
		goto out;
	av = cp->useragent->appversion;
	pi->version.primary = av->primary;
	pi->version.secondary = av->secondary;
	pi->version.tertiary = av->tertiary;
	snprintf(pi->version.str, sizeof(pi->version.str), "%u.%u.%u",
	    av->primary, av->secondary, av->tertiary);
	payload_str(pi->push_name, sizeof(pi->push_name), cp->pushname);
	pi->passive = cp->has_passive && cp->passive;
	d = cp->devicepairingdata;
	if (cp->has_username) {
		if (d != NULL || cp->username == 0)
			goto out;
		pi->login = 1;
		pi->username = cp->username;
		pi->device = cp->has_device ? cp->device : 0;
		rc = PAYLOAD_OK;
		goto out;
	}
	if (d == NULL)
		goto out;
	if (payload_take(d->has_eregid, &d->eregid, b4, 4) != 0 ||
	    payload_take(d->has_ekeytype, &d->ekeytype, kt, 1) != 0 ||
	    kt[0] != 0x05 ||
	    payload_take(d->has_eident, &d->eident, pi->reg.identity_pub,
	    32) != 0 ||
	    payload_take(d->has_eskeyid, &d->eskeyid, b3, 3) != 0 ||
	    payload_take(d->has_eskeyval, &d->eskeyval,
	    pi->reg.signed_prekey_pub, 32) != 0 ||
	    payload_take(d->has_eskeysig, &d->eskeysig,
	    pi->reg.signed_prekey_sig, 64) != 0 ||
	    payload_take(d->has_buildhash, &d->buildhash, pi->build_hash,
	    16) != 0)
		goto out;
	pi->reg.registration_id = (uint32_t)b4[0] << 24 |
	    (uint32_t)b4[1] << 16 | (uint32_t)b4[2] << 8 | b4[3];
	pi->reg.signed_prekey_id = (uint32_t)b3[0] << 16 |
	    (uint32_t)b3[1] << 8 | b3[2];
	if (d->has_deviceprops && d->deviceprops.data != NULL &&
	    (dp = wa__device_props__unpack(NULL, d->deviceprops.len,
	    d->deviceprops.data)) != NULL)
		payload_str(pi->os_name, sizeof(pi->os_name), dp->os);
	rc = PAYLOAD_OK;
out:
	if (dp != NULL)
		wa__device_props__free_unpacked(dp, NULL);
	if (cp != NULL)
		wa__client_payload__free_unpacked(cp, NULL);
	if (rc != PAYLOAD_OK)
		memset(pi, 0, sizeof(*pi));
	return rc;
}
