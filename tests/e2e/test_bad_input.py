"""Bad input: every malformed or inconsistent request gets the right 4xx
Kubernetes Status, changes nothing that is stored, and leaves the server
answering. Then a seeded stream of random/mutated bodies against create
(and patch) must never produce a 5xx or take the server down.

Expected codes/reasons are what an upstream kube-apiserver 1.31 answers.
"""
import json
import random
import unittest
import urllib.parse

from harness import Server, ServerTestCase, http_interleaved, raw_http, request_json

NS = "bad-input"
CM = f"/api/v1/namespaces/{NS}/configmaps"
PODS = f"/api/v1/namespaces/{NS}/pods"
SVC = f"/api/v1/namespaces/{NS}/services"
DEPLOY = f"/apis/apps/v1/namespaces/{NS}/deployments"

JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "application/yaml"}
MERGE = {"Content-Type": "application/merge-patch+json"}
SMP = {"Content-Type": "application/strategic-merge-patch+json"}
JSONPATCH = {"Content-Type": "application/json-patch+json"}


def configmap(name, **extra):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}, **extra}


def deployment(name):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                                           "ports": [{"containerPort": 80}]}]}}}}


def pod(name):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"],
                                     "env": [{"name": "A", "value": "b"}],
                                     "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}}


def service(name):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": "x"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


class BadInputBase(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            for path, body in (("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                        "metadata": {"name": NS}}),
                               (CM, configmap("seed")), (DEPLOY, deployment("seed")),
                               (PODS, pod("seed")), (SVC, service("seed"))):
                status, doc, _ = request_json(cls.server, "POST", path, body)
                assert status == 201, (path, status, doc)
        except Exception:
            super().tearDownClass()
            raise

    # -- helpers ---------------------------------------------------------

    def snapshot(self):
        """Everything a bad request could have touched: the objects (name ->
        resourceVersion and content) in our namespace and the store's
        current resourceVersion (any write would move it)."""
        snap = {}
        for path in (CM, PODS, SVC, DEPLOY, "/api/v1/namespaces"):
            status, doc, _ = request_json(self.server, "GET", path)
            self.assertEqual(status, 200, doc)
            snap[path] = {i["metadata"]["name"]: json.dumps(i, sort_keys=True) for i in doc["items"]}
        status, doc, _ = request_json(self.server, "GET", "/api/v1/configmaps?limit=1")
        snap["rv"] = doc["metadata"]["resourceVersion"]
        return snap

    def assertServerAlive(self):
        self.assertIsNone(self.server.proc.poll(), "the server process died")
        status, text, _ = self.server.request("GET", "/readyz")
        self.assertEqual((status, text), (200, "ok"))
        status, doc, _ = request_json(self.server, "GET", CM + "/seed")
        self.assertEqual(status, 200, doc)

    def assertStatusBody(self, status, doc, code, reason):
        self.assertEqual(status, code, doc)
        self.assertIsInstance(doc, dict, f"expected a Status body, got {doc!r}")
        self.assertEqual(doc.get("kind"), "Status", doc)
        self.assertEqual(doc.get("apiVersion"), "v1", doc)
        self.assertEqual(doc.get("status"), "Failure", doc)
        self.assertEqual(doc.get("code"), code, doc)
        self.assertEqual(doc.get("reason"), reason, doc)

    def rejected(self, method, path, body, headers, code, reason, message=None):
        """Sends one bad request and checks the Status, that nothing stored
        changed and that the server still answers. Returns the Status."""
        before = self.snapshot()
        status, doc, _ = request_json(self.server, method, path, body, headers)
        self.assertStatusBody(status, doc, code, reason)
        if message is not None:
            self.assertIn(message, doc.get("message", ""))
        self.assertEqual(self.snapshot(), before, "a rejected request changed stored data")
        self.assertServerAlive()
        return doc


class MalformedBodies(BadInputBase):
    def test_malformed_json(self):
        for body in (b'{"apiVersion":', b'{"apiVersion":"v1",}', b"{'single':'quotes'}", b'{"a":1}}',
                     b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}, "data": {"k": "v"', b"nul\x00l"):
            with self.subTest(body=body):
                self.rejected("POST", CM, body, JSON, 400, "BadRequest")

    def test_malformed_yaml(self):
        for body in (b"a: [b\n c: d", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   bad: indent\n",
                     b"\t- tab\n", b"{a: [}\n"):
            with self.subTest(body=body):
                self.rejected("POST", CM, body, YAML, 400, "BadRequest")
        # Well-formed YAML is accepted (the control case).
        status, doc, _ = request_json(self.server, "POST", CM,
                                      b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  k: v\n",
                                      YAML)
        self.assertEqual(status, 201, doc)
        self.assertEqual(doc["data"], {"k": "v"})

    def test_body_over_3_mib(self):
        # Sent like a Go client (kubectl): the answer is read while the body
        # is still being written.
        big = json.dumps(configmap("big", data={"k": "x" * (3 * 1024 * 1024 + 10)})).encode()
        before = self.snapshot()
        status, _, raw = http_interleaved(self.server, "POST", CM, big, [("Content-Type", "application/json")])
        doc = json.loads(raw) if raw.startswith(b"{") else raw
        self.assertStatusBody(status, doc, 413, "RequestEntityTooLarge")
        self.assertEqual(self.snapshot(), before)
        self.assertServerAlive()
        # Just under the limit but over a ConfigMap's own 1 MiB data cap: 422, not 413.
        body = json.dumps(configmap("big", data={"k": "x" * (1024 * 1024 + 10)})).encode()
        self.rejected("POST", CM, body, JSON, 422, "Invalid")

    def test_body_over_3_mib_write_then_read_client(self):
        # urllib / urllib3 (the Python client) write the whole body before
        # reading. Upstream reads the body up to the limit before answering
        # 413, so such clients get the Status too; an answer sent before the
        # body was consumed, followed by a close, turns into a connection
        # reset / EOF on the client instead.
        big = json.dumps(configmap("big", data={"k": "x" * (3 * 1024 * 1024 + 10)})).encode()
        for i in range(5):
            with self.subTest(attempt=i):
                try:
                    status, doc, _ = request_json(self.server, "POST", CM, big, JSON, timeout=20)
                except Exception as e:  # noqa: BLE001 - report what the client saw
                    self.fail(f"no 413 Status, the client saw {e!r}")
                self.assertStatusBody(status, doc, 413, "RequestEntityTooLarge")
        self.assertServerAlive()

    def test_deeply_nested_document(self):
        for body in (b"[" * 100000 + b"]" * 100000,
                     b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":'
                     + b'{"a":' * 100000 + b"1" + b"}" * 100001):
            with self.subTest(len=len(body)):
                self.rejected("POST", CM, body, JSON, 400, "BadRequest")
        self.rejected("POST", CM, b"[" * 100000, YAML, 400, "BadRequest")

    def test_non_object_bodies(self):
        for body in (b"[1,2]", b'"a string"', b"42", b"null", b"true", b"[]"):
            with self.subTest(body=body):
                self.rejected("POST", CM, body, JSON, 400, "BadRequest")
        self.rejected("POST", CM, b"- a\n- b\n", YAML, 400, "BadRequest")

    def test_empty_body(self):
        self.rejected("POST", CM, b"", JSON, 400, "BadRequest")

    def test_binary_garbage(self):
        rnd = random.Random(1234)
        for i in range(5):
            body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 4096)))
            with self.subTest(i=i):
                self.rejected("POST", CM, body, JSON, 400, "BadRequest")
        self.rejected("POST", CM, bytes(range(256)), YAML, 400, "BadRequest")
        self.rejected("POST", CM, b"\xff\xfe{\x00}\x00", JSON, 400, "BadRequest")

    @staticmethod
    def wrong_types(p):
        return [
            (CM, configmap(p + "t1", data=5)),
            (CM, configmap(p + "t2", data={"a": 5})),
            (CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": p + "t3", "labels": "x"}}),
            (CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": p + "t4", "annotations": ["a"]}}),
            (CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 5}}),
            (DEPLOY, dict(deployment(p + "t5"), spec=dict(deployment(p + "t5")["spec"], replicas="three"))),
            (PODS, dict(pod(p + "t6"), spec={"containers": {"name": "c", "image": "i"}})),
            (SVC, dict(service(p + "t7"), spec={"ports": [{"port": "eighty"}]})),
            (CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": p + "t8", "finalizers": "x"}}),
            (CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": p + "t9", "labels": {"a": 5}}}),
            (PODS, dict(pod(p + "t10"), spec={"containers": [{"name": "c", "image": "i",
                                                              "resources": {"limits": {"cpu": "abc"}}}]})),
            (SVC, dict(service(p + "t11"), spec={"ports": [{"name": "a", "port": 80}], "clusterIP": 5})),
            (SVC, dict(service(p + "t12"), spec={"ports": [{"name": "a", "port": 80}], "clusterIPs": "x"})),
            (DEPLOY, dict(deployment(p + "t13"), spec=dict(deployment(p + "t13")["spec"],
                                                            strategy={"rollingUpdate": {"maxSurge": []}}))),
            ("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": p + "t14"},
                                    "spec": {"finalizers": 5}}),
        ]

    def test_wrong_field_types_are_not_stored(self):
        # A value of the wrong JSON type (or an unparsable quantity) must be
        # rejected; storing it poisons every typed client that lists the
        # collection afterwards.
        for path, body in self.wrong_types("stored-"):
            with self.subTest(name=body["metadata"]["name"]):
                before = self.snapshot()
                status, doc, _ = request_json(self.server, "POST", path, body, JSON)
                self.assertTrue(400 <= status < 500, (status, doc))
                self.assertEqual(self.snapshot(), before, "a rejected request changed stored data")

    def test_wrong_field_types_are_400(self):
        # Upstream decodes into typed structs: the wrong JSON type is a 400
        # ("ConfigMap in version "v1" cannot be handled as a ConfigMap: json:
        # cannot unmarshal number into Go struct field ConfigMap.data of type
        # map[string]string"), before any validation (422).
        for path, body in self.wrong_types("code-"):
            with self.subTest(name=body["metadata"]["name"]):
                self.rejected("POST", path, body, JSON, 400, "BadRequest")

    def test_wrong_field_types_through_patch(self):
        # Upstream (endpoints/handlers/patch.go) decodes the patched object
        # and turns a decode error into 422 Invalid on field "patch".
        self.rejected("PATCH", CM + "/seed", {"metadata": {"labels": 5}}, MERGE, 422, "Invalid")
        self.rejected("PATCH", CM + "/seed", {"data": {"k": ["x"]}}, MERGE, 422, "Invalid")
        self.rejected("PATCH", DEPLOY + "/seed", {"spec": {"replicas": "many"}}, SMP, 422, "Invalid")
        self.rejected("PATCH", CM + "/seed", [{"op": "replace", "path": "/data", "value": 5}], JSONPATCH,
                      422, "Invalid")


class MismatchedObjects(BadInputBase):
    def test_kind_does_not_match_path(self):
        doc = self.rejected("POST", PODS, service("svc-on-pods"), JSON, 400, "BadRequest")
        self.assertIn("Service", doc["message"])
        self.rejected("POST", CM, deployment("d-on-cm"), JSON, 400, "BadRequest")
        self.rejected("POST", DEPLOY, dict(deployment("d"), kind="StatefulSet"), JSON, 400, "BadRequest")
        self.rejected("POST", CM, dict(configmap("x"), kind="Nope"), JSON, 400, "BadRequest")

    def test_api_version_mismatch(self):
        self.rejected("POST", CM, dict(configmap("av"), apiVersion="apps/v1"), JSON, 400, "BadRequest")
        self.rejected("POST", DEPLOY, dict(deployment("av"), apiVersion="v1"), JSON, 400, "BadRequest")
        self.rejected("POST", DEPLOY, dict(deployment("av"), apiVersion="apps/v1beta1"), JSON, 400, "BadRequest")
        self.rejected("POST", CM, dict(configmap("av"), apiVersion="v2"), JSON, 400, "BadRequest")

    def test_name_in_body_differs_from_url_on_put(self):
        status, cur, _ = request_json(self.server, "GET", CM + "/seed")
        body = json.loads(json.dumps(cur))
        body["metadata"]["name"] = "other"
        doc = self.rejected("PUT", CM + "/seed", body, JSON, 400, "BadRequest")
        self.assertIn("does not match the name on the URL", doc["message"])

    def test_name_change_through_patch(self):
        self.rejected("PATCH", CM + "/seed", {"metadata": {"name": "renamed"}}, MERGE, 400, "BadRequest")

    def test_namespace_in_body_differs_from_url(self):
        body = configmap("ns-mismatch")
        body["metadata"]["namespace"] = "default"
        doc = self.rejected("POST", CM, body, JSON, 400, "BadRequest")
        self.assertIn("namespace", doc["message"])
        status, cur, _ = request_json(self.server, "GET", CM + "/seed")
        cur["metadata"]["namespace"] = "kube-system"
        self.rejected("PUT", CM + "/seed", cur, JSON, 400, "BadRequest")
        # ...and the object did not appear in the other namespace either.
        status, doc, _ = request_json(self.server, "GET", "/api/v1/namespaces/default/configmaps/ns-mismatch")
        self.assertEqual(status, 404)

    def test_update_without_body_name(self):
        # The body's name must match the URL's, even when it is missing.
        status, cur, _ = request_json(self.server, "GET", CM + "/seed")
        del cur["metadata"]["name"]
        self.rejected("PUT", CM + "/seed", cur, JSON, 400, "BadRequest")


class FieldValidation(BadInputBase):
    def test_strict_unknown_top_level_field(self):
        doc = self.rejected("POST", CM + "?fieldValidation=Strict", configmap("strict", foo=1), JSON,
                            400, "BadRequest")
        self.assertIn('unknown field "foo"', doc["message"])
        self.assertIn("strict decoding error", doc["message"])

    def test_strict_unknown_nested_field(self):
        body = deployment("strict-nested")
        body["spec"]["template"]["spec"]["containers"][0]["imagee"] = "typo"
        doc = self.rejected("POST", DEPLOY + "?fieldValidation=Strict", body, JSON, 400, "BadRequest")
        self.assertIn('unknown field "spec.template.spec.containers[0].imagee"', doc["message"])

    def test_strict_duplicate_field(self):
        body = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"a":"1"},"data":{"b":"2"}}'
        doc = self.rejected("POST", CM + "?fieldValidation=Strict", body, JSON, 400, "BadRequest")
        self.assertIn('duplicate field "data"', doc["message"])

    def test_strict_on_update(self):
        status, cur, _ = request_json(self.server, "GET", CM + "/seed")
        cur["bogus"] = True
        doc = self.rejected("PUT", CM + "/seed?fieldValidation=Strict", cur, JSON, 400, "BadRequest")
        self.assertIn('unknown field "bogus"', doc["message"])

    def test_strict_on_patch_is_422(self):
        # For patches upstream decodes the patched object and reports strict
        # errors as 422 Invalid on field "patch" (endpoints/handlers/patch.go).
        doc = self.rejected("PATCH", CM + "/seed?fieldValidation=Strict", {"bogus": True}, MERGE, 422, "Invalid")
        self.assertIn('unknown field "bogus"', doc["message"])

    def test_warn_unknown_field(self):
        status, doc, hdrs = request_json(self.server, "POST", CM + "?fieldValidation=Warn", configmap("warned", foo=1))
        self.assertEqual(status, 201, doc)
        warning = {k.lower(): v for k, v in hdrs.items()}.get("warning", "")
        self.assertEqual(warning, '299 - "unknown field \\"foo\\""')

    def test_unknown_fields_are_not_stored(self):
        # Warn and Ignore accept the object but drop the unknown field, as
        # does a request without fieldValidation (the default is Warn).
        for q, name in (("?fieldValidation=Warn", "drop-warn"), ("?fieldValidation=Ignore", "drop-ignore"),
                        ("", "drop-default")):
            with self.subTest(q=q):
                status, doc, _ = request_json(self.server, "POST", CM + q, configmap(name, foo=1))
                self.assertEqual(status, 201, doc)
                self.assertNotIn("foo", doc)
                status, doc, _ = request_json(self.server, "GET", CM + "/" + name)
                self.assertNotIn("foo", doc)

    def test_invalid_field_validation_value(self):
        self.rejected("POST", CM + "?fieldValidation=Bogus", configmap("fv"), JSON, 400, "BadRequest")


class BadQueries(BadInputBase):
    def test_invalid_label_selector(self):
        for sel in ("a in (", "a=b=c", "!", "a notin b", "=x", "a,,b", "a in (b", "a!"):
            with self.subTest(selector=sel):
                self.rejected("GET", CM + "?labelSelector=" + urllib.parse.quote(sel), None, None,
                              400, "BadRequest")
        self.rejected("GET", CM + "?watch=true&labelSelector=" + urllib.parse.quote("a in ("), None, None,
                      400, "BadRequest")

    def test_unsupported_field_selector(self):
        doc = self.rejected("GET", CM + "?fieldSelector=" + urllib.parse.quote("data.k=v"), None, None,
                            400, "BadRequest")
        self.assertIn("data.k", doc["message"])
        self.rejected("GET", PODS + "?fieldSelector=" + urllib.parse.quote("spec.nope=1"), None, None,
                      400, "BadRequest")
        self.rejected("GET", CM + "?fieldSelector=" + urllib.parse.quote("metadata.name"), None, None,
                      400, "BadRequest")
        self.rejected("GET", CM + "?watch=1&fieldSelector=" + urllib.parse.quote("data.k=v"), None, None,
                      400, "BadRequest")

    def test_invalid_resource_version_and_limit(self):
        self.rejected("GET", CM + "?resourceVersion=abc", None, None, 400, "BadRequest")
        self.rejected("GET", CM + "?limit=abc", None, None, 400, "BadRequest")
        self.rejected("GET", CM + "?limit=5&continue=bm90LWEtdG9rZW4=", None, None, 400, "BadRequest")


class BadPathsAndMethods(BadInputBase):
    def test_paths_that_do_not_exist(self):
        for path in (f"/api/v1/namespaces/{NS}/nothings", "/apis/nogroup/v1/things", "/api/v2/pods",
                     "/apis/apps/v9/deployments", f"/api/v1/namespaces/{NS}/configmaps/seed/nosub",
                     f"/apis/apps/v1/namespaces/{NS}/deployments/seed/nosub"):
            with self.subTest(path=path):
                status, doc, _ = request_json(self.server, "GET", path)
                self.assertStatusBody(status, doc, 404, "NotFound")
        for path in ("/nothing", "/apiz", "/api/v1/namespaces/" + NS + "/configmaps/seed/x/y/z"):
            status, _, _ = self.server.request("GET", path)
            self.assertEqual(status, 404, path)
        self.rejected("POST", f"/api/v1/namespaces/{NS}/nothings", configmap("x"), JSON, 404, "NotFound")
        self.rejected("GET", CM + "/missing", None, None, 404, "NotFound")
        self.rejected("DELETE", CM + "/missing", None, None, 404, "NotFound")
        self.rejected("PATCH", CM + "/missing", {"data": {}}, MERGE, 404, "NotFound")

    def test_method_not_allowed(self):
        # PUT / PATCH on a collection, POST on a single object.
        self.rejected("PUT", CM, configmap("x"), JSON, 405, "MethodNotAllowed")
        self.rejected("PATCH", CM, {"data": {}}, MERGE, 405, "MethodNotAllowed")
        self.rejected("POST", CM + "/seed", configmap("seed"), JSON, 405, "MethodNotAllowed")

    def test_unsupported_patch_content_type(self):
        for ct in ("text/plain", "application/xml", "application/json", "application/yaml"):
            with self.subTest(ct=ct):
                self.rejected("PATCH", CM + "/seed", b'{"data":{"k":"w"}}', {"Content-Type": ct},
                              415, "UnsupportedMediaType")

    def test_unsupported_create_content_type(self):
        self.rejected("POST", CM, json.dumps(configmap("ct")).encode(), {"Content-Type": "text/plain"},
                      415, "UnsupportedMediaType")
        self.rejected("POST", CM, json.dumps(configmap("ct")).encode(), {"Content-Type": "application/xml"},
                      415, "UnsupportedMediaType")

    def test_not_acceptable(self):
        status, doc, _ = request_json(self.server, "GET", CM, headers={"Accept": "application/xml"})
        self.assertStatusBody(status, doc, 406, "NotAcceptable")

    def test_json_patch_that_fails_to_apply(self):
        for ops in ([{"op": "remove", "path": "/data/nope"}],
                    [{"op": "replace", "path": "/data/nope", "value": "x"}],
                    [{"op": "test", "path": "/data/k", "value": "not-v"}],
                    [{"op": "add", "path": "/no/such/parent", "value": 1}],
                    [{"op": "move", "from": "/data/nope", "path": "/data/x"}]):
            with self.subTest(ops=ops):
                self.rejected("PATCH", CM + "/seed", ops, JSONPATCH, 422, "Invalid")

    def test_malformed_patches(self):
        self.rejected("PATCH", CM + "/seed", b'{"op":"add"}', JSONPATCH, 400, "BadRequest")
        # (upstream decodes any op name and fails at apply time: 422)
        self.rejected("PATCH", CM + "/seed", b'[{"op":"frobnicate","path":"/data/k"}]', JSONPATCH,
                      422, "Invalid")
        self.rejected("PATCH", CM + "/seed", b"{not json", MERGE, 400, "BadRequest")
        self.rejected("PATCH", CM + "/seed", b"{not json", SMP, 400, "BadRequest")
        self.rejected("PATCH", CM + "/seed", b"", MERGE, 400, "BadRequest")

    def test_patch_producing_invalid_object(self):
        self.rejected("PATCH", CM + "/seed", {"metadata": {"labels": {"bad key!": "x"}}}, MERGE, 422, "Invalid")
        self.rejected("PATCH", DEPLOY + "/seed", {"spec": {"replicas": -3}}, MERGE, 422, "Invalid")
        self.rejected("PATCH", DEPLOY + "/seed",
                      [{"op": "replace", "path": "/spec/selector", "value": {"matchLabels": {"app": "z"}}}],
                      JSONPATCH, 422, "Invalid")


# ---------------------------------------------------------------------------
# Single requests that aborted the whole server (SIGABRT from an uncaught
# nlohmann::json exception) before commit 893d6d9, and since then answer
# 500 InternalError. Each must be an ordinary 4xx. Each test gets a fresh
# server, so that one crash cannot hide the others.

class OneBadRequest(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.cleanup)
        self.server.start()
        for path, body in (("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
                           (CM, configmap("seed")), (DEPLOY, deployment("seed"))):
            status, doc, _ = request_json(self.server, "POST", path, body)
            self.assertEqual(status, 201, doc)

    def send(self, method, target, headers=(), body=b""):
        status, hdrs, raw = raw_http(self.server, method, target, headers, body)
        try:
            self.server.proc.wait(timeout=0.3)
        except Exception:
            pass
        if self.server.proc.poll() is not None:
            log = self.server.read_log()
            self.fail(f"{method} {target!r} killed the server (exit {self.server.proc.returncode}): "
                      f"{log[log.find('terminate'):][:300] if 'terminate' in log else log[-300:]}")
        self.assertIsNotNone(status, "connection dropped without an answer")
        doc = json.loads(raw) if raw.startswith(b"{") else None
        status2, text, _ = self.server.request("GET", "/readyz")
        self.assertEqual((status2, text), (200, "ok"))
        return status, doc

    def expect(self, method, target, code, reason, headers=(), body=b""):
        status, doc = self.send(method, target, headers, body)
        self.assertEqual(status, code, doc)
        self.assertEqual((doc or {}).get("kind"), "Status", doc)
        self.assertEqual(doc.get("code"), code, doc)
        self.assertEqual(doc.get("reason"), reason, doc)
        return doc

    # Invalid UTF-8 echoed into an error message. Upstream answers with the
    # bytes replaced by U+FFFD.
    def test_get_object_with_invalid_utf8_name(self):
        self.expect("GET", CM + "/%FF%FE", 404, "NotFound")

    def test_delete_object_with_invalid_utf8_name(self):
        self.expect("DELETE", CM + "/%FF", 404, "NotFound")

    def test_get_namespace_with_invalid_utf8_name(self):
        self.expect("GET", "/api/v1/namespaces/%FF", 404, "NotFound")

    def test_scale_of_invalid_utf8_name(self):
        self.expect("GET", DEPLOY + "/%FF/scale", 404, "NotFound")

    def test_create_in_invalid_utf8_namespace(self):
        self.expect("POST", "/api/v1/namespaces/%FF/configmaps", 404, "NotFound",
                    [("Content-Type", "application/json")], json.dumps(configmap("a")).encode())

    def test_list_with_invalid_utf8_continue(self):
        self.expect("GET", CM + "?limit=1&continue=%FF%FE", 400, "BadRequest")

    def test_list_with_invalid_utf8_resource_version(self):
        self.expect("GET", CM + "?resourceVersion=%FF", 400, "BadRequest")

    def test_list_with_invalid_utf8_limit(self):
        self.expect("GET", CM + "?limit=%FF", 400, "BadRequest")

    def test_watch_with_invalid_utf8_timeout(self):
        self.expect("GET", CM + "?watch=1&timeoutSeconds=%FF", 400, "BadRequest")

    def test_create_with_invalid_utf8_field_validation(self):
        self.expect("POST", CM + "?fieldValidation=%FF", 400, "BadRequest",
                    [("Content-Type", "application/json")], json.dumps(configmap("fv")).encode())

    def test_create_with_invalid_utf8_content_type(self):
        self.expect("POST", CM, 415, "UnsupportedMediaType",
                    [("Content-Type", b"application/\xff")], json.dumps(configmap("ct")).encode())

    def test_yaml_body_with_invalid_utf8(self):
        self.expect("POST", CM, 400, "BadRequest", [("Content-Type", "application/yaml")],
                    b'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: utf\ndata:\n  k: "\x83"\n')

    # Strategic merge patch directives of the wrong type. Upstream rejects
    # the patch ("unknown patch type ..."); it must never abort the process.
    def smp(self, path, body):
        status, doc = self.send("PATCH", path, [("Content-Type", "application/strategic-merge-patch+json")], body)
        self.assertTrue(400 <= status < 500, (status, doc))
        self.assertEqual((doc or {}).get("kind"), "Status", doc)

    def test_smp_top_level_patch_directive_array(self):
        self.smp(CM + "/seed", b'{"$patch": []}')

    def test_smp_nested_patch_directive_number(self):
        self.smp(CM + "/seed", b'{"data": {"$patch": 5}}')

    def test_smp_metadata_patch_directive_object(self):
        self.smp(CM + "/seed", b'{"metadata": {"$patch": {}}}')

    def test_smp_list_item_patch_directive_number(self):
        self.smp(DEPLOY + "/seed", b'{"spec":{"template":{"spec":{"containers":[{"$patch": 1, "name":"web"}]}}}}')

    def test_merge_patch_service_ports_of_wrong_type(self):
        status, doc, _ = request_json(self.server, "POST", SVC, service("seed"))
        self.assertEqual(status, 201, doc)
        for body in (b'{"spec":{"ports":["a"]}}', b'{"spec":{"ports":[5]}}'):
            with self.subTest(body=body):
                status, doc = self.send("PATCH", SVC + "/seed", [("Content-Type", "application/merge-patch+json")],
                                        body)
                self.assertTrue(400 <= status < 500, (status, doc))

    def test_unauthenticated_invalid_utf8_is_401(self):
        status, _, _ = raw_http(self.server, "GET", "/api/v1/namespaces/%FF", client_cert=False)
        self.assertEqual(status, 401)
        self.assertIsNone(self.server.proc.poll())


# ---------------------------------------------------------------------------
# Random / mutated bodies.

def _random_scalar(rnd):
    return rnd.choice([
        None, True, False, 0, -1, 1, 2 ** 31, -2 ** 63, 2 ** 64, 2 ** 70, 1.5, -0.0, 1e308,
        "", "x", "a" * rnd.randrange(1, 300), "\u00e9\u4e2d\U0001f600", "\x00\x01", "-", "Bad_Name",
        "10.43.0.10", "*/5 * * * *", "nginx:1.27", "100m", "64Mi", "25%", "1.2.3.4/33", "null", "{}",
    ])


def _random_value(rnd, depth=0):
    r = rnd.random()
    if depth > 3 or r < 0.6:
        return _random_scalar(rnd)
    if r < 0.8:
        return [_random_value(rnd, depth + 1) for _ in range(rnd.randrange(0, 4))]
    return {rnd.choice(["name", "image", "spec", "metadata", "k", "", "$patch", "labels", "x" * 70]):
            _random_value(rnd, depth + 1) for _ in range(rnd.randrange(0, 4))}


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _mutate_tree(rnd, doc):
    doc = json.loads(json.dumps(doc))
    for _ in range(rnd.randrange(1, 4)):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = rnd.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        op = rnd.random()
        if op < 0.55:
            parent[key] = _random_value(rnd)
        elif op < 0.75:
            del parent[key]
        elif isinstance(parent, dict):
            parent[rnd.choice(["extra", "status", "kind", "apiVersion", "metadata"])] = _random_value(rnd)
        else:
            parent.append(_random_value(rnd))
    return doc


def _mutate_bytes(rnd, data):
    data = bytearray(data)
    op = rnd.random()
    if op < 0.25 and data:
        del data[rnd.randrange(len(data)):]
    elif op < 0.5:
        for _ in range(rnd.randrange(1, 8)):
            if data:
                data[rnd.randrange(len(data))] = rnd.randrange(256)
    elif op < 0.75:
        pos = rnd.randrange(len(data) + 1)
        data[pos:pos] = rnd.choice([b"{", b"}", b"[", b"]", b",", b'"', b":", b"\\", b"\x00", b"\xc3",
                                    b"\\u0000", b'"\\ud800"', b"1e999999", b"-", b"\n"]) * rnd.randrange(1, 5)
    else:
        a = rnd.randrange(len(data) + 1)
        b = rnd.randrange(a, len(data) + 1)
        data[a:a] = data[a:b]
    return bytes(data)


BASES = [(CM, configmap("fuzz")), (DEPLOY, deployment("fuzz")), (PODS, pod("fuzz")), (SVC, service("fuzz")),
         ("/apis/batch/v1/namespaces/" + NS + "/jobs",
          {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "fuzz"},
           "spec": {"template": {"spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "c", "image": "busybox:1.36"}]}}}})]


class RandomBodiesBase(BadInputBase):
    SEED = 20240601

    def _run(self, requests):
        problems = []
        for i, (method, path, body, headers) in enumerate(requests):
            try:
                status, text, _ = self.server.request(method, path, body, headers, timeout=30)
            except Exception as e:  # connection reset / refused: did the server die?
                try:
                    self.server.proc.wait(timeout=2)
                except Exception:
                    pass
                rc = self.server.proc.poll()
                self.fail(f"request #{i} failed with {e!r}; server exit status {rc}\n"
                          f"   {method} {path} {headers}\n   body: {body[:2000]!r}\n"
                          f"   server log tail: {self.server.read_log()[-1500:]}")
            if status >= 500:
                problems.append(f"#{i} {method} {path} {headers} -> {status} {text[:200]}\n   body: {body[:400]!r}")
            elif status >= 400:
                try:
                    doc = json.loads(text)
                    ok = doc.get("kind") == "Status" and doc.get("code") == status
                except ValueError:
                    ok = status == 404  # non-API 404s may be plain text
                if not ok:
                    problems.append(f"#{i} {method} {path} -> {status} without a matching Status: {text[:200]}")
            if i % 25 == 24:
                self.assertServerAlive()
        self.assertServerAlive()
        self.assertFalse(problems, f"{len(problems)} of {len(requests)} requests got a 5xx or a bad error body:\n" + "\n".join(problems))

    def _suffix(self, rnd, doc, i):
        # Unique names, so that valid mutants do not just collide on AlreadyExists.
        if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict) and isinstance(
                doc["metadata"].get("name"), str) and doc["metadata"]["name"] == "fuzz":
            doc["metadata"]["name"] = f"fuzz-{i}"
        return doc

    def _200_mutated_create_bodies(self):
        rnd = random.Random(self.SEED)
        reqs = []
        for i in range(200):
            path, base = rnd.choice(BASES)
            if rnd.random() < 0.1:
                path = rnd.choice(BASES)[0]  # sometimes the wrong collection
            kind = rnd.random()
            if kind < 0.55:
                body = json.dumps(self._suffix(rnd, _mutate_tree(rnd, base), i)).encode()
            elif kind < 0.9:
                body = _mutate_bytes(rnd, json.dumps(self._suffix(rnd, json.loads(json.dumps(base)), i)).encode())
            else:
                body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 512)))
            ct = rnd.choice([JSON, JSON, JSON, YAML, {"Content-Type": "text/plain"}, {}])
            q = rnd.choice(["", "", "?fieldValidation=Strict", "?fieldValidation=Warn", "?dryRun=All"])
            reqs.append(("POST", path + q, body, ct))
        self._run(reqs)
        # Whatever got stored can still be listed and read, by raw GET and by kubectl.
        for path, _ in BASES:
            status, doc, _ = request_json(self.server, "GET", path)
            self.assertEqual(status, 200, (path, doc))
            for item in doc["items"]:
                s, d, _ = request_json(self.server, "GET", f"{path}/{item['metadata']['name']}")
                self.assertEqual(s, 200, d)
        p = self.kubectl("-n", NS, "get", "configmaps,pods,services,deployments,jobs", "-o", "json")
        json.loads(p.stdout)
        self.kubectl("-n", NS, "get", "configmaps,pods,services,deployments,jobs")


class RandomCreateBodies(RandomBodiesBase):
    def test_200_mutated_create_bodies(self):
        self._200_mutated_create_bodies()


class RandomPatchBodies(RandomBodiesBase):
    def test_100_mutated_patches(self):
        rnd = random.Random(self.SEED + 1)
        reqs = []
        targets = [(CM + "/seed", configmap("seed")), (DEPLOY + "/seed", deployment("seed")),
                   (PODS + "/seed", pod("seed")), (SVC + "/seed", service("seed"))]
        for i in range(100):
            path, base = rnd.choice(targets)
            ct = rnd.choice([MERGE, SMP, JSONPATCH])
            if ct is JSONPATCH:
                ops = [{"op": rnd.choice(["add", "remove", "replace", "test", "move", "copy", "bogus"]),
                        "path": "/" + "/".join(str(p) for p in rnd.choice([p for p in _paths(base) if p])),
                        "from": "/metadata/labels", "value": _random_value(rnd)} for _ in range(rnd.randrange(1, 3))]
                body = json.dumps(ops).encode()
            else:
                patch = _mutate_tree(rnd, {k: v for k, v in base.items() if k != "metadata"})
                body = json.dumps(patch).encode()
            if rnd.random() < 0.3:
                body = _mutate_bytes(rnd, body)
            reqs.append(("PATCH", path + rnd.choice(["", "?dryRun=All", "?fieldValidation=Strict"]), body, ct))
        self._run(reqs)


if __name__ == "__main__":
    unittest.main()
