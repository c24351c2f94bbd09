/* The exported dlsym, AArch64; see dlsym-entry-x86_64.S.  x16 (IP0) is
 * free at a call boundary, so it carries the target of the jump. */

#include "dlsym-entry.h"

	p11l_entry_begin 4
#ifdef __ARM_FEATURE_BTI_DEFAULT
	hint	34			/* bti c */
#endif
	stp	x29, x30, [sp, #-32]!
	.cfi_def_cfa_offset 32
	.cfi_offset 29, -32
	.cfi_offset 30, -24
	mov	x29, sp
	stp	x0, x1, [sp, #16]
	bl	p11l_dlsym_route
	mov	x16, x0
	ldp	x0, x1, [sp, #16]
	ldp	x29, x30, [sp], #32
	.cfi_restore 29
	.cfi_restore 30
	.cfi_def_cfa_offset 0
	br	x16
	p11l_entry_end
