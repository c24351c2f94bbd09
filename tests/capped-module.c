/* Session-capped PKCS#11 test module.
 *
 * Forwards every call to a real module (SoftHSM2 in the tests) and adds the
 * session accounting of a YubiHSM 2: a machine-wide pool of device sessions
 * (16 by default).  C_Login takes one per process and slot; only C_Logout
 * and C_Finalize give it back (C_CloseSession and C_CloseAllSessions do
 * not), and only while libcrypto still works, because the real module needs
 * its secure channel (an AES-CMAC here) to send the logout.  A process that
 * exits still logged in, or that logs out after OPENSSL_cleanup(), leaves
 * its device session taken: once OpenSSL is cleaned up every call returns
 * CKR_DEVICE_ERROR without reaching the real module.  A login the real
 * module rejects gives its device session back at once.
 *
 * The pool is the file "sessions" in CAPPED_STATE_DIR (see capped-state.h),
 * shared under flock by every process; tests/capped-count prints it.
 * Beside it, "refused" has one line per login refused for a full pool and
 * "peak" the most device sessions ever taken at once (CAPPED_REFUSED_FILE,
 * CAPPED_PEAK_FILE in capped-state.h).
 * The module presents a PKCS#11 2.40 function list only (SoftHSM2 2.6.1
 * has no 3.0 interface), so C_LoginUser is not offered.
 *
 * Environment:
 *   CAPPED_REAL_MODULE   path of the real module (required)
 *   CAPPED_STATE_DIR     directory of the shared pool state (required)
 *   CAPPED_MAX_SESSIONS  size of the pool (default 16)
 *   CAPPED_IDLE_EXPIRY   seconds after which a session of a process that is
 *                        gone is freed again (default 0: never)
 *   CAPPED_HOLD_MS       each login lasts at least this long (default 0)
 *   CAPPED_LOGIN_MS      the C_Login call itself takes this long, with its
 *                        device session taken (a far network HSM; default 0)
 *   CAPPED_FULL_RV       the answer to a login with every session taken:
 *                        SESSION_COUNT (default) or DEVICE_ERROR
 *   CAPPED_VERBOSE       1: say on stderr why a login or logout failed
 *
 * Test code only: never installed. */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* p11-kit's header has every 2.40 type; this test module does not use the
 * project's own header. */
#include <p11-kit-1/p11-kit/pkcs11.h>

#include "capped-state.h"

#define DEFAULT_MAX_SESSIONS 16

struct capped_config {
	char state_dir[PATH_MAX];
	long max_sessions;
	long idle_expiry;
	long hold_ms;
	long login_ms;
	int full_device_error;
	int verbose;
};

static pthread_mutex_t capped_mutex = PTHREAD_MUTEX_INITIALIZER;
static CK_FUNCTION_LIST *_Atomic real;	/* set while initialised */
static void *real_handle;
static struct capped_config cfg;

static void say(const char *fmt, ...)
{
	va_list ap;
	char msg[PATH_MAX + 256];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "capped-module[%ld]: %s\n", (long)getpid(), msg);
}

#define VERBOSE(...) do { if (cfg.verbose) say(__VA_ARGS__); } while (0)

/* The real module needs libcrypto for every call, as the YubiHSM module
 * does for its secure channel (and SoftHSM2 crashes when called after
 * OPENSSL_cleanup()).  Once OpenSSL has been cleaned up, every EVP call
 * would dereference freed locks (OpenSSL 3.0 crashes), whereas
 * OPENSSL_init_crypto() reliably returns 0: ask it before anything else.
 * After that point nothing reaches the real module and every call fails
 * with CKR_DEVICE_ERROR. */
static int libcrypto_alive(void)
{
	return OPENSSL_init_crypto(0, NULL) == 1;
}

/* --- forwarding of every function the fixture does not change --- */

#define FORWARD(name, params, args) \
	static CK_RV fwd_##name params \
	{ \
		CK_FUNCTION_LIST *r = real; \
		if (r == NULL) \
			return CKR_CRYPTOKI_NOT_INITIALIZED; \
		if (!libcrypto_alive()) \
			return CKR_DEVICE_ERROR; \
		return r->name args; \
	}

FORWARD(C_GetInfo, (CK_INFO *info), (info))
FORWARD(C_GetSlotList, (unsigned char token_present, CK_SLOT_ID *slot_list,
	unsigned long *count), (token_present, slot_list, count))
FORWARD(C_GetSlotInfo, (CK_SLOT_ID slot_id, CK_SLOT_INFO *info),
	(slot_id, info))
FORWARD(C_GetTokenInfo, (CK_SLOT_ID slot_id, CK_TOKEN_INFO *info),
	(slot_id, info))
FORWARD(C_GetMechanismList, (CK_SLOT_ID slot_id, CK_MECHANISM_TYPE
	*mechanism_list, unsigned long *count), (slot_id, mechanism_list, count))
FORWARD(C_GetMechanismInfo, (CK_SLOT_ID slot_id, CK_MECHANISM_TYPE type,
	CK_MECHANISM_INFO *info), (slot_id, type, info))
FORWARD(C_InitToken, (CK_SLOT_ID slot_id, unsigned char *pin, unsigned long
	pin_len, unsigned char *label), (slot_id, pin, pin_len, label))
FORWARD(C_InitPIN, (CK_SESSION_HANDLE session, unsigned char *pin, unsigned
	long pin_len), (session, pin, pin_len))
FORWARD(C_SetPIN, (CK_SESSION_HANDLE session, unsigned char *old_pin,
	unsigned long old_len, unsigned char *new_pin, unsigned long new_len),
	(session, old_pin, old_len, new_pin, new_len))
FORWARD(C_OpenSession, (CK_SLOT_ID slot_id, CK_FLAGS flags, void
	*application, CK_NOTIFY notify, CK_SESSION_HANDLE *session), (slot_id,
	flags, application, notify, session))
FORWARD(C_CloseSession, (CK_SESSION_HANDLE session), (session))
FORWARD(C_CloseAllSessions, (CK_SLOT_ID slot_id), (slot_id))
FORWARD(C_GetSessionInfo, (CK_SESSION_HANDLE session, CK_SESSION_INFO
	*info), (session, info))
FORWARD(C_GetOperationState, (CK_SESSION_HANDLE session, unsigned char
	*operation_state, unsigned long *operation_state_len), (session,
	operation_state, operation_state_len))
FORWARD(C_SetOperationState, (CK_SESSION_HANDLE session, unsigned char
	*operation_state, unsigned long operation_state_len, CK_OBJECT_HANDLE
	encryption_key, CK_OBJECT_HANDLE authentiation_key), (session,
	operation_state, operation_state_len, encryption_key, authentiation_key))
FORWARD(C_CreateObject, (CK_SESSION_HANDLE session, CK_ATTRIBUTE
	*templ, unsigned long count, CK_OBJECT_HANDLE *object), (session, templ,
	count, object))
FORWARD(C_CopyObject, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
	CK_ATTRIBUTE *templ, unsigned long count, CK_OBJECT_HANDLE
	*new_object), (session, object, templ, count, new_object))
FORWARD(C_DestroyObject, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE
	object), (session, object))
FORWARD(C_GetObjectSize, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE
	object, unsigned long *size), (session, object, size))
FORWARD(C_GetAttributeValue, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE
	object, CK_ATTRIBUTE *templ, unsigned long count), (session, object,
	templ, count))
FORWARD(C_SetAttributeValue, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE
	object, CK_ATTRIBUTE *templ, unsigned long count), (session, object,
	templ, count))
FORWARD(C_FindObjectsInit, (CK_SESSION_HANDLE session, CK_ATTRIBUTE
	*templ, unsigned long count), (session, templ, count))
FORWARD(C_FindObjects, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE
	*object, unsigned long max_object_count, unsigned long *object_count),
	(session, object, max_object_count, object_count))
FORWARD(C_FindObjectsFinal, (CK_SESSION_HANDLE session), (session))
FORWARD(C_EncryptInit, (CK_SESSION_HANDLE session, CK_MECHANISM
	*mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key))
FORWARD(C_Encrypt, (CK_SESSION_HANDLE session, unsigned char *data, unsigned
	long data_len, unsigned char *encrypted_data, unsigned long
	*encrypted_data_len), (session, data, data_len, encrypted_data,
	encrypted_data_len))
FORWARD(C_EncryptUpdate, (CK_SESSION_HANDLE session, unsigned char *part,
	unsigned long part_len, unsigned char *encrypted_part, unsigned long
	*encrypted_part_len), (session, part, part_len, encrypted_part,
	encrypted_part_len))
FORWARD(C_EncryptFinal, (CK_SESSION_HANDLE session, unsigned char
	*last_encrypted_part, unsigned long *last_encrypted_part_len), (session,
	last_encrypted_part, last_encrypted_part_len))
FORWARD(C_DecryptInit, (CK_SESSION_HANDLE session, CK_MECHANISM
	*mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key))
FORWARD(C_Decrypt, (CK_SESSION_HANDLE session, unsigned char *encrypted_data,
	unsigned long encrypted_data_len, unsigned char *data, unsigned long
	*data_len), (session, encrypted_data, encrypted_data_len, data, data_len))
FORWARD(C_DecryptUpdate, (CK_SESSION_HANDLE session, unsigned char
	*encrypted_part, unsigned long encrypted_part_len, unsigned char *part,
	unsigned long *part_len), (session, encrypted_part, encrypted_part_len, part,
	part_len))
FORWARD(C_DecryptFinal, (CK_SESSION_HANDLE session, unsigned char *last_part,
	unsigned long *last_part_len), (session, last_part, last_part_len))
FORWARD(C_DigestInit, (CK_SESSION_HANDLE session, CK_MECHANISM
	*mechanism), (session, mechanism))
FORWARD(C_Digest, (CK_SESSION_HANDLE session, unsigned char *data, unsigned
	long data_len, unsigned char *digest, unsigned long *digest_len), (session,
	data, data_len, digest, digest_len))
FORWARD(C_DigestUpdate, (CK_SESSION_HANDLE session, unsigned char *part,
	unsigned long part_len), (session, part, part_len))
FORWARD(C_DigestKey, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key),
	(session, key))
FORWARD(C_DigestFinal, (CK_SESSION_HANDLE session, unsigned char *digest,
	unsigned long *digest_len), (session, digest, digest_len))
FORWARD(C_SignInit, (CK_SESSION_HANDLE session, CK_MECHANISM
	*mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key))
FORWARD(C_Sign, (CK_SESSION_HANDLE session, unsigned char *data, unsigned
	long data_len, unsigned char *signature, unsigned long *signature_len),
	(session, data, data_len, signature, signature_len))
FORWARD(C_SignUpdate, (CK_SESSION_HANDLE session, unsigned char *part,
	unsigned long part_len), (session, part, part_len))
FORWARD(C_SignFinal, (CK_SESSION_HANDLE session, unsigned char *signature,
	unsigned long *signature_len), (session, signature, signature_len))
FORWARD(C_SignRecoverInit, (CK_SESSION_HANDLE session, CK_MECHANISM
	*mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key))
FORWARD(C_SignRecover, (CK_SESSION_HANDLE session, unsigned char *data,
	unsigned long data_len, unsigned char *signature, unsigned long
	*signature_len), (session, data, data_len, signature, signature_len))
FORWARD(C_VerifyInit, (CK_SESSION_HANDLE session, CK_MECHANISM
	*mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key))
FORWARD(C_Verify, (CK_SESSION_HANDLE session, unsigned char *data, unsigned
	long data_len, unsigned char *signature, unsigned long signature_len),
	(session, data, data_len, signature, signature_len))
FORWARD(C_VerifyUpdate, (CK_SESSION_HANDLE session, unsigned char *part,
	unsigned long part_len), (session, part, part_len))
FORWARD(C_VerifyFinal, (CK_SESSION_HANDLE session, unsigned char *signature,
	unsigned long signature_len), (session, signature, signature_len))
FORWARD(C_VerifyRecoverInit, (CK_SESSION_HANDLE session, CK_MECHANISM
	*mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key))
FORWARD(C_VerifyRecover, (CK_SESSION_HANDLE session, unsigned char
	*signature, unsigned long signature_len, unsigned char *data, unsigned long
	*data_len), (session, signature, signature_len, data, data_len))
FORWARD(C_DigestEncryptUpdate, (CK_SESSION_HANDLE session, unsigned char
	*part, unsigned long part_len, unsigned char *encrypted_part, unsigned long
	*encrypted_part_len), (session, part, part_len, encrypted_part,
	encrypted_part_len))
FORWARD(C_DecryptDigestUpdate, (CK_SESSION_HANDLE session, unsigned char
	*encrypted_part, unsigned long encrypted_part_len, unsigned char *part,
	unsigned long *part_len), (session, encrypted_part, encrypted_part_len, part,
	part_len))
FORWARD(C_SignEncryptUpdate, (CK_SESSION_HANDLE session, unsigned char *part,
	unsigned long part_len, unsigned char *encrypted_part, unsigned long
	*encrypted_part_len), (session, part, part_len, encrypted_part,
	encrypted_part_len))
FORWARD(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE session, unsigned char
	*encrypted_part, unsigned long encrypted_part_len, unsigned char *part,
	unsigned long *part_len), (session, encrypted_part, encrypted_part_len, part,
	part_len))
FORWARD(C_GenerateKey, (CK_SESSION_HANDLE session, CK_MECHANISM
	*mechanism, CK_ATTRIBUTE *templ, unsigned long count,
	CK_OBJECT_HANDLE *key), (session, mechanism, templ, count, key))
FORWARD(C_GenerateKeyPair, (CK_SESSION_HANDLE session, CK_MECHANISM
	*mechanism, CK_ATTRIBUTE *public_key_template, unsigned long
	public_key_attribute_count, CK_ATTRIBUTE *private_key_template,
	unsigned long private_key_attribute_count, CK_OBJECT_HANDLE *public_key,
	CK_OBJECT_HANDLE *private_key), (session, mechanism, public_key_template,
	public_key_attribute_count, private_key_template, private_key_attribute_count,
	public_key, private_key))
FORWARD(C_WrapKey, (CK_SESSION_HANDLE session, CK_MECHANISM
	*mechanism, CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key, unsigned
	char *wrapped_key, unsigned long *wrapped_key_len), (session, mechanism,
	wrapping_key, key, wrapped_key, wrapped_key_len))
FORWARD(C_UnwrapKey, (CK_SESSION_HANDLE session, CK_MECHANISM
	*mechanism, CK_OBJECT_HANDLE unwrapping_key, unsigned char *wrapped_key,
	unsigned long wrapped_key_len, CK_ATTRIBUTE *templ, unsigned long
	attribute_count, CK_OBJECT_HANDLE *key), (session, mechanism,
	unwrapping_key, wrapped_key, wrapped_key_len, templ, attribute_count, key))
FORWARD(C_DeriveKey, (CK_SESSION_HANDLE session, CK_MECHANISM
	*mechanism, CK_OBJECT_HANDLE base_key, CK_ATTRIBUTE *templ, unsigned
	long attribute_count, CK_OBJECT_HANDLE *key), (session, mechanism, base_key,
	templ, attribute_count, key))
FORWARD(C_SeedRandom, (CK_SESSION_HANDLE session, unsigned char *seed,
	unsigned long seed_len), (session, seed, seed_len))
FORWARD(C_GenerateRandom, (CK_SESSION_HANDLE session, unsigned char
	*random_data, unsigned long random_len), (session, random_data, random_len))
FORWARD(C_GetFunctionStatus, (CK_SESSION_HANDLE session), (session))
FORWARD(C_CancelFunction, (CK_SESSION_HANDLE session), (session))
FORWARD(C_WaitForSlotEvent, (CK_FLAGS flags, CK_SLOT_ID *slot, void
	*reserved), (flags, slot, reserved))

static CK_FUNCTION_LIST capped_list;	/* defined at the end */

/* --- identity of this process --- */

static long self_pid;
static unsigned long long self_start;

/* Refreshed after a fork, as the child is another process. */
static int self_identity(long *pid, unsigned long long *start)
{
	long now = (long)getpid();

	if (now != self_pid) {
		if (capped_process_start(now, &self_start) != 0)
			return -1;
		self_pid = now;
	}
	*pid = self_pid;
	*start = self_start;
	return 0;
}

/* --- the secure channel --- */

/* The real module MACs its logout message; so does the fixture, with the
 * AES-CMAC example of RFC 4493, checked against the RFC's result. */
static int secure_channel_ok(void)
{
	static const unsigned char key[16] = {
		0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
		0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c,
	};
	static const unsigned char msg[16] = {
		0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96,
		0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93, 0x17, 0x2a,
	};
	static const unsigned char expect[16] = {
		0x07, 0x0a, 0x16, 0xb4, 0x6b, 0x4d, 0x41, 0x44,
		0xf7, 0x9b, 0xdd, 0x9d, 0xd0, 0x4a, 0x28, 0x7c,
	};
	unsigned char out[EVP_MAX_MD_SIZE];
	size_t outlen = 0;

	if (!libcrypto_alive())
		return 0;
	if (EVP_Q_mac(NULL, "CMAC", NULL, "AES-128-CBC", NULL, key,
		      sizeof key, msg, sizeof msg, out, sizeof out,
		      &outlen) == NULL)
		return 0;
	return outlen == sizeof expect && memcmp(out, expect, outlen) == 0;
}

/* --- the pool --- */

/* Locks and reads the pool, freeing idle sessions of processes that are
 * gone when an expiry is set. */
static int pool_open(int *fd, struct capped_state *st)
{
	char err[PATH_MAX + 128];
	size_t freed;

	memset(st, 0, sizeof *st);
	if (capped_state_lock(cfg.state_dir, fd, err, sizeof err) != 0) {
		say("%s", err);
		return -1;
	}
	if (capped_state_read(*fd, st, err, sizeof err) != 0) {
		say("%s/%s: %s", cfg.state_dir, CAPPED_STATE_FILE, err);
		capped_state_unlock(*fd);
		return -1;
	}
	freed = capped_state_expire(st, cfg.idle_expiry, capped_now_ms());
	if (freed > 0) {
		VERBOSE("%zu idle device session(s) expired", freed);
		if (capped_state_write(*fd, st, err, sizeof err) != 0) {
			say("%s/%s: %s", cfg.state_dir, CAPPED_STATE_FILE,
			    err);
			capped_state_free(st);
			capped_state_unlock(*fd);
			return -1;
		}
	}
	return 0;
}

static int pool_close(int fd, struct capped_state *st, int write)
{
	char err[PATH_MAX + 128];
	int rc = 0;

	if (write && capped_state_write(fd, st, err, sizeof err) != 0) {
		say("%s/%s: %s", cfg.state_dir, CAPPED_STATE_FILE, err);
		rc = -1;
	}
	capped_state_free(st);
	capped_state_unlock(fd);
	return rc;
}

/* Login time of this process's session on a slot (all slots if slot is
 * NULL); -1 if it holds none, -2 on an error. */
static long long pool_held(const unsigned long *slot)
{
	struct capped_state st;
	long pid;
	unsigned long long start;
	long long login = -1;
	int fd;

	if (self_identity(&pid, &start) != 0 || pool_open(&fd, &st) != 0)
		return -2;
	for (size_t i = 0; i < st.n; i++)
		if (st.rec[i].pid == pid && st.rec[i].start == start &&
		    (slot == NULL || st.rec[i].slot == *slot) &&
		    st.rec[i].login_ms > login)
			login = st.rec[i].login_ms;
	pool_close(fd, &st, 0);
	return login;
}

/* Gives back this process's session on a slot (all if slot is NULL). */
static int pool_release(const unsigned long *slot)
{
	struct capped_state st;
	long pid;
	unsigned long long start;
	int fd, changed = 0;

	if (self_identity(&pid, &start) != 0 || pool_open(&fd, &st) != 0)
		return -1;
	for (size_t i = 0; i < st.n;) {
		if (st.rec[i].pid == pid && st.rec[i].start == start &&
		    (slot == NULL || st.rec[i].slot == *slot)) {
			capped_state_remove(&st, i);
			changed = 1;
		} else {
			i++;
		}
	}
	return pool_close(fd, &st, changed);
}

static void sleep_ms(long long ms)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ms / 1000),
		.tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The pool's counters beside it, updated under its lock. */
static void note(const char *name, size_t taken)
{
	char path[PATH_MAX + 16], buf[32];
	long old = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/%s", cfg.state_dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (strcmp(name, CAPPED_REFUSED_FILE) == 0) {
		if (lseek(fd, 0, SEEK_END) < 0 || write(fd, "1\n", 2) != 2)
			say("%s: cannot count a refusal", path);
	} else {
		n = read(fd, buf, sizeof buf - 1);
		buf[n > 0 ? n : 0] = '\0';
		old = atol(buf);
		if ((long)taken > old) {
			n = snprintf(buf, sizeof buf, "%zu\n", taken);
			if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n)
				say("%s: cannot write the peak", path);
		}
	}
	close(fd);
}

/* Each login lasts at least CAPPED_HOLD_MS. */
static void hold_until(long long login_ms)
{
	long long left;

	if (cfg.hold_ms <= 0 || login_ms < 0)
		return;
	left = login_ms + cfg.hold_ms - capped_now_ms();
	if (left > 0)
		sleep_ms(left);
}

/* --- configuration --- */

static int read_number(const char *var, long def, long max, long *out,
		       char *err, size_t errlen)
{
	const char *s = getenv(var);

	if (s == NULL || *s == '\0') {
		*out = def;
		return 0;
	}
	if (capped_parse_ulong(s, max, out) != 0) {
		snprintf(err, errlen, "%s=\"%s\" is not a number from 0 to %ld",
			 var, s, max);
		return -1;
	}
	return 0;
}

static int read_config(struct capped_config *c, char *err, size_t errlen)
{
	const char *dir = getenv("CAPPED_STATE_DIR");
	const char *v = getenv("CAPPED_VERBOSE");

	memset(c, 0, sizeof *c);
	if (dir == NULL || *dir == '\0') {
		snprintf(err, errlen, "CAPPED_STATE_DIR is not set");
		return -1;
	}
	if (strlen(dir) >= sizeof c->state_dir - sizeof CAPPED_STATE_FILE - 1) {
		snprintf(err, errlen, "CAPPED_STATE_DIR is too long");
		return -1;
	}
	strcpy(c->state_dir, dir);
	if (read_number("CAPPED_MAX_SESSIONS", DEFAULT_MAX_SESSIONS, 1000000,
			&c->max_sessions, err, errlen) != 0 ||
	    read_number("CAPPED_IDLE_EXPIRY", 0, 86400 * 365, &c->idle_expiry,
			err, errlen) != 0 ||
	    read_number("CAPPED_HOLD_MS", 0, 600000, &c->hold_ms, err,
			errlen) != 0 ||
	    read_number("CAPPED_LOGIN_MS", 0, 600000, &c->login_ms, err,
			errlen) != 0)
		return -1;
	const char *full = getenv("CAPPED_FULL_RV");
	if (full && *full && strcmp(full, "SESSION_COUNT") != 0) {
		if (strcmp(full, "DEVICE_ERROR") != 0) {
			snprintf(err, errlen, "CAPPED_FULL_RV=\"%s\" is not SESSION_COUNT or DEVICE_ERROR", full);
			return -1;
		}
		c->full_device_error = 1;
	}
	if (c->max_sessions == 0) {
		snprintf(err, errlen, "CAPPED_MAX_SESSIONS must be at least 1");
		return -1;
	}
	c->verbose = v != NULL && strcmp(v, "1") == 0;
	return 0;
}

/* --- the functions the fixture changes --- */

static CK_RV capped_Initialize(void *init_args)
{
	struct capped_config c;
	struct capped_state st;
	char err[PATH_MAX + 256];
	const char *path = getenv("CAPPED_REAL_MODULE");
	CK_C_GetFunctionList get_list;
	CK_FUNCTION_LIST *list = NULL;
	long pid;
	unsigned long long start;
	CK_RV rv;
	int fd;

	pthread_mutex_lock(&capped_mutex);
	if (real != NULL) {
		pthread_mutex_unlock(&capped_mutex);
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	}
	if (path == NULL || *path == '\0') {
		snprintf(err, sizeof err, "CAPPED_REAL_MODULE is not set");
		goto fail;
	}
	if (read_config(&c, err, sizeof err) != 0)
		goto fail;
	cfg = c;
	if (self_identity(&pid, &start) != 0) {
		snprintf(err, sizeof err, "cannot read /proc/%ld/stat",
			 (long)getpid());
		goto fail;
	}
	/* The state must be usable before anything is logged in. */
	if (pool_open(&fd, &st) != 0) {
		snprintf(err, sizeof err, "the session pool in %s is unusable "
			 "(see above)", c.state_dir);
		goto fail;
	}
	pool_close(fd, &st, 0);
	if (!secure_channel_ok()) {
		snprintf(err, sizeof err, "libcrypto cannot compute the "
			 "secure channel's MAC");
		goto fail;
	}
	if (real_handle == NULL) {
		real_handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (real_handle == NULL) {
			snprintf(err, sizeof err,
				 "CAPPED_REAL_MODULE=%s cannot be loaded: %s",
				 path, dlerror());
			goto fail;
		}
	}
	get_list = (CK_C_GetFunctionList)dlsym(real_handle,
					       "C_GetFunctionList");
	if (get_list == NULL || get_list(&list) != CKR_OK || list == NULL) {
		snprintf(err, sizeof err,
			 "CAPPED_REAL_MODULE=%s has no usable "
			 "C_GetFunctionList", path);
		goto fail;
	}
	if (list == &capped_list) {
		snprintf(err, sizeof err,
			 "CAPPED_REAL_MODULE=%s is this fixture itself", path);
		goto fail;
	}
	rv = list->C_Initialize(init_args);
	if (rv != CKR_OK) {
		VERBOSE("the real module's C_Initialize failed: 0x%lx", rv);
		pthread_mutex_unlock(&capped_mutex);
		return rv;
	}
	real = list;
	pthread_mutex_unlock(&capped_mutex);
	return CKR_OK;
fail:
	say("C_Initialize: %s", err);
	pthread_mutex_unlock(&capped_mutex);
	return CKR_GENERAL_ERROR;
}

static CK_RV capped_Finalize(void *reserved)
{
	CK_FUNCTION_LIST *r;
	long long login;
	CK_RV rv;

	pthread_mutex_lock(&capped_mutex);
	r = real;
	if (r == NULL) {
		pthread_mutex_unlock(&capped_mutex);
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	if (!libcrypto_alive()) {
		VERBOSE("C_Finalize: libcrypto is gone: no secure channel, "
			"any device session stays taken");
		pthread_mutex_unlock(&capped_mutex);
		return CKR_DEVICE_ERROR;
	}
	login = pool_held(NULL);
	if (login == -2) {
		pthread_mutex_unlock(&capped_mutex);
		return CKR_GENERAL_ERROR;
	}
	if (login >= 0 && !secure_channel_ok()) {
		VERBOSE("C_Finalize: no secure channel (libcrypto is gone): "
			"the device session stays taken");
		pthread_mutex_unlock(&capped_mutex);
		return CKR_DEVICE_ERROR;
	}
	rv = r->C_Finalize(reserved);
	if (rv == CKR_OK)
		real = NULL;
	if (login >= 0) {
		hold_until(login);
		if (pool_release(NULL) != 0 && rv == CKR_OK)
			rv = CKR_GENERAL_ERROR;
	}
	pthread_mutex_unlock(&capped_mutex);
	return rv;
}

static CK_RV session_slot(CK_FUNCTION_LIST *r, CK_SESSION_HANDLE h,
			  unsigned long *slot)
{
	CK_SESSION_INFO info;
	CK_RV rv = r->C_GetSessionInfo(h, &info);

	if (rv == CKR_OK)
		*slot = info.slotID;
	return rv;
}

static CK_RV capped_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user,
			  unsigned char *pin, unsigned long pin_len)
{
	CK_FUNCTION_LIST *r = real;
	struct capped_state st;
	struct capped_record rec;
	unsigned long slot;
	CK_RV rv;
	int fd;

	if (r == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!libcrypto_alive())
		return CKR_DEVICE_ERROR;
	/* Re-authentication for one operation opens no device session. */
	if (user == CKU_CONTEXT_SPECIFIC)
		return r->C_Login(h, user, pin, pin_len);
	rv = session_slot(r, h, &slot);
	if (rv != CKR_OK)
		return rv;

	pthread_mutex_lock(&capped_mutex);
	if (self_identity(&rec.pid, &rec.start) != 0 ||
	    pool_open(&fd, &st) != 0) {
		pthread_mutex_unlock(&capped_mutex);
		return CKR_GENERAL_ERROR;
	}
	if (capped_state_find(&st, rec.pid, rec.start, slot) >= 0) {
		/* This process already holds the slot's device session. */
		pool_close(fd, &st, 0);
		pthread_mutex_unlock(&capped_mutex);
		return r->C_Login(h, user, pin, pin_len);
	}
	if (st.n >= (size_t)cfg.max_sessions) {
		VERBOSE("C_Login: all %ld device sessions are taken: %s",
			cfg.max_sessions, cfg.full_device_error ?
			"CKR_DEVICE_ERROR" : "CKR_SESSION_COUNT");
		note(CAPPED_REFUSED_FILE, 0);
		pool_close(fd, &st, 0);
		pthread_mutex_unlock(&capped_mutex);
		return cfg.full_device_error ? CKR_DEVICE_ERROR : CKR_SESSION_COUNT;
	}
	rec.slot = slot;
	rec.login_ms = capped_now_ms();
	if (capped_state_add(&st, &rec) != 0) {
		pool_close(fd, &st, 0);
		pthread_mutex_unlock(&capped_mutex);
		return CKR_HOST_MEMORY;
	}
	note(CAPPED_PEAK_FILE, st.n);
	if (pool_close(fd, &st, 1) != 0) {
		pthread_mutex_unlock(&capped_mutex);
		return CKR_GENERAL_ERROR;
	}

	if (cfg.login_ms > 0)
		sleep_ms(cfg.login_ms);
	rv = r->C_Login(h, user, pin, pin_len);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		/* The device refused: its session is closed again. */
		pool_release(&slot);
	}
	pthread_mutex_unlock(&capped_mutex);
	return rv;
}

static CK_RV capped_Logout(CK_SESSION_HANDLE h)
{
	CK_FUNCTION_LIST *r = real;
	unsigned long slot;
	long long login;
	CK_RV rv;

	if (r == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!libcrypto_alive()) {
		VERBOSE("C_Logout: libcrypto is gone: no secure channel, "
			"any device session stays taken");
		return CKR_DEVICE_ERROR;
	}
	rv = session_slot(r, h, &slot);
	if (rv != CKR_OK)
		return rv;

	pthread_mutex_lock(&capped_mutex);
	login = pool_held(&slot);
	if (login == -2) {
		pthread_mutex_unlock(&capped_mutex);
		return CKR_GENERAL_ERROR;
	}
	if (login == -1) {
		/* No device session of ours: nothing to send. */
		pthread_mutex_unlock(&capped_mutex);
		return r->C_Logout(h);
	}
	if (!secure_channel_ok()) {
		VERBOSE("C_Logout: no secure channel (libcrypto is gone): "
			"the device session stays taken");
		pthread_mutex_unlock(&capped_mutex);
		return CKR_DEVICE_ERROR;
	}
	rv = r->C_Logout(h);
	hold_until(login);
	if (pool_release(&slot) != 0 && rv == CKR_OK)
		rv = CKR_GENERAL_ERROR;
	pthread_mutex_unlock(&capped_mutex);
	return rv;
}

static CK_FUNCTION_LIST capped_list = {
	.version = { 2, 40 },
	.C_Initialize = capped_Initialize,
	.C_Finalize = capped_Finalize,
	.C_GetInfo = fwd_C_GetInfo,
	.C_GetFunctionList = C_GetFunctionList,
	.C_GetSlotList = fwd_C_GetSlotList,
	.C_GetSlotInfo = fwd_C_GetSlotInfo,
	.C_GetTokenInfo = fwd_C_GetTokenInfo,
	.C_GetMechanismList = fwd_C_GetMechanismList,
	.C_GetMechanismInfo = fwd_C_GetMechanismInfo,
	.C_InitToken = fwd_C_InitToken,
	.C_InitPIN = fwd_C_InitPIN,
	.C_SetPIN = fwd_C_SetPIN,
	.C_OpenSession = fwd_C_OpenSession,
	.C_CloseSession = fwd_C_CloseSession,
	.C_CloseAllSessions = fwd_C_CloseAllSessions,
	.C_GetSessionInfo = fwd_C_GetSessionInfo,
	.C_GetOperationState = fwd_C_GetOperationState,
	.C_SetOperationState = fwd_C_SetOperationState,
	.C_Login = capped_Login,
	.C_Logout = capped_Logout,
	.C_CreateObject = fwd_C_CreateObject,
	.C_CopyObject = fwd_C_CopyObject,
	.C_DestroyObject = fwd_C_DestroyObject,
	.C_GetObjectSize = fwd_C_GetObjectSize,
	.C_GetAttributeValue = fwd_C_GetAttributeValue,
	.C_SetAttributeValue = fwd_C_SetAttributeValue,
	.C_FindObjectsInit = fwd_C_FindObjectsInit,
	.C_FindObjects = fwd_C_FindObjects,
	.C_FindObjectsFinal = fwd_C_FindObjectsFinal,
	.C_EncryptInit = fwd_C_EncryptInit,
	.C_Encrypt = fwd_C_Encrypt,
	.C_EncryptUpdate = fwd_C_EncryptUpdate,
	.C_EncryptFinal = fwd_C_EncryptFinal,
	.C_DecryptInit = fwd_C_DecryptInit,
	.C_Decrypt = fwd_C_Decrypt,
	.C_DecryptUpdate = fwd_C_DecryptUpdate,
	.C_DecryptFinal = fwd_C_DecryptFinal,
	.C_DigestInit = fwd_C_DigestInit,
	.C_Digest = fwd_C_Digest,
	.C_DigestUpdate = fwd_C_DigestUpdate,
	.C_DigestKey = fwd_C_DigestKey,
	.C_DigestFinal = fwd_C_DigestFinal,
	.C_SignInit = fwd_C_SignInit,
	.C_Sign = fwd_C_Sign,
	.C_SignUpdate = fwd_C_SignUpdate,
	.C_SignFinal = fwd_C_SignFinal,
	.C_SignRecoverInit = fwd_C_SignRecoverInit,
	.C_SignRecover = fwd_C_SignRecover,
	.C_VerifyInit = fwd_C_VerifyInit,
	.C_Verify = fwd_C_Verify,
	.C_VerifyUpdate = fwd_C_VerifyUpdate,
	.C_VerifyFinal = fwd_C_VerifyFinal,
	.C_VerifyRecoverInit = fwd_C_VerifyRecoverInit,
	.C_VerifyRecover = fwd_C_VerifyRecover,
	.C_DigestEncryptUpdate = fwd_C_DigestEncryptUpdate,
	.C_DecryptDigestUpdate = fwd_C_DecryptDigestUpdate,
	.C_SignEncryptUpdate = fwd_C_SignEncryptUpdate,
	.C_DecryptVerifyUpdate = fwd_C_DecryptVerifyUpdate,
	.C_GenerateKey = fwd_C_GenerateKey,
	.C_GenerateKeyPair = fwd_C_GenerateKeyPair,
	.C_WrapKey = fwd_C_WrapKey,
	.C_UnwrapKey = fwd_C_UnwrapKey,
	.C_DeriveKey = fwd_C_DeriveKey,
	.C_SeedRandom = fwd_C_SeedRandom,
	.C_GenerateRandom = fwd_C_GenerateRandom,
	.C_GetFunctionStatus = fwd_C_GetFunctionStatus,
	.C_CancelFunction = fwd_C_CancelFunction,
	.C_WaitForSlotEvent = fwd_C_WaitForSlotEvent,
};

CK_RV C_GetFunctionList(CK_FUNCTION_LIST **list)
{
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	*list = &capped_list;
	return CKR_OK;
}
