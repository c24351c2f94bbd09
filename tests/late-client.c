/* late-client: a PKCS#11 client written like libp11 0.4.14 and later.
 *
 *   late-client [--late-logout|--exit-logout] [--end HOW] [--sleep MS]
 *               [--pin PIN]
 *               [-o SIGFILE] MODULE TOKEN_LABEL KEY_LABEL
 *
 * It initialises OpenSSL first (so OpenSSL's cleanup runs at exit), loads
 * MODULE with dlopen and dlsym, and after loading and before logging in
 * registers an exit handler that makes it skip its own teardown, as libp11
 * does to avoid calling into a module at exit.  It then logs in, signs
 * "late-client" with CKM_SHA256_RSA_PKCS and the private key labelled
 * KEY_LABEL, and returns from main without logging out.
 *
 * --end HOW: what main does after signing, before it returns: "none" (the
 * default), "logout" (C_Logout), "close" (C_CloseSession), "close-all"
 * (C_CloseAllSessions) or "finalize" (C_Finalize).  --sleep MS: then wait,
 * still running.  -o: write the signature to SIGFILE.
 *
 * --late-logout: the teardown runs anyway, as with PKCS11_FORCE_CLEANUP,
 * after OpenSSL's own teardown.  With OpenSSL 3 that is an exit handler
 * registered before OpenSSL was initialised, so it comes after the
 * OPENSSL_cleanup() that OpenSSL registered.  OpenSSL 4 registers no exit
 * handler and tears down from libcrypto's destructor, and only once
 * OPENSSL_cleanup() was called: main calls it before it returns (as the
 * openssl command does), and the teardown runs from libfini-hook's
 * destructor, after libcrypto's.
 * --exit-logout: the same teardown from an exit handler registered before
 * OpenSSL was initialised, whatever the OpenSSL: too late with OpenSSL 3,
 * in time with OpenSSL 4.
 *
 * The PIN comes from --pin or $LATE_CLIENT_PIN.  Progress and every return
 * value go to stderr ("late-client: C_Login: 0x0"); after a failed login
 * the session's state as the real module reports it.  Exit status: 0
 * signed, 1 a PKCS#11 call failed, 2 bad usage. */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include <p11-kit-1/p11-kit/pkcs11.h>

#include "fini-hook.h"

static CK_FUNCTION_LIST *p11;
static CK_SESSION_HANDLE session;
static int logged_in;
static int in_exit;		/* set by the handler registered after dlopen */
static int force_teardown;	/* --late-logout or --exit-logout */
static int from_fini;		/* the teardown runs from libfini-hook */

static void report(const char *call, CK_RV rv)
{
	fprintf(stderr, "late-client: %s: 0x%lx%s\n", call, rv,
		rv == CKR_SESSION_COUNT ? " (CKR_SESSION_COUNT)" :
		rv == CKR_DEVICE_ERROR ? " (CKR_DEVICE_ERROR)" : "");
}

/* Registered after loading the module and before logging in: from here on
 * an exit skips the teardown, unless it is forced. */
static void mark_exit(void)
{
	in_exit = 1;
}

/* Registered before OpenSSL is initialised, so it runs after OpenSSL's own
 * exit handler has cleaned up. */
static void teardown(void)
{
	CK_RV rv;

	if (p11 == NULL)
		return;
	if (in_exit && !force_teardown) {
		fprintf(stderr, "late-client: exiting without teardown\n");
		return;
	}
	fprintf(stderr, "late-client: teardown after OpenSSL's cleanup, "
		"from %s (OPENSSL_init_crypto now returns %d)\n",
		from_fini ? "a destructor after libcrypto's" : "an exit handler",
		OPENSSL_init_crypto(0, NULL));
	if (logged_in) {
		rv = p11->C_Logout(session);
		report("late C_Logout", rv);
	}
	rv = p11->C_Finalize(NULL);
	report("late C_Finalize", rv);
}

static int usage(void)
{
	fprintf(stderr, "usage: late-client [--late-logout|--exit-logout] [--end none|"
		"logout|close|close-all|finalize] [--sleep MS] [--pin PIN] "
		"[-o SIGFILE] MODULE TOKEN_LABEL KEY_LABEL\n");
	return 2;
}

/* A token label is blank-padded to 32 bytes. */
static int label_is(const unsigned char label[32], const char *want)
{
	size_t n = strlen(want);

	if (n > 32 || memcmp(label, want, n) != 0)
		return 0;
	for (size_t i = n; i < 32; i++)
		if (label[i] != ' ')
			return 0;
	return 1;
}

static CK_RV find_slot(const char *token, CK_SLOT_ID *slot)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64;
	CK_RV rv = p11->C_GetSlotList(CK_TRUE, slots, &n);

	if (rv != CKR_OK)
		return rv;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO info;
		if (p11->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
		    label_is(info.label, token)) {
			*slot = slots[i];
			return CKR_OK;
		}
	}
	return CKR_TOKEN_NOT_PRESENT;
}

int main(int argc, char **argv)
{
	const char *pin = getenv("LATE_CLIENT_PIN"), *out = NULL;
	const char *end = "none";
	long sleep_ms = 0;
	const char *module, *token, *key_label;
	CK_C_GetFunctionList get_list;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[2];
	CK_OBJECT_HANDLE key;
	CK_ULONG found = 0, sig_len;
	CK_MECHANISM mech = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_SLOT_ID slot;
	unsigned char data[] = "late-client", sig[1024];
	void *handle;
	CK_RV rv;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--late-logout") == 0)
			force_teardown = 1, from_fini = OPENSSL_version_major() >= 4;
		else if (strcmp(argv[i], "--exit-logout") == 0)
			force_teardown = 1, from_fini = 0;
		else if (strcmp(argv[i], "--pin") == 0 && i + 1 < argc)
			pin = argv[++i];
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--end") == 0 && i + 1 < argc)
			end = argv[++i];
		else if (strcmp(argv[i], "--sleep") == 0 && i + 1 < argc)
			sleep_ms = atol(argv[++i]);
		else
			return usage();
	}
	if (argc - i != 3 || pin == NULL)
		return usage();
	if (strcmp(end, "none") != 0 && strcmp(end, "logout") != 0 &&
	    strcmp(end, "close") != 0 && strcmp(end, "close-all") != 0 &&
	    strcmp(end, "finalize") != 0)
		return usage();
	module = argv[i];
	token = argv[i + 1];
	key_label = argv[i + 2];

	/* Before OpenSSL: with OpenSSL 3, runs after OPENSSL_cleanup(). */
	if (!from_fini)
		atexit(teardown);
	if (OPENSSL_init_crypto(OPENSSL_INIT_ADD_ALL_CIPHERS |
				OPENSSL_INIT_ADD_ALL_DIGESTS, NULL) != 1) {
		fprintf(stderr, "late-client: OPENSSL_init_crypto failed\n");
		return 1;
	}

	handle = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL) {
		fprintf(stderr, "late-client: %s\n", dlerror());
		return 1;
	}
	get_list = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
	if (get_list == NULL) {
		fprintf(stderr, "late-client: %s\n", dlerror());
		return 1;
	}
	rv = get_list(&p11);
	report("C_GetFunctionList", rv);
	if (rv != CKR_OK)
		return 1;
	rv = p11->C_Initialize(NULL);
	report("C_Initialize", rv);
	if (rv != CKR_OK) {
		p11 = NULL;
		return 1;
	}
	/* After loading, before logging in. */
	atexit(mark_exit);
	/* After the module, which needs libcrypto (see fini-hook-load.c). */
	if (from_fini && !fini_hook_load(teardown))
		return 1;

	rv = find_slot(token, &slot);
	report("find token", rv);
	if (rv != CKR_OK)
		return 1;
	rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL,
				&session);
	report("C_OpenSession", rv);
	if (rv != CKR_OK)
		return 1;
	rv = p11->C_Login(session, CKU_USER, (unsigned char *)pin,
			  strlen(pin));
	report("C_Login", rv);
	if (rv != CKR_OK) {
		CK_SESSION_INFO info;
		if (p11->C_GetSessionInfo(session, &info) == CKR_OK)
			fprintf(stderr, "late-client: session state after "
				"the failed login: %lu%s\n", info.state,
				info.state == CKS_RO_PUBLIC_SESSION ?
				" (public)" : "");
		return 1;
	}
	logged_in = 1;

	tmpl[0] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof cls };
	tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)key_label,
				  strlen(key_label) };
	rv = p11->C_FindObjectsInit(session, tmpl, 2);
	if (rv == CKR_OK) {
		rv = p11->C_FindObjects(session, &key, 1, &found);
		p11->C_FindObjectsFinal(session);
	}
	if (rv == CKR_OK && found != 1)
		rv = CKR_KEY_HANDLE_INVALID;
	report("find key", rv);
	if (rv != CKR_OK)
		return 1;
	rv = p11->C_SignInit(session, &mech, key);
	report("C_SignInit", rv);
	if (rv != CKR_OK)
		return 1;
	sig_len = sizeof sig;
	rv = p11->C_Sign(session, data, sizeof data - 1, sig, &sig_len);
	report("C_Sign", rv);
	if (rv != CKR_OK)
		return 1;
	if (out != NULL) {
		FILE *f = fopen(out, "wb");
		if (f == NULL || fwrite(sig, 1, sig_len, f) != sig_len ||
		    fclose(f) != 0) {
			fprintf(stderr, "late-client: cannot write %s\n", out);
			return 1;
		}
	}
	fprintf(stderr, "late-client: signed, %lu bytes\n", sig_len);

	rv = CKR_OK;
	if (strcmp(end, "logout") == 0) {
		rv = p11->C_Logout(session);
		report("C_Logout", rv);
		logged_in = 0;
	} else if (strcmp(end, "close") == 0) {
		rv = p11->C_CloseSession(session);
		report("C_CloseSession", rv);
		logged_in = 0;
	} else if (strcmp(end, "close-all") == 0) {
		rv = p11->C_CloseAllSessions(slot);
		report("C_CloseAllSessions", rv);
		logged_in = 0;
	} else if (strcmp(end, "finalize") == 0) {
		rv = p11->C_Finalize(NULL);
		report("C_Finalize", rv);
		p11 = NULL;
	}
	if (sleep_ms > 0) {
		struct timespec ts = { sleep_ms / 1000,
				       (sleep_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	/* Without --end, no C_Logout, no C_Finalize: exit() runs the
	 * handlers.  With OpenSSL 4, libcrypto's destructor tears it down
	 * only after this call. */
	if (from_fini)
		OPENSSL_cleanup();
	return rv == CKR_OK ? 0 : 1;
}
