/* The exported dlsym, RISC-V 64 (LP64D); see dlsym-entry-x86_64.S.  t1 is
 * a temporary the callee may clobber, so it carries the jump target. */

#include "dlsym-entry.h"

	p11l_entry_begin 2
	addi	sp, sp, -32
	.cfi_def_cfa_offset 32
	sd	ra, 24(sp)
	.cfi_offset ra, -8
	sd	a0, 8(sp)
	sd	a1, 0(sp)
	call	p11l_dlsym_route
	mv	t1, a0
	ld	a0, 8(sp)
	ld	a1, 0(sp)
	ld	ra, 24(sp)
	.cfi_restore ra
	addi	sp, sp, 32
	.cfi_def_cfa_offset 0
	jr	t1
	p11l_entry_end
