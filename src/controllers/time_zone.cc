#include "controllers/time_zone.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

namespace capstan::controllers {
namespace {

struct Reader {
  std::string_view data;
  size_t pos = 0;
  bool ok = true;
  uint64_t be(int n) {
    if (pos + n > data.size()) {
      ok = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(data[pos++]);
    return v;
  }
  void skip(size_t n) {
    if (pos + n > data.size()) ok = false;
    pos = std::min(pos + n, data.size());
  }
};

bool validName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.find("..") != std::string_view::npos)
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '+';
  });
}

}  // namespace

std::shared_ptr<const TimeZone> TimeZone::utc() {
  static const auto kUtc = [] {
    auto z = std::make_shared<TimeZone>();
    z->name_ = "UTC";
    return std::shared_ptr<const TimeZone>(z);
  }();
  return kUtc;
}

Result<std::shared_ptr<const TimeZone>> TimeZone::fromTzif(std::string name, std::string_view data) {
  Reader r{data};
  auto header = [&](int64_t* counts) {
    if (r.data.substr(r.pos, 4) != "TZif") return -1;
    r.skip(4);
    int version = static_cast<int>(r.be(1));
    r.skip(15);
    for (int i = 0; i < 6; ++i) counts[i] = static_cast<int64_t>(r.be(4));
    return version;
  };
  // counts: isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
  int64_t c[6];
  int version = header(c);
  if (version < 0 || !r.ok) return Status(Code::kInvalid, "not a TZif file");
  int time_size = 4;
  if (version >= '2') {
    r.skip(c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0]);  // the 32-bit block
    if (header(c) < 0 || !r.ok) return Status(Code::kInvalid, "bad TZif v2 header");
    time_size = 8;
  }
  if (c[3] > 100000 || c[4] == 0 || c[4] > 256) return Status(Code::kInvalid, "bad TZif counts");
  auto zone = std::make_shared<TimeZone>();
  zone->name_ = std::move(name);
  std::vector<int64_t> times(c[3]);
  for (auto& t : times) t = time_size == 8 ? static_cast<int64_t>(r.be(8)) : static_cast<int32_t>(r.be(4));
  std::vector<uint8_t> idx(c[3]);
  for (auto& i : idx) i = static_cast<uint8_t>(r.be(1));
  std::vector<int32_t> type_offsets(c[4]);
  for (auto& o : type_offsets) {
    o = static_cast<int32_t>(r.be(4));
    r.skip(2);
  }
  if (!r.ok) return Status(Code::kInvalid, "truncated TZif file");
  for (size_t i = 0; i < times.size(); ++i) {
    if (idx[i] >= type_offsets.size()) return Status(Code::kInvalid, "bad TZif type index");
    if (!zone->transitions_.empty() && times[i] <= zone->transitions_.back()) continue;
    zone->transitions_.push_back(times[i]);
    zone->offsets_.push_back(type_offsets[idx[i]]);
  }
  zone->initial_offset_ = type_offsets[0];
  return std::shared_ptr<const TimeZone>(zone);
}

Result<std::shared_ptr<const TimeZone>> TimeZone::load(std::string_view name, const std::string& dir) {
  if (name.empty() || name == "UTC" || name == "Etc/UTC") return utc();
  if (!validName(name)) return Status(Code::kInvalid, "invalid time zone name");
  static std::mutex mu;  // guards cache
  static std::map<std::string, std::shared_ptr<const TimeZone>, std::less<>> cache;
  std::string key = dir + "/" + std::string(name);
  {
    std::lock_guard lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  std::ifstream in(key, std::ios::binary);
  if (!in) return Status(Code::kNotFound, "unknown time zone " + std::string(name));
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string data = buf.str();
  if (data.size() > (1 << 20)) return Status(Code::kInvalid, "time zone file too large");
  auto zone = fromTzif(std::string(name), data);
  if (!zone) return zone.status();
  std::lock_guard lock(mu);
  cache[key] = *zone;
  return *zone;
}

std::chrono::seconds TimeZone::offsetAt(SysSeconds t) const {
  int64_t s = t.time_since_epoch().count();
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), s);
  if (it == transitions_.begin()) return std::chrono::seconds(initial_offset_);
  return std::chrono::seconds(offsets_[it - transitions_.begin() - 1]);
}

std::vector<SysSeconds> TimeZone::fromLocal(LocalSeconds l) const {
  // Transitions are days apart, so the offsets a day either side are the
  // only candidates.
  std::vector<SysSeconds> out;
  SysSeconds naive(l.time_since_epoch());
  for (auto probe : {naive - std::chrono::hours(24), naive + std::chrono::hours(24)}) {
    auto off = offsetAt(probe);
    SysSeconds u = naive - off;
    if (offsetAt(u) == off && std::find(out.begin(), out.end(), u) == out.end()) out.push_back(u);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace capstan::controllers
