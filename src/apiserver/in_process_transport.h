#pragma once
// The in-process client transport: requests from components in the
// server's own process (controllers, scheduler, embedded agent) enter the
// same request chain as HTTPS ones, as an already authenticated user.

#include <memory>

#include "apiserver/http.h"
#include "client/transport.h"

namespace capstan::apiserver {

// `handler` is the server's request chain (ApiServer::handle); it must
// outlive the transport.
std::shared_ptr<client::Transport> makeInProcessTransport(Handler handler, UserInfo user);

}  // namespace capstan::apiserver
