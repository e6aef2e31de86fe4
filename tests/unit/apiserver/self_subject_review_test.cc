// authentication.k8s.io SelfSubjectReview, as `kubectl auth whoami` uses it.
#include "apiserver/self_subject_review.h"

#include <gtest/gtest.h>

namespace capstan::apiserver {
namespace {

RequestInfo review(std::string version, std::string verb = "create") {
  RequestInfo ri;
  ri.is_resource = true;
  ri.group = "authentication.k8s.io";
  ri.version = std::move(version);
  ri.resource = "selfsubjectreviews";
  ri.verb = std::move(verb);
  return ri;
}

Request reviewPost(std::string body, std::string type = "application/json") {
  Request req;
  req.method = "POST";
  req.body = std::move(body);
  if (!type.empty()) req.headers["content-type"] = type;
  req.user = UserInfo{"system:admin", "", {"system:masters"}};
  return req;
}

const WallTime kNow = *parseRfc3339("2026-11-26T08:00:00Z");

TEST(SelfSubjectReview, AnswersTheAuthenticatedUserInTheVersionAsked) {
  // What kubectl 1.31 posts (kubectl 1.27 posts the same to v1beta1).
  Response r = serveSelfSubjectReview(
      review("v1"),
      reviewPost(
          R"({"kind":"SelfSubjectReview","apiVersion":"authentication.k8s.io/v1","metadata":{"creationTimestamp":null},"status":{"userInfo":{}}})"),
      kNow);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(Json::parse(r.body),
            Json::parse(R"({"kind":"SelfSubjectReview","apiVersion":"authentication.k8s.io/v1",
    "metadata":{"creationTimestamp":"2026-11-26T08:00:00Z"},
    "status":{"userInfo":{"username":"system:admin","groups":["system:masters","system:authenticated"]}}})"));

  r = serveSelfSubjectReview(review("v1beta1"), reviewPost("{}"), kNow);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(Json::parse(r.body)["apiVersion"], "authentication.k8s.io/v1beta1");
}

TEST(SelfSubjectReview, UserInfoKeepsUidAndAddsAuthenticatedOnce) {
  EXPECT_EQ(userInfoJson(UserInfo{"alice", "42", {"dev", "system:authenticated"}}),
            Json::parse(R"({"username":"alice","uid":"42","groups":["dev","system:authenticated"]})"));
  EXPECT_EQ(userInfoJson(UserInfo{"bob", "", {}}),
            Json::parse(R"({"username":"bob","groups":["system:authenticated"]})"));
}

TEST(SelfSubjectReview, OnlyCreateIsAllowed) {
  for (const char* verb : {"list", "get", "delete", "update", "patch", "watch"})
    EXPECT_EQ(serveSelfSubjectReview(review("v1", verb), reviewPost(""), kNow).status, 405) << verb;
}

TEST(SelfSubjectReview, MalformedJsonIsABadRequestButOtherBodiesAreNotRead) {
  EXPECT_EQ(serveSelfSubjectReview(review("v1"), reviewPost("{not json"), kNow).status, 400);
  // A protobuf body (kubectl 1.32+ typed clients): the content is ignored, as upstream ignores it.
  EXPECT_EQ(
      serveSelfSubjectReview(review("v1"), reviewPost("k8s\0\n", "application/vnd.kubernetes.protobuf"), kNow)
          .status,
      201);
  EXPECT_EQ(serveSelfSubjectReview(review("v1"), reviewPost("", ""), kNow).status, 201);
}

TEST(SelfSubjectReview, RecognisesOnlyTheServedVersions) {
  EXPECT_TRUE(isSelfSubjectReview(review("v1")));
  EXPECT_TRUE(isSelfSubjectReview(review("v1beta1")));
  EXPECT_FALSE(isSelfSubjectReview(review("v1alpha1")));
  RequestInfo other = review("v1");
  other.resource = "tokenreviews";
  EXPECT_FALSE(isSelfSubjectReview(other));
}

}  // namespace
}  // namespace capstan::apiserver
