#ifndef CLZ4_SHIM_H
#define CLZ4_SHIM_H
// liblz4's frame API (Kafka's lz4 codec is the LZ4 frame format), reached only from
// StrataKafka/Compression/KafkaLz4.swift.
#include <lz4frame.h>

// LZ4F_VERSION is a macro Swift does not import as a value.
static inline unsigned clz4_frame_version(void) { return LZ4F_VERSION; }
#endif
