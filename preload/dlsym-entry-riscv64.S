/* The exported dlsym, RISC-V 64 (LP64D); see dlsym-entry-x86_64.S.  t1 is
 * a temporary the callee may clobber, so it carries the jump target. */

	.text
	.globl	dlsym
	.type	dlsym, %function
	.p2align 2
dlsym:
	.cfi_startproc
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
	.cfi_endproc
	.size	dlsym, .-dlsym

	.section .note.GNU-stack, "", %progbits
