#include "agent/runtime/fd_passing.h"

#include <sys/socket.h>

#include <cstring>
#include <vector>

namespace capstan::agent::runtime {

bool sendFds(int sock, char byte, const int* fds, size_t n) {
  std::vector<char> control(CMSG_SPACE(n * sizeof(int)));
  iovec iov{&byte, 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(n * sizeof(int));
  std::memcpy(CMSG_DATA(c), fds, n * sizeof(int));
  return ::sendmsg(sock, &msg, MSG_NOSIGNAL) == 1;
}

int receiveFds(int sock, char* byte, int* fds, size_t max) {
  std::vector<char> control(CMSG_SPACE(max * sizeof(int)));
  iovec iov{byte, 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  if (::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1) return -1;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) return 0;
  size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
  if (n > max) n = max;
  std::memcpy(fds, CMSG_DATA(c), n * sizeof(int));
  return static_cast<int>(n);
}

}  // namespace capstan::agent::runtime
