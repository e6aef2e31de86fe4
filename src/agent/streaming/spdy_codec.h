#pragma once
// SPDY/3.1 framing (draft-mbelshe-httpbis-spdy-00 with 3.1's session flow
// control frames), as much as Kubernetes' streaming uses: the frames,
// and the zlib-compressed header blocks (one zlib stream per direction,
// primed with the SPDY dictionary). Pure: no I/O; malformed input is an
// error value, never a crash.

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace capstan::agent::streaming::spdy {

extern const unsigned char kHeaderDictionary[];
extern const size_t kHeaderDictionarySize;

enum class FrameType : uint16_t {
  kData = 0,
  kSynStream = 1,
  kSynReply = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kHeaders = 8,
  kWindowUpdate = 9,
};

inline constexpr uint8_t kFlagFin = 0x01;
inline constexpr uint32_t kRstCancel = 5;
inline constexpr size_t kMaxHeaderBlock = 1 << 20;  // decompressed

// Header names are lower case on the wire; a value holding NULs is split
// into several pairs of the same name.
using Headers = std::vector<std::pair<std::string, std::string>>;
std::string headerValue(const Headers& headers, std::string_view name);

struct Frame {
  FrameType type = FrameType::kData;
  uint8_t flags = 0;
  uint32_t stream_id = 0;
  uint32_t associated_id = 0;  // SYN_STREAM
  uint32_t status = 0;         // RST_STREAM, GOAWAY
  uint32_t value = 0;          // PING id, WINDOW_UPDATE delta, GOAWAY last good stream
  Headers headers;             // SYN_STREAM, SYN_REPLY, HEADERS
  std::string data;            // DATA
  bool fin() const { return flags & kFlagFin; }
};

// Header blocks of one direction.
class HeaderCompressor {
 public:
  HeaderCompressor();
  ~HeaderCompressor();
  HeaderCompressor(const HeaderCompressor&) = delete;
  HeaderCompressor& operator=(const HeaderCompressor&) = delete;
  std::string compress(const Headers& headers);

 private:
  z_stream z_{};
};

class HeaderDecompressor {
 public:
  HeaderDecompressor();
  ~HeaderDecompressor();
  HeaderDecompressor(const HeaderDecompressor&) = delete;
  HeaderDecompressor& operator=(const HeaderDecompressor&) = delete;
  Result<Headers> decompress(std::string_view block);

 private:
  z_stream z_{};
};

// Turns a byte stream into frames. After an error the stream is unusable.
class FrameDecoder {
 public:
  Status feed(std::string_view bytes, std::vector<Frame>* out);

 private:
  std::string buf_;
  HeaderDecompressor headers_;
};

// Frames to bytes; owns the sending direction's header compressor.
class FrameEncoder {
 public:
  std::string data(uint32_t stream_id, std::string_view payload, bool fin);
  std::string synStream(uint32_t stream_id, const Headers& headers, bool fin);
  std::string synReply(uint32_t stream_id, const Headers& headers, bool fin);
  std::string rstStream(uint32_t stream_id, uint32_t status);
  std::string ping(uint32_t id);
  std::string goAway(uint32_t last_good_stream, uint32_t status);
  std::string windowUpdate(uint32_t stream_id, uint32_t delta);

 private:
  std::string control(FrameType type, uint8_t flags, std::string_view body);
  HeaderCompressor headers_;
};

}  // namespace capstan::agent::streaming::spdy
