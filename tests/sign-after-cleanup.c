/* A program that goes on signing after OPENSSL_cleanup(), as OpenSSL 4.0
 * allows (there the call only sets a flag; the teardown runs from
 * libcrypto's destructor at exit): cleanup-then-sign.sh runs it on a
 * pkcs11: URI key through pkcs11-provider.
 *
 * Usage: sign-after-cleanup version
 *          prints the major version of the libcrypto it runs with
 *        sign-after-cleanup URI DATA SIG1 SIG2
 *          loads the key through OSSL_STORE, signs DATA (SHA-256) into
 *          SIG1, calls OPENSSL_cleanup(), signs again with the same key
 *          into SIG2.  Exit status 0 when both signatures were made, 1
 *          when one was not (OpenSSL's errors on stderr). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/store.h>

static EVP_PKEY *load_key(const char *uri)
{
	OSSL_STORE_CTX *store = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);
	EVP_PKEY *key = NULL;

	if (!store)
		return NULL;
	while (!key && !OSSL_STORE_eof(store)) {
		OSSL_STORE_INFO *info = OSSL_STORE_load(store);

		if (info && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
			key = OSSL_STORE_INFO_get1_PKEY(info);
		OSSL_STORE_INFO_free(info);
	}
	OSSL_STORE_close(store);
	return key;
}

static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = malloc(65536);

	*len = 0;
	if (!f || !buf) {
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	*len = fread(buf, 1, 65536, f);
	fclose(f);
	return buf;
}

static int sign(EVP_PKEY *key, const unsigned char *data, size_t len,
		const char *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t siglen = 0;
	FILE *f;
	int ok = 0;

	if (ctx && EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, key, NULL) == 1 &&
	    EVP_DigestSign(ctx, NULL, &siglen, data, len) == 1 &&
	    (sig = malloc(siglen)) != NULL &&
	    EVP_DigestSign(ctx, sig, &siglen, data, len) == 1 &&
	    (f = fopen(out, "wb")) != NULL) {
		ok = fwrite(sig, 1, siglen, f) == siglen;
		ok = fclose(f) == 0 && ok;
	}
	if (!ok)
		ERR_print_errors_fp(stderr);
	free(sig);
	EVP_MD_CTX_free(ctx);
	return ok;
}

int main(int argc, char **argv)
{
	unsigned char *data;
	EVP_PKEY *key;
	size_t len;
	int first, second;

	if (argc == 2 && strcmp(argv[1], "version") == 0) {
		printf("%lu\n", OpenSSL_version_num() >> 28);
		return 0;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: sign-after-cleanup URI DATA SIG1 SIG2\n");
		return 2;
	}
	data = read_file(argv[2], &len);
	key = data ? load_key(argv[1]) : NULL;
	if (!key) {
		fprintf(stderr, "sign-after-cleanup: cannot load the data or the key\n");
		ERR_print_errors_fp(stderr);
		return 1;
	}
	first = sign(key, data, len, argv[3]);
	printf("first signature: %s\n", first ? "made" : "failed");
	OPENSSL_cleanup();
	printf("OPENSSL_cleanup() called\n");
	second = sign(key, data, len, argv[4]);
	printf("second signature: %s\n", second ? "made" : "failed");
	EVP_PKEY_free(key);
	free(data);
	return first && second ? 0 : 1;
}
