/* The preload library is linked without the C runtime's start files
 * (-nostartfiles): they add four weak undefined symbols (__gmon_start__,
 * _ITM_registerTMCloneTable, _ITM_deregisterTMCloneTable, __cxa_finalize)
 * that the dynamic loader looks up, and fails to find or finds, in every
 * process at start (BENCHMARK.md has what that costs /bin/true), and code
 * of theirs that runs at load.  Nothing here needs them: there is no
 * constructor, and the library is never unloaded (-z nodelete).  What the
 * start files defined and the library does use is the handle that
 * atexit() and pthread_atfork() register under.  Weak, so that the same
 * objects still link with the start files (make bench compares both). */
#include "config.h"

#include "p11logout.h"

__attribute__((weak)) void *__dso_handle = &__dso_handle;
