#pragma once
// File descriptors over a connected unix socket (SCM_RIGHTS), with one byte
// of message: crun's console socket, the shim's attach socket. Used by the
// agent and by capstan-shim, so it depends on nothing else.

#include <cstddef>

namespace capstan::agent::runtime {

// Sends `byte` with the n fds. False on failure.
bool sendFds(int sock, char byte, const int* fds, size_t n);

// Receives one byte and up to `max` fds (close-on-exec) into `fds`;
// returns how many came, -1 on failure or when no byte came.
int receiveFds(int sock, char* byte, int* fds, size_t max);

}  // namespace capstan::agent::runtime
