/* provider-client: a program that signs through a provider, as an
 * application written for OpenSSL 3 and later does, with no engine.
 *
 *   provider-client [--cleanup] URI DATAFILE SIGFILE
 *
 * Loads the private key URI (a pkcs11: URI: pkcs11-provider or libp11's
 * provider, configured by OPENSSL_CONF) through OSSL_STORE, signs DATAFILE
 * with SHA-256 into SIGFILE, frees the key and the store and returns from
 * main.  It never calls OPENSSL_cleanup() unless --cleanup: with OpenSSL 4
 * libcrypto then never tears down (its destructor does so only after that
 * call), where OpenSSL 3 tears down from its exit handler either way.
 * Exit status: 0 signed, 1 failed, 2 bad usage. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/store.h>

static EVP_PKEY *load_key(const char *uri)
{
	OSSL_STORE_CTX *c = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);
	EVP_PKEY *k = NULL;

	while (c != NULL && k == NULL && !OSSL_STORE_eof(c)) {
		OSSL_STORE_INFO *i = OSSL_STORE_load(c);

		if (i != NULL && OSSL_STORE_INFO_get_type(i) == OSSL_STORE_INFO_PKEY)
			k = OSSL_STORE_INFO_get1_PKEY(i);
		OSSL_STORE_INFO_free(i);
	}
	OSSL_STORE_close(c);
	return k;
}

int main(int argc, char **argv)
{
	unsigned char data[65536], sig[1024];
	size_t n, sl = sizeof sig;
	int cleanup = 0, ok;
	EVP_MD_CTX *m;
	EVP_PKEY *k;
	FILE *f;

	if (argc > 1 && strcmp(argv[1], "--cleanup") == 0) {
		cleanup = 1;
		argv++;
		argc--;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: provider-client [--cleanup] URI DATAFILE SIGFILE\n");
		return 2;
	}
	f = fopen(argv[2], "rb");
	if (f == NULL) {
		perror(argv[2]);
		return 1;
	}
	n = fread(data, 1, sizeof data, f);
	fclose(f);
	k = load_key(argv[1]);
	if (k == NULL) {
		fprintf(stderr, "provider-client: cannot load %s\n", argv[1]);
		return 1;
	}
	m = EVP_MD_CTX_new();
	ok = m != NULL && EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, k) == 1 &&
	     EVP_DigestSign(m, sig, &sl, data, n) == 1;
	EVP_MD_CTX_free(m);
	EVP_PKEY_free(k);
	if (ok) {
		f = fopen(argv[3], "wb");
		ok = f != NULL && fwrite(sig, 1, sl, f) == sl;
		if (f != NULL && fclose(f) != 0)
			ok = 0;
	}
	fprintf(stderr, "provider-client: OpenSSL %u: %s\n", OPENSSL_version_major(),
		ok ? "signed" : "signing failed");
	if (cleanup)
		OPENSSL_cleanup();
	return ok ? 0 : 1;
}
