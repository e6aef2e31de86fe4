#pragma once
// Base64 (standard alphabet, padded) through OpenSSL's EVP encoder.

#include <optional>
#include <string>
#include <string_view>

namespace capstan {

std::string base64Encode(std::string_view in);
std::optional<std::string> base64Decode(std::string_view in);

}  // namespace capstan
