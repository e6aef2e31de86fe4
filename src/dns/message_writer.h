#pragma once
// Encodes DNS answers (RFC 1035 wire format, with name compression).
//
// Why not ldns for answers: measured on this machine (g++ -O2, one core),
// parsing a query with ldns_wire2pkt costs 0.34 µs, but building the answer
// as an ldns_pkt and serialising it with ldns_pkt2wire costs 4.8 µs (3.1 µs
// of it the compression tree), i.e. ~200,000 answers/s per core before any
// syscall, most of the 2-core budget of the 100,000 queries/s target;
// without compression ldns is quick but answers grow past 512 bytes (and
// get truncated) far sooner. Queries are still parsed by ldns (resolver.cc),
// which rejects malformed input; this writer only ever sees names from the
// zone snapshot or from a query ldns accepted.
// With this writer a whole answer() (ldns parse included) costs 0.9 µs.
//
// Not thread-safe; one writer per message. The dotted names given to it
// must outlive it (they are kept as compression targets).

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace capstan::dns {

inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeNs = 2;
inline constexpr uint16_t kTypeCname = 5;
inline constexpr uint16_t kTypeSoa = 6;
inline constexpr uint16_t kTypePtr = 12;
inline constexpr uint16_t kTypeAaaa = 28;
inline constexpr uint16_t kTypeSrv = 33;
inline constexpr uint16_t kTypeOpt = 41;
inline constexpr uint16_t kTypeIxfr = 251;
inline constexpr uint16_t kTypeAxfr = 252;
inline constexpr uint16_t kTypeAny = 255;
inline constexpr uint16_t kClassIn = 1;

inline constexpr uint8_t kRcodeNoError = 0;
inline constexpr uint8_t kRcodeFormErr = 1;
inline constexpr uint8_t kRcodeServFail = 2;
inline constexpr uint8_t kRcodeNxDomain = 3;
inline constexpr uint8_t kRcodeNotImp = 4;
inline constexpr uint8_t kRcodeRefused = 5;

// Header flag bits (the second 16-bit word).
inline constexpr uint16_t kFlagQr = 0x8000;
inline constexpr uint16_t kFlagAa = 0x0400;
inline constexpr uint16_t kFlagTc = 0x0200;
inline constexpr uint16_t kFlagRd = 0x0100;
inline constexpr uint16_t kFlagRa = 0x0080;

enum class Section { kAnswer = 0, kAuthority = 1, kAdditional = 2 };

class MessageWriter {
 public:
  // Clears `out` and writes the message into it.
  explicit MessageWriter(std::vector<uint8_t>& out);

  // The header with all counts zero.
  void header(uint16_t id, uint16_t flags);
  // The one question: its name as it came on the wire (the case of the
  // query kept) and as lowercase dotted text (a compression target).
  void question(std::span<const uint8_t> wire_name, std::string_view dotted, uint16_t type, uint16_t cls);

  // A record: beginRecord, the rdata (name/u16/u32/bytes), endRecord.
  // Records are written in section order.
  void beginRecord(Section section, std::string_view owner, uint16_t type, uint32_t ttl);
  void name(std::string_view dotted, bool compress = true);
  void u16(uint16_t v);
  void u32(uint32_t v);
  void bytes(std::span<const uint8_t> b);
  void endRecord();

  // The EDNS OPT pseudo-record (RFC 6891); last, after every other record.
  void opt(uint16_t udp_size, uint8_t ext_rcode, bool dnssec_ok);
  // Drops every record after the question and sets TC.
  void truncate();
  size_t size() const { return out_.size(); }

 private:
  struct Target {
    std::string_view suffix;
    uint16_t offset;
  };
  void addTarget(std::string_view suffix, size_t offset);
  const Target* findTarget(std::string_view suffix) const;
  void count(Section section);

  std::vector<uint8_t>& out_;
  std::vector<Target> targets_;
  size_t question_end_ = 0;
  size_t rdata_start_ = 0;
};

}  // namespace capstan::dns
