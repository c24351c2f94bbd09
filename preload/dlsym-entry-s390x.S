/* The exported dlsym, s390x; see dlsym-entry-x86_64.S.  r14 and r15 go
 * to their slots in the register save area the caller provides; our
 * frame is the 160 bytes every callee may use plus two doublewords for
 * the arguments.  r1 is free at a call boundary and carries the target. */

#include "dlsym-entry.h"

	p11l_entry_begin 3
	stmg	%r14, %r15, 112(%r15)
	.cfi_offset %r14, -48
	.cfi_offset %r15, -40
	lgr	%r1, %r15
	aghi	%r15, -176
	.cfi_adjust_cfa_offset 176
	stg	%r1, 0(%r15)		/* back chain */
	stg	%r2, 160(%r15)
	stg	%r3, 168(%r15)
	brasl	%r14, p11l_dlsym_route
	lgr	%r1, %r2
	lg	%r2, 160(%r15)
	lg	%r3, 168(%r15)
	lmg	%r14, %r15, 288(%r15)	/* 176 + 112: the caller's values */
	.cfi_restore %r14
	.cfi_restore %r15
	.cfi_adjust_cfa_offset -176
	br	%r1
	p11l_entry_end
