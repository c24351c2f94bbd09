/* What the fuzz targets share: libFuzzer's entry point, which replay.c
 * also calls with each corpus file, and the one way a target reports a
 * broken promise (an abort, which libFuzzer and make check both see). */
#ifndef P11L_FUZZ_TARGET_H
#define P11L_FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

void p11l_fuzz_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif
