/* The exported dlsym, 64-bit PowerPC ELFv2 (ppc64el); see
 * dlsym-entry-x86_64.S.
 *
 * The global entry derives our TOC (r2) from r12, as ELFv2 requires of a
 * function called through a PLT stub; the stub already saved the caller's
 * r2 in the caller's frame (24(r1)), which we leave alone, and the caller
 * reloads it after the call returns, so the r2 we leave set does no harm.
 * The frame is the 32-byte ELFv2 header plus two doublewords for the
 * arguments; no parameter save area, since the route has a prototype and
 * takes its arguments in registers.  The jump goes through ctr with r12
 * holding the target, so that the target's global entry finds its TOC. */

#include "dlsym-entry.h"

	.abiversion 2
	p11l_entry_begin 4
0:	addis	2, 12, .TOC.-0b@ha
	addi	2, 2, .TOC.-0b@l
	.localentry dlsym, .-dlsym
	mflr	0
	std	0, 16(1)
	stdu	1, -48(1)
	.cfi_def_cfa_offset 48
	.cfi_offset lr, 16
	std	3, 32(1)
	std	4, 40(1)
	bl	p11l_dlsym_route
	nop
	mr	12, 3
	ld	3, 32(1)
	ld	4, 40(1)
	addi	1, 1, 48
	.cfi_def_cfa_offset 0
	ld	0, 16(1)
	mtlr	0
	.cfi_restore lr
	mtctr	12
	bctr
	p11l_entry_end
