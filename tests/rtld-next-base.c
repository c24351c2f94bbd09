/* The real definition at the end of the RTLD_NEXT chain. */
#include "config.h"

#include <string.h>

#include "rtld-next-chain.h"

RTLD_NEXT_EXPORT void p11l_chain(char *buf, size_t size)
{
	size_t n = strlen(buf);

	if (n < size)
		strncat(buf, "real", size - n - 1);
}
