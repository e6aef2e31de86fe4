#pragma once
// The client transport for components outside the server's process (a
// standalone `capstan agent`, hollow nodes): HTTPS to the API server
// through libcurl, verifying the server against the cluster CA and
// authenticating with a bearer token.
//
// Threading: one event-loop thread per transport drives every transfer
// (curl's multi interface): unary calls and watch streams run side by side
// over a shared connection cache. Callbacks run on that thread and must not
// block. StreamHandle::cancel() and destruction are safe from any thread.

#include <chrono>
#include <memory>
#include <string>

#include "client/transport.h"
#include "common/status.h"

namespace capstan::client {

struct HttpsOptions {
  std::string server;        // https://host:port
  std::string ca_file;       // PEM bundle the server's certificate must chain to
  std::string bearer_token;  // sent as "Authorization: Bearer ..."
  std::string user_agent = "capstan";
  std::chrono::milliseconds timeout{60000};  // unary calls (not streams)
};

Result<std::shared_ptr<Transport>> makeHttpsTransport(const HttpsOptions& opts);

// One unverified GET of the server's CA bundle (/cacerts), for joining an
// agent: the caller must check what it got (the join token carries its
// hash) before trusting it.
Result<std::string> fetchUnverified(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace capstan::client
