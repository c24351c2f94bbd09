/* A library linked with libcrypto 4 (here libp11l-fakecrypto4.so) that
 * calls its OPENSSL_cleanup, in a program linked with libcrypto 3: the
 * call binds OPENSSL_cleanup@OPENSSL_4.0.0 (cleanup-versions.sh). */
#include "config.h"

void OPENSSL_cleanup(void);
void fakecrypto_user4_cleanup(void);

void fakecrypto_user4_cleanup(void)
{
	OPENSSL_cleanup();
}
