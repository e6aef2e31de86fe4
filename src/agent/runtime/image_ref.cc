// Image reference parsing and the command/args rules; pure.

#include <algorithm>
#include <cctype>

#include "agent/runtime/image_store.h"

namespace capstan::agent::runtime {
namespace {

bool validRepository(std::string_view repo) {
  if (repo.empty() || repo.size() > 255) return false;
  for (char c : repo) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '.' ||
          c == '_' || c == '-' || c == '/'))
      return false;
  }
  return repo.front() != '/' && repo.back() != '/' && repo.find("//") == std::string_view::npos;
}

bool validTag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  for (char c : tag) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
  }
  return tag.front() != '.' && tag.front() != '-';
}

bool validDigest(std::string_view d) {
  if (d.substr(0, 7) != "sha256:" || d.size() != 7 + 64) return false;
  return std::all_of(d.begin() + 7, d.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) && !std::isupper(static_cast<unsigned char>(c)); });
}

}  // namespace

std::string ImageRef::str() const {
  std::string s = registry + "/" + repository;
  if (!digest.empty()) return s + "@" + digest;
  return s + ":" + tag;
}

Result<ImageRef> parseImageRef(std::string_view text) {
  if (text.empty()) return Status(Code::kInvalid, "empty image reference");
  std::string_view rest = text;
  ImageRef ref;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!validDigest(ref.digest)) return Status(Code::kInvalid, "invalid digest in image reference: " + std::string(text));
  }
  // The registry is the first component when it looks like a host.
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, slash);
    if (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
        first == "localhost") {
      ref.registry = std::string(first);
      rest = rest.substr(slash + 1);
    }
  }
  if (ref.registry.empty() || ref.registry == "index.docker.io" || ref.registry == "registry-1.docker.io")
    ref.registry = "docker.io";
  // A tag is after the last ':' of the last path component.
  size_t last_slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && (last_slash == std::string_view::npos || colon > last_slash)) {
    ref.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!validTag(ref.tag)) return Status(Code::kInvalid, "invalid tag in image reference: " + std::string(text));
  }
  ref.repository = std::string(rest);
  if (ref.registry == "docker.io" && ref.repository.find('/') == std::string::npos)
    ref.repository = "library/" + ref.repository;
  if (!validRepository(ref.repository))
    return Status(Code::kInvalid, "invalid image reference format: " + std::string(text));
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

std::vector<std::string> resolveArgs(const ImageConfig& config, const std::vector<std::string>& command,
                                     const std::vector<std::string>& args) {
  std::vector<std::string> out;
  if (!command.empty()) {
    out = command;
    out.insert(out.end(), args.begin(), args.end());
    return out;
  }
  out = config.entrypoint;
  const auto& tail = args.empty() ? config.cmd : args;
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}

}  // namespace capstan::agent::runtime
