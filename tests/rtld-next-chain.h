/* The function the RTLD_NEXT test chains: the base library defines it, and
 * each preloaded test library defines it again, appends its own name and
 * forwards to the next definition found with dlsym(RTLD_NEXT, ...).
 *
 * Built with RTLD_NEXT_FORCE_O0, a file is compiled without optimisation
 * whatever CFLAGS says (automake puts CFLAGS after per-target flags, so a
 * -O0 there would be overridden). */
#ifndef RTLD_NEXT_CHAIN_H
#define RTLD_NEXT_CHAIN_H

#include <stddef.h>

#ifdef RTLD_NEXT_FORCE_O0
# if defined(__clang__)
#  pragma clang optimize off
# elif defined(__GNUC__)
#  pragma GCC optimize("O0")
# endif
#endif

#define RTLD_NEXT_EXPORT __attribute__((visibility("default")))

typedef void (*p11l_chain_fn)(char *buf, size_t size);

void p11l_chain(char *buf, size_t size);

#endif
