/*
 * fw-tls.c - a self-signed TLS certificate for fakewa's wss:// mode
 * (flag -t): EC P-256, CN localhost, SAN localhost / 127.0.0.1, kept in
 * the state directory (tls-cert.pem, tls-key.pem) and reused on restart.
 * Clients trust it by pointing their CA file at tls-cert.pem.
 */
#include <stdio.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fakewa.h"
#include "log.h"

static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return 0;
}

int
fw_tls_files(char *cert, size_t clen, char *key, size_t klen)
{
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	X509_NAME *name;
	FILE *f = NULL;
	int rc = -1;

	snprintf(cert, clen, "%s/tls-cert.pem", fw.state_dir);
	snprintf(key, klen, "%s/tls-key.pem", fw.state_dir);
	if (access(cert, R_OK) == 0 && access(key, R_OK) == 0)
		return 0;
	if ((pk = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL)
		goto out;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 3650);
	X509_set_pubkey(x, pk);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (add_ext(x, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
	    add_ext(x, NID_subject_alt_name,
	    "DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1") != 0 ||
	    X509_sign(x, pk, EVP_sha256()) == 0)
		goto out;
	if ((f = fopen(key, "w")) == NULL ||
	    !PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) ||
	    fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	if ((f = fopen(cert, "w")) == NULL || !PEM_write_X509(f, x) ||
	    fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	if (rc != 0)
		log_warnx("cannot make the TLS certificate");
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}
