/*
 * fw-state.c - fakewa's persistent state: the server's keys (test root,
 * intermediate, Noise static) and the paired devices, kept as
 * <state-dir>/state.json (written to a temporary file, then renamed), so a
 * restarted fakewa still knows every pairing.  The phone's account key is
 * derived from its number, so it needs no storage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "fakewa.h"
#include "log.h"
#include "xmalloc.h"

uint64_t
fw_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
fw_hex(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int
fw_unhex(const char *hex, uint8_t *out, size_t n)
{
	size_t binlen;

	if (hex == NULL || strlen(hex) != 2 * n ||
	    sodium_hex2bin(out, n, hex, 2 * n, NULL, &binlen, NULL) != 0 ||
	    binlen != n)
		return -1;
	return 0;
}

int
fw_phone_valid(const char *phone)
{
	size_t i, n = strlen(phone);

	if (n < 7 || n >= FW_PHONE_MAX || phone[0] == '0')
		return 0;
	for (i = 0; i < n; i++)
		if (phone[i] < '0' || phone[i] > '9')
			return 0;
	return 1;
}

void
fw_account_key(const char *phone, uint8_t priv[32], uint8_t pub[32])
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)"fakewa account ", 15);
	crypto_hash_sha256_update(&st, (const uint8_t *)phone, strlen(phone));
	crypto_hash_sha256_final(&st, priv);
	priv[0] &= 248;
	priv[31] &= 127;
	priv[31] |= 64;
	crypto_scalarmult_base(pub, priv);
}

struct fw_device *
fw_device_find(const char *phone, uint32_t devid)
{
	struct fw_device *d;

	for (d = fw.devices; d != NULL; d = d->next)
		if (strcmp(d->phone, phone) == 0 && d->devid == devid)
			return d;
	return NULL;
}

struct fw_device *
fw_device_find_jid(const char *s)
{
	struct fw_device *d;
	struct jid j;
	char user[JID_USER_MAX];

	if (jid_parse(&j, s) != 0)
		return NULL;
	for (d = fw.devices; d != NULL; d = d->next) {
		if (strcmp(d->jid, s) == 0 || strcmp(d->lid, s) == 0)
			return d;
		if (jid_server_is(&j, JID_SERVER_PN) &&
		    strcmp(j.user, d->phone) == 0 && j.device == d->devid)
			return d;
		snprintf(user, sizeof(user), "9%s", d->phone);
		if (jid_server_is(&j, JID_SERVER_LID) &&
		    strcmp(j.user, user) == 0 && j.device == d->devid)
			return d;
	}
	return NULL;
}

uint32_t
fw_device_next_id(const char *phone)
{
	struct fw_device *d;
	uint32_t max = 0;

	for (d = fw.devices; d != NULL; d = d->next)
		if (strcmp(d->phone, phone) == 0 && d->devid > max)
			max = d->devid;
	return max + 1 > 99 ? 1 : max + 1;
}

struct fw_device *
fw_device_add(const char *phone, uint32_t devid)
{
	struct fw_device *d = xcalloc(1, sizeof(*d));

	snprintf(d->phone, sizeof(d->phone), "%s", phone);
	d->devid = devid;
	snprintf(d->jid, sizeof(d->jid), "%s:%u@s.whatsapp.net", phone, devid);
	snprintf(d->lid, sizeof(d->lid), "9%s:%u@lid", phone, devid);
	d->paired_at = (uint64_t)time(NULL);
	d->next = fw.devices;
	fw.devices = d;
	return d;
}

void
fw_device_remove(struct fw_device *dev)
{
	struct fw_device **pp;

	for (pp = &fw.devices; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == dev) {
			*pp = dev->next;
			if (dev->conn != NULL)
				dev->conn->dev = NULL;
			free(dev->pk);
			free(dev);
			return;
		}
	}
}

static void
add_hex(struct json_object *o, const char *k, const uint8_t *p, size_t n)
{
	char h[2 * 64 + 1];

	fw_hex(p, n, h);
	json_object_object_add(o, k, json_object_new_string(h));
}

int
fw_state_save(void)
{
	struct json_object *root = json_object_new_object(), *arr, *o;
	struct fw_device *d;
	char path[PATH_MAX + 16], tmp[PATH_MAX + 16];
	const char *s;
	FILE *f;
	int rc = -1;

	add_hex(root, "root_priv", fw.root_priv, 32);
	add_hex(root, "int_priv", fw.int_priv, 32);
	add_hex(root, "static_priv", fw.server_static.priv, 32);
	arr = json_object_new_array();
	for (d = fw.devices; d != NULL; d = d->next) {
		o = json_object_new_object();
		json_object_object_add(o, "phone",
		    json_object_new_string(d->phone));
		json_object_object_add(o, "device",
		    json_object_new_int64(d->devid));
		add_hex(o, "noise_pub", d->noise_pub, 32);
		add_hex(o, "identity_pub", d->identity_pub, 32);
		json_object_object_add(o, "regid",
		    json_object_new_int64(d->regid));
		json_object_object_add(o, "prekeys",
		    json_object_new_int64(d->prekeys));
		json_object_object_add(o, "uploads",
		    json_object_new_int64(d->uploads));
		json_object_object_add(o, "push_name",
		    json_object_new_string(d->push_name));
		json_object_object_add(o, "platform",
		    json_object_new_string(d->platform));
		json_object_object_add(o, "paired_at",
		    json_object_new_int64((int64_t)d->paired_at));
		json_object_object_add(o, "appstate_key_shared",
		    json_object_new_boolean(d->as_key_shared));
		fw_device_bundle_save(d, o);
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "devices", arr);
	fw_groups_save(root);
	snprintf(path, sizeof(path), "%s/state.json", fw.state_dir);
	snprintf(tmp, sizeof(tmp), "%s/state.json.tmp", fw.state_dir);
	s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
	if ((f = fopen(tmp, "w")) == NULL) {
		log_warn("%s", tmp);
		goto out;
	}
	if (fputs(s, f) == EOF || fclose(f) != 0) {
		log_warn("%s", tmp);
		goto out;
	}
	if (rename(tmp, path) != 0) {
		log_warn("rename %s", path);
		goto out;
	}
	rc = 0;
out:
	json_object_put(root);
	return rc;
}

static const char *
jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int64_t
jint(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v))
		return -1;
	return json_object_get_int64(v);
}

static int
load_devices(struct json_object *arr)
{
	struct json_object *o;
	struct fw_device *d;
	const char *phone, *s;
	int64_t devid;
	size_t i;

	for (i = 0; i < json_object_array_length(arr); i++) {
		o = json_object_array_get_idx(arr, i);
		phone = jstr(o, "phone");
		devid = jint(o, "device");
		if (phone == NULL || !fw_phone_valid(phone) || devid < 1 ||
		    devid > 99)
			return -1;
		d = fw_device_add(phone, (uint32_t)devid);
		if (fw_unhex(jstr(o, "noise_pub"), d->noise_pub, 32) != 0 ||
		    fw_unhex(jstr(o, "identity_pub"), d->identity_pub, 32))
			return -1;
		d->regid = (uint32_t)jint(o, "regid");
		d->prekeys = (uint32_t)jint(o, "prekeys");
		d->uploads = (uint32_t)jint(o, "uploads");
		d->paired_at = (uint64_t)jint(o, "paired_at");
		d->as_key_shared = jint(o, "appstate_key_shared") > 0;
		if ((s = jstr(o, "push_name")) != NULL)
			snprintf(d->push_name, sizeof(d->push_name), "%s", s);
		if ((s = jstr(o, "platform")) != NULL)
			snprintf(d->platform, sizeof(d->platform), "%s", s);
		if (fw_device_bundle_load(d, o) != 0)
			return -1;
	}
	return 0;
}

int
fw_state_load(void)
{
	struct json_object *root = NULL, *arr;
	char path[PATH_MAX + 16];
	uint8_t sp[32];
	int rc = -1;

	snprintf(path, sizeof(path), "%s/state.json", fw.state_dir);
	if (access(path, F_OK) != 0) {
		randombytes_buf(fw.root_priv, 32);
		randombytes_buf(fw.int_priv, 32);
		noise_keypair_generate(&fw.server_static);
		rc = fw_state_save();
		goto keys;
	}
	if ((root = json_object_from_file(path)) == NULL) {
		log_warnx("%s: not JSON", path);
		goto out;
	}
	if (fw_unhex(jstr(root, "root_priv"), fw.root_priv, 32) != 0 ||
	    fw_unhex(jstr(root, "int_priv"), fw.int_priv, 32) != 0 ||
	    fw_unhex(jstr(root, "static_priv"), sp, 32) != 0 ||
	    noise_keypair_from_priv(&fw.server_static, sp) != 0) {
		log_warnx("%s: bad keys", path);
		goto out;
	}
	if (json_object_object_get_ex(root, "devices", &arr) &&
	    json_object_is_type(arr, json_type_array) &&
	    load_devices(arr) != 0) {
		log_warnx("%s: bad device entry", path);
		goto out;
	}
	if (fw_groups_load(root) != 0 || fw_queue_load() != 0) {
		log_warnx("%s: bad groups or queue", path);
		goto out;
	}
	rc = 0;
keys:
	fw.root_priv[0] &= 248;
	fw.root_priv[31] &= 127;
	fw.root_priv[31] |= 64;
	crypto_scalarmult_base(fw.root_pub, fw.root_priv);
out:
	if (root != NULL)
		json_object_put(root);
	return rc;
}
