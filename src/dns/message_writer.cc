#include "dns/message_writer.h"

namespace capstan::dns {
namespace {

// Compression pointers reach 14 bits; a few dozen targets cover any answer.
constexpr size_t kMaxPointer = 0x3FFF;
constexpr size_t kMaxTargets = 64;

}  // namespace

MessageWriter::MessageWriter(std::vector<uint8_t>& out) : out_(out) { out_.clear(); }

void MessageWriter::header(uint16_t id, uint16_t flags) {
  u16(id);
  u16(flags);
  for (int i = 0; i < 4; ++i) u16(0);
}

void MessageWriter::question(std::span<const uint8_t> wire_name, std::string_view dotted, uint16_t type,
                             uint16_t cls) {
  out_[5] = 1;  // QDCOUNT
  size_t start = out_.size();
  bytes(wire_name);
  // Each label of the wire name starts a suffix of the dotted text.
  size_t pos = 0, text = 0;
  while (pos < wire_name.size() && wire_name[pos] != 0 && text < dotted.size()) {
    addTarget(dotted.substr(text), start + pos);
    text += wire_name[pos] + 1;
    pos += wire_name[pos] + 1;
  }
  u16(type);
  u16(cls);
  question_end_ = out_.size();
}

void MessageWriter::count(Section section) {
  size_t at = 6 + 2 * static_cast<size_t>(section);
  uint16_t n = static_cast<uint16_t>((out_[at] << 8 | out_[at + 1]) + 1);
  out_[at] = static_cast<uint8_t>(n >> 8);
  out_[at + 1] = static_cast<uint8_t>(n);
}

void MessageWriter::beginRecord(Section section, std::string_view owner, uint16_t type, uint32_t ttl) {
  count(section);
  name(owner);
  u16(type);
  u16(kClassIn);
  u32(ttl);
  u16(0);  // RDLENGTH, set by endRecord
  rdata_start_ = out_.size();
}

void MessageWriter::endRecord() {
  size_t len = out_.size() - rdata_start_;
  out_[rdata_start_ - 2] = static_cast<uint8_t>(len >> 8);
  out_[rdata_start_ - 1] = static_cast<uint8_t>(len);
}

void MessageWriter::name(std::string_view dotted, bool compress) {
  size_t start = 0;
  while (start < dotted.size()) {
    std::string_view suffix = dotted.substr(start);
    if (compress) {
      if (const Target* t = findTarget(suffix)) {
        u16(static_cast<uint16_t>(0xC000 | t->offset));
        return;
      }
    }
    size_t dot = suffix.find('.');
    size_t len = dot == std::string_view::npos ? suffix.size() : dot;
    // The zone builder only makes valid names; a bad one ends here as root.
    if (len == 0 || len > 63) break;
    addTarget(suffix, out_.size());
    out_.push_back(static_cast<uint8_t>(len));
    out_.insert(out_.end(), suffix.begin(), suffix.begin() + static_cast<ptrdiff_t>(len));
    start += len + 1;
  }
  out_.push_back(0);
}

void MessageWriter::u16(uint16_t v) {
  out_.push_back(static_cast<uint8_t>(v >> 8));
  out_.push_back(static_cast<uint8_t>(v));
}

void MessageWriter::u32(uint32_t v) {
  u16(static_cast<uint16_t>(v >> 16));
  u16(static_cast<uint16_t>(v));
}

void MessageWriter::bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }

void MessageWriter::opt(uint16_t udp_size, uint8_t ext_rcode, bool dnssec_ok) {
  count(Section::kAdditional);
  out_.push_back(0);  // root owner
  u16(kTypeOpt);
  u16(udp_size);
  out_.push_back(ext_rcode);
  out_.push_back(0);  // version
  u16(dnssec_ok ? 0x8000 : 0);
  u16(0);  // no options
}

void MessageWriter::truncate() {
  out_.resize(question_end_);
  for (size_t i = 6; i < 12; ++i) out_[i] = 0;
  out_[2] |= static_cast<uint8_t>(kFlagTc >> 8);
  std::erase_if(targets_, [this](const Target& t) { return t.offset >= question_end_; });
}

void MessageWriter::addTarget(std::string_view suffix, size_t offset) {
  if (offset > kMaxPointer || targets_.size() >= kMaxTargets) return;
  targets_.push_back({suffix, static_cast<uint16_t>(offset)});
}

const MessageWriter::Target* MessageWriter::findTarget(std::string_view suffix) const {
  for (const auto& t : targets_)
    if (t.suffix == suffix) return &t;
  return nullptr;
}

}  // namespace capstan::dns
