/* See fini-hook.c.  fini_hook_set(FN): FN runs from libfini-hook's
 * destructor, which comes after libcrypto's when the library is loaded
 * last (see fini_hook_load). */
#ifndef P11L_FINI_HOOK_H
#define P11L_FINI_HOOK_H

void fini_hook_set(void (*fn)(void));

/* For the programs: dlopen()s FINI_HOOK_PATH (libfini-hook.so of the
 * build tree) and gives it FN; returns 0 when it cannot (says why on
 * stderr). */
int fini_hook_load(void (*fn)(void));

#endif
