#include "agent/runtime/layer_unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "common/log.h"

namespace capstan::agent::runtime {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueWhiteout = ".wh..wh..opq";

using ReadArchive = std::unique_ptr<archive, decltype(&archive_read_free)>;
using WriteArchive = std::unique_ptr<archive, decltype(&archive_write_free)>;

// Normalises a tar member name to a relative path without "." parts;
// empty when it escapes (".." anywhere) or names the root.
std::string cleanPath(std::string_view name) {
  std::string out;
  size_t i = 0;
  while (i < name.size()) {
    size_t j = name.find('/', i);
    if (j == std::string_view::npos) j = name.size();
    std::string_view part = name.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return "";
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

Status applyWhiteout(const std::string& dest, const std::string& rel) {
  fs::path p(rel);
  std::string base = p.filename().string();
  fs::path parent = fs::path(dest) / p.parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (base == kOpaqueWhiteout) {
    if (setxattr(parent.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0)
      return Status(Code::kInternal, "opaque whiteout on " + parent.string() + ": " + strerror(errno));
    return Status::ok();
  }
  std::string target = (parent / base.substr(kWhiteoutPrefix.size())).string();
  fs::remove_all(target, ec);
  if (mknod(target.c_str(), S_IFCHR | 0000, makedev(0, 0)) != 0)
    return Status(Code::kInternal, "whiteout " + target + ": " + strerror(errno));
  return Status::ok();
}

Status unpack(archive* in, const std::string& dest) {
  std::error_code ec;
  fs::create_directories(dest, ec);
  if (ec) return Status(Code::kInternal, "mkdir " + dest + ": " + ec.message());
  WriteArchive out(archive_write_disk_new(), archive_write_free);
  archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_TIME |
                                                ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_UNLINK |
                                                ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS);
  archive_write_disk_set_standard_lookup(out.get());
  archive_entry* entry = nullptr;
  for (;;) {
    int rc = archive_read_next_header(in, &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) return Status(Code::kInvalid, std::string("layer: ") + archive_error_string(in));
    std::string rel = cleanPath(archive_entry_pathname(entry));
    if (rel.empty()) continue;  // the root itself, or a path escaping it
    std::string base = fs::path(rel).filename().string();
    if (base.rfind(kWhiteoutPrefix, 0) == 0) {
      if (auto st = applyWhiteout(dest, rel); !st) return st;
      continue;
    }
    archive_entry_set_pathname(entry, (dest + "/" + rel).c_str());
    if (const char* hl = archive_entry_hardlink(entry)) {
      std::string hrel = cleanPath(hl);
      if (hrel.empty()) continue;
      archive_entry_set_hardlink(entry, (dest + "/" + hrel).c_str());
    }
    rc = archive_write_header(out.get(), entry);
    if (rc < ARCHIVE_WARN)
      return Status(Code::kInvalid, "layer entry " + rel + ": " + archive_error_string(out.get()));
    if (archive_entry_size(entry) > 0 && rc >= ARCHIVE_WARN) {
      const void* buf;
      size_t size;
      la_int64_t offset;
      while ((rc = archive_read_data_block(in, &buf, &size, &offset)) == ARCHIVE_OK) {
        if (archive_write_data_block(out.get(), buf, size, offset) < ARCHIVE_WARN)
          return Status(Code::kInternal, "layer write " + rel + ": " + archive_error_string(out.get()));
      }
      if (rc != ARCHIVE_EOF) return Status(Code::kInvalid, std::string("layer read: ") + archive_error_string(in));
    }
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN)
      return Status(Code::kInternal, "layer finish " + rel + ": " + archive_error_string(out.get()));
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK)
    return Status(Code::kInternal, std::string("layer close: ") + archive_error_string(out.get()));
  return Status::ok();
}

ReadArchive newReader() {
  ReadArchive in(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(in.get());
  archive_read_support_format_tar(in.get());
  archive_read_support_format_gnutar(in.get());
  return in;
}

}  // namespace

Status unpackLayer(const std::string& archive_path, const std::string& dest) {
  auto in = newReader();
  if (archive_read_open_filename(in.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK)
    return Status(Code::kInvalid, "open layer " + archive_path + ": " + archive_error_string(in.get()));
  return unpack(in.get(), dest);
}

Status unpackLayerFromMemory(const std::string& data, const std::string& dest) {
  auto in = newReader();
  if (archive_read_open_memory(in.get(), data.data(), data.size()) != ARCHIVE_OK)
    return Status(Code::kInvalid, std::string("open layer: ") + archive_error_string(in.get()));
  return unpack(in.get(), dest);
}

namespace {
std::string hex(const unsigned char* d, unsigned n) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < n; ++i) s += k[d[i] >> 4], s += k[d[i] & 15];
  return s;
}
}  // namespace

std::string sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  return hex(md, n);
}

Result<std::string> sha256File(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status(Code::kNotFound, "open " + path + ": " + strerror(errno));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  char buf[1 << 16];
  ssize_t r;
  while ((r = ::read(fd, buf, sizeof buf)) > 0) EVP_DigestUpdate(ctx.get(), buf, static_cast<size_t>(r));
  ::close(fd);
  if (r < 0) return Status(Code::kInternal, "read " + path);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &n);
  return "sha256:" + hex(md, n);
}

}  // namespace capstan::agent::runtime
