/* The exported dlsym, x86_64 (LP64, and x32 through dlsym-entry-x32.S).
 *
 * glibc's dlsym resolves RTLD_NEXT (and picks the namespace for
 * RTLD_DEFAULT) from its own return address.  If we called it from C, a
 * library that asks for dlsym(RTLD_NEXT, ...) would get what comes after
 * libp11logout.so instead of what comes after itself.  A C compiler makes
 * the forwarding call a tail call only when it optimises, so every
 * architecture has an entry like this one, one file each (configure picks
 * it): it asks p11l_dlsym_route where this lookup should go, puts the
 * caller's arguments back and jumps there, leaving the caller's return
 * address in place.  The route is libc's dlsym for every name except the
 * PKCS#11 getters looked up in a module handle. */

#include "dlsym-entry.h"

	p11l_entry_begin 4
#ifdef __CET__
	endbr64
#endif
	pushq	%rdi
	.cfi_adjust_cfa_offset 8
	pushq	%rsi
	.cfi_adjust_cfa_offset 8
	subq	$8, %rsp		/* keep the stack 16-byte aligned */
	.cfi_adjust_cfa_offset 8
	call	p11l_dlsym_route
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%rsi
	.cfi_adjust_cfa_offset -8
	popq	%rdi
	.cfi_adjust_cfa_offset -8
#ifdef __ILP32__
	/* x32: the ABI leaves the upper half of a returned pointer undefined. */
	movl	%eax, %eax
#endif
	jmp	*%rax
	p11l_entry_end
