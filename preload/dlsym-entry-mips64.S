/* The exported dlsym, MIPS64 n64 (mips64el); see dlsym-entry-x86_64.S.
 * PIC code is entered with its own address in $25 (t9); from it we find
 * our GOT in $3 (a temporary, so that the caller's $gp is not touched) to
 * load the route's address.  The route sets up its own $gp and restores
 * it.  The target is jumped to through $25 too, which it expects. */

#include "dlsym-entry.h"

	.abicalls
	.set	noreorder
	.set	nomacro
	.ent	dlsym
	p11l_entry_begin 3
	daddiu	$sp, $sp, -32
	.cfi_def_cfa_offset 32
	sd	$ra, 24($sp)
	.cfi_offset 31, -8
	sd	$4, 8($sp)
	sd	$5, 0($sp)
	lui	$3, %hi(%neg(%gp_rel(dlsym)))
	daddiu	$3, $3, %lo(%neg(%gp_rel(dlsym)))
	daddu	$3, $3, $25
	ld	$25, %got_disp(p11l_dlsym_route)($3)
	jalr	$25
	nop
	move	$25, $2
	ld	$4, 8($sp)
	ld	$5, 0($sp)
	ld	$ra, 24($sp)
	.cfi_restore 31
	jr	$25
	daddiu	$sp, $sp, 32		/* in the delay slot */
	.end	dlsym
	p11l_entry_end
