/*
 * test_payload.c - ClientPayload for registration and login (PROTOCOL.md
 * 2): app version parsing, every field and field number checked by
 * decoding the bytes with the generated protobuf code, the fake server's
 * payload_parse, and malformed input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "payload.h"
#include "wa.pb-c.h"

static void
test_payload_version(void)
{
	struct payload_version v;

	T_EQ_INT(payload_version_parse("2.3000.1045649367", &v), 0, "parse");
	T_OK(v.primary == 2 && v.secondary == 3000 &&
	    v.tertiary == 1045649367, "components");
	T_EQ_STR(v.str, "2.3000.1045649367", "string");
	T_EQ_INT(payload_version_parse("2.3000.4294967295", &v), 0, "max");
	T_EQ_INT(payload_version_parse("2.3000.4294967296", &v),
	    PAYLOAD_EINVAL, "overflow");
	T_EQ_INT(payload_version_parse("2.3000", &v), PAYLOAD_EINVAL, "short");
	T_EQ_INT(payload_version_parse("2.3000.1.4", &v), PAYLOAD_EINVAL,
	    "four parts");
	T_EQ_INT(payload_version_parse("2.3000.-1", &v), PAYLOAD_EINVAL,
	    "negative");
	T_EQ_INT(payload_version_parse(" 2.3000.1", &v), PAYLOAD_EINVAL,
	    "leading space");
	T_EQ_INT(payload_version_parse("2.3000.1 ", &v), PAYLOAD_EINVAL,
	    "trailing space");
	T_EQ_INT(payload_version_parse("2..1", &v), PAYLOAD_EINVAL, "empty");
	T_EQ_INT(payload_version_parse("", &v), PAYLOAD_EINVAL, "nothing");
	T_EQ_INT(payload_version_parse(NULL, &v), PAYLOAD_EINVAL, "NULL");
	T_OK(v.str[0] == '\0', "cleared on failure");
}

static void
test_payload_defaults(void)
{
	struct payload_opts o;

	config_set("WA_APP_VERSION", "2.3000.777");
	payload_opts_default(&o);
	T_EQ_STR(o.version.str, "2.3000.777", "version from config");
	config_set("WA_APP_VERSION", "garbage");
	payload_opts_default(&o);
	T_OK(o.version.primary == 2 && o.version.secondary == 3000 &&
	    o.version.tertiary > 0, "built-in version when malformed");
	config_set("WA_APP_VERSION", NULL);
	T_EQ_STR(o.os_name, "WhatsApp Gateway", "os name");
	T_EQ_INT(o.platform_type, PAYLOAD_PLATFORM_CHROME, "platform");
	T_EQ_STR(o.push_name, "", "no push name");
}

/* Checks shared by both payloads. */
static void
check_common(const Wa__ClientPayload *cp, const char *what)
{
	const Wa__ClientPayload__UserAgent *ua = cp->useragent;

	T_OK(ua != NULL && ua->has_platform && ua->platform == 14,
	    "%s: userAgent.platform WEB (14)", what);
	T_OK(ua != NULL && ua->appversion != NULL &&
	    ua->appversion->primary == 2 &&
	    ua->appversion->secondary == 3000 &&
	    ua->appversion->tertiary == 1045649367, "%s: appVersion", what);
	T_OK(ua != NULL && ua->mcc && strcmp(ua->mcc, "000") == 0 &&
	    ua->mnc && strcmp(ua->mnc, "000") == 0 &&
	    strcmp(ua->osversion, "0.1") == 0 &&
	    strcmp(ua->device, "Desktop") == 0 &&
	    strcmp(ua->osbuildnumber, "0.1") == 0 &&
	    ua->has_releasechannel && ua->releasechannel == 0 &&
	    strcmp(ua->localelanguageiso6391, "en") == 0 &&
	    strcmp(ua->localecountryiso31661alpha2, "US") == 0,
	    "%s: userAgent strings", what);
	T_OK(cp->webinfo != NULL && cp->webinfo->has_websubplatform &&
	    cp->webinfo->websubplatform == 0, "%s: webInfo WEB_BROWSER", what);
	T_OK(cp->has_connecttype && cp->connecttype == 1 &&
	    cp->has_connectreason && cp->connectreason == 1,
	    "%s: connectType WIFI_UNKNOWN, connectReason USER_ACTIVATED",
	    what);
}

static void
test_payload_registration(void)
{
	struct payload_opts o;
	struct payload_reg r;
	struct payload_info pi;
	struct buf b;
	Wa__ClientPayload *cp;
	const Wa__ClientPayload__DevicePairingRegistrationData *d;
	Wa__DeviceProps *dp;
	uint8_t md5[16];
	int i;

	buf_init(&b, PAYLOAD_MAX);
	payload_opts_default(&o);
	payload_version_parse("2.3000.1045649367", &o.version);
	snprintf(o.push_name, sizeof(o.push_name), "Gateway Bot");
	memset(&r, 0, sizeof(r));
	r.registration_id = 0x01020304;
	r.signed_prekey_id = 1;
	for (i = 0; i < 32; i++) {
		r.identity_pub[i] = (uint8_t)i;
		r.signed_prekey_pub[i] = (uint8_t)(100 + i);
	}
	memset(r.signed_prekey_sig, 0x5a, sizeof(r.signed_prekey_sig));
	T_EQ_INT(payload_build_registration(&o, &r, &b), 0, "build");
	cp = wa__client_payload__unpack(NULL, b.len, b.data);
	T_OK(cp != NULL, "decodes as ClientPayload");
	if (cp == NULL)
		return;
	check_common(cp, "registration");
	T_OK(cp->has_passive && !cp->passive && cp->has_pull && !cp->pull,
	    "passive=false pull=false");
	T_OK(!cp->has_username && !cp->has_device, "no username/device");
	T_OK(cp->pushname && strcmp(cp->pushname, "Gateway Bot") == 0,
	    "pushName");
	d = cp->devicepairingdata;
	T_OK(d != NULL, "devicePairingData");
	if (d != NULL) {
		T_EQ_MEM(d->eregid.data, d->eregid.len, "\x01\x02\x03\x04", 4,
		    "eRegid 4-byte BE");
		T_EQ_MEM(d->ekeytype.data, d->ekeytype.len, "\x05", 1,
		    "eKeytype 0x05");
		T_EQ_MEM(d->eident.data, d->eident.len, r.identity_pub, 32,
		    "eIdent");
		T_EQ_MEM(d->eskeyid.data, d->eskeyid.len, "\x00\x00\x01", 3,
		    "eSkeyID 3-byte BE");
		T_EQ_MEM(d->eskeyval.data, d->eskeyval.len,
		    r.signed_prekey_pub, 32, "eSkeyVal");
		T_EQ_MEM(d->eskeysig.data, d->eskeysig.len,
		    r.signed_prekey_sig, 64, "eSkeySig");
		t_unhex("9fa53af9421567b114e33c9bb1ef7db2", md5, sizeof(md5));
		T_EQ_MEM(d->buildhash.data, d->buildhash.len, md5, 16,
		    "buildHash = MD5(\"2.3000.1045649367\")");
		dp = d->has_deviceprops ? wa__device_props__unpack(NULL,
		    d->deviceprops.len, d->deviceprops.data) : NULL;
		T_OK(dp != NULL && dp->os &&
		    strcmp(dp->os, "WhatsApp Gateway") == 0 &&
		    dp->has_platformtype && dp->platformtype == 1 &&
		    dp->version && dp->version->primary == 0 &&
		    dp->version->secondary == 1 &&
		    dp->version->tertiary == 0 && dp->has_requirefullsync &&
		    !dp->requirefullsync && dp->historysyncconfig &&
		    dp->historysyncconfig->storagequotamb == 10240 &&
		    dp->historysyncconfig->inlineinitialpayloadine2eemsg,
		    "DeviceProps");
		if (dp != NULL)
			wa__device_props__free_unpacked(dp, NULL);
	}
	wa__client_payload__free_unpacked(cp, NULL);

	T_EQ_INT(payload_parse(b.data, b.len, &pi), 0, "payload_parse");
	T_OK(!pi.login && pi.reg.registration_id == 0x01020304 &&
	    pi.reg.signed_prekey_id == 1 &&
	    memcmp(pi.reg.identity_pub, r.identity_pub, 32) == 0 &&
	    memcmp(pi.reg.signed_prekey_pub, r.signed_prekey_pub, 32) == 0 &&
	    memcmp(pi.reg.signed_prekey_sig, r.signed_prekey_sig, 64) == 0,
	    "parsed registration data");
	T_EQ_STR(pi.version.str, "2.3000.1045649367", "parsed version");
	T_EQ_STR(pi.os_name, "WhatsApp Gateway", "parsed os name");
	T_EQ_STR(pi.push_name, "Gateway Bot", "parsed push name");
	T_EQ_MEM(pi.build_hash, 16, md5, 16, "parsed build hash");

	r.signed_prekey_id = 0x1000000;
	T_EQ_INT(payload_build_registration(&o, &r, &b), PAYLOAD_EINVAL,
	    "prekey id over 24 bits");
	buf_free(&b);
}

static void
test_payload_login(void)
{
	struct payload_opts o;
	struct payload_info pi;
	struct buf b;
	Wa__ClientPayload *cp;

	buf_init(&b, PAYLOAD_MAX);
	payload_opts_default(&o);
	payload_version_parse("2.3000.1045649367", &o.version);
	T_EQ_INT(payload_build_login(&o, 5511987654321ULL, 7, &b), 0,
	    "build");
	T_OK(b.len > 2 && b.data[0] == 0x08, "username is field 1 (varint)");
	cp = wa__client_payload__unpack(NULL, b.len, b.data);
	T_OK(cp != NULL, "decodes");
	if (cp == NULL)
		return;
	check_common(cp, "login");
	T_OK(cp->has_username && cp->username == 5511987654321ULL,
	    "username");
	T_OK(cp->has_device && cp->device == 7, "device");
	T_OK(cp->has_passive && cp->passive && cp->has_pull && cp->pull,
	    "passive=true pull=true");
	T_OK(cp->has_liddbmigrated && cp->liddbmigrated && cp->has_lc &&
	    cp->lc == 1, "lidDbMigrated=true lc=1 (whatsmeow)");
	T_OK(cp->devicepairingdata == NULL && cp->pushname == NULL,
	    "no devicePairingData, no pushName");
	wa__client_payload__free_unpacked(cp, NULL);
	T_EQ_INT(payload_parse(b.data, b.len, &pi), 0, "payload_parse");
	T_OK(pi.login && pi.username == 5511987654321ULL && pi.device == 7 &&
	    pi.passive, "parsed login");
	T_EQ_INT(payload_build_login(&o, 0, 1, &b), PAYLOAD_EINVAL,
	    "username 0 refused");
	buf_free(&b);
}

static void
test_payload_parse_bad(void)
{
	struct payload_info pi;
	struct payload_opts o;
	struct payload_reg r;
	struct buf b;
	Wa__ClientPayload *cp;
	uint8_t *p;
	size_t n;

	T_EQ_INT(payload_parse((const uint8_t *)"\x0a\x05", 2, &pi),
	    PAYLOAD_EPARSE, "truncated");
	T_EQ_INT(payload_parse((const uint8_t *)"", 0, &pi), PAYLOAD_EPARSE,
	    "empty: no user agent");
	/* a registration with a 31-byte identity */
	buf_init(&b, PAYLOAD_MAX);
	payload_opts_default(&o);
	memset(&r, 1, sizeof(r));
	r.signed_prekey_id = 1;
	payload_build_registration(&o, &r, &b);
	cp = wa__client_payload__unpack(NULL, b.len, b.data);
	cp->devicepairingdata->eident.len = 31;
	n = wa__client_payload__get_packed_size(cp);
	p = malloc(n);
	wa__client_payload__pack(cp, p);
	cp->devicepairingdata->eident.len = 32;
	wa__client_payload__free_unpacked(cp, NULL);
	T_EQ_INT(payload_parse(p, n, &pi), PAYLOAD_EPARSE, "31-byte identity");
	T_OK(pi.reg.registration_id == 0, "cleared on failure");
	free(p);
	buf_free(&b);
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	log_init("test_payload", LOG_LVL_ERROR);
	T_RUN(test_payload_version);
	T_RUN(test_payload_defaults);
	T_RUN(test_payload_registration);
	T_RUN(test_payload_login);
	T_RUN(test_payload_parse_bad);
	return t_done();
}
