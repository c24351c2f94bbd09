/* The exported dlsym.
 *
 * glibc's dlsym resolves RTLD_NEXT (and picks the namespace for
 * RTLD_DEFAULT) from its own return address.  If we called it from C, a
 * library that asks for dlsym(RTLD_NEXT, ...) would get what comes after
 * libp11logout.so instead of what comes after itself.  A C compiler makes
 * the forwarding call a tail call only when it optimises, so the entry is
 * written here: it asks p11l_dlsym_route where this lookup should go, puts
 * the caller's arguments back and jumps there, leaving the caller's return
 * address in place.  The route is libc's dlsym for every name except the
 * PKCS#11 getters looked up in a module handle. */

#if defined(__x86_64__) && !defined(__ILP32__)

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
	jmp	*%rax
	.cfi_endproc
	.size	dlsym, .-dlsym

#elif defined(__i386__)

	.text
	.globl	dlsym
	.type	dlsym, @function
	.p2align 4
dlsym:
	.cfi_startproc
#ifdef __CET__
	endbr32
#endif
	subl	$4, %esp		/* with the two pushes: 16-byte aligned */
	.cfi_adjust_cfa_offset 4
	pushl	12(%esp)		/* name */
	.cfi_adjust_cfa_offset 4
	pushl	12(%esp)		/* handle */
	.cfi_adjust_cfa_offset 4
	call	p11l_dlsym_route
	addl	$12, %esp
	.cfi_adjust_cfa_offset -12
	jmp	*%eax
	.cfi_endproc
	.size	dlsym, .-dlsym

#elif defined(__aarch64__)

	.text
	.globl	dlsym
	.type	dlsym, %function
	.p2align 4
dlsym:
	.cfi_startproc
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
	.cfi_endproc
	.size	dlsym, .-dlsym

#endif

#if defined(__linux__) && defined(__ELF__)
	.section .note.GNU-stack, "", %progbits
#endif
