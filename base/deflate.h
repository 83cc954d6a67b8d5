// ZLIB-wrapped DEFLATE (RFC 1950/1951) with a bounded, strict decompressor; zlib stays behind this.
#pragma once

#include <cstddef>

#include "base/bytes.h"
#include "base/result.h"

namespace mandated {

// One complete ZLIB stream (RFC 1950) holding `data`, at the best compression level (9).
// kInternal only if zlib itself fails.
Result<Bytes> ZlibCompress(ByteSpan data);

// The inverse, strictly: `data` must be exactly one complete ZLIB stream (no preset dictionary)
// whose Adler-32 checks. Refuses with kInvalidArgument:
//   "bad-compression"     not a ZLIB stream (raw DEFLATE, gzip, bad header), corrupt data, a bad
//                         checksum, a truncated stream, or bytes after the end of the stream;
//   "inflated-too-large"  the output would exceed `max_output` bytes. Inflation stops there: no
//                         more than `max_output` bytes plus one 16 KiB work buffer are allocated.
// Thread safety: pure functions; safe from any thread.
Result<Bytes> ZlibDecompress(ByteSpan data, size_t max_output);

}  // namespace mandated
