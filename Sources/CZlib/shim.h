#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H
// zlib, reached only from StrataKafka/Compression/KafkaGzip.swift (gzip produce batches).
#include <zlib.h>

// inflateInit2 is a macro (it passes zlib's version and the stream's size): Swift cannot call it.
static inline int czlib_inflate_init2(z_stream *stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}
#endif
