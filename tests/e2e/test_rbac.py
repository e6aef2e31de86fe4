"""Authorization by RBAC and service-account tokens, with the real kubectl
and the official Python client: `kubectl create token`, a token's user
forbidden until a RoleBinding grants it, bindings scoped to their
namespace, `kubectl auth can-i` (also --list and --as), impersonation, the
escalation check on role writes, and tokens revoked with their account."""
import json
import os
import unittest

import kubernetes

from harness import ServerTestCase, request_json, wait_until


class RbacTest(ServerTestCase):
    def setUp(self):
        for ns in ("team", "other"):
            self.kubectl("create", "namespace", ns, check=False)
        self.kubectl("create", "serviceaccount", "bot", "-n", "team", check=False)

    def tearDown(self):
        # This server runs no namespace controller: the namespaces stay, their policy goes.
        self.kubectl("delete", "rolebindings,roles", "--all", "-n", "team", check=False)
        self.kubectl("delete", "clusterrolebinding", "bot-nodes", check=False)

    def token_kubectl(self, token):
        """kubectl as the bearer of `token` alone (no client certificate)."""
        path = os.path.join(self.cache_dir, "token-kubeconfig.yaml")
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "t",
            "clusters": [{"name": "c", "cluster": {
                "server": self.server.url,
                "certificate-authority": os.path.join(self.server.data_dir, "tls", "ca.crt")}}],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "t", "context": {"cluster": "c", "user": "u", "namespace": "team"}}],
        }
        with open(path, "w") as f:
            json.dump(config, f)
        return lambda *args, check=False: self.kubectl("--kubeconfig", path, *args, check=check)

    def test_bootstrap_policy_is_served(self):
        roles = {r["metadata"]["name"] for r in self.kubectl_json("get", "clusterroles")["items"]}
        for name in ("cluster-admin", "admin", "edit", "view", "system:discovery", "system:basic-user"):
            self.assertIn(name, roles)
        crb = self.kubectl_json("get", "clusterrolebinding", "cluster-admin")
        self.assertEqual(crb["roleRef"], {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                          "name": "cluster-admin"})
        self.assertEqual(crb["subjects"][0]["name"], "system:masters")
        # The table: the role a binding refers to, and with -o wide its subjects.
        wide = self.kubectl("get", "clusterrolebinding", "cluster-admin", "-o", "wide").stdout.splitlines()
        self.assertEqual(wide[0].split()[:3], ["NAME", "ROLE", "AGE"])
        self.assertIn("ClusterRole/cluster-admin", wide[1])
        self.assertIn("system:masters", wide[1])

    def test_service_account_token_is_forbidden_until_bound(self):
        token = self.kubectl("create", "token", "bot", "-n", "team").stdout.strip()
        self.assertEqual(token.count("."), 2)
        as_bot = self.token_kubectl(token)
        who = as_bot("auth", "whoami", "-o", "json", check=True)
        info = json.loads(who.stdout)["status"]["userInfo"]
        self.assertEqual(info["username"], "system:serviceaccount:team:bot")
        self.assertEqual(info["groups"], ["system:serviceaccounts", "system:serviceaccounts:team",
                                          "system:authenticated"])

        denied = as_bot("get", "pods")
        self.assertNotEqual(denied.returncode, 0)
        self.assertIn('Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:team:bot" '
                      'cannot list resource "pods" in API group "" in the namespace "team"', denied.stderr)
        self.assertEqual(as_bot("auth", "can-i", "list", "pods").stdout.strip(), "no")

        self.kubectl("create", "rolebinding", "bot-view", "-n", "team", "--clusterrole=view",
                     "--serviceaccount=team:bot")
        self.assertEqual(as_bot("auth", "can-i", "list", "pods").stdout.strip(), "yes")
        self.assertIn("No resources found", as_bot("get", "pods", check=True).stderr)
        # view reads, never writes or reads secrets; and only in its namespace.
        self.assertEqual(as_bot("auth", "can-i", "create", "pods").stdout.strip(), "no")
        self.assertEqual(as_bot("auth", "can-i", "get", "secrets").stdout.strip(), "no")
        self.assertIn("Forbidden", as_bot("get", "pods", "-n", "other").stderr)
        self.assertIn("Forbidden", as_bot("get", "nodes").stderr)
        rules = as_bot("auth", "can-i", "--list", check=True).stdout
        self.assertIn("deployments.apps", rules)
        self.assertIn("selfsubjectaccessreviews.authorization.k8s.io", rules)
        # A ClusterRoleBinding grants everywhere.
        self.kubectl("create", "clusterrolebinding", "bot-nodes", "--clusterrole=view",
                     "--serviceaccount=team:bot")
        self.assertIn("No resources found", as_bot("get", "pods", "-n", "other", check=True).stderr)

    def test_official_python_client_with_a_token(self):
        token = self.kubectl("create", "token", "bot", "-n", "team", "--duration=1h").stdout.strip()
        config = kubernetes.client.Configuration()
        config.host = self.server.url
        config.ssl_ca_cert = os.path.join(self.server.data_dir, "tls", "ca.crt")
        config.api_key = {"authorization": "Bearer " + token}
        with kubernetes.client.ApiClient(config) as client:
            core = kubernetes.client.CoreV1Api(client)
            with self.assertRaises(kubernetes.client.ApiException) as e:
                core.list_namespaced_config_map("team")
            self.assertEqual(e.exception.status, 403)
            self.assertEqual(json.loads(e.exception.body)["reason"], "Forbidden")
            self.kubectl("create", "role", "cm-reader", "-n", "team", "--verb=get,list", "--resource=configmaps")
            self.kubectl("create", "rolebinding", "cm-reader", "-n", "team", "--role=cm-reader",
                         "--serviceaccount=team:bot")
            self.assertEqual(core.list_namespaced_config_map("team").kind, "ConfigMapList")
            # The account's deletion revokes its tokens at once.
            self.kubectl("delete", "serviceaccount", "bot", "-n", "team")
            with self.assertRaises(kubernetes.client.ApiException) as e:
                core.list_namespaced_config_map("team")
            self.assertEqual(e.exception.status, 401)

    def test_bad_tokens_are_unauthorized(self):
        token = self.kubectl("create", "token", "bot", "-n", "team").stdout.strip()
        head, body, sig = token.split(".")
        forged = ".".join([head, body, sig[:-4] + ("AAAA" if not sig.endswith("AAAA") else "BBBB")])
        unsigned = ".".join(["eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0", body, ""])
        for bad in (forged, unsigned, "not-a-token", token + "x"):
            status, doc, _ = request_json(self.server, "GET", "/api/v1/namespaces/team/pods",
                                          headers={"Authorization": "Bearer " + bad}, client_cert=False)
            self.assertEqual(status, 401, bad)
        # Bad requests for tokens: too short, unknown account, unknown bound kind.
        short = self.kubectl("create", "token", "bot", "-n", "team", "--duration=5m", check=False)
        self.assertIn("may not specify a duration less than 10 minutes", short.stderr)
        self.assertIn('serviceaccounts "nobody" not found',
                      self.kubectl("create", "token", "nobody", "-n", "team", check=False).stderr)
        status, doc, _ = request_json(
            self.server, "POST", "/api/v1/namespaces/team/serviceaccounts/bot/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
             "spec": {"boundObjectRef": {"kind": "Node", "apiVersion": "v1", "name": "n"}}})
        self.assertEqual(status, 400, doc)
        self.assertIn("cannot bind token to object of type Node", doc["message"])

    def test_impersonation_and_access_reviews(self):
        # The admin (system:masters) may impersonate anyone.
        self.assertEqual(self.kubectl("auth", "can-i", "list", "pods", "-n", "team",
                                      "--as=system:serviceaccount:team:bot", check=False).stdout.strip(), "no")
        denied = self.kubectl("get", "configmaps", "-n", "team", "--as=alice", check=False)
        self.assertIn('User "alice" cannot list resource "configmaps"', denied.stderr)
        self.kubectl("create", "rolebinding", "alice-edit", "-n", "team", "--clusterrole=edit", "--user=alice")
        self.kubectl("get", "configmaps", "-n", "team", "--as=alice")
        self.assertEqual(self.kubectl("auth", "can-i", "create", "pods/exec", "-n", "team",
                                      "--as=alice").stdout.strip(), "yes")
        # A service account may not impersonate: the header is refused, not ignored.
        token = self.kubectl("create", "token", "bot", "-n", "team").stdout.strip()
        status, doc, _ = request_json(self.server, "GET", "/api/v1/namespaces/team/pods", client_cert=False,
                                      headers={"Authorization": "Bearer " + token, "Impersonate-User": "alice"})
        self.assertEqual(status, 403, doc)
        self.assertEqual(doc["message"], 'users "alice" is forbidden: User "system:serviceaccount:team:bot" '
                                         'cannot impersonate resource "users" in API group "" at the cluster scope')
        # A SubjectAccessReview about alice, as an authorizing webhook would ask.
        status, doc, _ = request_json(self.server, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": "alice", "resourceAttributes": {"namespace": "team", "verb": "delete",
                                                             "resource": "deployments", "group": "apps"}}})
        self.assertEqual(status, 201, doc)
        self.assertTrue(doc["status"]["allowed"])
        self.assertIn('RoleBinding "alice-edit"', doc["status"]["reason"])
        # The same as a LocalSubjectAccessReview, through the official client: confined to its namespace.
        config = kubernetes.client.Configuration()
        config.host = self.server.url
        config.ssl_ca_cert = os.path.join(self.server.data_dir, "tls", "ca.crt")
        config.cert_file = os.path.join(self.server.data_dir, "tls", "admin.crt")
        config.key_file = os.path.join(self.server.data_dir, "tls", "admin.key")
        with kubernetes.client.ApiClient(config) as client:
            authz = kubernetes.client.AuthorizationV1Api(client)
            review = kubernetes.client.V1LocalSubjectAccessReview(spec=kubernetes.client.V1SubjectAccessReviewSpec(
                user="alice", resource_attributes=kubernetes.client.V1ResourceAttributes(
                    verb="delete", resource="deployments", group="apps")))
            answer = authz.create_namespaced_local_subject_access_review("team", review)
            self.assertTrue(answer.status.allowed)
            self.assertEqual(answer.spec.resource_attributes.namespace, "team")
            self.assertFalse(authz.create_namespaced_local_subject_access_review("other", review).status.allowed)
            review.spec.resource_attributes.namespace = "team"
            with self.assertRaises(kubernetes.client.ApiException) as e:
                authz.create_namespaced_local_subject_access_review("other", review)
            self.assertEqual(e.exception.status, 400)

    def test_role_writes_cannot_escalate(self):
        self.kubectl("create", "rolebinding", "carol-admin", "-n", "team", "--clusterrole=admin", "--user=carol")
        # An admin of the namespace hands out view there...
        self.kubectl("create", "rolebinding", "dave-view", "-n", "team", "--clusterrole=view", "--user=dave",
                     "--as=carol")
        # ...but not cluster-admin, nor a Role wider than its own.
        refused = self.kubectl("create", "rolebinding", "dave-root", "-n", "team", "--clusterrole=cluster-admin",
                               "--user=dave", "--as=carol", check=False)
        self.assertIn("is attempting to grant RBAC permissions not currently held", refused.stderr)
        refused = self.kubectl("create", "role", "all", "-n", "team", "--verb=*", "--resource=nodes",
                               "--as=carol", check=False)
        self.assertIn("is attempting to grant RBAC permissions not currently held", refused.stderr)
        self.kubectl("create", "role", "pods", "-n", "team", "--verb=get,delete", "--resource=pods", "--as=carol")
        # Nothing refused was stored.
        names = {b["metadata"]["name"] for b in self.kubectl_json("get", "rolebindings", "-n", "team")["items"]}
        self.assertEqual(names, {"carol-admin", "dave-view"})

    def test_creating_through_apply_needs_create(self):
        self.kubectl("create", "role", "patcher", "-n", "team", "--verb=get,patch", "--resource=configmaps")
        self.kubectl("create", "rolebinding", "patcher", "-n", "team", "--role=patcher", "--user=pat")
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied", "namespace": "team"},
              "data": {"a": "1"}}
        p = self.kubectl("apply", "--server-side", "-f", "-", "--as=pat", input=json.dumps(cm), check=False)
        self.assertIn('configmaps "applied" is forbidden: User "pat" cannot create resource "configmaps"', p.stderr)
        self.assertNotEqual(self.kubectl("get", "configmap", "applied", "-n", "team", check=False).returncode, 0)
        # Once it exists, applying to it is the patch the role allows.
        self.kubectl("create", "-f", "-", input=json.dumps(cm))
        self.addCleanup(lambda: self.kubectl("delete", "configmap", "applied", "-n", "team", check=False))
        cm["data"]["a"] = "2"
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", "--as=pat", input=json.dumps(cm))
        self.assertEqual(self.kubectl_json("get", "configmap", "applied", "-n", "team")["data"]["a"], "2")

    def test_exec_over_a_websocket_needs_create(self):
        # kubectl 1.30+ execs with a WebSocket GET: get alone on pods/exec is not enough.
        self.kubectl("create", "role", "exec-get", "-n", "team", "--verb=get", "--resource=pods/exec")
        self.kubectl("create", "rolebinding", "exec-get", "-n", "team", "--role=exec-get", "--user=gus")
        path = "/api/v1/namespaces/team/pods/nope/exec?command=sh&stdout=true"
        headers = {"Impersonate-User": "gus", "Connection": "Upgrade", "Upgrade": "websocket"}
        status, doc, _ = request_json(self.server, "GET", path, headers=headers)
        self.assertEqual(status, 403, doc)
        self.assertEqual(doc["message"], 'pods "nope" is forbidden: User "gus" cannot create resource "pods/exec" '
                                         'in API group "" in the namespace "team"')
        self.kubectl("create", "role", "exec-create", "-n", "team", "--verb=create", "--resource=pods/exec")
        self.kubectl("create", "rolebinding", "exec-create", "-n", "team", "--role=exec-create", "--user=gus")
        status, doc, _ = request_json(self.server, "GET", path, headers=headers)
        self.assertEqual(status, 404, doc)  # allowed; there is no such pod

    def test_bad_policy_objects_are_invalid(self):
        bad = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "b", "namespace": "team"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Secret", "name": "x"},
               "subjects": [{"kind": "Robot", "name": "r"}]}
        p = self.kubectl("create", "-f", "-", input=json.dumps(bad), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('roleRef.kind: Unsupported value: "Secret"', p.stderr)
        self.assertIn('subjects[0].kind: Unsupported value: "Robot"', p.stderr)
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "r", "namespace": "team"},
                "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]}
        p = self.kubectl("create", "-f", "-", input=json.dumps(role), check=False)
        self.assertIn("namespaced rules cannot apply to non-resource URLs", p.stderr)
        # A binding's roleRef cannot change.
        self.kubectl("create", "rolebinding", "fixed", "-n", "team", "--clusterrole=view", "--user=x")
        p = self.kubectl("patch", "rolebinding", "fixed", "-n", "team", "--type=merge",
                         "-p", '{"roleRef":{"name":"edit"}}', check=False)
        self.assertIn("cannot change roleRef", p.stderr)
        self.assertEqual(self.kubectl_json("get", "rolebinding", "fixed", "-n", "team")["roleRef"]["name"], "view")
        # Names may hold colons, as system:* roles do.
        self.kubectl("create", "clusterrole", "team:reader", "--verb=get", "--resource=pods")
        self.kubectl("delete", "clusterrole", "team:reader")


if __name__ == "__main__":
    unittest.main()
