/* The exported dlsym, x32 (x86_64 registers, 32-bit pointers); see
 * dlsym-entry-x86_64.S.  The route's result is zero-extended before the
 * jump: the ABI leaves the upper half of a returned pointer undefined. */

	.text
	.globl	dlsym
	.type	dlsym, @function
	.p2align 4
dlsym:
	.cfi_startproc
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
	movl	%eax, %eax
	jmp	*%rax
	.cfi_endproc
	.size	dlsym, .-dlsym

	.section .note.GNU-stack, "", %progbits
