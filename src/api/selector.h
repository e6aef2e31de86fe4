#pragma once
// Label selectors and field selectors, with the syntax and semantics of
// k8s.io/apimachinery's labels.Parse / metav1.LabelSelectorAsSelector and
// fields.ParseSelector, so that what kubectl and client libraries send means
// here what it means against a Kubernetes API server.
//
// Both selector types are immutable values once built; every const member is
// safe to call from any thread. Nothing here throws: malformed input gives a
// Status (BadRequest for text that does not parse, Invalid for a
// metav1.LabelSelector that decodes but does not validate).

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace capstan::api {

struct LabelRequirement {
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist, kGreaterThan, kLessThan };
  std::string key;
  Op op = Op::kExists;
  // One value for the exact-match and numeric operators, one or more for
  // In/NotIn (parsed selectors hold them sorted and de-duplicated), none for
  // Exists/DoesNotExist. The empty string is a valid value.
  std::vector<std::string> values;
};

class LabelSelector {
 public:
  // The empty selector: matches every set of labels.
  LabelSelector() = default;

  // Parses the label selector string syntax exactly as labels.Parse does:
  // "a=b", "a==b", "a!=b", "a in (x,y)", "a notin (x)", "a", "!a", "a>1",
  // "a<2", comma separated, tolerant of spaces, tabs, CR and LF between
  // tokens. As in Kubernetes, "a in ()" is accepted and means a in ("").
  // Keys must be qualified names, values label values, and the operands of
  // > and < integers. Requirements come out sorted by key. The empty string
  // is the empty selector. Errors: BadRequest with Kubernetes' message (e.g.
  // "unable to parse requirement: ..." or "found '(', expected: ...").
  static Result<LabelSelector> parse(std::string_view text);

  // From a metav1.LabelSelector object {matchLabels: {k: v}, matchExpressions:
  // [{key, operator: In|NotIn|Exists|DoesNotExist, values: [...]}]}. null, an
  // absent selector and {} all give the empty selector (callers that need
  // "null selects nothing", as for some workload specs, check for null
  // themselves). A value of the wrong JSON type gives BadRequest; a selector
  // that decodes but breaks a rule (bad key or value, unknown operator, In
  // without values, Exists with values) gives Invalid. Unknown fields are
  // ignored, as Kubernetes' non-strict decoding does.
  static Result<LabelSelector> fromJson(const Json& selector);

  // labels: an object of string to string, or null (no labels). Members whose
  // value is not a string count as absent. NotIn and != match an absent key;
  // In, =, Exists, > and < do not.
  bool matches(const Json& labels) const;

  bool empty() const { return requirements_.empty(); }

  // The canonical form of Kubernetes' Selector.String(): requirements joined
  // by ',', In/NotIn values sorted, e.g. "a in (x,y),!b,c!=d". "==" prints as
  // "=". parse(toString()) gives back an equivalent selector.
  std::string toString() const;

  const std::vector<LabelRequirement>& requirements() const { return requirements_; }

 private:
  explicit LabelSelector(std::vector<LabelRequirement> requirements)
      : requirements_(std::move(requirements)) {}

  std::vector<LabelRequirement> requirements_;
};

// field=value or field==value (negate false), field!=value (negate true).
// value is stored unescaped.
struct FieldRequirement {
  std::string field;
  bool negate = false;
  std::string value;
};

class FieldSelector {
 public:
  // The empty selector: matches everything.
  FieldSelector() = default;

  // Parses "metadata.name=foo,spec.nodeName!=bar" as fields.ParseSelector
  // does: terms split on unescaped ',', each split at its first "!=", "==" or
  // "=", empty terms skipped, terms ordered by their text. Field names are not
  // validated here and no whitespace is trimmed (use check()). In values '\'
  // escapes '\', ',' and '=' (and, beyond Kubernetes, '!'); an unescaped ','
  // or '=' in a value, another escape or a trailing '\' is an error.
  // Errors: BadRequest.
  static Result<FieldSelector> parse(std::string_view text);

  // get(field) returns the object's value of that field, or std::nullopt when
  // the field is not supported for the kind.
  using FieldGetter = std::function<std::optional<std::string>(std::string_view)>;

  // True when every requirement holds. As with Kubernetes' fields.Set, a
  // field get() does not know reads as "", so callers reject unsupported
  // fields with check() before matching.
  bool matches(const FieldGetter& get) const;

  // BadRequest "field label not supported: <field>" for the first field (in
  // requirement order) that get() says is unsupported, else OK.
  Status check(const FieldGetter& get) const;

  bool empty() const { return requirements_.empty(); }
  const std::vector<FieldRequirement>& requirements() const { return requirements_; }

  // The value the selector pins `field` to with '=' or '==' (the first such
  // term), as Kubernetes' RequiresExactMatch; nullopt otherwise.
  std::optional<std::string> exactValue(std::string_view field) const;

  // Canonical form, values escaped: "metadata.name=a\,b,spec.nodeName!=x".
  std::string toString() const;

 private:
  explicit FieldSelector(std::vector<FieldRequirement> requirements)
      : requirements_(std::move(requirements)) {}

  std::vector<FieldRequirement> requirements_;
};

}  // namespace capstan::api
