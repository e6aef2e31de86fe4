// The maps shared by socket_lb.bpf.c and proxy/socket_lb.cc. Addresses and
// ports are in network byte order, as the kernel hands them to the program.
#pragma once

#include <linux/types.h>

#define CAPSTAN_SOCKET_LB_MAX_SERVICES 65536
#define CAPSTAN_SOCKET_LB_MAX_BACKENDS 1048576
#define CAPSTAN_SOCKET_LB_MAX_NETNS 16384

// A ClusterIP port.
struct capstan_lb_service_key {
  __u32 ip;
  __u16 port;
  __u16 protocol;  // IPPROTO_TCP
};

// Its endpoints are backends {id, generation, 0..count-1}. An update writes
// the other generation's backends first, then this value, then deletes the
// old ones, so a connect never sees a half-written list.
struct capstan_lb_service {
  __u32 id;
  __u16 count;
  __u16 generation;
};

struct capstan_lb_backend_key {
  __u32 id;
  __u16 generation;
  __u16 index;
};

// What a balanced socket connected to, for getpeername().
struct capstan_lb_origin {
  __u32 ip;
  __u32 port;
};

struct capstan_lb_backend {
  __u32 ip;
  __u32 port;  // in the low 16 bits, as bpf_sock_addr.user_port
};
