/* What every architecture's dlsym entry (dlsym-entry-ARCH.S) shares: the
 * symbol's section, type, size and unwind bracket, and the note that
 * keeps the stack non-executable.  Assembler macros rather than C ones,
 * because the entries are assembled for nine instruction sets and not all
 * of them read ';' as a line separator.  %function is the spelling that
 * every ELF target accepts ('@' starts a comment on Arm). */

	.macro	p11l_entry_begin align
	.text
	.globl	dlsym
	.type	dlsym, %function
	.p2align \align
dlsym:
	.cfi_startproc
	.endm

	.macro	p11l_entry_end
	.cfi_endproc
	.size	dlsym, .-dlsym
	.section .note.GNU-stack, "", %progbits
	.endm
