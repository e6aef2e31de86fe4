#include "common/pki.h"

#include "common/base64.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include "common/log.h"
#include "common/net_address.h"

namespace capstan::pki {
namespace {

using namespace std::chrono_literals;

constexpr std::chrono::seconds kCaLifetime = 3650 * 24h;
constexpr std::chrono::seconds kLeafLifetime = 365 * 24h;
// A leaf that expires within this window is issued again on start, as k3s
// does; 90 days leaves room for servers that restart rarely.
constexpr std::chrono::seconds kRenewBefore = 90 * 24h;
// notBefore is backdated so that nodes whose clocks lag a little accept a
// freshly issued certificate.
constexpr std::chrono::seconds kBackdate = 1h;

// ---- OpenSSL ownership ------------------------------------------------------

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, Deleter<GENERAL_NAME_free>>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME_free>>;

// Drains OpenSSL's thread-local error queue into one message.
std::string sslErrors() {
  std::string out;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error recorded" : out;
}

Status sslFailure(std::string_view what) {
  return Status(Code::kInternal, fmt::format("pki: {}: {}", what, sslErrors()));
}

Status sysFailure(std::string_view what, const std::filesystem::path& path, int err) {
  return Status(Code::kInternal, fmt::format("pki: {} {}: {}", what, path.string(), std::strerror(err)));
}

// PEM readers must never prompt on a terminal for a pass phrase.
int noPassphrase(char*, int, int, void*) { return -1; }

X509Ptr certFromPem(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, noPassphrase, nullptr) : nullptr);
  ERR_clear_error();
  return cert;
}

PkeyPtr keyFromPem(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassphrase, nullptr) : nullptr);
  ERR_clear_error();
  return key;
}

std::string bioContents(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

Result<std::string> certToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return sslFailure("encode certificate");
  return bioContents(bio.get());
}

Result<std::string> keyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return sslFailure("encode private key");
  }
  return bioContents(bio.get());
}

// ---- Files -----------------------------------------------------------------

// kNotFound when the file does not exist, so callers can tell "create it"
// from "cannot read it".
Result<std::string> readFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return Status(Code::kNotFound, fmt::format("pki: {} does not exist", path.string()));
    return sysFailure("open", path, err);
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return sysFailure("read", path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Status fsyncDir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sysFailure("open directory", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return sysFailure("fsync directory", dir, err);
  return Status::ok();
}

// Replaces path atomically. The temporary file is created with the final
// mode, so a key is never readable by others, not even for a moment.
Status writeFileAtomic(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) return sysFailure("remove", tmp, errno);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return sysFailure("create", tmp, errno);
  auto fail = [&](std::string_view what, int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return sysFailure(what, tmp, err);
  };
  // The umask may have narrowed the mode; set exactly what was asked for.
  if (::fchmod(fd, mode) != 0) return fail("chmod", errno);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("write", errno);
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("fsync", errno);
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return sysFailure("close", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return sysFailure("rename to", path, err);
  }
  std::filesystem::path parent = path.parent_path();
  return fsyncDir(parent.empty() ? std::filesystem::path(".") : parent);
}

Status makePrivateDir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (dir.has_parent_path()) {
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec) {
      return Status(Code::kInternal,
                    fmt::format("pki: create {}: {}", dir.parent_path().string(), ec.message()));
    }
  }
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno != EEXIST) return sysFailure("create directory", dir, errno);
    if (!std::filesystem::is_directory(dir, ec)) {
      return Status(Code::kInternal, fmt::format("pki: {} exists and is not a directory", dir.string()));
    }
  }
  // Also tightens a directory that already existed, and undoes the umask.
  if (::chmod(dir.c_str(), 0700) != 0) return sysFailure("chmod", dir, errno);
  return Status::ok();
}

// ---- Subject alternative names ---------------------------------------------

struct San {
  enum class Kind { kDns, kIp };
  Kind kind;
  std::string value;  // lowercase DNS name, or the 4 or 16 raw address bytes
  auto operator<=>(const San&) const = default;
};
using SanSet = std::set<San>;

std::string toString(const San& san) {
  if (san.kind == San::Kind::kDns) return "DNS:" + san.value;
  char buf[INET6_ADDRSTRLEN] = {};
  int family = san.value.size() == 4 ? AF_INET : AF_INET6;
  if (!::inet_ntop(family, san.value.data(), buf, sizeof buf)) return "IP:?";
  return std::string("IP:") + buf;
}

std::string toString(const SanSet& sans) {
  std::string out;
  for (const San& s : sans) {
    if (!out.empty()) out += ",";
    out += toString(s);
  }
  return out;
}

bool validDnsLabel(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
  // Underscores are not valid in host names but appear in real ones; Go's
  // x509 verifier accepts them, so accept them too.
  return std::all_of(label.begin(), label.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

std::optional<std::string> normalizeDnsName(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
  if (!lower.empty() && lower.back() == '.') lower.pop_back();
  if (lower.empty() || lower.size() > 253) return std::nullopt;
  std::string_view rest = lower;
  bool first = true;
  for (;;) {
    size_t dot = rest.find('.');
    std::string_view label = rest.substr(0, dot);
    // A wildcard may only be the whole leftmost label of a longer name.
    bool wildcard = first && label == "*" && dot != std::string_view::npos;
    if (!wildcard && !validDnsLabel(label)) return std::nullopt;
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
    first = false;
  }
  return lower;
}

std::optional<San> ipSan(std::string_view text) {
  std::string s(text);
  unsigned char buf[sizeof(in6_addr)];
  if (::inet_pton(AF_INET, s.c_str(), buf) == 1) {
    return San{San::Kind::kIp, std::string(reinterpret_cast<char*>(buf), 4)};
  }
  if (::inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    return San{San::Kind::kIp, std::string(reinterpret_cast<char*>(buf), 16)};
  }
  return std::nullopt;
}

Result<San> parseSan(std::string_view text) {
  std::string_view inner = text;
  bool bracketed = inner.size() >= 2 && inner.front() == '[' && inner.back() == ']';
  if (bracketed) inner = inner.substr(1, inner.size() - 2);
  if (auto ip = ipSan(inner)) return *ip;
  if (!bracketed) {
    if (auto dns = normalizeDnsName(text)) return San{San::Kind::kDns, *dns};
  }
  return Status(Code::kInvalid,
                fmt::format("pki: --tls-san \"{}\" is neither an IP address nor a DNS name", text));
}

// Addresses that make no sense in a certificate: loopback (added explicitly),
// unspecified, and link-local. Link-local addresses need a zone to be dialled,
// and every veth a pod gets carries a fresh fe80:: address, which would
// reissue the serving certificate on nearly every start.
bool skipHostAddress(const San& ip) {
  const auto* b = reinterpret_cast<const unsigned char*>(ip.value.data());
  if (ip.value.size() == 4) {
    return b[0] == 127 || b[0] == 0 || (b[0] == 169 && b[1] == 254);
  }
  static const unsigned char kLoopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static const unsigned char kAny6[16] = {};
  return std::memcmp(b, kLoopback6, 16) == 0 || std::memcmp(b, kAny6, 16) == 0 ||
         (b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
}

void addHostAddresses(SanSet& out) {
  auto addresses = hostAddresses();
  if (!addresses) {
    LOG_WARN("pki: cannot list host addresses; serving certificate will lack them", "error",
             addresses.status().message());
    return;
  }
  for (const HostAddress& a : *addresses)
    if (auto san = ipSan(a.ip); san && !skipHostAddress(*san)) out.insert(std::move(*san));
}

Result<SanSet> wantedSans(const std::vector<std::string>& extra) {
  SanSet out;
  out.insert(San{San::Kind::kDns, "localhost"});
  out.insert(*ipSan("127.0.0.1"));
  out.insert(*ipSan("::1"));
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) {
    if (auto dns = normalizeDnsName(host)) {
      out.insert(San{San::Kind::kDns, *dns});
    } else {
      LOG_WARN("pki: host name is not a valid DNS name; leaving it out of the serving certificate",
               "hostname", host);
    }
  }
  addHostAddresses(out);
  for (const std::string& s : extra) {
    auto san = parseSan(s);
    if (!san) return san.status();
    out.insert(std::move(san).value());
  }
  return out;
}

SanSet sansOf(const X509* cert) {
  SanSet out;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    int type = 0;
    const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(gn, &type));
    if (value == nullptr) continue;
    std::string_view bytes(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                           static_cast<size_t>(ASN1_STRING_length(value)));
    if (type == GEN_DNS) {
      if (auto dns = normalizeDnsName(bytes)) out.insert(San{San::Kind::kDns, *dns});
    } else if (type == GEN_IPADD && (bytes.size() == 4 || bytes.size() == 16)) {
      out.insert(San{San::Kind::kIp, std::string(bytes)});
    }
  }
  return out;
}

Status addSans(X509* cert, const SanSet& sans) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return sslFailure("allocate SANs");
  for (const San& san : sans) {
    GeneralNamePtr gn(GENERAL_NAME_new());
    ASN1_STRING* value = san.kind == San::Kind::kDns ? ASN1_IA5STRING_new() : ASN1_OCTET_STRING_new();
    if (!gn || !value) {
      ASN1_STRING_free(value);
      return sslFailure("allocate SAN");
    }
    if (ASN1_STRING_set(value, san.value.data(), static_cast<int>(san.value.size())) != 1) {
      ASN1_STRING_free(value);
      return sslFailure("set SAN");
    }
    GENERAL_NAME_set0_value(gn.get(), san.kind == San::Kind::kDns ? GEN_DNS : GEN_IPADD, value);
    if (sk_GENERAL_NAME_push(names.get(), gn.get()) <= 0) return sslFailure("add SAN");
    gn.release();  // now owned by names
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return sslFailure("add subjectAltName");
  }
  return Status::ok();
}

// ---- Issuing ---------------------------------------------------------------

struct CertSpec {
  std::vector<std::pair<int, std::string>> subject;  // (NID, value), in order
  bool is_ca = false;
  std::chrono::seconds lifetime{};
  const char* key_usage = nullptr;      // X509v3 config syntax
  const char* ext_key_usage = nullptr;  // nullptr for none
  SanSet sans;
};

Result<PkeyPtr> newKey() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return sslFailure("generate P-256 key");
  return key;
}

Status addExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return sslFailure(fmt::format("add extension {}={}", OBJ_nid2sn(nid), value));
  }
  return Status::ok();
}

Status setTime(ASN1_TIME* field, WallTime t) {
  if (ASN1_TIME_set(field, std::chrono::system_clock::to_time_t(t)) == nullptr) {
    return sslFailure("set validity");
  }
  return Status::ok();
}

// Issues a certificate for subject_key. A null issuer makes it self-signed.
Result<X509Ptr> issue(const CertSpec& spec, EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key,
                      WallTime now) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) return sslFailure("allocate certificate");

  // 159 random bits: positive, unique in practice, and within the 20 octets
  // RFC 5280 allows.
  BignumPtr serial(BN_new());
  if (!serial || BN_rand(serial.get(), 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return sslFailure("set serial number");
  }

  X509_NAME* subject = X509_get_subject_name(cert.get());
  for (const auto& [nid, value] : spec.subject) {
    if (X509_NAME_add_entry_by_NID(subject, nid, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0) != 1) {
      return sslFailure("set subject");
    }
  }
  if (X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject) != 1) {
    return sslFailure("set issuer");
  }
  if (auto s = setTime(X509_getm_notBefore(cert.get()), now - kBackdate); !s) return s;
  if (auto s = setTime(X509_getm_notAfter(cert.get()), now + spec.lifetime); !s) return s;
  if (X509_set_pubkey(cert.get(), subject_key) != 1) return sslFailure("set public key");

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  if (auto s = addExtension(cert.get(), &ctx, NID_basic_constraints,
                            spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
      !s) {
    return s;
  }
  if (auto s = addExtension(cert.get(), &ctx, NID_key_usage, spec.key_usage); !s) return s;
  if (spec.ext_key_usage != nullptr) {
    if (auto s = addExtension(cert.get(), &ctx, NID_ext_key_usage, spec.ext_key_usage); !s) return s;
  }
  if (auto s = addExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"); !s) return s;
  if (issuer != nullptr) {
    if (auto s = addExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"); !s) return s;
  }
  if (!spec.sans.empty()) {
    if (auto s = addSans(cert.get(), spec.sans); !s) return s;
  }

  if (X509_sign(cert.get(), issuer_key ? issuer_key : subject_key, EVP_sha256()) <= 0) {
    return sslFailure("sign certificate");
  }
  return cert;
}

// ---- Checking what is on disk ------------------------------------------------

// Negative when t is before when, as X509_cmp_time does; 0 on a bad time.
int compareTime(const ASN1_TIME* t, WallTime when) {
  time_t w = std::chrono::system_clock::to_time_t(when);
  return X509_cmp_time(t, &w);
}

struct Ca {
  X509Ptr cert;
  PkeyPtr key;
  std::string cert_pem;
};

// Why a leaf must be issued again, or "" when it is fine as it is.
using ExtraCheck = std::function<std::string(const X509*)>;
std::string leafProblem(const X509* cert, EVP_PKEY* key, const Ca& ca, WallTime now,
                        const ExtraCheck& extra) {
  if (cert == nullptr) return "certificate is unreadable";
  if (key == nullptr) return "private key is unreadable";
  std::string problem;
  if (X509_check_private_key(cert, key) != 1) {
    problem = "private key does not match the certificate";
  } else if (X509_check_issued(ca.cert.get(), const_cast<X509*>(cert)) != X509_V_OK ||
             X509_verify(const_cast<X509*>(cert), X509_get0_pubkey(ca.cert.get())) != 1) {
    problem = "certificate was not issued by the current CA";
  } else if (compareTime(X509_get0_notBefore(cert), now + kBackdate) >= 0) {
    problem = "certificate is not valid yet (clock moved back?)";
  } else if (compareTime(X509_get0_notAfter(cert), now + kRenewBefore) <= 0) {
    problem = "certificate expires within 90 days";
  } else if (extra) {
    problem = extra(cert);
  }
  ERR_clear_error();
  return problem;
}

struct Leaf {
  std::string_view name;  // for logs
  std::filesystem::path cert_path, key_path;
  CertSpec spec;
  ExtraCheck extra;
};

struct KeyPair {
  std::string cert_pem, key_pem;
};

// Reuses the leaf on disk if it passes every check, else issues a new one.
Result<KeyPair> ensureLeaf(const Leaf& leaf, const Ca& ca, WallTime now) {
  auto cert_pem = readFile(leaf.cert_path);
  auto key_pem = readFile(leaf.key_path);
  for (const auto* r : {&cert_pem, &key_pem}) {
    if (!r->isOk() && r->status().code() != Code::kNotFound) return r->status();
  }
  if (cert_pem.isOk() && key_pem.isOk()) {
    X509Ptr cert = certFromPem(*cert_pem);
    PkeyPtr key = keyFromPem(*key_pem);
    std::string problem = leafProblem(cert.get(), key.get(), ca, now, leaf.extra);
    if (problem.empty()) return KeyPair{std::move(*cert_pem), std::move(*key_pem)};
    LOG_INFO("pki: issuing a new certificate", "cert", leaf.name, "reason", problem);
  } else {
    LOG_INFO("pki: issuing a certificate", "cert", leaf.name, "path", leaf.cert_path.string());
  }

  auto key = newKey();
  if (!key) return key.status();
  auto cert = issue(leaf.spec, key->get(), ca.cert.get(), ca.key.get(), now);
  if (!cert) return cert.status();
  KeyPair out;
  auto new_cert_pem = certToPem(cert->get());
  if (!new_cert_pem) return new_cert_pem.status();
  auto new_key_pem = keyToPem(key->get());
  if (!new_key_pem) return new_key_pem.status();
  // Key first: if we stop in between, the pair does not match on the next
  // start and is issued again.
  if (auto s = writeFileAtomic(leaf.key_path, *new_key_pem, 0600); !s) return s;
  if (auto s = writeFileAtomic(leaf.cert_path, *new_cert_pem, 0644); !s) return s;
  return KeyPair{std::move(*new_cert_pem), std::move(*new_key_pem)};
}

Result<Ca> loadOrCreateCa(const Bundle& b, const std::filesystem::path& key_path, WallTime now) {
  auto cert_pem = readFile(b.ca_cert);
  auto key_pem = readFile(key_path);
  for (const auto* r : {&cert_pem, &key_pem}) {
    if (!r->isOk() && r->status().code() != Code::kNotFound) return r->status();
  }
  if (cert_pem.isOk()) {
    if (!key_pem.isOk()) {
      return Status(Code::kInternal,
                    fmt::format("pki: {} exists but {} is missing; restore the key, or remove the CA "
                                "certificate to create a new CA that every client must then trust",
                                b.ca_cert.string(), key_path.string()));
    }
    Ca ca{certFromPem(*cert_pem), keyFromPem(*key_pem), std::move(*cert_pem)};
    if (!ca.cert) return Status(Code::kInternal, fmt::format("pki: cannot parse {}", b.ca_cert.string()));
    if (!ca.key) return Status(Code::kInternal, fmt::format("pki: cannot parse {}", key_path.string()));
    bool matches = X509_check_private_key(ca.cert.get(), ca.key.get()) == 1;
    bool is_ca = X509_check_ca(ca.cert.get()) != 0;
    ERR_clear_error();
    if (!matches) {
      return Status(Code::kInternal,
                    fmt::format("pki: {} does not match {}", key_path.string(), b.ca_cert.string()));
    }
    if (!is_ca) {
      return Status(Code::kInternal, fmt::format("pki: {} is not a CA certificate", b.ca_cert.string()));
    }
    if (compareTime(X509_get0_notAfter(ca.cert.get()), now + kRenewBefore) <= 0) {
      LOG_WARN("pki: CA certificate expires within 90 days; it is not renewed automatically", "path",
               b.ca_cert.string());
    }
    return ca;
  }

  if (key_pem.isOk()) {
    // A key without its certificate: an earlier first start stopped between
    // the two writes. No client can trust a certificate never written.
    LOG_WARN("pki: replacing a CA key that has no certificate", "path", key_path.string());
  }
  time_t unix_now = std::chrono::system_clock::to_time_t(now);
  CertSpec spec;
  spec.subject = {{NID_commonName, fmt::format("capstan-server-ca@{}", static_cast<long long>(unix_now))}};
  spec.is_ca = true;
  spec.lifetime = kCaLifetime;
  spec.key_usage = "critical,keyCertSign,cRLSign";
  auto key = newKey();
  if (!key) return key.status();
  auto cert = issue(spec, key->get(), nullptr, nullptr, now);
  if (!cert) return cert.status();
  auto new_cert_pem = certToPem(cert->get());
  if (!new_cert_pem) return new_cert_pem.status();
  auto new_key_pem = keyToPem(key->get());
  if (!new_key_pem) return new_key_pem.status();
  if (auto s = writeFileAtomic(key_path, *new_key_pem, 0600); !s) return s;
  if (auto s = writeFileAtomic(b.ca_cert, *new_cert_pem, 0644); !s) return s;
  LOG_INFO("pki: created CA", "path", b.ca_cert.string(), "subject", spec.subject[0].second);
  return Ca{std::move(*cert), std::move(*key), std::move(*new_cert_pem)};
}


}  // namespace

Result<SigningKey> ensureSigningKey(const std::filesystem::path& path) {
  PkeyPtr key;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    auto pem = readFile(path);
    if (!pem) return pem.status();
    key = keyFromPem(*pem);
    if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC)
      return Status(Code::kInternal, path.string() + " holds no ECDSA private key");
  } else {
    auto made = newKey();
    if (!made) return made.status();
    key = std::move(*made);
    auto pem = keyToPem(key.get());
    if (!pem) return pem.status();
    if (auto st = writeFileAtomic(path, *pem, 0600); !st) return st;
  }
  SigningKey out;
  auto priv = keyToPem(key.get());
  if (!priv) return priv.status();
  out.private_pem = std::move(*priv);
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) return sslFailure("write public key");
  out.public_pem = bioContents(bio.get());
  return out;
}

Result<Bundle> ensure(const Options& opts) {
  if (opts.dir.empty()) return Status(Code::kInvalid, "pki: no directory given");
  const Clock& clock = opts.clock != nullptr ? *opts.clock : SystemClock::instance();
  const WallTime now = clock.now();
  auto wanted = wantedSans(opts.sans);
  if (!wanted) return wanted.status();
  if (auto s = makePrivateDir(opts.dir); !s) return s;

  Bundle b;
  b.ca_cert = opts.dir / "ca.crt";
  b.server_cert = opts.dir / "server.crt";
  b.server_key = opts.dir / "server.key";
  b.admin_cert = opts.dir / "admin.crt";
  b.admin_key = opts.dir / "admin.key";

  auto ca = loadOrCreateCa(b, opts.dir / "ca.key", now);
  if (!ca) return ca.status();

  Leaf server;
  server.name = "serving";
  server.cert_path = b.server_cert;
  server.key_path = b.server_key;
  server.spec.subject = {{NID_commonName, "capstan"}};
  server.spec.lifetime = kLeafLifetime;
  server.spec.key_usage = "critical,digitalSignature";
  server.spec.ext_key_usage = "serverAuth";
  server.spec.sans = *wanted;
  server.extra = [&wanted = *wanted](const X509* cert) -> std::string {
    SanSet have = sansOf(cert);
    SanSet missing;
    std::set_difference(wanted.begin(), wanted.end(), have.begin(), have.end(),
                        std::inserter(missing, missing.end()));
    return missing.empty() ? std::string() : "SANs do not cover " + toString(missing);
  };
  auto served = ensureLeaf(server, *ca, now);
  if (!served) return served.status();

  Leaf admin;
  admin.name = "admin";
  admin.cert_path = b.admin_cert;
  admin.key_path = b.admin_key;
  admin.spec.subject = {{NID_organizationName, "system:masters"}, {NID_commonName, "system:admin"}};
  admin.spec.lifetime = kLeafLifetime;
  admin.spec.key_usage = "critical,digitalSignature";
  admin.spec.ext_key_usage = "clientAuth";
  admin.extra = [](const X509* cert) -> std::string {
    Identity id = identityFromCertificate(cert);
    if (id.user != "system:admin" || id.groups != std::vector<std::string>{"system:masters"}) {
      return "subject is not system:admin in system:masters";
    }
    return {};
  };
  auto admin_pair = ensureLeaf(admin, *ca, now);
  if (!admin_pair) return admin_pair.status();

  b.ca_cert_pem = std::move(ca->cert_pem);
  b.server_cert_pem = std::move(served->cert_pem);
  b.admin_cert_pem = std::move(admin_pair->cert_pem);
  b.admin_key_pem = std::move(admin_pair->key_pem);
  LOG_INFO("pki: ready", "dir", opts.dir.string(), "sans", toString(*wanted));
  return b;
}

Status writeKubeconfig(const std::filesystem::path& path, const std::string& server_url, const Bundle& b) {
  if (server_url.empty()) return Status(Code::kInvalid, "pki: kubeconfig needs a server URL");
  if (b.ca_cert_pem.empty() || b.admin_cert_pem.empty() || b.admin_key_pem.empty()) {
    return Status(Code::kInvalid, "pki: kubeconfig needs the CA and admin PEMs; call ensure() first");
  }
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << "v1";
  out << YAML::Key << "kind" << YAML::Value << "Config";
  out << YAML::Key << "clusters" << YAML::Value << YAML::BeginSeq;
  out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << "capstan";
  out << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "server" << YAML::Value << server_url;
  out << YAML::Key << "certificate-authority-data" << YAML::Value << base64Encode(b.ca_cert_pem);
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "users" << YAML::Value << YAML::BeginSeq;
  out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << "admin";
  out << YAML::Key << "user" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "client-certificate-data" << YAML::Value << base64Encode(b.admin_cert_pem);
  out << YAML::Key << "client-key-data" << YAML::Value << base64Encode(b.admin_key_pem);
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "contexts" << YAML::Value << YAML::BeginSeq;
  out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << "capstan";
  out << YAML::Key << "context" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "cluster" << YAML::Value << "capstan";
  out << YAML::Key << "user" << YAML::Value << "admin";
  out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "current-context" << YAML::Value << "capstan";
  out << YAML::Key << "preferences" << YAML::Value << YAML::BeginMap << YAML::EndMap;
  out << YAML::EndMap;
  if (!out.good()) {
    return Status(Code::kInternal, fmt::format("pki: emit kubeconfig: {}", out.GetLastError()));
  }

  if (path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      return Status(Code::kInternal,
                    fmt::format("pki: create {}: {}", path.parent_path().string(), ec.message()));
    }
  }
  std::string text = std::string(out.c_str(), out.size()) + "\n";
  if (auto s = writeFileAtomic(path, text, 0600); !s) return s;
  LOG_INFO("pki: wrote kubeconfig", "path", path.string(), "server", server_url);
  return Status::ok();
}

Identity identityFromCertificate(const X509* cert) {
  Identity id;
  if (cert == nullptr) return id;
  const X509_NAME* name = X509_get_subject_name(cert);
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry));
    if (nid != NID_commonName && nid != NID_organizationName) continue;
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
    if (n < 0) {
      ERR_clear_error();
      continue;
    }
    std::string value(reinterpret_cast<const char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
    // Go's pkix.Name keeps the last CN, and Kubernetes reads that one.
    if (nid == NID_commonName) {
      id.user = std::move(value);
    } else {
      id.groups.push_back(std::move(value));
    }
  }
  return id;
}

std::string randomToken(std::size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  unsigned char buf[256];
  while (bytes > 0) {
    size_t n = std::min(bytes, sizeof buf);
    if (RAND_bytes(buf, static_cast<int>(n)) != 1) {
      LOG_ERROR("pki: the CSPRNG failed; refusing to continue with a guessable token", "error", sslErrors());
      std::abort();
    }
    for (size_t i = 0; i < n; ++i) {
      out.push_back(kHex[buf[i] >> 4]);
      out.push_back(kHex[buf[i] & 0xf]);
    }
    bytes -= n;
  }
  OPENSSL_cleanse(buf, sizeof buf);
  return out;
}

JoinToken JoinToken::parse(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  JoinToken t;
  auto sep = text.find("::");
  if (text.rfind("K10", 0) == 0 && sep != std::string_view::npos) {
    t.ca_hash = std::string(text.substr(3, sep - 3));
    std::string_view rest = text.substr(sep + 2);  // "<user>:<secret>"
    auto colon = rest.find(':');
    t.secret = std::string(colon == std::string_view::npos ? rest : rest.substr(colon + 1));
  } else {
    t.secret = std::string(text);
  }
  return t;
}

std::string JoinToken::text() const { return ca_hash.empty() ? secret : "K10" + ca_hash + "::server:" + secret; }

std::optional<int64_t> certificateExpiry(const std::string& pem) {
  X509Ptr cert = certFromPem(pem);
  if (!cert) return std::nullopt;
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

std::string sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

}  // namespace capstan::pki
