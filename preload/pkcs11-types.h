/* The subset of PKCS#11 (2.40, 3.0, 3.1, 3.2) that libp11logout needs,
 * written from the OASIS base specification.
 *
 * Why our own header: Debian 12's p11-kit header knows only the 2.40 types,
 * and we must know the exact size of every function-list layout so that we
 * never copy past the end of a module's list.  A function list is a
 * CK_VERSION followed by an array of function pointers in the standard's
 * order, so it is modelled here as exactly that; the indices below name the
 * entries the library touches. */
#ifndef P11L_PKCS11_TYPES_H
#define P11L_PKCS11_TYPES_H

typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef CK_ULONG CK_SLOT_ID;
typedef CK_ULONG CK_SESSION_HANDLE;
typedef CK_ULONG CK_USER_TYPE;
typedef CK_ULONG CK_FLAGS;
typedef CK_ULONG CK_STATE;
typedef CK_ULONG CK_NOTIFICATION;
typedef unsigned char CK_BYTE;
typedef unsigned char CK_UTF8CHAR;
typedef void *CK_VOID_PTR;

typedef struct CK_VERSION {
	CK_BYTE major;
	CK_BYTE minor;
} CK_VERSION;

typedef struct CK_SESSION_INFO {
	CK_SLOT_ID slotID;
	CK_STATE state;
	CK_FLAGS flags;
	CK_ULONG ulDeviceError;
} CK_SESSION_INFO;

typedef CK_RV (*CK_NOTIFY)(CK_SESSION_HANDLE, CK_NOTIFICATION, CK_VOID_PTR);

/* An untyped entry of a function list: every entry is a pointer to a
 * function, and all function pointers share one representation. */
typedef void (*p11l_fn)(void);

/* Entry counts of each layout.  2.x: 68 functions; 3.0 (also used by 3.1,
 * which added none) appends 24; 3.2 appends 12 more. */
#define P11L_FN_COUNT_2 68
#define P11L_FN_COUNT_3_0 92
#define P11L_FN_COUNT_3_2 104
#define P11L_FN_COUNT_MAX P11L_FN_COUNT_3_2

/* Positions of the entries we wrap or call, in the standard's order. */
enum p11l_fn_index {
	P11L_C_Initialize = 0,
	P11L_C_Finalize = 1,
	P11L_C_GetInfo = 2,
	P11L_C_GetFunctionList = 3,
	P11L_C_GetSlotList = 4,
	P11L_C_OpenSession = 12,
	P11L_C_CloseSession = 13,
	P11L_C_CloseAllSessions = 14,
	P11L_C_GetSessionInfo = 15,
	P11L_C_Login = 18,
	P11L_C_Logout = 19,
	P11L_C_SignInit = 42,
	P11L_C_Sign = 43,
	P11L_C_GetInterfaceList = 68,
	P11L_C_GetInterface = 69,
	P11L_C_LoginUser = 70,
};

/* Large enough for the biggest layout; a copy only ever fills as many
 * entries as the module's own version has. */
typedef struct p11l_function_list {
	CK_VERSION version;
	p11l_fn fn[P11L_FN_COUNT_MAX];
} p11l_function_list;

/* Seen by callers as CK_FUNCTION_LIST; the layout is the same. */
typedef p11l_function_list CK_FUNCTION_LIST;
typedef CK_FUNCTION_LIST *CK_FUNCTION_LIST_PTR;
typedef CK_FUNCTION_LIST_PTR *CK_FUNCTION_LIST_PTR_PTR;

typedef struct CK_INTERFACE {
	CK_UTF8CHAR *pInterfaceName;
	CK_VOID_PTR pFunctionList;
	CK_FLAGS flags;
} CK_INTERFACE;

typedef CK_RV (*CK_C_Initialize)(CK_VOID_PTR);
typedef CK_RV (*CK_C_Finalize)(CK_VOID_PTR);
typedef CK_RV (*CK_C_GetFunctionList)(CK_FUNCTION_LIST_PTR_PTR);
typedef CK_RV (*CK_C_GetInterfaceList)(CK_INTERFACE *, CK_ULONG *);
typedef CK_RV (*CK_C_GetInterface)(CK_UTF8CHAR *, CK_VERSION *,
				   CK_INTERFACE **, CK_FLAGS);
typedef CK_RV (*CK_C_OpenSession)(CK_SLOT_ID, CK_FLAGS, CK_VOID_PTR,
				  CK_NOTIFY, CK_SESSION_HANDLE *);
typedef CK_RV (*CK_C_CloseSession)(CK_SESSION_HANDLE);
typedef CK_RV (*CK_C_CloseAllSessions)(CK_SLOT_ID);
typedef CK_RV (*CK_C_GetSessionInfo)(CK_SESSION_HANDLE, CK_SESSION_INFO *);
typedef CK_RV (*CK_C_Login)(CK_SESSION_HANDLE, CK_USER_TYPE, CK_UTF8CHAR *,
			    CK_ULONG);
typedef CK_RV (*CK_C_LoginUser)(CK_SESSION_HANDLE, CK_USER_TYPE,
				CK_UTF8CHAR *, CK_ULONG, CK_UTF8CHAR *,
				CK_ULONG);
typedef CK_RV (*CK_C_Logout)(CK_SESSION_HANDLE);

#define CKU_SO 0UL
#define CKU_USER 1UL
#define CKU_CONTEXT_SPECIFIC 2UL

#define CKF_RW_SESSION 0x2UL
#define CKF_SERIAL_SESSION 0x4UL
#define CK_UNAVAILABLE_INFORMATION (~0UL)

#define CKR_OK 0x00UL
#define CKR_HOST_MEMORY 0x02UL
#define CKR_SLOT_ID_INVALID 0x03UL
#define CKR_GENERAL_ERROR 0x05UL
#define CKR_FUNCTION_FAILED 0x06UL
#define CKR_ARGUMENTS_BAD 0x07UL
#define CKR_CANT_LOCK 0x0AUL
#define CKR_DEVICE_ERROR 0x30UL
#define CKR_DEVICE_REMOVED 0x32UL
#define CKR_FUNCTION_NOT_SUPPORTED 0x54UL
#define CKR_PIN_INCORRECT 0xA0UL
#define CKR_SESSION_CLOSED 0xB0UL
#define CKR_SESSION_COUNT 0xB1UL
#define CKR_SESSION_HANDLE_INVALID 0xB3UL
#define CKR_TOKEN_NOT_PRESENT 0xE0UL
#define CKR_USER_ALREADY_LOGGED_IN 0x100UL
#define CKR_USER_NOT_LOGGED_IN 0x101UL
#define CKR_USER_TYPE_INVALID 0x103UL
#define CKR_BUFFER_TOO_SMALL 0x150UL
#define CKR_CRYPTOKI_NOT_INITIALIZED 0x190UL
#define CKR_CRYPTOKI_ALREADY_INITIALIZED 0x191UL

#define P11L_INTERFACE_NAME "PKCS 11"

#endif
