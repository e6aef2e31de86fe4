#include "proxy/conntrack.h"

#include <arpa/inet.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <tuple>

namespace capstan::proxy {
namespace {

struct Wanted {
  uint32_t dst = 0;  // network order; 0: any
  uint16_t dport = 0;
  uint32_t endpoint = 0;  // 0: any
};

struct DumpState {
  std::vector<Wanted> wanted;
  std::vector<nf_conntrack*> matched;  // clones, destroyed by the caller
};

int onEntry(enum nf_conntrack_msg_type, nf_conntrack* ct, void* data) {
  auto* st = static_cast<DumpState*>(data);
  if (nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != IPPROTO_UDP) return NFCT_CB_CONTINUE;
  uint32_t dst = nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST);
  uint16_t dport = nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST);
  uint32_t reply_src = nfct_get_attr_u32(ct, ATTR_REPL_IPV4_SRC);
  for (const auto& w : st->wanted) {
    if ((w.dst && w.dst != dst) || w.dport != dport || (w.endpoint && w.endpoint != reply_src)) continue;
    if (nf_conntrack* copy = nfct_clone(ct)) st->matched.push_back(copy);
    break;
  }
  return NFCT_CB_CONTINUE;
}

bool parseIpv4(const std::string& s, uint32_t& out) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return false;
  out = a.s_addr;
  return true;
}

}  // namespace

Result<std::unique_ptr<Conntrack>> Conntrack::open() {
  nfct_handle* h = nfct_open(CONNTRACK, 0);
  if (!h) return Status(Code::kInternal, std::string("nfct_open: ") + std::strerror(errno));
  return std::unique_ptr<Conntrack>(new Conntrack(h));
}

Conntrack::~Conntrack() { nfct_close(h_); }

Result<int> Conntrack::remove(const std::vector<UdpFlow>& flows) {
  if (flows.empty()) return 0;
  DumpState st;
  for (const auto& f : flows) {
    Wanted w;
    w.dport = htons(static_cast<uint16_t>(f.orig_dport));
    if (!f.orig_dst.empty() && !parseIpv4(f.orig_dst, w.dst)) continue;
    if (!f.endpoint.empty() && !parseIpv4(f.endpoint, w.endpoint)) continue;
    st.wanted.push_back(w);
  }
  // A dump cannot delete as it goes: collect, then delete each.
  nfct_callback_register(h_, NFCT_T_ALL, onEntry, &st);
  uint32_t family = AF_INET;
  int rc = nfct_query(h_, NFCT_Q_DUMP, &family);
  int saved = errno;
  nfct_callback_unregister(h_);
  int removed = 0;
  for (nf_conntrack* ct : st.matched) {
    if (rc == 0 && nfct_query(h_, NFCT_Q_DESTROY, ct) == 0) ++removed;  // ENOENT: it went already
    nfct_destroy(ct);
  }
  if (rc != 0) return Status(Code::kInternal, std::string("conntrack dump: ") + std::strerror(saved));
  return removed;
}

}  // namespace capstan::proxy
