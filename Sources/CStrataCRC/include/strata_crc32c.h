#ifndef STRATA_CRC32C_H
#define STRATA_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// Extends `crc` (0 to start) with CRC32C (Castagnoli, reflected, poly 0x82F63B78) of `len` bytes.
/// Uses the SSE4.2 `crc32` instruction when the CPU has it, a table otherwise.
uint32_t strata_crc32c_extend(uint32_t crc, const void *buf, size_t len);

/// The portable table implementation, exposed so tests can check both paths agree.
uint32_t strata_crc32c_extend_portable(uint32_t crc, const void *buf, size_t len);
#endif
