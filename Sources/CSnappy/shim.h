#ifndef CSNAPPY_SHIM_H
#define CSNAPPY_SHIM_H
// libsnappy's C interface, reached only from StrataKafka/Compression/KafkaSnappy.swift.
#include <snappy-c.h>
#endif
