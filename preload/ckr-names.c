/* CKR_ names for the debug log, from the PKCS#11 base specification. */
#include "config.h"

#include <stdio.h>

#include "p11logout.h"
#include "libc-late.h"

/* Names kept in place, not as pointers, so the table needs no relocation
 * when the library is loaded. */
static const struct {
	CK_RV rv;
	char name[40];
} names[] = {
	{ 0x000, "CKR_OK" },
	{ 0x001, "CKR_CANCEL" },
	{ 0x002, "CKR_HOST_MEMORY" },
	{ 0x003, "CKR_SLOT_ID_INVALID" },
	{ 0x005, "CKR_GENERAL_ERROR" },
	{ 0x006, "CKR_FUNCTION_FAILED" },
	{ 0x007, "CKR_ARGUMENTS_BAD" },
	{ 0x008, "CKR_NO_EVENT" },
	{ 0x009, "CKR_NEED_TO_CREATE_THREADS" },
	{ 0x00A, "CKR_CANT_LOCK" },
	{ 0x030, "CKR_DEVICE_ERROR" },
	{ 0x031, "CKR_DEVICE_MEMORY" },
	{ 0x032, "CKR_DEVICE_REMOVED" },
	{ 0x050, "CKR_FUNCTION_CANCELED" },
	{ 0x051, "CKR_FUNCTION_NOT_PARALLEL" },
	{ 0x054, "CKR_FUNCTION_NOT_SUPPORTED" },
	{ 0x0A0, "CKR_PIN_INCORRECT" },
	{ 0x0A1, "CKR_PIN_INVALID" },
	{ 0x0A2, "CKR_PIN_LEN_RANGE" },
	{ 0x0A3, "CKR_PIN_EXPIRED" },
	{ 0x0A4, "CKR_PIN_LOCKED" },
	{ 0x0B0, "CKR_SESSION_CLOSED" },
	{ 0x0B1, "CKR_SESSION_COUNT" },
	{ 0x0B3, "CKR_SESSION_HANDLE_INVALID" },
	{ 0x0B4, "CKR_SESSION_PARALLEL_NOT_SUPPORTED" },
	{ 0x0B5, "CKR_SESSION_READ_ONLY" },
	{ 0x0B6, "CKR_SESSION_EXISTS" },
	{ 0x0B7, "CKR_SESSION_READ_ONLY_EXISTS" },
	{ 0x0B8, "CKR_SESSION_READ_WRITE_SO_EXISTS" },
	{ 0x0E0, "CKR_TOKEN_NOT_PRESENT" },
	{ 0x0E1, "CKR_TOKEN_NOT_RECOGNIZED" },
	{ 0x0E2, "CKR_TOKEN_WRITE_PROTECTED" },
	{ 0x100, "CKR_USER_ALREADY_LOGGED_IN" },
	{ 0x101, "CKR_USER_NOT_LOGGED_IN" },
	{ 0x102, "CKR_USER_PIN_NOT_INITIALIZED" },
	{ 0x103, "CKR_USER_TYPE_INVALID" },
	{ 0x104, "CKR_USER_ANOTHER_ALREADY_LOGGED_IN" },
	{ 0x105, "CKR_USER_TOO_MANY_TYPES" },
	{ 0x150, "CKR_BUFFER_TOO_SMALL" },
	{ 0x190, "CKR_CRYPTOKI_NOT_INITIALIZED" },
	{ 0x191, "CKR_CRYPTOKI_ALREADY_INITIALIZED" },
	{ 0x1B0, "CKR_FUNCTION_REJECTED" },
	{ 0x1B1, "CKR_TOKEN_RESOURCE_EXCEEDED" },
	{ 0x1B5, "CKR_OPERATION_CANCEL_FAILED" },
};

const char *p11l_ckr_name(CK_RV rv, char buf[32])
{
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].rv == rv)
			return names[i].name;
	p11l_libc.snprintf(buf, 32, "CKR_0x%08lX", rv);
	return buf;
}
