/* The exported dlsym, i386; see dlsym-entry-x86_64.S.  The arguments are
 * on the stack above the return address and stay there: the route gets
 * copies, and the jump finds the caller's frame as it was. */

#include "dlsym-entry.h"

	p11l_entry_begin 4
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
	p11l_entry_end
