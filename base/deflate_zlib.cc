// base/deflate.h on zlib: the only file of mandated that includes <zlib.h>.
#include "base/deflate.h"

#include <algorithm>
#include <array>
#include <climits>
#include <string>

#define ZLIB_CONST
#include <zlib.h>

namespace mandated {
namespace {

constexpr size_t kChunk = 16 * 1024;
// zlib counts input in uInt; larger inputs are fed in pieces of at most this many bytes.
constexpr size_t kMaxFeed = UINT_MAX;

Status BadCompression(const std::string& what) {
  return InvalidArgumentError("zlib data: " + what, "bad-compression");
}

// Owns an inflate stream; inflateEnd runs on every path out.
class Inflater {
 public:
  Inflater() = default;
  ~Inflater() {
    if (initialized_) {
      inflateEnd(&stream_);
    }
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // windowBits 15 without +16/+32: the ZLIB wrapper only (no gzip, no raw DEFLATE).
  bool Init() {
    initialized_ = inflateInit(&stream_) == Z_OK;
    return initialized_;
  }
  z_stream& stream() { return stream_; }

 private:
  z_stream stream_{};
  bool initialized_ = false;
};

}  // namespace

Result<Bytes> ZlibCompress(ByteSpan data) {
  uLong bound = compressBound(static_cast<uLong>(data.size()));
  Bytes out(static_cast<size_t>(bound));
  uLongf out_len = bound;
  static const Bytef kEmpty = 0;
  const Bytef* source = data.empty() ? &kEmpty : data.data();
  int rc = compress2(out.data(), &out_len, source, static_cast<uLong>(data.size()),
                     Z_BEST_COMPRESSION);
  if (rc != Z_OK) {
    return InternalError("zlib compress2 failed with code " + std::to_string(rc));
  }
  out.resize(static_cast<size_t>(out_len));
  return out;
}

Result<Bytes> ZlibDecompress(ByteSpan data, size_t max_output) {
  if (data.empty()) {
    return BadCompression("empty input");
  }
  Inflater inflater;
  if (!inflater.Init()) {
    return InternalError("zlib inflateInit failed");
  }
  z_stream& zs = inflater.stream();
  std::array<Bytef, kChunk> chunk;
  Bytes out;
  size_t fed = 0;  // bytes of `data` handed to zlib so far
  for (;;) {
    if (zs.avail_in == 0 && fed < data.size()) {
      const size_t piece = std::min(data.size() - fed, kMaxFeed);
      zs.next_in = data.data() + fed;
      zs.avail_in = static_cast<uInt>(piece);
      fed += piece;
    }
    zs.next_out = chunk.data();
    zs.avail_out = static_cast<uInt>(chunk.size());
    const int rc = inflate(&zs, Z_NO_FLUSH);
    const size_t produced = chunk.size() - zs.avail_out;
    if (produced > 0) {
      if (produced > max_output - out.size()) {  // out.size() <= max_output always holds
        return InvalidArgumentError("zlib data inflates to more than " +
                                        std::to_string(max_output) + " bytes",
                                    "inflated-too-large");
      }
      const size_t needed = out.size() + produced;
      if (needed > out.capacity()) {
        // Grow geometrically but never past max_output (vector's own growth could double it).
        out.reserve(std::min(max_output, std::max(needed, 2 * out.capacity())));
      }
      out.insert(out.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(produced));
    }
    switch (rc) {
      case Z_STREAM_END:
        if (zs.avail_in != 0 || fed < data.size()) {
          return BadCompression("trailing bytes after the end of the stream");
        }
        return out;
      case Z_OK:
        continue;
      case Z_BUF_ERROR:  // no progress possible
        if (zs.avail_in == 0 && fed == data.size()) {
          return BadCompression("truncated stream");
        }
        return InternalError("zlib inflate made no progress");
      case Z_NEED_DICT:
        return BadCompression("stream needs a preset dictionary");
      case Z_DATA_ERROR:
        return BadCompression(zs.msg != nullptr ? zs.msg : "corrupt stream");
      case Z_MEM_ERROR:
        return ResourceExhaustedError("zlib inflate ran out of memory");
      default:
        return InternalError("zlib inflate failed with code " + std::to_string(rc));
    }
  }
}

}  // namespace mandated
