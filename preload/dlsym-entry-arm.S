/* The exported dlsym, 32-bit Arm EABI (armel, armhf); see
 * dlsym-entry-x86_64.S.  Written in Arm state, which every Debian arm
 * port executes; libc and the route may be Thumb code, so the calls are
 * bl (the linker makes it blx where needed) and bx. r2 only pads the push
 * to the 8-byte stack alignment AAPCS requires. */

#include "dlsym-entry.h"

	.syntax unified
	.arm
	p11l_entry_begin 2
	push	{r0, r1, r2, lr}
	.cfi_adjust_cfa_offset 16
	.cfi_rel_offset lr, 12
	bl	p11l_dlsym_route
	mov	ip, r0
	pop	{r0, r1, r2, lr}
	.cfi_adjust_cfa_offset -16
	.cfi_restore lr
	bx	ip
	p11l_entry_end
