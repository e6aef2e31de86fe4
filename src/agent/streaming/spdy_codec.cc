#include "agent/streaming/spdy_codec.h"

namespace capstan::agent::streaming::spdy {
namespace {

constexpr uint16_t kVersion = 3;

void put32(std::string& s, uint32_t v) {
  s.push_back(static_cast<char>(v >> 24));
  s.push_back(static_cast<char>(v >> 16));
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v));
}

uint32_t get32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t(u[0]) << 24) | (uint32_t(u[1]) << 16) | (uint32_t(u[2]) << 8) | uint32_t(u[3]);
}

Status malformed(const std::string& what) { return Status(Code::kBadRequest, "malformed SPDY frame: " + what); }

}  // namespace

std::string headerValue(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

HeaderCompressor::HeaderCompressor() {
  deflateInit(&z_, Z_DEFAULT_COMPRESSION);
  deflateSetDictionary(&z_, kHeaderDictionary, static_cast<uInt>(kHeaderDictionarySize));
}
HeaderCompressor::~HeaderCompressor() { deflateEnd(&z_); }

std::string HeaderCompressor::compress(const Headers& headers) {
  std::string raw;
  put32(raw, static_cast<uint32_t>(headers.size()));
  for (const auto& [k, v] : headers) {
    put32(raw, static_cast<uint32_t>(k.size()));
    raw += k;
    put32(raw, static_cast<uint32_t>(v.size()));
    raw += v;
  }
  std::string out;
  z_.next_in = reinterpret_cast<Bytef*>(raw.data());
  z_.avail_in = static_cast<uInt>(raw.size());
  char buf[4096];
  do {
    z_.next_out = reinterpret_cast<Bytef*>(buf);
    z_.avail_out = sizeof buf;
    deflate(&z_, Z_SYNC_FLUSH);
    out.append(buf, sizeof buf - z_.avail_out);
  } while (z_.avail_out == 0);
  return out;
}

HeaderDecompressor::HeaderDecompressor() { inflateInit(&z_); }
HeaderDecompressor::~HeaderDecompressor() { inflateEnd(&z_); }

Result<Headers> HeaderDecompressor::decompress(std::string_view block) {
  std::string raw;
  z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(block.data()));
  z_.avail_in = static_cast<uInt>(block.size());
  char buf[4096];
  while (true) {
    z_.next_out = reinterpret_cast<Bytef*>(buf);
    z_.avail_out = sizeof buf;
    int rc = inflate(&z_, Z_SYNC_FLUSH);
    if (rc == Z_NEED_DICT) {
      if (inflateSetDictionary(&z_, kHeaderDictionary, static_cast<uInt>(kHeaderDictionarySize)) != Z_OK)
        return malformed("header dictionary");
      continue;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) return malformed("header block does not inflate");
    raw.append(buf, sizeof buf - z_.avail_out);
    if (raw.size() > kMaxHeaderBlock) return malformed("header block too large");
    // Done when the input is used up and inflate had room to spare.
    if (z_.avail_out != 0 && (z_.avail_in == 0 || rc == Z_BUF_ERROR)) break;
  }
  Headers h;
  size_t pos = 0;
  auto need = [&](size_t n) { return raw.size() - pos >= n; };
  if (!need(4)) return malformed("short header block");
  uint32_t count = get32(raw.data());
  pos = 4;
  for (uint32_t i = 0; i < count; ++i) {
    if (!need(4)) return malformed("short header name");
    uint32_t kl = get32(raw.data() + pos);
    pos += 4;
    if (!need(kl)) return malformed("short header name");
    std::string k = raw.substr(pos, kl);
    pos += kl;
    if (!need(4)) return malformed("short header value");
    uint32_t vl = get32(raw.data() + pos);
    pos += 4;
    if (!need(vl)) return malformed("short header value");
    std::string v = raw.substr(pos, vl);
    pos += vl;
    for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t start = 0;
    while (true) {
      size_t nul = v.find('\0', start);
      h.emplace_back(k, v.substr(start, nul == std::string::npos ? std::string::npos : nul - start));
      if (nul == std::string::npos) break;
      start = nul + 1;
    }
  }
  return h;
}

Status FrameDecoder::feed(std::string_view bytes, std::vector<Frame>* out) {
  buf_.append(bytes);
  size_t pos = 0;
  while (buf_.size() - pos >= 8) {
    const char* p = buf_.data() + pos;
    uint32_t w0 = get32(p);
    uint32_t w1 = get32(p + 4);
    uint32_t length = w1 & 0xffffff;
    if (buf_.size() - pos < 8 + static_cast<size_t>(length)) break;
    std::string_view body(p + 8, length);
    Frame f;
    f.flags = static_cast<uint8_t>(w1 >> 24);
    if (!(w0 & 0x80000000u)) {
      f.type = FrameType::kData;
      f.stream_id = w0 & 0x7fffffff;
      f.data.assign(body);
    } else {
      uint16_t version = static_cast<uint16_t>((w0 >> 16) & 0x7fff);
      if (version != kVersion) return malformed("unsupported version " + std::to_string(version));
      f.type = static_cast<FrameType>(w0 & 0xffff);
      switch (f.type) {
        case FrameType::kSynStream: {
          if (length < 10) return malformed("short SYN_STREAM");
          f.stream_id = get32(body.data()) & 0x7fffffff;
          f.associated_id = get32(body.data() + 4) & 0x7fffffff;
          auto h = headers_.decompress(body.substr(10));
          if (!h) return h.status();
          f.headers = std::move(*h);
          break;
        }
        case FrameType::kSynReply:
        case FrameType::kHeaders: {
          if (length < 4) return malformed("short SYN_REPLY/HEADERS");
          f.stream_id = get32(body.data()) & 0x7fffffff;
          auto h = headers_.decompress(body.substr(4));
          if (!h) return h.status();
          f.headers = std::move(*h);
          break;
        }
        case FrameType::kRstStream:
          if (length < 8) return malformed("short RST_STREAM");
          f.stream_id = get32(body.data()) & 0x7fffffff;
          f.status = get32(body.data() + 4);
          break;
        case FrameType::kPing:
          if (length < 4) return malformed("short PING");
          f.value = get32(body.data());
          break;
        case FrameType::kGoAway:
          if (length < 8) return malformed("short GOAWAY");
          f.value = get32(body.data()) & 0x7fffffff;
          f.status = get32(body.data() + 4);
          break;
        case FrameType::kWindowUpdate:
          if (length < 8) return malformed("short WINDOW_UPDATE");
          f.stream_id = get32(body.data()) & 0x7fffffff;
          f.value = get32(body.data() + 4) & 0x7fffffff;
          break;
        default:
          // SETTINGS and unknown control frames: nothing we act on.
          break;
      }
    }
    out->push_back(std::move(f));
    pos += 8 + length;
  }
  buf_.erase(0, pos);
  return Status::ok();
}

std::string FrameEncoder::control(FrameType type, uint8_t flags, std::string_view body) {
  std::string s;
  put32(s, 0x80000000u | (uint32_t(kVersion) << 16) | static_cast<uint16_t>(type));
  put32(s, (uint32_t(flags) << 24) | static_cast<uint32_t>(body.size()));
  s.append(body);
  return s;
}

std::string FrameEncoder::data(uint32_t stream_id, std::string_view payload, bool fin) {
  std::string s;
  put32(s, stream_id & 0x7fffffff);
  put32(s, (uint32_t(fin ? kFlagFin : 0) << 24) | static_cast<uint32_t>(payload.size()));
  s.append(payload);
  return s;
}

std::string FrameEncoder::synStream(uint32_t stream_id, const Headers& headers, bool fin) {
  std::string body;
  put32(body, stream_id);
  put32(body, 0);
  body.push_back(0);  // priority
  body.push_back(0);  // slot
  body += headers_.compress(headers);
  return control(FrameType::kSynStream, fin ? kFlagFin : 0, body);
}

std::string FrameEncoder::synReply(uint32_t stream_id, const Headers& headers, bool fin) {
  std::string body;
  put32(body, stream_id);
  body += headers_.compress(headers);
  return control(FrameType::kSynReply, fin ? kFlagFin : 0, body);
}

std::string FrameEncoder::rstStream(uint32_t stream_id, uint32_t status) {
  std::string body;
  put32(body, stream_id);
  put32(body, status);
  return control(FrameType::kRstStream, 0, body);
}

std::string FrameEncoder::ping(uint32_t id) {
  std::string body;
  put32(body, id);
  return control(FrameType::kPing, 0, body);
}

std::string FrameEncoder::goAway(uint32_t last_good_stream, uint32_t status) {
  std::string body;
  put32(body, last_good_stream);
  put32(body, status);
  return control(FrameType::kGoAway, 0, body);
}

std::string FrameEncoder::windowUpdate(uint32_t stream_id, uint32_t delta) {
  std::string body;
  put32(body, stream_id);
  put32(body, delta);
  return control(FrameType::kWindowUpdate, 0, body);
}

}  // namespace capstan::agent::streaming::spdy
