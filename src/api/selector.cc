#include "api/selector.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <iterator>
#include <set>
#include <string>
#include <utility>

#include "api/validation_names.h"

namespace capstan::api {
namespace {

using Op = LabelRequirement::Op;

// Label keys and values are checked with the API's string rules.
using vdetail::dns1123SubdomainErrors;
using vdetail::labelValueErrors;
using vdetail::qualifiedNameErrors;

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

// ---------------------------------------------------------------------------
// Error text in the shape of Kubernetes' field.Error and its aggregate.

// Length of the UTF-8 sequence starting at s[i], or 0 when it is not valid.
size_t utf8Length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
  }
  return n;
}

// Go's %q for a string: quoted, with control characters and invalid UTF-8
// escaped.
std::string goQuote(std::string_view s) {
  static constexpr std::pair<char, std::string_view> kEscapes[] = {
      {'"', "\\\""}, {'\\', "\\\\"}, {'\a', "\\a"}, {'\b', "\\b"}, {'\f', "\\f"},
      {'\n', "\\n"}, {'\r', "\\r"},  {'\t', "\\t"}, {'\v', "\\v"},
  };
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8Length(s, i);
    if (n > 1) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    auto c = static_cast<unsigned char>(s[i++]);
    auto escape = std::find_if(std::begin(kEscapes), std::end(kEscapes),
                               [&](const auto& entry) { return entry.first == static_cast<char>(c); });
    if (escape != std::end(kEscapes)) {
      out += escape->second;
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// Go's %#v for a []string, as field.Invalid prints a list of values.
std::string goStringSlice(const std::vector<std::string>& values) {
  if (values.empty()) return "[]string(nil)";
  std::string out = "[]string{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ", ";
    out += goQuote(values[i]);
  }
  return out + "}";
}

std::string invalidValue(std::string_view path, std::string_view rendered_value, std::string_view detail) {
  return std::string(path) + ": Invalid value: " + std::string(rendered_value) + ": " + std::string(detail);
}

// errors.NewAggregate(...).Error(): duplicates dropped, one message bare,
// several in brackets.
std::string aggregate(const std::vector<std::string>& errs) {
  std::vector<std::string> unique;
  for (const std::string& e : errs) {
    if (std::find(unique.begin(), unique.end(), e) == unique.end()) unique.push_back(e);
  }
  if (unique.size() == 1) return unique.front();
  return "[" + join(unique, ", ") + "]";
}

// ---------------------------------------------------------------------------
// Requirements.

// Go's strconv.ParseInt(s, 10, 64): optional sign, decimal digits only.
std::optional<int64_t> parseInt64(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  std::string_view digits = (!s.empty() && s.front() == '-') ? s.substr(1) : s;
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Kubernetes' labels.NewRequirement checks (with a nil field path): returns
// the aggregated error message, or nullopt when the requirement is valid.
std::optional<std::string> validateRequirement(const LabelRequirement& r) {
  std::vector<std::string> errs;
  if (auto key_errs = qualifiedNameErrors(r.key); !key_errs.empty()) {
    errs.push_back(invalidValue("key", goQuote(r.key), join(key_errs, "; ")));
  }
  switch (r.op) {
    case Op::kIn:
    case Op::kNotIn:
      if (r.values.empty()) {
        errs.push_back(invalidValue("values", goStringSlice(r.values),
                                    "for 'in', 'notin' operators, values set can't be empty"));
      }
      break;
    case Op::kEquals:
    case Op::kNotEquals:
      if (r.values.size() != 1) {
        errs.push_back(invalidValue("values", goStringSlice(r.values),
                                    "exact-match compatibility requires one single value"));
      }
      break;
    case Op::kExists:
    case Op::kDoesNotExist:
      if (!r.values.empty()) {
        errs.push_back(invalidValue("values", goStringSlice(r.values),
                                    "values set must be empty for exists and does not exist"));
      }
      break;
    case Op::kGreaterThan:
    case Op::kLessThan:
      if (r.values.size() != 1) {
        errs.push_back(invalidValue("values", goStringSlice(r.values),
                                    "for 'Gt', 'Lt' operators, exactly one value is required"));
      }
      for (size_t i = 0; i < r.values.size(); ++i) {
        if (!parseInt64(r.values[i])) {
          errs.push_back(invalidValue("values[" + std::to_string(i) + "]", goQuote(r.values[i]),
                                      "for 'Gt', 'Lt' operators, the value must be an integer"));
        }
      }
      break;
  }
  for (size_t i = 0; i < r.values.size(); ++i) {
    if (auto value_errs = labelValueErrors(r.values[i]); !value_errs.empty()) {
      errs.push_back(invalidValue("values[" + std::to_string(i) + "][" + r.key + "]", goQuote(r.values[i]),
                                  join(value_errs, "; ")));
    }
  }
  if (errs.empty()) return std::nullopt;
  return aggregate(errs);
}

bool hasValue(const LabelRequirement& r, std::string_view v) {
  return std::find(r.values.begin(), r.values.end(), v) != r.values.end();
}

// A label's value, or nullopt when the key is absent (or not a string).
std::optional<std::string_view> labelValue(const Json& labels, const std::string& key) {
  if (!labels.is_object()) return std::nullopt;
  auto it = labels.find(key);
  if (it == labels.end() || !it->is_string()) return std::nullopt;
  return std::string_view(it->get_ref<const std::string&>());
}

bool requirementMatches(const LabelRequirement& r, const Json& labels) {
  std::optional<std::string_view> v = labelValue(labels, r.key);
  switch (r.op) {
    case Op::kIn:
    case Op::kEquals:
      return v && hasValue(r, *v);
    case Op::kNotIn:
    case Op::kNotEquals:
      return !v || !hasValue(r, *v);
    case Op::kExists:
      return v.has_value();
    case Op::kDoesNotExist:
      return !v;
    case Op::kGreaterThan:
    case Op::kLessThan: {
      if (!v || r.values.size() != 1) return false;
      std::optional<int64_t> have = parseInt64(*v);
      std::optional<int64_t> want = parseInt64(r.values.front());
      if (!have || !want) return false;
      return r.op == Op::kGreaterThan ? *have > *want : *have < *want;
    }
  }
  return false;
}

std::string requirementString(const LabelRequirement& r) {
  if (r.op == Op::kExists) return r.key;
  if (r.op == Op::kDoesNotExist) return "!" + r.key;
  bool set = r.op == Op::kIn || r.op == Op::kNotIn;
  std::string_view spelling = r.op == Op::kEquals        ? "="
                              : r.op == Op::kNotEquals   ? "!="
                              : r.op == Op::kIn          ? " in ("
                              : r.op == Op::kNotIn       ? " notin ("
                              : r.op == Op::kGreaterThan ? ">"
                                                         : "<";
  std::vector<std::string> values = r.values;
  std::sort(values.begin(), values.end());
  return r.key + std::string(spelling) + join(values, ",") + (set ? ")" : "");
}

void sortByKey(std::vector<LabelRequirement>& reqs) {
  std::stable_sort(reqs.begin(), reqs.end(),
                   [](const LabelRequirement& a, const LabelRequirement& b) { return a.key < b.key; });
}

// ---------------------------------------------------------------------------
// The label selector lexer and parser: the same token set, lookahead and
// error texts as Kubernetes' labels.Lexer and labels.Parser.

enum class Token {
  kError,
  kEndOfString,
  kClosedPar,
  kComma,
  kDoesNotExist,
  kDoubleEquals,
  kEquals,
  kGreaterThan,
  kIdentifier,
  kIn,
  kLessThan,
  kNotEquals,
  kNotIn,
  kOpenPar,
};

std::optional<Token> literalToken(std::string_view s) {
  static constexpr std::pair<std::string_view, Token> kLiterals[] = {
      {")", Token::kClosedPar},     {",", Token::kComma},    {"!", Token::kDoesNotExist},
      {"==", Token::kDoubleEquals}, {"=", Token::kEquals},   {">", Token::kGreaterThan},
      {"in", Token::kIn},           {"<", Token::kLessThan}, {"!=", Token::kNotEquals},
      {"notin", Token::kNotIn},     {"(", Token::kOpenPar},
  };
  for (const auto& [text, token] : kLiterals) {
    if (text == s) return token;
  }
  return std::nullopt;
}

bool isWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool isSpecialSymbol(char c) {
  return c != 0 && std::string_view("=!(),><").find(c) != std::string_view::npos;
}

struct ScannedItem {
  Token token;
  std::string literal;
};

// Like Kubernetes' lexer, a NUL byte reads as the end of the input.
class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  ScannedItem lex() {
    char c = read();
    while (isWhitespace(c)) c = read();
    if (c == 0) return {Token::kEndOfString, ""};
    unread();
    return isSpecialSymbol(c) ? scanSpecialSymbol() : scanIdOrKeyword();
  }

 private:
  char read() { return pos_ < s_.size() ? s_[pos_++] : 0; }
  void unread() { --pos_; }

  ScannedItem scanIdOrKeyword() {
    std::string buffer;
    while (true) {
      char c = read();
      if (c == 0) break;
      if (isSpecialSymbol(c) || isWhitespace(c)) {
        unread();
        break;
      }
      buffer += c;
    }
    if (auto t = literalToken(buffer)) return {*t, buffer};
    return {Token::kIdentifier, buffer};
  }

  // Longest run of special symbols that still forms a token: "!=" rather
  // than "!" then "=", but "=(" as "=" then "(".
  ScannedItem scanSpecialSymbol() {
    std::optional<ScannedItem> last;
    std::string buffer;
    while (true) {
      char c = read();
      if (c == 0) break;
      if (!isSpecialSymbol(c)) {
        unread();
        break;
      }
      buffer += c;
      if (auto t = literalToken(buffer)) {
        last = ScannedItem{*t, buffer};
      } else if (last) {
        unread();
        break;
      }
    }
    if (!last) return {Token::kError, "error expected: keyword found '" + buffer + "'"};
    return *last;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

// In the Values context "in" and "notin" are plain identifiers, so that
// "in in (notin)" means key "in", operator in, value "notin".
enum class Context { kKeyAndOperator, kValues };

Status badRequest(std::string message) { return Status(Code::kBadRequest, std::move(message)); }

class Parser {
 public:
  explicit Parser(std::string_view text) {
    Lexer lexer(text);
    while (true) {
      items_.push_back(lexer.lex());
      if (items_.back().token == Token::kEndOfString) break;
    }
  }

  Result<std::vector<LabelRequirement>> parse() {
    std::vector<LabelRequirement> reqs;
    while (true) {
      auto [tok, lit] = lookahead(Context::kValues);
      if (tok == Token::kEndOfString) return reqs;
      if (tok != Token::kIdentifier && tok != Token::kDoesNotExist) {
        return badRequest("found '" + lit + "', expected: !, identifier, or 'end of string'");
      }
      Result<LabelRequirement> r = parseRequirement();
      if (!r) return badRequest("unable to parse requirement: " + r.status().message());
      reqs.push_back(std::move(r).value());
      auto [next, next_lit] = consume(Context::kValues);
      if (next == Token::kEndOfString) return reqs;
      if (next != Token::kComma) {
        return badRequest("found '" + next_lit + "', expected: ',' or 'end of string'");
      }
      auto [after, after_lit] = lookahead(Context::kValues);
      if (after != Token::kIdentifier && after != Token::kDoesNotExist) {
        return badRequest("found '" + after_lit + "', expected: identifier after ','");
      }
    }
  }

 private:
  std::pair<Token, std::string> lookahead(Context ctx) const { return translate(items_[position_], ctx); }

  std::pair<Token, std::string> consume(Context ctx) {
    const ScannedItem& item = items_[position_];
    // The last item is always the end of the string; stay on it.
    if (position_ + 1 < items_.size()) ++position_;
    return translate(item, ctx);
  }

  static std::pair<Token, std::string> translate(const ScannedItem& item, Context ctx) {
    Token t = item.token;
    if (ctx == Context::kValues && (t == Token::kIn || t == Token::kNotIn)) t = Token::kIdentifier;
    return {t, item.literal};
  }

  Result<LabelRequirement> parseRequirement() {
    LabelRequirement r;
    bool does_not_exist = false;
    std::pair<Token, std::string> key = consume(Context::kValues);
    if (key.first == Token::kDoesNotExist) {
      does_not_exist = true;
      key = consume(Context::kValues);
    }
    if (key.first != Token::kIdentifier) {
      return badRequest("found '" + key.second + "', expected: identifier");
    }
    if (auto errs = qualifiedNameErrors(key.second); !errs.empty()) {
      // Kubernetes validates the key here with a nil field path.
      return badRequest(invalidValue("<nil>", goQuote(key.second), join(errs, "; ")));
    }
    r.key = std::move(key.second);
    auto [next, next_lit] = lookahead(Context::kValues);
    if (does_not_exist || next == Token::kEndOfString || next == Token::kComma) {
      // "!a" or a bare "a"; whatever follows "!a" is the caller's to reject.
      r.op = does_not_exist ? Op::kDoesNotExist : Op::kExists;
      return r;
    }

    // Not a structured binding: clang 14 cannot capture those in a lambda.
    const auto op_token = consume(Context::kKeyAndOperator);
    const Token op_tok = op_token.first;
    const std::string& op_lit = op_token.second;
    static constexpr std::pair<Token, Op> kBinaryOperators[] = {
        {Token::kIn, Op::kIn},
        {Token::kNotIn, Op::kNotIn},
        {Token::kEquals, Op::kEquals},
        {Token::kDoubleEquals, Op::kEquals},
        {Token::kNotEquals, Op::kNotEquals},
        {Token::kGreaterThan, Op::kGreaterThan},
        {Token::kLessThan, Op::kLessThan},
    };
    auto op = std::find_if(std::begin(kBinaryOperators), std::end(kBinaryOperators),
                           [&](const auto& entry) { return entry.first == op_tok; });
    if (op == std::end(kBinaryOperators)) {
      return badRequest("found '" + op_lit + "', expected: in, notin, =, ==, !=, gt, lt");
    }
    r.op = op->second;

    Result<std::vector<std::string>> values =
        (r.op == Op::kIn || r.op == Op::kNotIn) ? parseValues() : parseExactValue();
    if (!values) return std::move(values).status();
    r.values = std::move(values).value();
    if (auto err = validateRequirement(r)) return badRequest(*err);
    return r;
  }

  // "(a, b, ,c)": a possibly empty list of possibly empty values, returned
  // sorted and without duplicates.
  Result<std::vector<std::string>> parseValues() {
    auto [tok, lit] = consume(Context::kValues);
    if (tok != Token::kOpenPar) return badRequest("found '" + lit + "' expected: '('");
    auto [first, first_lit] = lookahead(Context::kValues);
    if (first == Token::kClosedPar) {  // "()" is one empty value
      consume(Context::kValues);
      return std::vector<std::string>{""};
    }
    if (first != Token::kIdentifier && first != Token::kComma) {
      return badRequest("found '" + first_lit + "', expected: ',', ')' or identifier");
    }
    std::set<std::string> values;
    while (true) {
      auto [t, l] = consume(Context::kValues);
      if (t == Token::kIdentifier) {
        values.insert(l);
        auto [after, after_lit] = lookahead(Context::kValues);
        if (after == Token::kComma) continue;
        if (after == Token::kClosedPar) break;
        return badRequest("found '" + after_lit + "', expected: ',' or ')'");
      }
      if (t != Token::kComma) return badRequest("found '" + l + "', expected: ',', or identifier");
      // A comma with nothing before it, after it, or between it and the next
      // comma stands for an empty value.
      if (values.empty()) values.insert("");
      auto [after, after_lit] = lookahead(Context::kValues);
      if (after == Token::kClosedPar) {
        values.insert("");
        break;
      }
      if (after == Token::kComma) {
        consume(Context::kValues);
        values.insert("");
      }
    }
    consume(Context::kValues);  // the ')' seen by lookahead
    return std::vector<std::string>(values.begin(), values.end());
  }

  Result<std::vector<std::string>> parseExactValue() {
    auto [next, next_lit] = lookahead(Context::kValues);
    if (next == Token::kEndOfString || next == Token::kComma) return std::vector<std::string>{""};
    auto [tok, lit] = consume(Context::kValues);
    if (tok == Token::kIdentifier) return std::vector<std::string>{lit};
    return badRequest("found '" + lit + "', expected: identifier");
  }

  std::vector<ScannedItem> items_;
  size_t position_ = 0;
};

// ---------------------------------------------------------------------------
// metav1.LabelSelector decoding.

Status invalid(std::string message) { return Status(Code::kInvalid, std::move(message)); }

Result<std::string> optionalString(const Json& obj, const char* name, const std::string& where) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return badRequest(where + "." + name + ": expected a string");
  return it->get<std::string>();
}

Result<LabelRequirement> expressionFromJson(const Json& expr, const std::string& where) {
  if (expr.is_null()) return invalid("\"\" is not a valid label selector operator");
  if (!expr.is_object()) return badRequest(where + ": expected an object");
  Result<std::string> key = optionalString(expr, "key", where);
  if (!key) return std::move(key).status();
  Result<std::string> op = optionalString(expr, "operator", where);
  if (!op) return std::move(op).status();

  LabelRequirement r;
  r.key = std::move(key).value();
  if (*op == "In") {
    r.op = Op::kIn;
  } else if (*op == "NotIn") {
    r.op = Op::kNotIn;
  } else if (*op == "Exists") {
    r.op = Op::kExists;
  } else if (*op == "DoesNotExist") {
    r.op = Op::kDoesNotExist;
  } else {
    return invalid(goQuote(*op) + " is not a valid label selector operator");
  }

  if (auto it = expr.find("values"); it != expr.end() && !it->is_null()) {
    if (!it->is_array()) return badRequest(where + ".values: expected an array of strings");
    for (const Json& v : *it) {
      if (v.is_null()) {
        r.values.emplace_back();
      } else if (v.is_string()) {
        r.values.push_back(v.get<std::string>());
      } else {
        return badRequest(where + ".values: expected an array of strings");
      }
    }
  }
  if (auto err = validateRequirement(r)) return invalid(*err);
  return r;
}

// ---------------------------------------------------------------------------
// Field selector helpers, after fields.splitTerms / splitTerm / UnescapeValue.

// Splits on ',' not preceded by an escaping '\'; the terms keep their escapes.
std::vector<std::string_view> splitTerms(std::string_view s) {
  std::vector<std::string_view> terms;
  if (s.empty()) return terms;
  size_t start = 0;
  bool in_slash = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (in_slash) {
      in_slash = false;
    } else if (s[i] == '\\') {
      in_slash = true;
    } else if (s[i] == ',') {
      terms.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  terms.push_back(s.substr(start));
  return terms;
}

// The field name has no escapes, so the first operator splits the term;
// "!=" and "==" are tried before "=" at each position.
bool splitTerm(std::string_view term, std::string_view& lhs, std::string_view& op, std::string_view& rhs) {
  for (size_t i = 0; i < term.size(); ++i) {
    std::string_view rest = term.substr(i);
    for (std::string_view candidate :
         {std::string_view("!="), std::string_view("=="), std::string_view("=")}) {
      if (rest.substr(0, candidate.size()) == candidate) {
        lhs = term.substr(0, i);
        op = candidate;
        rhs = rest.substr(candidate.size());
        return true;
      }
    }
  }
  return false;
}

Result<std::string> unescapeValue(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool in_slash = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_slash) {
      // '!' is accepted escaped too, beyond Kubernetes, which rejects "\!".
      if (c != '\\' && c != ',' && c != '=' && c != '!') {
        size_t n = std::max<size_t>(1, utf8Length(s, i));
        return badRequest("invalid field selector: invalid escape sequence: \\" +
                          std::string(s.substr(i, n)));
      }
      out += c;
      in_slash = false;
      continue;
    }
    if (c == '\\') {
      in_slash = true;
    } else if (c == ',' || c == '=') {
      return badRequest(std::string("invalid field selector: unescaped character in value: ") + c);
    } else {
      out += c;
    }
  }
  if (in_slash) return badRequest("invalid field selector: invalid escape sequence: \\");
  return out;
}

std::string escapeValue(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == ',' || c == '=') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------

Result<LabelSelector> LabelSelector::parse(std::string_view text) {
  Result<std::vector<LabelRequirement>> reqs = Parser(text).parse();
  if (!reqs) return std::move(reqs).status();
  sortByKey(*reqs);
  return LabelSelector(std::move(reqs).value());
}

Result<LabelSelector> LabelSelector::fromJson(const Json& selector) {
  if (selector.is_null()) return LabelSelector();
  if (!selector.is_object()) return badRequest("label selector: expected an object");
  std::vector<LabelRequirement> reqs;

  if (auto it = selector.find("matchLabels"); it != selector.end() && !it->is_null()) {
    if (!it->is_object()) return badRequest("matchLabels: expected an object of strings");
    for (const auto& [key, value] : it->items()) {
      if (!value.is_string()) return badRequest("matchLabels[" + key + "]: expected a string");
      LabelRequirement r{key, Op::kEquals, {value.get<std::string>()}};
      if (auto err = validateRequirement(r)) return invalid(*err);
      reqs.push_back(std::move(r));
    }
  }

  if (auto it = selector.find("matchExpressions"); it != selector.end() && !it->is_null()) {
    if (!it->is_array()) return badRequest("matchExpressions: expected an array");
    for (size_t i = 0; i < it->size(); ++i) {
      Result<LabelRequirement> r =
          expressionFromJson((*it)[i], "matchExpressions[" + std::to_string(i) + "]");
      if (!r) return std::move(r).status();
      reqs.push_back(std::move(r).value());
    }
  }

  sortByKey(reqs);
  return LabelSelector(std::move(reqs));
}

bool LabelSelector::matches(const Json& labels) const {
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const LabelRequirement& r) { return requirementMatches(r, labels); });
}

std::string LabelSelector::toString() const {
  std::vector<std::string> parts;
  parts.reserve(requirements_.size());
  for (const LabelRequirement& r : requirements_) parts.push_back(requirementString(r));
  return join(parts, ",");
}

Result<FieldSelector> FieldSelector::parse(std::string_view text) {
  std::vector<std::string_view> terms = splitTerms(text);
  std::sort(terms.begin(), terms.end());
  std::vector<FieldRequirement> reqs;
  for (std::string_view term : terms) {
    if (term.empty()) continue;
    std::string_view lhs, op, rhs;
    if (!splitTerm(term, lhs, op, rhs)) {
      return badRequest("invalid selector: '" + std::string(text) + "'; can't understand '" +
                        std::string(term) + "'");
    }
    Result<std::string> value = unescapeValue(rhs);
    if (!value) return std::move(value).status();
    reqs.push_back(FieldRequirement{std::string(lhs), op == "!=", std::move(value).value()});
  }
  return FieldSelector(std::move(reqs));
}

bool FieldSelector::matches(const FieldGetter& get) const {
  for (const FieldRequirement& r : requirements_) {
    std::string have = get(r.field).value_or("");
    if ((have == r.value) == r.negate) return false;
  }
  return true;
}

Status FieldSelector::check(const FieldGetter& get) const {
  for (const FieldRequirement& r : requirements_) {
    if (!get(r.field)) return badRequest("field label not supported: " + r.field);
  }
  return Status::ok();
}

std::optional<std::string> FieldSelector::exactValue(std::string_view field) const {
  for (const FieldRequirement& r : requirements_) {
    if (!r.negate && r.field == field) return r.value;
  }
  return std::nullopt;
}

std::string FieldSelector::toString() const {
  std::string out;
  for (size_t i = 0; i < requirements_.size(); ++i) {
    const FieldRequirement& r = requirements_[i];
    if (i > 0) out += ",";
    out += r.field + (r.negate ? "!=" : "=") + escapeValue(r.value);
  }
  return out;
}

}  // namespace capstan::api
