"""Kubernetes API semantics over raw HTTPS (and kubectl where it is the
natural client): optimistic concurrency, resourceVersion/generation,
subresources, generateName, finalizers, namespaces, paging and watches.

Expected values are what an upstream kube-apiserver 1.31 answers.
"""
import json
import time
import unittest
import urllib.parse

from api_helpers import CM, DEPLOY, ApiTestCase, configmap, deployment, ev_summary, pod, rv
from harness import wait_until


class ConcurrencyAndVersions(ApiTestCase):
    def test_stale_update_gets_409_conflict(self):
        self.ok("POST", CM.format(ns="{ns}"), configmap("race"), expect=201)
        base = self.ok("GET", CM + "/race")
        first = json.loads(json.dumps(base))
        first["data"]["k"] = "first"
        updated = self.ok("PUT", CM + "/race", first)
        self.assertGreater(rv(updated), rv(base))

        second = json.loads(json.dumps(base))  # still carries the old resourceVersion
        second["data"]["k"] = "second"
        status, doc, _ = self.call("PUT", CM + "/race", second)
        self.assertEqual(status, 409, doc)
        self.assertStatus(doc, 409, "Conflict")
        self.assertIn('Operation cannot be fulfilled on configmaps "race"', doc["message"])
        self.assertIn("the object has been modified", doc["message"])
        self.assertEqual(doc["details"]["name"], "race")
        self.assertEqual(doc["details"]["kind"], "configmaps")
        self.assertEqual(self.ok("GET", CM + "/race")["data"], {"k": "first"})

        # A patch carrying a stale resourceVersion is a precondition: 409 too.
        status, doc, _ = self.call("PATCH", CM + "/race",
                                   {"metadata": {"resourceVersion": str(rv(base))}, "data": {"k": "third"}},
                                   {"Content-Type": "application/merge-patch+json"})
        self.assertEqual(status, 409, doc)
        self.assertStatus(doc, 409, "Conflict")
        # An update without a resourceVersion is unconditional.
        blind = configmap("race", {"k": "blind"})
        self.assertEqual(self.ok("PUT", CM + "/race", blind)["data"], {"k": "blind"})

    def test_resource_version_and_generation(self):
        d = self.ok("POST", DEPLOY, deployment("gen"), expect=201)
        self.assertEqual(d["metadata"]["generation"], 1)
        rv0 = rv(d)

        d["metadata"]["labels"]["extra"] = "yes"
        d = self.ok("PUT", DEPLOY + "/gen", d)
        self.assertGreater(rv(d), rv0)
        self.assertEqual(d["metadata"]["generation"], 1, "a metadata-only update must not bump generation")
        rv1 = rv(d)

        d = self.ok("PATCH", DEPLOY + "/gen", {"metadata": {"annotations": {"a": "b"}}},
                    {"Content-Type": "application/merge-patch+json"})
        self.assertGreater(rv(d), rv1)
        self.assertEqual(d["metadata"]["generation"], 1)
        rv2 = rv(d)

        d["spec"]["replicas"] = 5
        d = self.ok("PUT", DEPLOY + "/gen", d)
        self.assertGreater(rv(d), rv2)
        self.assertEqual(d["metadata"]["generation"], 2)
        rv3 = rv(d)

        d = self.ok("PATCH", DEPLOY + "/gen",
                    {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}},
                    {"Content-Type": "application/strategic-merge-patch+json"})
        self.assertEqual(d["metadata"]["generation"], 3)
        self.assertGreater(rv(d), rv3)

        # kubectl label (metadata) keeps it; kubectl scale (spec) bumps it.
        self.k("label", "deployment", "gen", "tier=front")
        self.assertEqual(self.ok("GET", DEPLOY + "/gen")["metadata"]["generation"], 3)

        # The list's resourceVersion is at least the newest object's.
        lst = self.ok("GET", DEPLOY)
        self.assertGreaterEqual(int(lst["metadata"]["resourceVersion"]), rv(self.ok("GET", DEPLOY + "/gen")))

        # A no-op update keeps the resourceVersion.
        cur = self.ok("GET", DEPLOY + "/gen")
        again = self.ok("PUT", DEPLOY + "/gen", cur)
        self.assertEqual(rv(again), rv(cur))
        self.assertEqual(again["metadata"]["generation"], 3)

    def test_resource_versions_increase_across_kinds(self):
        seen = []
        for i in range(5):
            seen.append(rv(self.ok("POST", CM, configmap(f"rv-{i}"), expect=201)))
            seen.append(rv(self.ok("POST", DEPLOY, deployment(f"rv-{i}"), expect=201)))
        self.assertEqual(seen, sorted(seen))
        self.assertEqual(len(set(seen)), len(seen))

    def test_update_of_missing_object_is_404(self):
        status, doc, _ = self.call("PUT", CM + "/ghost", configmap("ghost"))
        self.assertEqual(status, 404, doc)
        self.assertStatus(doc, 404, "NotFound")
        status, doc, _ = self.call("DELETE", CM + "/ghost")
        self.assertStatus(doc, 404, "NotFound")
        self.assertEqual(doc["message"], 'configmaps "ghost" not found')

    def test_create_twice_is_409_already_exists(self):
        self.ok("POST", CM, configmap("twice"), expect=201)
        status, doc, _ = self.call("POST", CM, configmap("twice"))
        self.assertStatus(doc, 409, "AlreadyExists")
        self.assertEqual(doc["message"], 'configmaps "twice" already exists')

    def test_delete_preconditions(self):
        c = self.ok("POST", CM, configmap("pre"), expect=201)
        status, doc, _ = self.call("DELETE", CM + "/pre",
                                   {"kind": "DeleteOptions", "apiVersion": "v1",
                                    "preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}})
        self.assertStatus(doc, 409, "Conflict")
        self.ok("GET", CM + "/pre")
        status, doc, _ = self.call("DELETE", CM + "/pre",
                                   {"kind": "DeleteOptions", "apiVersion": "v1",
                                    "preconditions": {"uid": c["metadata"]["uid"],
                                                      "resourceVersion": c["metadata"]["resourceVersion"]}})
        self.assertEqual(status, 200, doc)
        # A finished deletion answers with a Status naming the object, as
        # upstream's storage does for every kind that does not return it.
        self.assertEqual((doc["kind"], doc["status"]), ("Status", "Success"))
        self.assertEqual(doc["details"], {"name": "pre", "kind": "configmaps", "uid": c["metadata"]["uid"]})
        self.call("GET", CM + "/pre", expect=404)

    def test_dry_run_persists_nothing(self):
        c = self.ok("POST", CM + "?dryRun=All", configmap("dry"), expect=201)
        self.assertEqual(c["metadata"]["name"], "dry")
        self.call("GET", CM + "/dry", expect=404)
        self.ok("POST", CM, configmap("dry"), expect=201)
        before = self.ok("GET", CM + "/dry")
        self.ok("DELETE", CM + "/dry", {"dryRun": ["All"]})
        self.assertEqual(self.ok("GET", CM + "/dry"), before)

    def test_dry_run_update_returns_the_would_be_object(self):
        # kubectl diff depends on this: it PATCHes with dryRun=All and diffs
        # the live object against the answer.
        self.ok("POST", CM, configmap("dryu"), expect=201)
        before = self.ok("GET", CM + "/dryu")
        p = self.ok("PATCH", CM + "/dryu?dryRun=All", {"data": {"k": "changed"}},
                    {"Content-Type": "application/merge-patch+json"})
        self.assertEqual(p["data"], {"k": "changed"})
        self.assertEqual(self.ok("GET", CM + "/dryu"), before)
        upd = json.loads(json.dumps(before))
        upd["data"] = {"k": "put"}
        p = self.ok("PUT", CM + "/dryu?dryRun=All", upd)
        self.assertEqual(p["data"], {"k": "put"})
        self.assertEqual(self.ok("GET", CM + "/dryu"), before)

    def test_kubectl_diff_shows_the_change(self):
        self.ok("POST", CM, configmap("diffme", {"color": "blue"}), expect=201)
        changed = json.dumps(configmap("diffme", {"color": "green"}))
        p = self.k("diff", "-f", "-", input=changed, check=False)
        self.assertEqual(p.returncode, 1, f"kubectl diff should report a difference: {p.stdout} {p.stderr}")
        self.assertIn("-  color: blue", p.stdout)
        self.assertIn("+  color: green", p.stdout)
        self.assertEqual(self.ok("GET", CM + "/diffme")["data"], {"color": "blue"})
        p = self.k("diff", "-f", "-", input=json.dumps(configmap("diffme", {"color": "blue"})), check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class Subresources(ApiTestCase):
    def test_status_subresource(self):
        d = self.ok("POST", DEPLOY, deployment("st", replicas=2), expect=201)
        self.assertNotIn("replicas", d.get("status", {}))

        d["status"] = {"observedGeneration": 1, "replicas": 2, "readyReplicas": 1}
        d["spec"]["replicas"] = 9  # must be ignored by /status
        d["metadata"]["labels"]["from-status"] = "ignored"
        s = self.ok("PUT", DEPLOY + "/st/status", d)
        self.assertEqual(s["status"]["replicas"], 2)
        self.assertEqual(s["status"]["readyReplicas"], 1)
        self.assertEqual(s["spec"]["replicas"], 2)
        self.assertEqual(s["metadata"]["generation"], 1)
        self.assertGreater(rv(s), rv(d))
        got = self.ok("GET", DEPLOY + "/st")
        self.assertEqual(got["spec"]["replicas"], 2)
        self.assertEqual(got["status"]["readyReplicas"], 1)
        self.assertEqual(self.ok("GET", DEPLOY + "/st/status")["status"], got["status"])

        # A main-resource update leaves status alone.
        got["status"] = {"replicas": 100}
        got["spec"]["replicas"] = 3
        m = self.ok("PUT", DEPLOY + "/st", got)
        self.assertEqual(m["spec"]["replicas"], 3)
        self.assertEqual(m["status"]["replicas"], 2)
        self.assertEqual(m["status"]["readyReplicas"], 1)
        self.assertEqual(m["metadata"]["generation"], 2)

        # Merge patch on /status.
        p = self.ok("PATCH", DEPLOY + "/st/status", {"status": {"availableReplicas": 1}},
                    {"Content-Type": "application/merge-patch+json"})
        self.assertEqual(p["status"]["availableReplicas"], 1)
        self.assertEqual(p["spec"]["replicas"], 3)
        # ...and a spec change through /status patch is dropped.
        p = self.ok("PATCH", DEPLOY + "/st/status", {"spec": {"replicas": 42}},
                    {"Content-Type": "application/merge-patch+json"})
        self.assertEqual(p["spec"]["replicas"], 3)

        # A stale status update conflicts like any update.
        stale = json.loads(json.dumps(s))
        stale["status"]["replicas"] = 7
        status, doc, _ = self.call("PUT", DEPLOY + "/st/status", stale)
        self.assertStatus(doc, 409, "Conflict")

    def test_pod_status_subresource(self):
        p = self.ok("POST", "/api/v1/namespaces/{ns}/pods", pod("ps", [{"name": "c", "image": "nginx:1.27"}]),
                    expect=201)
        p["status"] = {"phase": "Running", "podIP": "10.42.0.9"}
        s = self.ok("PUT", "/api/v1/namespaces/{ns}/pods/ps/status", p)
        self.assertEqual(s["status"]["phase"], "Running")
        self.assertEqual(s["spec"]["containers"][0]["image"], "nginx:1.27")
        # status on the main resource is ignored on update
        s["status"]["phase"] = "Failed"
        s["metadata"]["labels"] = {"x": "y"}
        m = self.ok("PUT", "/api/v1/namespaces/{ns}/pods/ps", s)
        self.assertEqual(m["status"]["phase"], "Running")
        self.assertEqual(m["metadata"]["labels"], {"x": "y"})

    def test_scale_subresource(self):
        self.ok("POST", DEPLOY, deployment("sc", replicas=2), expect=201)
        sc = self.ok("GET", DEPLOY + "/sc/scale")
        self.assertEqual(sc["kind"], "Scale")
        self.assertEqual(sc["apiVersion"], "autoscaling/v1")
        self.assertEqual(sc["metadata"]["name"], "sc")
        self.assertEqual(sc["metadata"]["namespace"], self.ns)
        self.assertEqual(sc["spec"]["replicas"], 2)
        self.assertEqual(sc["status"]["selector"], "app=sc")

        sc = self.ok("PATCH", DEPLOY + "/sc/scale", {"spec": {"replicas": 3}},
                     {"Content-Type": "application/merge-patch+json"})
        self.assertEqual(sc["spec"]["replicas"], 3)
        d = self.ok("GET", DEPLOY + "/sc")
        self.assertEqual(d["spec"]["replicas"], 3)
        self.assertEqual(d["metadata"]["generation"], 2)

        out = self.k("scale", "deploy", "sc", "--replicas=4").stdout.strip()
        self.assertEqual(out, "deployment.apps/sc scaled")
        d = self.ok("GET", DEPLOY + "/sc")
        self.assertEqual(d["spec"]["replicas"], 4)
        self.assertEqual(d["metadata"]["generation"], 3)

        # --current-replicas: GET + PUT of the Scale (kubectl sends no Content-Type).
        self.k("scale", "deploy", "sc", "--current-replicas=4", "--replicas=1")
        self.assertEqual(self.ok("GET", DEPLOY + "/sc")["spec"]["replicas"], 1)
        p = self.k("scale", "deploy", "sc", "--current-replicas=4", "--replicas=2", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(self.ok("GET", DEPLOY + "/sc")["spec"]["replicas"], 1)

        # PUT with a stale resourceVersion: 409.
        sc["spec"]["replicas"] = 6
        status, doc, _ = self.call("PUT", DEPLOY + "/sc/scale", sc)
        self.assertStatus(doc, 409, "Conflict")
        # Negative replicas: 422.
        status, doc, _ = self.call("PATCH", DEPLOY + "/sc/scale", {"spec": {"replicas": -1}},
                                   {"Content-Type": "application/merge-patch+json"})
        self.assertStatus(doc, 422, "Invalid")
        # Scale of a missing deployment: 404.
        status, doc, _ = self.call("GET", DEPLOY + "/nope/scale")
        self.assertStatus(doc, 404, "NotFound")


class NamesAndLifecycle(ApiTestCase):
    def test_generate_name(self):
        names = set()
        for _ in range(5):
            c = self.ok("POST", CM, {"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"generateName": "web-"}, "data": {"k": "v"}}, expect=201)
            self.assertRegex(c["metadata"]["name"], r"^web-[a-z0-9]{5}$")
            self.assertEqual(c["metadata"]["generateName"], "web-")
            names.add(c["metadata"]["name"])
        self.assertEqual(len(names), 5)
        for n in names:
            self.ok("GET", CM + "/" + n)
        # kubectl create with generateName works too.
        out = self.k("create", "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}})).stdout
        self.assertRegex(out.strip(), r"^configmap/gen-[a-z0-9]{5} created$")
        # An explicit name wins over generateName.
        c = self.ok("POST", CM, {"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "explicit", "generateName": "web-"}}, expect=201)
        self.assertEqual(c["metadata"]["name"], "explicit")
        # Neither name nor generateName: 422 naming metadata.name.
        status, doc, _ = self.call("POST", CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})
        self.assertStatus(doc, 422, "Invalid")
        self.assertIn("metadata.name", [c.get("field") for c in doc["details"]["causes"]])

    def test_finalizers(self):
        c = self.ok("POST", CM, configmap("held", finalizers=["example.com/hold"]), expect=201)
        self.assertEqual(c["metadata"]["finalizers"], ["example.com/hold"])
        w = self.watch(CM + f"?watch=true&resourceVersion={rv(c)}")

        status, doc, _ = self.call("DELETE", CM + "/held")
        self.assertIn(status, (200, 202), doc)  # exact code: test_delete_with_finalizer_status_code
        self.assertEqual(doc["kind"], "ConfigMap")  # the object, not a Success Status
        self.assertIn("deletionTimestamp", doc["metadata"])
        got = self.ok("GET", CM + "/held")
        self.assertIn("deletionTimestamp", got["metadata"])
        self.assertEqual(got["metadata"]["deletionGracePeriodSeconds"], 0)
        self.assertEqual(got["metadata"]["finalizers"], ["example.com/hold"])
        ev = w.next_event()
        self.assertEqual(ev["type"], "MODIFIED")
        self.assertIn("deletionTimestamp", ev["object"]["metadata"])

        # Deleting again is accepted and changes nothing.
        status, doc, _ = self.call("DELETE", CM + "/held")
        self.assertIn(status, (200, 202), doc)
        self.assertEqual(self.ok("GET", CM + "/held")["metadata"]["deletionTimestamp"],
                         got["metadata"]["deletionTimestamp"])
        # Still listed.
        self.assertIn("held", [i["metadata"]["name"] for i in self.ok("GET", CM)["items"]])
        # Adding a new finalizer to an object being deleted is forbidden.
        status, doc, _ = self.call("PATCH", CM + "/held",
                                   {"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}},
                                   {"Content-Type": "application/merge-patch+json"})
        self.assertEqual(status, 422, doc)
        # Other updates still work while it waits.
        self.ok("PATCH", CM + "/held", {"data": {"k": "still-here"}},
                {"Content-Type": "application/merge-patch+json"})

        # Removing the last finalizer completes the deletion.
        self.ok("PATCH", CM + "/held", {"metadata": {"finalizers": None}},
                {"Content-Type": "application/merge-patch+json"})
        self.call("GET", CM + "/held", expect=404)
        evs = w.events_until(lambda e: e["type"] == "DELETED")
        self.assertEqual([e["type"] for e in evs][-1], "DELETED")
        self.assertNotIn("held", [i["metadata"]["name"] for i in self.ok("GET", CM)["items"]])

    def test_delete_with_finalizer_status_code(self):
        # Upstream (endpoints/handlers/delete.go) answers 200 with the object
        # when the deletion is not immediate; 202 only when the request set
        # orphanDependents=false.
        self.ok("POST", CM, configmap("held-code", finalizers=["example.com/hold"]), expect=201)
        status, doc, _ = self.call("DELETE", CM + "/held-code")
        self.assertEqual(status, 200, doc)
        self.assertIn("deletionTimestamp", doc["metadata"])
        self.ok("PATCH", CM + "/held-code", {"metadata": {"finalizers": None}},
                {"Content-Type": "application/merge-patch+json"})
        # The same for a namespace, whose deletion is never immediate.
        self.create_ns(self.ns + "-code")
        status, doc, _ = self.call("DELETE", f"/api/v1/namespaces/{self.ns}-code")
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["status"]["phase"], "Terminating")

    def test_kubectl_delete_waits_for_finalizer_removal(self):
        self.ok("POST", CM, configmap("held2", finalizers=["example.com/hold"]), expect=201)
        # --wait=false returns at once; the object lingers with a deletionTimestamp.
        self.k("delete", "configmap", "held2", "--wait=false")
        self.assertIn("deletionTimestamp", self.ok("GET", CM + "/held2")["metadata"])
        self.ok("PATCH", CM + "/held2", {"metadata": {"finalizers": []}},
                {"Content-Type": "application/merge-patch+json"})
        self.call("GET", CM + "/held2", expect=404)

    def test_missing_namespace_is_404(self):
        status, doc, _ = self.call("POST", "/api/v1/namespaces/does-not-exist/configmaps", configmap("x"))
        self.assertEqual(status, 404, doc)
        self.assertStatus(doc, 404, "NotFound")
        self.assertEqual(doc["message"], 'namespaces "does-not-exist" not found')
        self.assertEqual(doc["details"], {"name": "does-not-exist", "kind": "namespaces"})
        status, doc, _ = self.call("POST", "/apis/apps/v1/namespaces/does-not-exist/deployments",
                                   deployment("x"))
        self.assertStatus(doc, 404, "NotFound")
        p = self.kubectl("-n", "does-not-exist", "create", "configmap", "x", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('namespaces "does-not-exist" not found', p.stderr)

    def test_create_in_terminating_namespace_is_403(self):
        ns = self.ns + "-term"
        self.create_ns(ns)
        # A finalizer keeps content around, so the namespace stays Terminating.
        self.ok("POST", f"/api/v1/namespaces/{ns}/configmaps", configmap("held", finalizers=["example.com/x"]),
                expect=201)
        self.call("DELETE", f"/api/v1/namespaces/{ns}")
        status, doc, _ = self.call("POST", f"/api/v1/namespaces/{ns}/configmaps", configmap("late"))
        self.assertStatus(doc, 403, "Forbidden")
        self.assertEqual(doc["message"], f'configmaps "late" is forbidden: unable to create new content in '
                                         f'namespace {ns} because it is being terminated')
        self.assertEqual(doc["details"], {"name": "late", "kind": "configmaps"})
        self.call("PATCH", f"/api/v1/namespaces/{ns}/configmaps/held", {"metadata": {"finalizers": None}},
                  {"Content-Type": "application/merge-patch+json"})

    def test_namespace_deletion(self):
        self.create_ns(self.ns + "-gone")
        ns = self.ns + "-gone"
        self.ok("POST", f"/api/v1/namespaces/{ns}/configmaps", configmap("inside"), expect=201)
        status, doc, _ = self.call("DELETE", f"/api/v1/namespaces/{ns}")
        self.assertIn(status, (200, 202), doc)  # exact code: test_delete_with_finalizer_status_code
        self.assertEqual(doc["status"]["phase"], "Terminating")
        # Either it is already gone or it is Terminating; in both cases no
        # new objects may be created in it.
        status, doc, _ = self.call("POST", f"/api/v1/namespaces/{ns}/configmaps", configmap("late"))
        self.assertIn(status, (403, 404), doc)
        if status == 403:
            self.assertStatus(doc, 403, "Forbidden")
        # The namespace stays Terminating, holding the "kubernetes" finalizer,
        # until the namespace controller (issue 5) empties it and calls
        # /finalize; the API's part is checked here.
        got = self.ok("GET", f"/api/v1/namespaces/{ns}")
        self.assertEqual(got["status"]["phase"], "Terminating")
        self.assertIn("deletionTimestamp", got["metadata"])
        self.assertEqual(got["spec"]["finalizers"], ["kubernetes"])
        # A main-resource update may not drop spec.finalizers; /finalize may,
        # and then the namespace goes.
        upd = json.loads(json.dumps(got))
        upd["spec"]["finalizers"] = []
        self.assertEqual(self.ok("PUT", f"/api/v1/namespaces/{ns}", upd)["spec"]["finalizers"], ["kubernetes"])
        fin = self.ok("GET", f"/api/v1/namespaces/{ns}")
        fin["spec"]["finalizers"] = []
        status, doc, _ = self.call("PUT", f"/api/v1/namespaces/{ns}/finalize", fin)
        self.assertEqual(status, 200, doc)
        wait_until(lambda: self.call("GET", f"/api/v1/namespaces/{ns}")[0] == 404, timeout=10,
                   message=f"namespace {ns} to be removed after /finalize")


class ListAndWatch(ApiTestCase):
    def test_paging_with_limit_and_continue(self):
        for i in range(25):
            self.ok("POST", CM, configmap(f"page-{i:02d}"), expect=201)
        seen, pages, token, rvs = [], [], None, set()
        while True:
            q = "?limit=10" + (f"&continue={urllib.parse.quote(token)}" if token else "")
            lst = self.ok("GET", CM + q)
            items = [i["metadata"]["name"] for i in lst["items"]]
            pages.append(len(items))
            seen.extend(items)
            rvs.add(lst["metadata"]["resourceVersion"])
            token = lst["metadata"].get("continue")
            if len(pages) == 1:
                # A write between pages is not visible to the paged list (a consistent snapshot).
                self.ok("POST", CM, configmap("page-late"), expect=201)
            if not token:
                break
            self.assertLess(len(pages), 10, "paging does not terminate")
        self.assertEqual(pages, [10, 10, 5])
        self.assertEqual(sorted(seen), [f"page-{i:02d}" for i in range(25)])
        self.assertEqual(len(seen), len(set(seen)))
        self.assertEqual(len(rvs), 1, "every page is served at the snapshot of the first")
        # kubectl pages with limit=500 and gets everything (26 now).
        names = self.k("get", "configmaps", "-o", "name", "--chunk-size=7").stdout.split()
        self.assertEqual(len(names), 26)

    def test_paging_remaining_item_count(self):
        for i in range(25):
            self.ok("POST", CM, configmap(f"rem-{i:02d}"), expect=201)
        lst = self.ok("GET", CM + "?limit=10")
        self.assertEqual(len(lst["items"]), 10)
        self.assertTrue(lst["metadata"].get("continue"))
        self.assertEqual(lst["metadata"].get("remainingItemCount"), 15, lst["metadata"])

    def test_invalid_continue_token_is_400(self):
        status, doc, _ = self.call("GET", CM + "?limit=1&continue=not-a-token")
        self.assertStatus(doc, 400, "BadRequest")

    def test_watch_resume_delivers_each_later_event_once_in_order(self):
        start = self.ok("GET", CM)["metadata"]["resourceVersion"]
        expected = []
        a = self.ok("POST", CM, configmap("w-a"), expect=201)
        expected.append(("ADDED", "w-a", rv(a)))
        b = self.ok("POST", CM, configmap("w-b"), expect=201)
        expected.append(("ADDED", "w-b", rv(b)))
        a = self.ok("PATCH", CM + "/w-a", {"data": {"k": "2"}}, {"Content-Type": "application/merge-patch+json"})
        expected.append(("MODIFIED", "w-a", rv(a)))
        self.ok("DELETE", CM + "/w-b")
        expected.append(("DELETED", "w-b", None))
        c = self.ok("POST", CM, configmap("w-c"), expect=201)
        expected.append(("ADDED", "w-c", rv(c)))

        w = self.watch(CM + f"?watch=true&resourceVersion={start}")
        evs = w.events_until(lambda e: e["object"]["metadata"]["name"] == "w-c")
        self.assertEqual(ev_summary(evs), [(t, n) for t, n, _ in expected])
        for e, (_, _, r) in zip(evs, expected):
            if r is not None:
                self.assertEqual(rv(e["object"]), r)
        rvs = [rv(e["object"]) for e in evs]
        self.assertEqual(rvs, sorted(rvs))
        self.assertEqual(len(set(rvs)), len(rvs))
        # DELETED carries the final state with a newer resourceVersion.
        self.assertGreater(rv(evs[3]["object"]), rv(evs[2]["object"]))
        # A live event after the replay, exactly once.
        self.ok("PATCH", CM + "/w-c", {"data": {"k": "3"}}, {"Content-Type": "application/merge-patch+json"})
        ev = w.next_event()
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("MODIFIED", "w-c"))
        self.ok("POST", CM, configmap("w-d"), expect=201)
        ev = w.next_event()
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "w-d"))

        # Resuming from the middle replays only what came after.
        w2 = self.watch(CM + f"?watch=true&resourceVersion={rv(a)}")
        evs = w2.events_until(lambda e: e["object"]["metadata"]["name"] == "w-d")
        self.assertEqual(ev_summary(evs), [("DELETED", "w-b"), ("ADDED", "w-c"), ("MODIFIED", "w-c"),
                                           ("ADDED", "w-d")])

    def test_watch_without_resource_version_starts_with_current_state(self):
        self.ok("POST", CM, configmap("now-a"), expect=201)
        self.ok("POST", CM, configmap("now-b"), expect=201)
        existing = ["now-a", "now-b"]
        for i, q in enumerate(("?watch=true", "?watch=true&resourceVersion=0")):
            w = self.watch(CM + q)
            evs = [w.next_event() for _ in existing]
            self.assertEqual(sorted(ev_summary(evs)), [("ADDED", n) for n in sorted(existing)])
            self.ok("POST", CM, configmap(f"now-{i}"), expect=201)
            existing.append(f"now-{i}")
            ev = w.next_event()
            self.assertEqual(ev_summary([ev]), [("ADDED", f"now-{i}")])
            w.close()

    def test_watch_parameter_boolean_forms(self):
        # Upstream parses query booleans leniently (Convert_Slice_string_To_bool):
        # everything except "0" and "false" (any case) is true. The official
        # Python client sends watch=True.
        self.ok("POST", CM, configmap("bool-watch"), expect=201)
        for value in ("true", "True", "TRUE", "1"):
            with self.subTest(watch=value):
                w = self.watch(CM + f"?watch={value}&timeoutSeconds=5")
                ev = w.next_event()
                self.assertIsNotNone(ev, "stream ended without events")
                self.assertEqual(ev.get("type"), "ADDED", f"watch={value} did not start a watch: {ev}")
                w.close()
        for value in ("false", "False", "0"):
            with self.subTest(watch=value):
                lst = self.ok("GET", CM + f"?watch={value}")
                self.assertEqual(lst["kind"], "ConfigMapList")

    def test_watch_with_selectors(self):
        start = self.ok("GET", CM)["metadata"]["resourceVersion"]
        w = self.watch(CM + f"?watch=true&resourceVersion={start}&labelSelector=" + urllib.parse.quote("app=web"))
        wn = self.watch(CM + f"?watch=true&resourceVersion={start}&fieldSelector=metadata.name%3Dsel-b")
        self.ok("POST", CM, configmap("sel-a", labels={"app": "web"}), expect=201)
        self.ok("POST", CM, configmap("sel-b", labels={"app": "db"}), expect=201)
        # sel-b starts matching: ADDED; sel-a stops matching: DELETED (upstream semantics).
        self.ok("PATCH", CM + "/sel-b", {"metadata": {"labels": {"app": "web"}}},
                {"Content-Type": "application/merge-patch+json"})
        self.ok("PATCH", CM + "/sel-a", {"metadata": {"labels": {"app": "other"}}},
                {"Content-Type": "application/merge-patch+json"})
        self.ok("POST", CM, configmap("sel-end", labels={"app": "web"}), expect=201)
        evs = w.events_until(lambda e: e["object"]["metadata"]["name"] == "sel-end")
        self.assertEqual(ev_summary(evs), [("ADDED", "sel-a"), ("ADDED", "sel-b"), ("DELETED", "sel-a"),
                                           ("ADDED", "sel-end")])
        self.ok("DELETE", CM + "/sel-b")
        evs = wn.events_until(lambda e: e["type"] == "DELETED")
        self.assertEqual(ev_summary(evs), [("ADDED", "sel-b"), ("MODIFIED", "sel-b"), ("DELETED", "sel-b")])

    def test_watch_is_scoped_to_its_namespace(self):
        other = self.ns + "-x"
        self.create_ns(other)
        start = self.ok("GET", "/api/v1/configmaps")["metadata"]["resourceVersion"]
        mine = self.watch(CM + f"?watch=true&resourceVersion={start}")
        everything = self.watch(f"/api/v1/configmaps?watch=true&resourceVersion={start}")
        self.ok("POST", f"/api/v1/namespaces/{other}/configmaps", configmap("elsewhere"), expect=201)
        self.ok("POST", CM, configmap("here"), expect=201)
        ev = mine.next_event()
        self.assertEqual((ev["type"], ev["object"]["metadata"]["namespace"], ev["object"]["metadata"]["name"]),
                         ("ADDED", self.ns, "here"))
        evs = everything.events_until(lambda e: e["object"]["metadata"]["name"] == "here")
        self.assertEqual([(e["object"]["metadata"]["namespace"], e["object"]["metadata"]["name"]) for e in evs],
                         [(other, "elsewhere"), (self.ns, "here")])

    def test_watch_timeout_seconds_closes_stream(self):
        t0 = time.monotonic()
        w = self.watch(CM + "?watch=true&timeoutSeconds=1&resourceVersion="
                       + self.ok("GET", CM)["metadata"]["resourceVersion"])
        ev = w.next_event(timeout=10)
        self.assertIsNone(ev, "expected the server to end the stream")
        self.assertLess(time.monotonic() - t0, 8)

    def test_watch_bookmarks_when_allowed(self):
        # allowWatchBookmarks is a hint; a BOOKMARK, if sent, must carry a resourceVersion only.
        w = self.watch(CM + "?watch=true&allowWatchBookmarks=true&timeoutSeconds=2&resourceVersion="
                       + self.ok("GET", CM)["metadata"]["resourceVersion"])
        self.ok("POST", CM, configmap("bm"), expect=201)
        ev = w.next_event()
        self.assertEqual(ev_summary([ev]), [("ADDED", "bm")])
        while True:
            ev = w.next_event(timeout=10)
            if ev is None:
                break
            self.assertEqual(ev["type"], "BOOKMARK")
            self.assertTrue(ev["object"]["metadata"]["resourceVersion"])


class WatchExpiry(ApiTestCase):
    server_args = ("--watch-cache-window", "5")

    def test_watch_from_compacted_resource_version_gets_410_expired(self):
        first = self.ok("POST", CM, configmap("old-0"), expect=201)
        for i in range(1, 12):
            self.ok("POST", CM, configmap(f"old-{i}"), expect=201)
        w = self.watch(CM + f"?watch=true&resourceVersion={rv(first)}")
        ev = w.next_event()
        self.assertEqual(ev["type"], "ERROR", ev)
        st = ev["object"]
        self.assertEqual(st["kind"], "Status")
        self.assertEqual(st["code"], 410)
        self.assertEqual(st["reason"], "Expired")
        self.assertEqual(st["status"], "Failure")
        self.assertIn("too old resource version", st["message"])
        # The stream is closed after the error.
        self.assertIsNone(w.next_event())

        # A recent resourceVersion still works.
        latest = self.ok("GET", CM)["metadata"]["resourceVersion"]
        w2 = self.watch(CM + f"?watch=true&resourceVersion={latest}")
        self.ok("POST", CM, configmap("fresh"), expect=201)
        self.assertEqual(ev_summary([w2.next_event()]), [("ADDED", "fresh")])

    def test_list_continue_after_compaction_is_410(self):
        for i in range(4):
            self.ok("POST", CM, configmap(f"cont-{i}"), expect=201)
        lst = self.ok("GET", CM + "?limit=2")
        token = lst["metadata"]["continue"]
        for i in range(12):
            self.ok("POST", "/api/v1/namespaces/default/configmaps", configmap(f"churn-{self.ns}-{i}"), expect=201)
        status, doc, _ = self.call("GET", CM + "?limit=2&continue=" + urllib.parse.quote(token))
        if status == 200:
            # Serving the old snapshot is allowed only if it is exactly right.
            self.assertEqual(len(doc["items"]), 2)
        else:
            self.assertStatus(doc, 410, "Expired")


if __name__ == "__main__":
    unittest.main()
