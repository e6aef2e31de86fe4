// Label and field selectors against the behaviour of Kubernetes'
// labels.Parse, metav1.LabelSelectorAsSelector and fields.ParseSelector.
#include "api/selector.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace capstan::api {
namespace {

using Op = LabelRequirement::Op;

// ---------------------------------------------------------------------------
// LabelSelector::parse

struct RoundTripCase {
  std::string input;
  std::string canonical;  // toString() after parsing
};

const RoundTripCase kGoodSelectors[] = {
    {"", ""},
    {"   ", ""},
    {"x=a,y=b,z=c", "x=a,y=b,z=c"},
    {"x==a", "x=a"},
    {"x!=a,y=b", "x!=a,y=b"},
    {"x=", "x="},
    {"x= ", "x="},
    {"x=,z= ", "x=,z="},
    {"x= ,z= ", "x=,z="},
    {"!x", "!x"},
    {"x", "x"},
    {"a ", "a"},
    {"\rx", "x"},
    {"x>1", "x>1"},
    {"x>1,z<5", "x>1,z<5"},
    {"x=a,a=x", "a=x,x=a"},  // sorted by key
    {"x in (abc,def)", "x in (abc,def)"},
    {"x in (def, abc, def)", "x in (abc,def)"},  // sorted, de-duplicated
    {"x in (abc,)", "x in (,abc)"},
    {"x in ()", "x in ()"},  // as in Kubernetes: one empty value
    {"x notin ( )", "x notin ()"},
    {"x notin (, a)", "x notin (,a)"},
    {"x in (a,,b)", "x in (,a,b)"},
    {"foo  in\t (abc)", "foo in (abc)"},
    {"x notin\n (abc)", "x notin (abc)"},
    {"x  notin\t\t(abc,def)", "x notin (abc,def)"},
    {"x notin (abc,,def),bar,z in (),w", "bar,w,x notin (,abc,def),z in ()"},
    {"x=a,y!=b,z in (h,i,j)", "x=a,y!=b,z in (h,i,j)"},
    {"this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash"},
    {"this-is-another-dns.domain.com/key-with-dash in (so,what)",
     "this-is-another-dns.domain.com/key-with-dash in (so,what)"},
    {"0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
     "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)"},
    {"a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)"},  // keywords are values inside a list
    {"notin=in", "notin=in"},                             // ... and keys and exact values
    {"in in (notin)", "in in (notin)"},
    {"a=b,!c , d notin (e)", "a=b,!c,d notin (e)"},
    {"A_b.C-9=Z_y.X-0", "A_b.C-9=Z_y.X-0"},
};

TEST(LabelSelectorParse, GoodSelectorsRoundTrip) {
  for (const auto& c : kGoodSelectors) {
    SCOPED_TRACE("input: '" + c.input + "'");
    auto sel = LabelSelector::parse(c.input);
    ASSERT_TRUE(sel.isOk()) << sel.status().message();
    EXPECT_EQ(sel->toString(), c.canonical);
    EXPECT_EQ(sel->empty(), c.canonical.empty());
    // The canonical form parses back to itself.
    auto again = LabelSelector::parse(sel->toString());
    ASSERT_TRUE(again.isOk()) << again.status().message();
    EXPECT_EQ(again->toString(), c.canonical);
  }
}

TEST(LabelSelectorParse, EveryOperatorGivesItsRequirement) {
  struct Case {
    std::string input;
    Op op;
    std::vector<std::string> values;
  };
  const Case cases[] = {
      {"k=v", Op::kEquals, {"v"}},        {"k==v", Op::kEquals, {"v"}},
      {"k!=v", Op::kNotEquals, {"v"}},    {"k in (b,a)", Op::kIn, {"a", "b"}},
      {"k notin (a)", Op::kNotIn, {"a"}}, {"k", Op::kExists, {}},
      {"!k", Op::kDoesNotExist, {}},      {"k>10", Op::kGreaterThan, {"10"}},
      {"k<2", Op::kLessThan, {"2"}},      {"k in ()", Op::kIn, {""}},
      {"k=", Op::kEquals, {""}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    auto sel = LabelSelector::parse(c.input);
    ASSERT_TRUE(sel.isOk()) << sel.status().message();
    ASSERT_EQ(sel->requirements().size(), 1u);
    const LabelRequirement& r = sel->requirements().front();
    EXPECT_EQ(r.key, "k");
    EXPECT_EQ(r.op, c.op);
    EXPECT_EQ(r.values, c.values);
  }
}

TEST(LabelSelectorParse, PrefixedKeyIsKept) {
  auto sel = LabelSelector::parse("app.kubernetes.io/name in (web), tier=front");
  ASSERT_TRUE(sel.isOk()) << sel.status().message();
  ASSERT_EQ(sel->requirements().size(), 2u);
  EXPECT_EQ(sel->requirements()[0].key, "app.kubernetes.io/name");
  EXPECT_EQ(sel->requirements()[1].key, "tier");
}

struct BadCase {
  std::string input;
  std::string message;  // the whole message when exact, else a part of it
  bool exact = true;
};

const std::string kNameRegex = "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'";
const std::string kNameRule =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is " +
    kNameRegex + ")";

const BadCase kBadSelectors[] = {
    // Structure.
    {"x==a==b", "found '==', expected: ',' or 'end of string'"},
    {"!x=a", "found '=', expected: ',' or 'end of string'"},
    {"x,,y", "found ',', expected: identifier after ','"},
    {",x,y", "found ',', expected: !, identifier, or 'end of string'"},
    {"a in (xyz),", "found '', expected: identifier after ','"},
    {"a in (xyz)b notin ()", "found 'b', expected: ',' or 'end of string'"},
    {"(", "found '(', expected: !, identifier, or 'end of string'"},
    {"=a", "found '=', expected: !, identifier, or 'end of string'"},
    {"!", "unable to parse requirement: found '', expected: identifier"},
    {"!!a", "unable to parse requirement: found '!', expected: identifier"},
    {"x nott in (y)", "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt"},
    {"a (", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"},
    {"a in x", "unable to parse requirement: found 'x' expected: '('"},
    {"a in", "unable to parse requirement: found '' expected: '('"},
    // Unclosed or malformed value lists.
    {"a notin(", "unable to parse requirement: found '', expected: ',', ')' or identifier"},
    {"a in (x", "unable to parse requirement: found '', expected: ',' or ')'"},
    {"a in (x,", "unable to parse requirement: found '', expected: ',', or identifier"},
    {"a in (xyz abc)", "unable to parse requirement: found 'abc', expected: ',' or ')'"},
    {"a in (x,=)", "unable to parse requirement: found '=', expected: ',', or identifier"},
    {"a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"},
    {"a=(", "unable to parse requirement: found '(', expected: identifier"},
    // Keys.
    {"a/b/c", "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name " + kNameRule +
                  " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"},
    {"-a=b", "unable to parse requirement: <nil>: Invalid value: \"-a\": name part " + kNameRule},
    {"a/",
     "unable to parse requirement: <nil>: Invalid value: \"a/\": name part must be non-empty; name part " +
         kNameRule},
    {"/a", "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty"},
    {"Example.com/a", "prefix part a lowercase RFC 1123 subdomain must consist of", false},
    {"a..b/c", "prefix part a lowercase RFC 1123 subdomain", false},
    {"a_b/c", "prefix part a lowercase RFC 1123 subdomain", false},
    {std::string(64, 'k') + "=v", "name part must be no more than 63 characters", false},
    {std::string(254, 'p') + "/k", "prefix part must be no more than 253 characters", false},
    {"a~b", "<nil>: Invalid value: \"a~b\": name part must consist of", false},
    {"x=a||y=b", "unable to parse requirement: values[0][x]: Invalid value: \"a||y\": a valid label must be",
     false},
    // Values.
    {"a=" + std::string(64, 'v'), "unable to parse requirement: values[0][a]: Invalid value: \"" +
                                      std::string(64, 'v') + "\": must be no more than 63 characters"},
    {"a in (" + std::string(64, 'v') + ")", "values[0][a]: Invalid value", false},
    {"a=-b",
     "unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label must be an empty "
     "string or "
     "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
     "character "
     "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
     "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"},
    {"a in (x,-y)", "values[0][a]: Invalid value: \"-y\"", false},  // index into the sorted values
    {"a notin (x,y.)", "values[1][a]: Invalid value: \"y.\"", false},
    // Numeric comparisons.
    {"x<a",
     "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value "
     "must be an integer"},
    {"x>",
     "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must "
     "be an integer"},
    {"x>1.5", "for 'Gt', 'Lt' operators, the value must be an integer", false},
    {"x>99999999999999999999", "for 'Gt', 'Lt' operators, the value must be an integer", false},
    {"x>-1", "values[0][x]: Invalid value: \"-1\": a valid label must be", false},
};

TEST(LabelSelectorParse, BadSelectorsAreBadRequests) {
  for (const auto& c : kBadSelectors) {
    SCOPED_TRACE("input: '" + c.input + "'");
    auto sel = LabelSelector::parse(c.input);
    ASSERT_FALSE(sel.isOk()) << "parsed as '" << sel->toString() << "'";
    EXPECT_EQ(sel.status().code(), Code::kBadRequest);
    if (c.exact) {
      EXPECT_EQ(sel.status().message(), c.message);
    } else {
      EXPECT_NE(sel.status().message().find(c.message), std::string::npos) << sel.status().message();
    }
  }
}

TEST(LabelSelectorParse, SeveralValueErrorsAreAggregated) {
  auto sel = LabelSelector::parse("x>-" + std::string(70, '1'));
  ASSERT_FALSE(sel.isOk());
  const std::string& msg = sel.status().message();
  EXPECT_EQ(msg.rfind("unable to parse requirement: [values[0]: Invalid value: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("the value must be an integer, values[0][x]: Invalid value: "), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("must be no more than 63 characters; a valid label must be"), std::string::npos) << msg;
  EXPECT_EQ(msg.back(), ']');
}

TEST(LabelSelectorParse, ErrorMessagesQuoteLikeGo) {
  auto sel = LabelSelector::parse("a\"b");
  ASSERT_FALSE(sel.isOk());
  EXPECT_NE(sel.status().message().find("Invalid value: \"a\\\"b\""), std::string::npos)
      << sel.status().message();
}

// ---------------------------------------------------------------------------
// LabelSelector::matches

struct MatchCase {
  std::string selector;
  const char* labels;  // JSON
  bool match;
};

const MatchCase kMatchCases[] = {
    {"", R"({"x": "y"})", true},
    {"", "null", true},
    {"", "{}", true},
    {"x=y", R"({"x": "y"})", true},
    {"x==y", R"({"x": "y"})", true},
    {"x=y", R"({"x": "z"})", false},
    {"x=z", "{}", false},
    {"x=", R"({"x": ""})", true},
    {"x=", "{}", false},
    {"x=y,z=w", R"({"x": "y", "z": "w"})", true},
    {"x=y,z=w", R"({"x": "w", "z": "w"})", false},
    {"x!=y,z!=w", R"({"x": "z", "z": "a"})", true},
    {"x!=y,z!=w", R"({"x": "z", "z": "w"})", false},
    {"x!=y", "{}", true},  // != matches an absent key
    {"x!=y", "null", true},
    {"x in (a,b)", R"({"x": "b"})", true},
    {"x in (a,b)", R"({"x": "c"})", false},
    {"x in (a,b)", "{}", false},
    {"x in ()", R"({"x": ""})", true},
    {"x in ()", R"({"y": "baz"})", false},
    {"x notin (a,b)", R"({"x": "c"})", true},
    {"x notin (a,b)", R"({"x": "a"})", false},
    {"x notin (a,b)", "{}", true},  // notin matches an absent key
    {"x notin (a,b)", "null", true},
    {"x notin (),y", R"({"y": ""})", true},
    {"x notin (),!y", R"({"y": ""})", false},
    {"x", R"({"x": "z"})", true},
    {"x", R"({"x": ""})", true},
    {"x", R"({"y": "z"})", false},  // exists does not match an absent key
    {"x", "null", false},
    {"!x", R"({"y": "z"})", true},
    {"!x", "null", true},
    {"!x", R"({"x": "z"})", false},
    {"x>1", R"({"x": "2"})", true},
    {"x>1", R"({"x": "1"})", false},
    {"x>1", R"({"x": "0"})", false},
    {"x>1", R"({"x": "v2"})", false},  // not an integer: no match
    {"x>1", R"({"x": "+5"})", true},
    {"x>1", R"({"x": "-5"})", false},
    {"x>1", "{}", false},
    {"x<1", R"({"x": "0"})", true},
    {"x<1", R"({"x": "-3"})", true},
    {"x<1", R"({"x": "2"})", false},
    {"x<1", R"({"x": ""})", false},
    {"x<1", "{}", false},
    {"x<1", R"({"x": "99999999999999999999"})", false},  // overflows int64
    {"notin=in", R"({"notin": "in"})", true},
    {"foo=bar,baz=blah", R"({"foo": "bar", "baz": "blah"})", true},
    {"foo=bar,foobar=bar,baz=blah", R"({"foo": "bar", "baz": "blah"})", false},
    {"x", R"({"x": 1})", false},  // a non-string value counts as absent
    {"x", R"(["x"])", false},     // not an object: no labels
};

TEST(LabelSelectorMatches, Table) {
  for (const auto& c : kMatchCases) {
    SCOPED_TRACE("selector '" + c.selector + "' labels " + c.labels);
    auto sel = LabelSelector::parse(c.selector);
    ASSERT_TRUE(sel.isOk()) << sel.status().message();
    EXPECT_EQ(sel->matches(Json::parse(c.labels)), c.match);
  }
}

TEST(LabelSelectorMatches, DefaultConstructedSelectsEverything) {
  LabelSelector sel;
  EXPECT_TRUE(sel.empty());
  EXPECT_EQ(sel.toString(), "");
  EXPECT_TRUE(sel.matches(Json::parse(R"({"a": "b"})")));
  EXPECT_TRUE(sel.matches(Json()));
}

// ---------------------------------------------------------------------------
// LabelSelector::fromJson

TEST(LabelSelectorFromJson, NullAbsentAndEmptySelectEverything) {
  for (const char* text : {"null", "{}", R"({"matchLabels": null, "matchExpressions": null})",
                           R"({"matchLabels": {}, "matchExpressions": []})", R"({"unknownField": 1})"}) {
    SCOPED_TRACE(text);
    auto sel = LabelSelector::fromJson(Json::parse(text));
    ASSERT_TRUE(sel.isOk()) << sel.status().message();
    EXPECT_TRUE(sel->empty());
    EXPECT_TRUE(sel->matches(Json::parse(R"({"any": "thing"})")));
  }
}

TEST(LabelSelectorFromJson, MatchLabelsAndExpressions) {
  auto sel = LabelSelector::fromJson(Json::parse(R"({
    "matchLabels": {"tier": "front", "app": "web"},
    "matchExpressions": [
      {"key": "env", "operator": "In", "values": ["prod", "canary"]},
      {"key": "track", "operator": "NotIn", "values": ["beta"]},
      {"key": "owner", "operator": "Exists"},
      {"key": "legacy", "operator": "DoesNotExist", "values": []}
    ]})"));
  ASSERT_TRUE(sel.isOk()) << sel.status().message();
  EXPECT_EQ(sel->toString(), "app=web,env in (canary,prod),!legacy,owner,tier=front,track notin (beta)");
  ASSERT_EQ(sel->requirements().size(), 6u);
  EXPECT_EQ(sel->requirements()[0].op, Op::kEquals);
  EXPECT_EQ(sel->requirements()[1].op, Op::kIn);
  EXPECT_EQ(sel->requirements()[2].op, Op::kDoesNotExist);
  EXPECT_EQ(sel->requirements()[3].op, Op::kExists);
  EXPECT_EQ(sel->requirements()[5].op, Op::kNotIn);

  EXPECT_TRUE(sel->matches(Json::parse(R"({"app": "web", "tier": "front", "env": "prod", "owner": "me"})")));
  EXPECT_TRUE(sel->matches(
      Json::parse(R"({"app": "web", "tier": "front", "env": "canary", "owner": "", "track": "stable"})")));
  EXPECT_FALSE(sel->matches(Json::parse(R"({"app": "web", "tier": "front", "env": "dev", "owner": "me"})")));
  EXPECT_FALSE(sel->matches(Json::parse(R"({"app": "web", "tier": "front", "env": "prod"})")));
  EXPECT_FALSE(sel->matches(
      Json::parse(R"({"app": "web", "tier": "front", "env": "prod", "owner": "me", "legacy": "y"})")));
  EXPECT_FALSE(sel->matches(
      Json::parse(R"({"app": "web", "tier": "front", "env": "prod", "owner": "me", "track": "beta"})")));
  EXPECT_FALSE(sel->matches(Json()));

  // The string form means the same thing.
  auto reparsed = LabelSelector::parse(sel->toString());
  ASSERT_TRUE(reparsed.isOk()) << reparsed.status().message();
  EXPECT_EQ(reparsed->toString(), sel->toString());
}

TEST(LabelSelectorFromJson, InvalidSelectors) {
  struct Case {
    const char* json;
    Code code;
    std::string message;
  };
  const Case cases[] = {
      {R"({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})", Code::kInvalid,
       "\"Gt\" is not a valid label selector operator"},
      {R"({"matchExpressions": [{"key": "a"}]})", Code::kInvalid,
       "\"\" is not a valid label selector operator"},
      {R"({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})", Code::kInvalid,
       "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"},
      {R"({"matchExpressions": [{"key": "a", "operator": "NotIn"}]})", Code::kInvalid,
       "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"},
      {R"({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x", "y"]}]})", Code::kInvalid,
       "values: Invalid value: []string{\"x\", \"y\"}: values set must be empty for exists and does not "
       "exist"},
      {R"({"matchExpressions": [{"key": "a/b/c", "operator": "Exists"}]})", Code::kInvalid,
       "key: Invalid value: \"a/b/c\": a qualified name " + kNameRule +
           " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"},
      {R"({"matchExpressions": [{"operator": "Exists"}]})", Code::kInvalid,
       "key: Invalid value: \"\": name part must be non-empty; name part " + kNameRule},
      {R"({"matchExpressions": [{"key": "a", "operator": "In", "values": ["ok", "not ok"]}]})",
       Code::kInvalid,
       "values[1][a]: Invalid value: \"not ok\": a valid label must be an empty string or consist of "
       "alphanumeric "
       "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  "
       "or "
       "'my_value',  or '12345', regex used for validation is "
       "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"},
      {R"({"matchLabels": {"-bad": "v"}})", Code::kInvalid,
       "key: Invalid value: \"-bad\": name part " + kNameRule},
      {R"({"matchLabels": {"a": "-bad"}})", Code::kInvalid,
       "values[0][a]: Invalid value: \"-bad\": a valid label"},
      // Wrong JSON types.
      {R"("app=web")", Code::kBadRequest, "label selector: expected an object"},
      {R"({"matchLabels": ["a"]})", Code::kBadRequest, "matchLabels: expected an object of strings"},
      {R"({"matchLabels": {"a": 1}})", Code::kBadRequest, "matchLabels[a]: expected a string"},
      {R"({"matchExpressions": {}})", Code::kBadRequest, "matchExpressions: expected an array"},
      {R"({"matchExpressions": [1]})", Code::kBadRequest, "matchExpressions[0]: expected an object"},
      {R"({"matchExpressions": [{"key": 1, "operator": "Exists"}]})", Code::kBadRequest,
       "matchExpressions[0].key: expected a string"},
      {R"({"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]})", Code::kBadRequest,
       "matchExpressions[0].values: expected an array of strings"},
      {R"({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]})", Code::kBadRequest,
       "matchExpressions[0].values: expected an array of strings"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    auto sel = LabelSelector::fromJson(Json::parse(c.json));
    ASSERT_FALSE(sel.isOk()) << "accepted as '" << sel->toString() << "'";
    EXPECT_EQ(sel.status().code(), c.code);
    EXPECT_EQ(sel.status().message().rfind(c.message, 0), 0u) << sel.status().message();
  }
}

TEST(LabelSelectorFromJson, LongMatchLabelValueIsInvalid) {
  Json j = {{"matchLabels", {{"a", std::string(64, 'v')}}}};
  auto sel = LabelSelector::fromJson(j);
  ASSERT_FALSE(sel.isOk());
  EXPECT_EQ(sel.status().code(), Code::kInvalid);
  EXPECT_NE(sel.status().message().find("must be no more than 63 characters"), std::string::npos);
}

// ---------------------------------------------------------------------------
// FieldSelector

using FieldMap = std::map<std::string, std::string, std::less<>>;

// A getter over a fixed set of supported fields.
FieldSelector::FieldGetter getter(const FieldMap& fields) {
  return [&fields](std::string_view f) -> std::optional<std::string> {
    auto it = fields.find(f);
    if (it == fields.end()) return std::nullopt;
    return it->second;
  };
}

TEST(FieldSelectorParse, TermsAndOperators) {
  auto sel = FieldSelector::parse("spec.nodeName!=bar,metadata.name=foo,status.phase==Running");
  ASSERT_TRUE(sel.isOk()) << sel.status().message();
  ASSERT_EQ(sel->requirements().size(), 3u);
  // Terms come out ordered by their text, as in Kubernetes.
  EXPECT_EQ(sel->requirements()[0].field, "metadata.name");
  EXPECT_FALSE(sel->requirements()[0].negate);
  EXPECT_EQ(sel->requirements()[0].value, "foo");
  EXPECT_EQ(sel->requirements()[1].field, "spec.nodeName");
  EXPECT_TRUE(sel->requirements()[1].negate);
  EXPECT_EQ(sel->requirements()[1].value, "bar");
  EXPECT_EQ(sel->requirements()[2].field, "status.phase");
  EXPECT_FALSE(sel->requirements()[2].negate);
  EXPECT_EQ(sel->requirements()[2].value, "Running");
  EXPECT_FALSE(sel->empty());
  EXPECT_EQ(sel->toString(), "metadata.name=foo,spec.nodeName!=bar,status.phase=Running");
}

TEST(FieldSelectorParse, EmptyAndBlankTerms) {
  for (const char* text : {"", ",", ",,"}) {
    auto sel = FieldSelector::parse(text);
    ASSERT_TRUE(sel.isOk()) << sel.status().message();
    EXPECT_TRUE(sel->empty());
    EXPECT_TRUE(sel->matches(getter({})));
  }
  auto sel = FieldSelector::parse(",metadata.name=a,");
  ASSERT_TRUE(sel.isOk());
  ASSERT_EQ(sel->requirements().size(), 1u);
  EXPECT_EQ(sel->requirements()[0].value, "a");
}

TEST(FieldSelectorParse, ValuesMayBeEmptyAndSpacesAreKept) {
  auto sel = FieldSelector::parse("spec.nodeName=,metadata.name = foo");
  ASSERT_TRUE(sel.isOk()) << sel.status().message();
  ASSERT_EQ(sel->requirements().size(), 2u);
  EXPECT_EQ(sel->requirements()[0].field, "metadata.name ");
  EXPECT_EQ(sel->requirements()[0].value, " foo");
  EXPECT_EQ(sel->requirements()[1].field, "spec.nodeName");
  EXPECT_EQ(sel->requirements()[1].value, "");
}

TEST(FieldSelectorParse, FirstOperatorSplitsTheTerm) {
  struct Case {
    std::string input;
    std::string field;
    bool negate;
    std::string value;
  };
  const Case cases[] = {
      {"a!b=c", "a!b", false, "c"}, {"a=!x", "a", false, "!x"},   {"a==!x", "a", false, "!x"},
      {"a!=!x", "a", true, "!x"},   {"a=x!y", "a", false, "x!y"}, {"=x", "", false, "x"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    auto sel = FieldSelector::parse(c.input);
    ASSERT_TRUE(sel.isOk()) << sel.status().message();
    ASSERT_EQ(sel->requirements().size(), 1u);
    EXPECT_EQ(sel->requirements()[0].field, c.field);
    EXPECT_EQ(sel->requirements()[0].negate, c.negate);
    EXPECT_EQ(sel->requirements()[0].value, c.value);
  }
}

TEST(FieldSelectorParse, Escaping) {
  struct Case {
    std::string input;
    std::vector<std::string> values;  // in requirement order
  };
  const Case cases[] = {
      {R"(metadata.name=a\,b)", {"a,b"}},
      {R"(metadata.name=a\=b)", {"a=b"}},
      {R"(metadata.name=a\\b)", {R"(a\b)"}},
      {R"(metadata.name=a\!b)", {"a!b"}},
      {R"(metadata.name!=\,\=\\\!)", {R"(,=\!)"}},
      {R"(a=x\\,b=y)", {R"(x\)", "y"}},  // an escaped backslash does not escape the comma
      {R"(a=x\,b\=y)", {"x,b=y"}},       // an escaped comma joins the terms
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    auto sel = FieldSelector::parse(c.input);
    ASSERT_TRUE(sel.isOk()) << sel.status().message();
    std::vector<std::string> values;
    for (const auto& r : sel->requirements()) values.push_back(r.value);
    EXPECT_EQ(values, c.values);
  }
}

TEST(FieldSelectorParse, ToStringEscapesAndRoundTrips) {
  auto sel = FieldSelector::parse(R"(metadata.name=a\,b\=c\\d,spec.x!=y)");
  ASSERT_TRUE(sel.isOk()) << sel.status().message();
  EXPECT_EQ(sel->toString(), R"(metadata.name=a\,b\=c\\d,spec.x!=y)");
  auto again = FieldSelector::parse(sel->toString());
  ASSERT_TRUE(again.isOk());
  ASSERT_EQ(again->requirements().size(), 2u);
  EXPECT_EQ(again->requirements()[0].value, R"(a,b=c\d)");
}

TEST(FieldSelectorParse, BadSelectorsAreBadRequests) {
  struct Case {
    std::string input;
    std::string message;
  };
  const Case cases[] = {
      {"metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"},
      {"a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"},
      {"a<b", "invalid selector: 'a<b'; can't understand 'a<b'"},
      {"a=b=c", "invalid field selector: unescaped character in value: ="},
      {"metadata.name!==x", "invalid field selector: unescaped character in value: ="},
      {"metadata.name===x", "invalid field selector: unescaped character in value: ="},
      {R"(a=x\y)", R"(invalid field selector: invalid escape sequence: \y)"},
      {R"(a=x\)", R"(invalid field selector: invalid escape sequence: \)"},
      {"a=x\\\xc3\xa9", "invalid field selector: invalid escape sequence: \\\xc3\xa9"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    auto sel = FieldSelector::parse(c.input);
    ASSERT_FALSE(sel.isOk()) << "accepted as '" << sel->toString() << "'";
    EXPECT_EQ(sel.status().code(), Code::kBadRequest);
    EXPECT_EQ(sel.status().message(), c.message);
  }
}

TEST(FieldSelectorMatches, EqualsAndNotEquals) {
  const FieldMap pod = {{"metadata.name", "web-1"}, {"metadata.namespace", "prod"}, {"spec.nodeName", ""}};
  struct Case {
    std::string selector;
    bool match;
  };
  const Case cases[] = {
      {"", true},
      {"metadata.name=web-1", true},
      {"metadata.name==web-1", true},
      {"metadata.name=web-2", false},
      {"metadata.name!=web-2", true},
      {"metadata.name!=web-1", false},
      {"metadata.name=web-1,metadata.namespace=prod", true},
      {"metadata.name=web-1,metadata.namespace=dev", false},
      {"metadata.name=web-1,metadata.namespace!=prod", false},
      {"spec.nodeName=", true},  // unscheduled
      {"spec.nodeName!=", false},
      {"spec.unknown=", true},  // an unsupported field reads as "", as in Kubernetes
      {"spec.unknown!=x", true},
      {"spec.unknown=x", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.selector);
    auto sel = FieldSelector::parse(c.selector);
    ASSERT_TRUE(sel.isOk()) << sel.status().message();
    EXPECT_EQ(sel->matches(getter(pod)), c.match);
  }
}

TEST(FieldSelectorMatches, EscapedValueComparesUnescaped) {
  const FieldMap obj = {{"metadata.name", "a,b=c"}};
  auto sel = FieldSelector::parse(R"(metadata.name=a\,b\=c)");
  ASSERT_TRUE(sel.isOk()) << sel.status().message();
  EXPECT_TRUE(sel->matches(getter(obj)));
}

TEST(FieldSelectorCheck, ReportsFirstUnsupportedField) {
  const FieldMap pod = {{"metadata.name", "web-1"}, {"spec.nodeName", "n1"}};
  auto ok = FieldSelector::parse("metadata.name=x,spec.nodeName!=y");
  ASSERT_TRUE(ok.isOk());
  EXPECT_TRUE(ok->check(getter(pod)).isOk());

  auto bad = FieldSelector::parse("spec.nodeName=n1,spec.zzz=1,spec.aaa=2");
  ASSERT_TRUE(bad.isOk());
  Status s = bad->check(getter(pod));
  EXPECT_EQ(s.code(), Code::kBadRequest);
  EXPECT_EQ(s.message(), "field label not supported: spec.aaa");  // terms are ordered by text

  auto spaced = FieldSelector::parse("metadata.name =x");
  ASSERT_TRUE(spaced.isOk());
  EXPECT_EQ(spaced->check(getter(pod)).message(), "field label not supported: metadata.name ");

  EXPECT_TRUE(FieldSelector().check(getter({})).isOk());
}

TEST(FieldSelectorExactValue, PinnedOnlyByEquals) {
  auto sel = FieldSelector::parse("metadata.name=web-1,metadata.namespace!=kube-system,spec.nodeName==n1");
  ASSERT_TRUE(sel.isOk()) << sel.status().message();
  EXPECT_EQ(sel->exactValue("metadata.name"), std::optional<std::string>("web-1"));
  EXPECT_EQ(sel->exactValue("spec.nodeName"), std::optional<std::string>("n1"));
  EXPECT_EQ(sel->exactValue("metadata.namespace"), std::nullopt);
  EXPECT_EQ(sel->exactValue("status.phase"), std::nullopt);

  auto escaped = FieldSelector::parse(R"(metadata.name=a\,b)");
  ASSERT_TRUE(escaped.isOk());
  EXPECT_EQ(escaped->exactValue("metadata.name"), std::optional<std::string>("a,b"));

  auto empty = FieldSelector::parse("metadata.name=");
  ASSERT_TRUE(empty.isOk());
  EXPECT_EQ(empty->exactValue("metadata.name"), std::optional<std::string>(""));

  EXPECT_EQ(FieldSelector().exactValue("metadata.name"), std::nullopt);
}

}  // namespace
}  // namespace capstan::api
