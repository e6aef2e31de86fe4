// Socket-level load balancing for ClusterIP TCP services (proxy/socket_lb.h).
//
// Attached to the cgroup v2 root at BPF_CGROUP_INET4_CONNECT (and
// getpeername, which then still names the ClusterIP): when a socket
// in one of the registered network namespaces (this node's pods, and the
// node's own) connects to a ClusterIP TCP port, the destination is replaced
// by one of the service's endpoints, chosen at random, before the kernel
// routes anything. The connection then goes straight to the pod: no DNAT,
// no conntrack NAT rewrite and no second route lookup per packet. Anything
// not found here (another namespace, protocol or address, a service with no
// endpoint, an update in flight) is left as it was, and the proxy's
// nftables rules handle it as before.
//
// Built by clang -target bpf; compiled into capstan through the skeleton
// that bpftool generates from the object.
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "socket_lb_maps.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, CAPSTAN_SOCKET_LB_MAX_SERVICES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct capstan_lb_service_key);
  __type(value, struct capstan_lb_service);
} services SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, CAPSTAN_SOCKET_LB_MAX_BACKENDS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct capstan_lb_backend_key);
  __type(value, struct capstan_lb_backend);
} backends SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, CAPSTAN_SOCKET_LB_MAX_NETNS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u64);
  __type(value, __u8);
} netns SEC(".maps");

// The ClusterIP and port each balanced socket asked for, so getpeername()
// answers with them as it would after DNAT.
struct {
  __uint(type, BPF_MAP_TYPE_SK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct capstan_lb_origin);
} origins SEC(".maps");

// Connections sent to an endpoint, per CPU (capstan sums them for /metrics).
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} balanced SEC(".maps");

SEC("cgroup/connect4")
int capstan_connect4(struct bpf_sock_addr* ctx) {
  if (ctx->protocol != IPPROTO_TCP) return 1;
  __u64 cookie = bpf_get_netns_cookie(ctx);
  if (!bpf_map_lookup_elem(&netns, &cookie)) return 1;
  struct capstan_lb_service_key key = {};
  key.ip = ctx->user_ip4;
  key.port = (__u16)ctx->user_port;
  key.protocol = IPPROTO_TCP;
  struct capstan_lb_service* svc = bpf_map_lookup_elem(&services, &key);
  if (!svc || svc->count == 0) return 1;
  struct capstan_lb_backend_key bkey = {};
  bkey.id = svc->id;
  bkey.generation = svc->generation;
  bkey.index = (__u16)(bpf_get_prandom_u32() % svc->count);
  struct capstan_lb_backend* be = bpf_map_lookup_elem(&backends, &bkey);
  if (!be) return 1;
  struct capstan_lb_origin* origin = bpf_sk_storage_get(&origins, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
  if (origin) {
    origin->ip = ctx->user_ip4;
    origin->port = ctx->user_port;
  }
  ctx->user_ip4 = be->ip;
  ctx->user_port = be->port;
  __u32 zero = 0;
  __u64* n = bpf_map_lookup_elem(&balanced, &zero);
  if (n) *n += 1;
  return 1;
}

SEC("cgroup/getpeername4")
int capstan_getpeername4(struct bpf_sock_addr* ctx) {
  struct capstan_lb_origin* origin = bpf_sk_storage_get(&origins, ctx->sk, 0, 0);
  if (origin) {
    ctx->user_ip4 = origin->ip;
    ctx->user_port = origin->port;
  }
  return 1;
}

char LICENSE[] SEC("license") = "GPL";
