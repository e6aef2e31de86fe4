#pragma once
// The cluster's PKI: a self-signed CA, the API server's serving certificate
// and the admin client certificate, kept as PEM files in one directory, plus
// the admin kubeconfig and client-certificate identities.
//
// Files are the truth. ensure() creates what is missing and reuses what is
// there, so it is safe to call on every start. It replaces only leaf
// certificates (serving, admin), never an existing CA: a CA that cannot be
// loaded is an error, because clients may already trust it.
//
// Threading: every function is safe to call from any thread, but two ensure()
// calls on the same directory at once (from threads or processes) are not
// coordinated; the server calls it once at start-up.

#include <openssl/x509.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <optional>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace capstan::pki {

struct Options {
  // Directory of the PKI files, e.g. <data-dir>/tls. Created with mode 0700
  // (parents with the default mode); an existing one is tightened to 0700.
  std::filesystem::path dir;
  // Extra SANs from --tls-san. An entry that parses as an IPv4 or IPv6
  // address (brackets allowed: "[::1]") becomes an IP SAN, anything else a
  // DNS SAN (letters, digits, '-', '.', an optional leading "*." wildcard).
  // DNS names compare case-insensitively.
  std::vector<std::string> sans;
  // Validity periods and renewal are computed from this clock; nullptr means
  // SystemClock.
  const Clock* clock = nullptr;
};

struct Bundle {
  std::filesystem::path ca_cert, server_cert, server_key, admin_cert, admin_key;  // PEM files
  std::string ca_cert_pem, admin_cert_pem, admin_key_pem;                         // for the kubeconfig
  std::string server_cert_pem;                                                    // for its expiry metric
};

// Makes sure <dir> holds a usable PKI and returns where it is:
//   ca.crt, ca.key          self-signed CA, ECDSA P-256, 10 years,
//                           CN "capstan-server-ca@<unix time>".
//   server.crt, server.key  CN "capstan", serverAuth, 365 days, SANs: DNS
//                           localhost, DNS <hostname>, IP 127.0.0.1, IP ::1,
//                           every non-loopback, non-link-local address of the
//                           host, and Options::sans.
//   admin.crt, admin.key    CN "system:admin", O "system:masters", clientAuth,
//                           365 days.
// Keys are written with mode 0600, certificates with 0644; every file is
// replaced atomically (write to a temporary file, fsync, rename).
//
// On later calls existing files are reused byte for byte. A leaf is issued
// again (same CA) when its files are missing or unreadable, its key does not
// match, it was not signed by the CA, it expires within 90 days, or (serving
// certificate only) its SANs do not cover the wanted set, e.g. after a new
// --tls-san. The new serving certificate carries exactly the wanted set.
//
// Errors: kInvalid for a malformed Options::sans entry or an empty dir;
// kInternal for file-system and OpenSSL failures, and when ca.crt exists but
// ca.key is missing or does not match it (a ca.key without a ca.crt is the
// trace of an interrupted first start and is replaced).
Result<Bundle> ensure(const Options& opts);

// Writes a kubeconfig (cluster "capstan", user "admin", context "capstan",
// current) holding the CA and the admin credentials inline as base64 PEM, and
// pointing at server_url (e.g. https://127.0.0.1:6443). Creates the parent
// directory if needed; the file is replaced atomically with mode 0600.
Status writeKubeconfig(const std::filesystem::path& path, const std::string& server_url, const Bundle& b);

// Who a verified client certificate speaks for, as Kubernetes' x509
// authenticator reads it: user = subject CN (the last one if several),
// groups = every subject O, in order. The caller must already have verified
// the chain; this only reads the subject. A null cert gives an empty identity.
struct Identity {
  std::string user;
  std::vector<std::string> groups;
};
Identity identityFromCertificate(const X509* cert);

// The key that signs service-account tokens: ECDSA P-256, kept as PEM at
// `path` (mode 0600), made when missing and reused byte for byte after.
// kInternal when the file exists but holds no usable key, or on I/O errors.
struct SigningKey {
  std::string private_pem;
  std::string public_pem;
};
Result<SigningKey> ensureSigningKey(const std::filesystem::path& path);

// 2*bytes lowercase hex characters from OpenSSL's CSPRNG, e.g. for the
// cluster join token. If the CSPRNG fails the process aborts: a guessable
// token must never be handed out.
std::string randomToken(std::size_t bytes);

// The join token in k3s's "secure" format, K10<sha256 of the CA bundle,
// hex>::server:<secret>, so that an agent can check the CA it downloads
// before trusting it. A bare secret (no hash) is accepted too; an agent
// given one trusts the CA it is sent, as k3s does with a warning.
struct JoinToken {
  std::string ca_hash;  // empty for a bare secret
  std::string secret;
  static JoinToken parse(std::string_view text);
  std::string text() const;
};
std::string sha256Hex(std::string_view data);

// When the first certificate in `pem` expires (notAfter), in seconds since
// the Unix epoch; nullopt when it does not parse.
std::optional<int64_t> certificateExpiry(const std::string& pem);

}  // namespace capstan::pki
