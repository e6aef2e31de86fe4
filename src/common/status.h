#pragma once
// Errors as values. A Status carries a code aligned with Kubernetes' Status
// reasons plus the details an API error needs (causes with field paths).
// Result<T> is a value or a Status. Neither throws; both must be inspected.

#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace capstan {

enum class Code {
  kOk,
  kBadRequest,            // 400 BadRequest
  kUnauthorized,          // 401 Unauthorized
  kForbidden,             // 403 Forbidden
  kNotFound,              // 404 NotFound
  kMethodNotAllowed,      // 405 MethodNotAllowed
  kNotAcceptable,         // 406 NotAcceptable
  kAlreadyExists,         // 409 AlreadyExists
  kConflict,              // 409 Conflict
  kGone,                  // 410 Expired (watch too old) / Gone
  kRequestEntityTooLarge, // 413 RequestEntityTooLarge
  kUnsupportedMediaType,  // 415 UnsupportedMediaType
  kInvalid,               // 422 Invalid
  kTooManyRequests,       // 429 TooManyRequests
  kInternal,              // 500 InternalError
  kUnavailable,           // 503 ServiceUnavailable
  kTimeout,               // 504 Timeout
};

// One reason an object is invalid: Kubernetes' StatusCause.
struct StatusCause {
  std::string reason;  // e.g. FieldValueRequired, FieldValueInvalid
  std::string message;
  std::string field;   // e.g. metadata.name, spec.containers[0].image
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  bool isOk() const { return code_ == Code::kOk; }
  explicit operator bool() const { return isOk(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Optional details that go into the Kubernetes Status body.
  std::vector<StatusCause> causes;
  std::string details_name;
  std::string details_group;
  std::string details_kind;
  std::string reason_override;  // e.g. "Expired" for a 410 from a watch

  void ignore() const {}

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// HTTP status code and Kubernetes reason for a code.
int httpCode(Code code);
const char* reasonOf(Code code);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}     // NOLINT: implicit by design
  Result(Code code, std::string msg) : v_(Status(code, std::move(msg))) {}

  bool isOk() const { return v_.index() == 0; }
  explicit operator bool() const { return isOk(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Status& status() const& {
    static const Status kOk;
    return isOk() ? kOk : std::get<1>(v_);
  }
  Status status() && { return isOk() ? Status() : std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace capstan
