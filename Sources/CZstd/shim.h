#ifndef CZSTD_SHIM_H
#define CZSTD_SHIM_H
// libzstd, reached only from StrataFormat/Zstd.swift.
#define ZSTD_STATIC_LINKING_ONLY 0
#include <zstd.h>
#include <zstd_errors.h>

// ZSTD_CONTENTSIZE_* are macros Swift does not import as values.
static inline unsigned long long czstd_contentsize_unknown(void) { return ZSTD_CONTENTSIZE_UNKNOWN; }
static inline unsigned long long czstd_contentsize_error(void) { return ZSTD_CONTENTSIZE_ERROR; }
#endif
