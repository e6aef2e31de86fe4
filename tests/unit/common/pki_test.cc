#include "common/pki.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace capstan::pki {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class FakeClock final : public Clock {
 public:
  WallTime now() const override { return now_; }
  std::chrono::steady_clock::time_point monotonic() const override { return {}; }
  void advance(std::chrono::seconds d) { now_ += d; }

 private:
  WallTime now_ = std::chrono::system_clock::now();
};

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

X509Ptr certFromPem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return cert;
}

X509Ptr loadCert(const fs::path& p) { return certFromPem(slurp(p)); }

unsigned modeOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// X509_verify_cert against a store holding only the CA, for the given
// purpose (X509_PURPOSE_SSL_SERVER / _CLIENT), at time `at`.
int verifyWithCa(X509* leaf, X509* ca, int purpose, WallTime at = std::chrono::system_clock::now()) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  X509_STORE_CTX_set_time(ctx, 0, std::chrono::system_clock::to_time_t(at));
  int ok = X509_verify_cert(ctx);
  int err = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok == 1 ? X509_V_OK : err;
}

bool hasDns(X509* cert, const std::string& name) {
  return X509_check_host(cert, name.c_str(), name.size(), X509_CHECK_FLAG_NO_WILDCARDS, nullptr) == 1;
}
bool hasIp(X509* cert, const std::string& ip) { return X509_check_ip_asc(cert, ip.c_str(), 0) == 1; }

std::string commonName(X509* cert) { return identityFromCertificate(cert).user; }

std::string base64Decode(const std::string& in) {
  std::string out(in.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return {};
  // EVP_DecodeBlock counts the '=' padding as zero bytes.
  size_t pad = 0;
  for (auto it = in.rbegin(); it != in.rend() && *it == '='; ++it) ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

class PkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("capstan-pki-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path dir() const { return root_ / "data" / "tls"; }
  Options options(std::vector<std::string> sans = {}) { return Options{dir(), std::move(sans), &clock_}; }
  Bundle ensureOk(const Options& opts) {
    auto r = ensure(opts);
    EXPECT_TRUE(r.isOk()) << r.status().message();
    return r.isOk() ? *r : Bundle{};
  }
  std::vector<std::string> allFileBytes() {
    std::vector<std::string> out;
    for (const char* f : kFiles) out.push_back(slurp(dir() / f));
    return out;
  }

  static constexpr const char* kFiles[] = {"ca.crt",     "ca.key",    "server.crt",
                                           "server.key", "admin.crt", "admin.key"};
  static inline int counter_ = 0;
  fs::path root_;
  FakeClock clock_;
};

TEST_F(PkiTest, FirstEnsureCreatesEveryFileWithTightModes) {
  Bundle b = ensureOk(options());
  EXPECT_EQ(modeOf(dir()), 0700u);
  for (const char* f : kFiles) {
    ASSERT_TRUE(fs::exists(dir() / f)) << f;
    bool is_key = std::string(f).ends_with(".key");
    EXPECT_EQ(modeOf(dir() / f), is_key ? 0600u : 0644u) << f;
  }
  EXPECT_FALSE(fs::exists(dir() / "server.crt.tmp"));
  EXPECT_EQ(b.ca_cert, dir() / "ca.crt");
  EXPECT_EQ(b.server_cert, dir() / "server.crt");
  EXPECT_EQ(b.server_key, dir() / "server.key");
  EXPECT_EQ(b.admin_cert, dir() / "admin.crt");
  EXPECT_EQ(b.admin_key, dir() / "admin.key");
  EXPECT_EQ(b.ca_cert_pem, slurp(b.ca_cert));
  EXPECT_EQ(b.admin_cert_pem, slurp(b.admin_cert));
  EXPECT_EQ(b.admin_key_pem, slurp(b.admin_key));
}

TEST_F(PkiTest, CaIsSelfSignedP256CaWithCertSignUsage) {
  Bundle b = ensureOk(options());
  X509Ptr ca = loadCert(b.ca_cert);
  ASSERT_TRUE(ca);
  time_t now = std::chrono::system_clock::to_time_t(clock_.now());
  EXPECT_EQ(commonName(ca.get()), "capstan-server-ca@" + std::to_string(now));
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(X509_verify(ca.get(), X509_get0_pubkey(ca.get())), 1);
  EXPECT_EQ(X509_get_key_usage(ca.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_TRUE(EVP_PKEY_is_a(X509_get0_pubkey(ca.get()), "EC"));
  char curve[64] = {};
  EVP_PKEY_get_group_name(X509_get0_pubkey(ca.get()), curve, sizeof curve, nullptr);
  EXPECT_STREQ(curve, "prime256v1");
  // About ten years.
  int days = 0, secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(ca.get()), X509_get0_notAfter(ca.get())), 1);
  EXPECT_GE(days, 3650);
  EXPECT_LE(days, 3651);
}

TEST_F(PkiTest, ServingCertHasDefaultSansAndServerAuth) {
  Bundle b = ensureOk(options());
  X509Ptr ca = loadCert(b.ca_cert);
  X509Ptr server = loadCert(b.server_cert);
  ASSERT_TRUE(ca && server);
  EXPECT_EQ(commonName(server.get()), "capstan");
  EXPECT_TRUE(hasDns(server.get(), "localhost"));
  EXPECT_TRUE(hasIp(server.get(), "127.0.0.1"));
  EXPECT_TRUE(hasIp(server.get(), "::1"));
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  EXPECT_TRUE(hasDns(server.get(), host)) << host;
  EXPECT_NE(X509_get_extended_key_usage(server.get()) & XKU_SSL_SERVER, 0u);
  EXPECT_EQ(X509_check_ca(server.get()), 0);
  EXPECT_EQ(verifyWithCa(server.get(), ca.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  // A serving certificate is not a client certificate.
  EXPECT_NE(verifyWithCa(server.get(), ca.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
}

TEST_F(PkiTest, SecondEnsureReusesEveryFile) {
  ensureOk(options({"api.example.com", "10.9.8.7"}));
  auto before = allFileBytes();
  clock_.advance(24h);
  Bundle b = ensureOk(options({"api.example.com", "10.9.8.7"}));
  EXPECT_EQ(allFileBytes(), before);
  EXPECT_EQ(b.ca_cert_pem, before[0]);
  EXPECT_EQ(b.admin_cert_pem, before[4]);
  EXPECT_EQ(b.admin_key_pem, before[5]);
}

TEST_F(PkiTest, SanAlreadyCoveredDoesNotReissue) {
  ensureOk(options());
  auto before = allFileBytes();
  // Spelled differently from the defaults, but the same names.
  ensureOk(options({"LOCALHOST", "127.0.0.1", "[::1]", "0:0:0:0:0:0:0:1"}));
  EXPECT_EQ(allFileBytes(), before);
}

TEST_F(PkiTest, NewSanReissuesOnlyTheServingCert) {
  ensureOk(options());
  auto before = allFileBytes();
  ensureOk(options({"capstan.example.com", "192.0.2.10", "2001:db8::10"}));
  auto after = allFileBytes();
  EXPECT_EQ(after[0], before[0]) << "ca.crt";
  EXPECT_EQ(after[1], before[1]) << "ca.key";
  EXPECT_NE(after[2], before[2]) << "server.crt";
  EXPECT_NE(after[3], before[3]) << "server.key";
  EXPECT_EQ(after[4], before[4]) << "admin.crt";
  EXPECT_EQ(after[5], before[5]) << "admin.key";
  EXPECT_EQ(modeOf(dir() / "server.key"), 0600u);

  X509Ptr ca = loadCert(dir() / "ca.crt");
  X509Ptr server = loadCert(dir() / "server.crt");
  ASSERT_TRUE(ca && server);
  EXPECT_TRUE(hasDns(server.get(), "capstan.example.com"));
  EXPECT_TRUE(hasIp(server.get(), "192.0.2.10"));
  EXPECT_TRUE(hasIp(server.get(), "2001:db8::10"));
  EXPECT_TRUE(hasDns(server.get(), "localhost"));
  EXPECT_EQ(verifyWithCa(server.get(), ca.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);

  // Stable from now on.
  ensureOk(options({"capstan.example.com", "192.0.2.10", "2001:db8::10"}));
  EXPECT_EQ(allFileBytes(), after);
}

TEST_F(PkiTest, OpensslCliVerifiesTheChain) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl binary";
  ensureOk(options({"verify.example.com"}));
  std::string cmd = "openssl verify -purpose sslserver -CAfile '" + (dir() / "ca.crt").string() + "' '" +
                    (dir() / "server.crt").string() + "' >/dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  cmd = "openssl verify -purpose sslclient -CAfile '" + (dir() / "ca.crt").string() + "' '" +
        (dir() / "admin.crt").string() + "' >/dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST_F(PkiTest, AdminCertIdentityIsSystemAdminInSystemMasters) {
  Bundle b = ensureOk(options());
  X509Ptr ca = loadCert(b.ca_cert);
  X509Ptr admin = certFromPem(b.admin_cert_pem);
  ASSERT_TRUE(ca && admin);
  Identity id = identityFromCertificate(admin.get());
  EXPECT_EQ(id.user, "system:admin");
  EXPECT_EQ(id.groups, std::vector<std::string>{"system:masters"});
  EXPECT_NE(X509_get_extended_key_usage(admin.get()) & XKU_SSL_CLIENT, 0u);
  EXPECT_EQ(verifyWithCa(admin.get(), ca.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
}

TEST_F(PkiTest, IdentityOfNullCertificateIsEmpty) {
  Identity id = identityFromCertificate(nullptr);
  EXPECT_TRUE(id.user.empty());
  EXPECT_TRUE(id.groups.empty());
}

TEST_F(PkiTest, LeavesNearExpiryAreReissuedWithTheSameCa) {
  ensureOk(options());
  auto before = allFileBytes();
  clock_.advance(300 * 24h);  // 65 days left on the 365-day leaves
  ensureOk(options());
  auto after = allFileBytes();
  EXPECT_EQ(after[0], before[0]);
  EXPECT_EQ(after[1], before[1]);
  EXPECT_NE(after[2], before[2]);
  EXPECT_NE(after[4], before[4]);
  X509Ptr ca = loadCert(dir() / "ca.crt");
  X509Ptr server = loadCert(dir() / "server.crt");
  ASSERT_TRUE(ca && server);
  EXPECT_EQ(verifyWithCa(server.get(), ca.get(), X509_PURPOSE_SSL_SERVER, clock_.now()), X509_V_OK);
}

TEST_F(PkiTest, MismatchedOrCorruptLeafIsReissued) {
  ensureOk(options());
  auto before = allFileBytes();
  // The admin key in place of the serving key: parses, but does not match.
  fs::copy_file(dir() / "admin.key", dir() / "server.key", fs::copy_options::overwrite_existing);
  { std::ofstream(dir() / "admin.crt") << "not a certificate\n"; }
  ensureOk(options());
  auto after = allFileBytes();
  EXPECT_EQ(after[0], before[0]);
  EXPECT_NE(after[2], before[2]);
  EXPECT_NE(after[4], "not a certificate\n");
  X509Ptr ca = loadCert(dir() / "ca.crt");
  X509Ptr admin = loadCert(dir() / "admin.crt");
  ASSERT_TRUE(ca && admin);
  EXPECT_EQ(verifyWithCa(admin.get(), ca.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
}

TEST_F(PkiTest, MissingCaKeyIsAnErrorAndKeepsTheCa) {
  ensureOk(options());
  std::string ca = slurp(dir() / "ca.crt");
  fs::remove(dir() / "ca.key");
  auto r = ensure(options());
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kInternal);
  EXPECT_EQ(slurp(dir() / "ca.crt"), ca);
}

TEST_F(PkiTest, CaKeyWithoutCertificateStartsAfresh) {
  ensureOk(options());
  fs::remove(dir() / "ca.crt");
  Bundle b = ensureOk(options());
  X509Ptr ca = loadCert(b.ca_cert);
  X509Ptr server = loadCert(b.server_cert);
  ASSERT_TRUE(ca && server);
  // The leaves were signed by the old CA, so they were issued again.
  EXPECT_EQ(verifyWithCa(server.get(), ca.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
}

TEST_F(PkiTest, MalformedSanIsInvalid) {
  for (const char* bad : {"", "bad name", "-leading.example.com", "a..b", "[not-an-ip]", "*"}) {
    auto r = ensure(options({bad}));
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalid) << bad;
  }
  EXPECT_FALSE(fs::exists(dir() / "ca.key"));
  EXPECT_TRUE(ensure(options({"*.apps.example.com", "under_score.local"})).isOk());
}

TEST_F(PkiTest, KubeconfigParsesAndCarriesCredentials) {
  Bundle b = ensureOk(options());
  fs::path kc = root_ / "etc" / "capstan.yaml";
  Status s = writeKubeconfig(kc, "https://127.0.0.1:6443", b);
  ASSERT_TRUE(s.isOk()) << s.message();
  EXPECT_EQ(modeOf(kc), 0600u);

  YAML::Node doc = YAML::LoadFile(kc.string());
  EXPECT_EQ(doc["apiVersion"].as<std::string>(), "v1");
  EXPECT_EQ(doc["kind"].as<std::string>(), "Config");
  EXPECT_EQ(doc["current-context"].as<std::string>(), "capstan");
  ASSERT_EQ(doc["clusters"].size(), 1u);
  YAML::Node cluster = doc["clusters"][0];
  EXPECT_EQ(cluster["name"].as<std::string>(), "capstan");
  EXPECT_EQ(cluster["cluster"]["server"].as<std::string>(), "https://127.0.0.1:6443");
  EXPECT_EQ(base64Decode(cluster["cluster"]["certificate-authority-data"].as<std::string>()), b.ca_cert_pem);
  ASSERT_EQ(doc["users"].size(), 1u);
  YAML::Node user = doc["users"][0];
  EXPECT_EQ(user["name"].as<std::string>(), "admin");
  EXPECT_EQ(base64Decode(user["user"]["client-certificate-data"].as<std::string>()), b.admin_cert_pem);
  EXPECT_EQ(base64Decode(user["user"]["client-key-data"].as<std::string>()), b.admin_key_pem);
  ASSERT_EQ(doc["contexts"].size(), 1u);
  YAML::Node ctx = doc["contexts"][0];
  EXPECT_EQ(ctx["name"].as<std::string>(), "capstan");
  EXPECT_EQ(ctx["context"]["cluster"].as<std::string>(), "capstan");
  EXPECT_EQ(ctx["context"]["user"].as<std::string>(), "admin");

  // Rewriting replaces the file and keeps it private.
  fs::permissions(kc, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  ASSERT_TRUE(writeKubeconfig(kc, "https://10.0.0.1:6443", b).isOk());
  EXPECT_EQ(modeOf(kc), 0600u);
  EXPECT_EQ(YAML::LoadFile(kc.string())["clusters"][0]["cluster"]["server"].as<std::string>(),
            "https://10.0.0.1:6443");
}

TEST_F(PkiTest, KubeconfigNeedsABundle) {
  Status s = writeKubeconfig(root_ / "kc.yaml", "https://127.0.0.1:6443", Bundle{});
  EXPECT_EQ(s.code(), Code::kInvalid);
  EXPECT_FALSE(fs::exists(root_ / "kc.yaml"));
}

TEST(PkiRandomToken, IsHexOfTheRequestedLengthAndVaries) {
  std::string a = randomToken(16);
  std::string b = randomToken(16);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
  EXPECT_EQ(randomToken(0), "");
  EXPECT_EQ(randomToken(1000).size(), 2000u);
}

}  // namespace
}  // namespace capstan::pki
