#pragma once
// Unpacking one image layer (a tar, optionally gzip/zstd compressed) into
// a directory that serves as an overlayfs lower dir. OCI whiteouts become
// overlayfs ones: ".wh.NAME" -> a 0:0 character device NAME, and
// ".wh..wh..opq" -> the xattr trusted.overlay.opaque=y on its directory.
// Entries are confined to the directory (no "..", no writing through
// symlinks, no absolute paths).

#include <string>

#include "common/status.h"

namespace capstan::agent::runtime {

// Unpacks `archive_path` into `dest` (created if missing). Not atomic:
// callers unpack into a temporary dir and rename it.
Status unpackLayer(const std::string& archive_path, const std::string& dest);

// The same from memory (tests, small layers).
Status unpackLayerFromMemory(const std::string& data, const std::string& dest);

// "sha256:<hex>" of a file's content, streamed.
Result<std::string> sha256File(const std::string& path);
std::string sha256Hex(const std::string& data);

}  // namespace capstan::agent::runtime
