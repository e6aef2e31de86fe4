#pragma once
// The machine's own network addresses: what the serving certificate names,
// what the node agent reports as the node's InternalIP, and what the API
// server advertises in the endpoints of default/kubernetes.

#include <string>
#include <vector>

#include "common/status.h"

namespace capstan {

struct HostAddress {
  std::string interface;  // "eth0"
  std::string ip;         // text form: "192.168.1.10", "fe80::1"
};

// Every IPv4 and IPv6 address of the machine's interfaces but those of
// loopback interfaces, in the kernel's order. Internal when the interfaces
// cannot be listed.
Result<std::vector<HostAddress>> hostAddresses();

// The first IPv4 address of hostAddresses() that is not on a pod network
// interface (CNI bridges cni*, veth pairs veth*, capstan's bridges cst*):
// the address other machines know this one by. "" when there is none.
std::string firstHostIpv4();

}  // namespace capstan
