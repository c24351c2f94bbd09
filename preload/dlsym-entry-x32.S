/* The exported dlsym, x32: x86_64's registers and entry, with 32-bit
 * pointers (the one difference is in dlsym-entry-x86_64.S, under
 * __ILP32__). */
#include "dlsym-entry-x86_64.S"
