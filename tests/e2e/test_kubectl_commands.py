"""kubectl parity (issue 3): one test per kubectl command family, each run
with both the oldest kubectl on the machine (1.27) and the newest (1.33,
which sends its typed commands' bodies in protobuf; test_kubectl_basics
covers /usr/bin/kubectl, the gcloud dispatcher, which picks 1.31), in a
namespace of its own per client.

The expected output is what a real cluster (kube-apiserver 1.31 with
kube-controller-manager and kube-scheduler) prints for the same manifests:
describe's sections and values, the one-line results (`... scaled`,
`... labeled`, `... patched`, `... replaced`, `... edited`, `... condition
met`, `... deleted`), the error messages kubectl builds from the server's
Status, and the resulting objects. Where the two clients print differently
against a real cluster too (kubectl 1.27 says `annotate` for `annotated`,
reads Endpoints where 1.31 reads EndpointSlices), the test expects each
client's own output.

Most commands need no containers: KubectlCommandsTest runs a server with
its controllers and scheduler but no node agent, so pods stay Pending
(FailedScheduling: no nodes available). KubectlWithNodeTest starts a
server with its node agent (cluster.py) for what needs running pods:
`wait --for=condition=Available`, foreground deletion of a Deployment
whose pods take time to stop, and `describe node`.
"""
from kubectl_commands_support import *  # noqa: F401,F403 (the shared helpers)


class KubectlCommandsTest(CommandsMixin, unittest.TestCase):
    server_class = ControlPlane

    # -- edit / replace / patch -------------------------------------------------

    def editor(self, name, script):
        path = os.path.join(self.home, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + script + "\n")
        os.chmod(path, 0o755)
        return {"KUBE_EDITOR": path}

    def test_edit(self):
        # Editors that change the file as a user would: kubectl runs
        # $KUBE_EDITOR FILE and diffs what it gets back.
        scale_and_upgrade = self.editor("edit-scale.sh", "sed -i -e 's/^  replicas: 3$/  replicas: 4/' "
                                                         "-e 's/image: nginx:1.14.2/image: nginx:1.16.1/' \"$1\"")
        invalid = self.editor("edit-invalid.sh", "sed -i -e 's/^  replicas: 4$/  replicas: -1/' \"$1\"")
        unchanged = self.editor("edit-nothing.sh", "true")

        def check(k):
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            self.assertEqual(k.out("edit", "deployment/nginx-deployment", env=scale_and_upgrade),
                             "deployment.apps/nginx-deployment edited")
            dep = k.get("deployment", "nginx-deployment")
            self.assertEqual(dep["spec"]["replicas"], 4)
            self.assertEqual(dep["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.16.1")
            self.assertEqual(dep["metadata"]["generation"], 2)
            # Fields nobody edited are kept (a patch, not a replace).
            self.assertEqual(dep["spec"]["template"]["spec"]["containers"][0]["ports"],
                             [{"containerPort": 80, "protocol": "TCP"}])

            p = k("edit", "deployment/nginx-deployment", env=unchanged)
            self.assertEqual((p.stdout + p.stderr).strip(), "Edit cancelled, no changes made.")

            # The server refuses the edit: kubectl keeps a copy with the
            # server's reasons as comments and changes nothing.
            err = k.fails("edit", "deployment/nginx-deployment", env=invalid)
            self.assertIn('error: deployments.apps "nginx-deployment" is invalid', err)
            self.assertIn("error: Edit cancelled, no valid changes were saved.", err)
            copy = re.search(r'A copy of your changes has been stored to "([^"]+)"', err).group(1)
            with open(copy) as f:
                kept = f.read()
            os.unlink(copy)
            self.assertIn('# deployments.apps "nginx-deployment" was not valid:\n'
                          "# * spec.replicas: Invalid value: -1: must be greater than or equal to 0\n", kept)
            self.assertEqual(k.get("deployment", "nginx-deployment")["spec"]["replicas"], 4)
        self.each_kubectl(check)

    def test_replace(self):
        def check(k):
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            before = k.get("deployment", "nginx-deployment")
            changed = read_manifest("nginx-deployment.yaml").replace("replicas: 3", "replicas: 2") \
                                                            .replace("nginx:1.14.2", "nginx:1.16.1")
            self.assertEqual(k.out("replace", "-f", "-", input=changed), "deployment.apps/nginx-deployment replaced")
            dep = k.get("deployment", "nginx-deployment")
            self.assertEqual(dep["metadata"]["uid"], before["metadata"]["uid"])
            self.assertEqual(dep["spec"]["replicas"], 2)
            self.assertEqual(dep["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.16.1")
            self.assertEqual(dep["metadata"]["generation"], 2)
            # replace is a full update: the last-applied annotation of
            # `apply` is gone, since the file does not carry it.
            self.assertNotIn("kubectl.kubernetes.io/last-applied-configuration",
                             dep["metadata"].get("annotations", {}))

            # A replace with an old resourceVersion loses the race.
            stale = dict(dep)
            stale["metadata"] = dict(dep["metadata"], resourceVersion=before["metadata"]["resourceVersion"])
            err = k.fails("replace", "-f", "-", input=json.dumps(stale))
            self.assertEqual(err, 'Error from server (Conflict): error when replacing "STDIN": Operation cannot be '
                                  'fulfilled on deployments.apps "nginx-deployment": the object has been modified; '
                                  'please apply your changes to the latest version and try again')

            err = k.fails("replace", "-f", "-", input=changed.replace("name: nginx-deployment", "name: nope"))
            self.assertEqual(err, 'Error from server (NotFound): error when replacing "STDIN": '
                                  'deployments.apps "nope" not found')

            # --force: delete, then create anew.
            self.assertEqual(k.lines("replace", "--force", "-f", manifest("nginx-deployment.yaml")),
                             ['deployment.apps "nginx-deployment" deleted', "deployment.apps/nginx-deployment replaced"])
            dep = k.get("deployment", "nginx-deployment")
            self.assertNotEqual(dep["metadata"]["uid"], before["metadata"]["uid"])
            self.assertEqual(dep["spec"]["replicas"], 3)
            self.assertEqual(dep["metadata"]["generation"], 1)
        self.each_kubectl(check)

    def test_patch(self):
        # The walk-through of the docs' "Update API Objects in Place Using
        # kubectl patch", with its results, plus JSON patches.
        patch_file = os.path.join(self.home, "patch-file.yaml")
        with open(patch_file, "w") as f:
            f.write("spec:\n  template:\n    spec:\n      containers:\n      - name: patch-demo-ctr-2\n"
                    "        image: redis\n")

        def containers(k, name="patch-demo"):
            return [(c["name"], c["image"])
                    for c in k.get("deployment", name)["spec"]["template"]["spec"]["containers"]]

        def check(k):
            k("apply", "-f", manifest("deployment-patch.yaml"))
            # Strategic merge patch (the default): containers merge by name,
            # the new one first.
            self.assertEqual(k.out("patch", "deployment", "patch-demo", "--patch-file", patch_file),
                             "deployment.apps/patch-demo patched")
            self.assertEqual(containers(k), [("patch-demo-ctr-2", "redis"), ("patch-demo-ctr", "nginx")])
            # tolerations have no merge key: the list is replaced.
            self.assertEqual(k.out("patch", "deployment", "patch-demo", "--patch",
                                   '{"spec":{"template":{"spec":{"tolerations":[{"effect":"NoSchedule",'
                                   '"key":"disktype","value":"ssd"}]}}}}'), "deployment.apps/patch-demo patched")
            self.assertEqual(k.get("deployment", "patch-demo")["spec"]["template"]["spec"]["tolerations"],
                             [{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}])
            # JSON merge patch: lists are replaced whole.
            self.assertEqual(k.out("patch", "deployment", "patch-demo", "--type", "merge", "--patch",
                                   '{"spec":{"template":{"spec":{"containers":[{"name":"patch-demo-ctr-3",'
                                   '"image":"gcr.io/google-samples/hello-app:2.0"}]}}}}'),
                             "deployment.apps/patch-demo patched")
            self.assertEqual(containers(k), [("patch-demo-ctr-3", "gcr.io/google-samples/hello-app:2.0")])
            # JSON patch.
            ops = ('[{"op":"replace","path":"/spec/template/spec/containers/0/image",'
                   '"value":"gcr.io/google-samples/hello-app:2.1"},'
                   '{"op":"add","path":"/metadata/labels","value":{"tier":"demo"}}]')
            self.assertEqual(k.out("patch", "deployment", "patch-demo", "--type", "json", "-p", ops),
                             "deployment.apps/patch-demo patched")
            self.assertEqual(containers(k), [("patch-demo-ctr-3", "gcr.io/google-samples/hello-app:2.1")])
            self.assertEqual(k.get("deployment", "patch-demo")["metadata"]["labels"], {"tier": "demo"})
            self.assertEqual(k.out("patch", "deployment", "patch-demo", "--type", "json", "-p", ops),
                             "deployment.apps/patch-demo patched (no change)")
            err = k.fails("patch", "deployment", "patch-demo", "--type", "json", "-p",
                          '[{"op":"test","path":"/spec/replicas","value":9},'
                          '{"op":"replace","path":"/spec/replicas","value":9}]')
            self.assertEqual(err, "The request is invalid: the server rejected our request due to an error in our request")
            self.assertEqual(k.get("deployment", "patch-demo")["spec"]["replicas"], 2)

            # The retainKeys strategy: switching to Recreate must clear rollingUpdate.
            k("apply", "-f", manifest("deployment-retainkeys.yaml"))
            err = k.fails("patch", "deployment", "retainkeys-demo", "--type", "strategic", "--patch",
                          '{"spec":{"strategy":{"type":"Recreate"}}}')
            self.assertEqual(err, 'The Deployment "retainkeys-demo" is invalid: spec.strategy.rollingUpdate: '
                                  "Forbidden: may not be specified when strategy `type` is 'Recreate'")
            self.assertEqual(k.out("patch", "deployment", "retainkeys-demo", "--type", "strategic", "--patch",
                                   '{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}'),
                             "deployment.apps/retainkeys-demo patched")
            self.assertEqual(k.get("deployment", "retainkeys-demo")["spec"]["strategy"], {"type": "Recreate"})

            err = k.fails("patch", "deployment", "nope", "-p", '{"spec":{"replicas":1}}')
            self.assertEqual(err, 'Error from server (NotFound): deployments.apps "nope" not found')
        self.each_kubectl(check)

    # -- label / annotate -------------------------------------------------------

    def test_label_overwrite(self):
        def check(k):
            k("apply", "-f", manifest("nginx-pod.yaml"))
            err = k.fails("label", "pods", "nginx", "tier=frontend")
            self.assertEqual(err, "error: 'tier' already has a value (web), and --overwrite is false")
            self.assertEqual(k.out("label", "pods", "nginx", "tier=frontend", "--overwrite"), "pod/nginx labeled")
            self.assertEqual(k.get("pod", "nginx")["metadata"]["labels"], {"app": "nginx-pod", "tier": "frontend"})
            self.assertEqual(k.out("label", "pods", "nginx", "tier=frontend", "--overwrite"), "pod/nginx not labeled")
            self.assertEqual(k.out("label", "pods", "nginx", "tier-"), "pod/nginx unlabeled")
            self.assertEqual(k.get("pod", "nginx")["metadata"]["labels"], {"app": "nginx-pod"})

            # Every pod of the namespace, then by selector.
            k("apply", "-f", "-", input=read_manifest("nginx-pod.yaml").replace("name: nginx\n", "name: nginx-2\n"))
            self.assertEqual(sorted(k.lines("label", "pods", "--all", "env=test")),
                             ["pod/nginx labeled", "pod/nginx-2 labeled"])
            self.assertEqual(sorted(k.lines("label", "pods", "-l", "tier=web", "env=prod", "--overwrite")),
                             ["pod/nginx-2 labeled"])
            out = k.out("get", "pods", "--show-labels")
            self.assertEqual(header(out)[-1], "LABELS")
            self.assertEqual({r[0]: r[-1] for r in rows(out)},
                             {"nginx": "app=nginx-pod,env=test", "nginx-2": "app=nginx-pod,env=prod,tier=web"})
        self.each_kubectl(check)

    def test_annotate(self):
        def check(k):
            # kubectl 1.27 prints "annotate" where later clients print "annotated".
            done = "pod/nginx annotated" if k.newest else "pod/nginx annotate"
            k("apply", "-f", manifest("nginx-pod.yaml"))
            self.assertEqual(k.out("annotate", "pods", "nginx", "description=my frontend"), done)
            self.assertEqual(k.get("pod", "nginx")["metadata"]["annotations"]["description"], "my frontend")
            err = k.fails("annotate", "pods", "nginx", "description=my frontend running nginx")
            self.assertEqual(err, "error: --overwrite is false but found the following declared annotation(s): "
                                  "'description' already has a value (my frontend)")
            self.assertEqual(k.out("annotate", "--overwrite", "pods", "nginx",
                                   "description=my frontend running nginx"), done)
            self.assertEqual(k.get("pod", "nginx")["metadata"]["annotations"]["description"],
                             "my frontend running nginx")
            # With a resourceVersion precondition that no longer holds.
            err = k.fails("annotate", "pods", "nginx", "owner=team-a", "--resource-version=1")
            self.assertEqual(err, 'Error from server (Conflict): Operation cannot be fulfilled on pods "nginx": the '
                                  'object has been modified; please apply your changes to the latest version and try again')
            rv = k.get("pod", "nginx")["metadata"]["resourceVersion"]
            self.assertEqual(k.out("annotate", "pods", "nginx", "owner=team-a", f"--resource-version={rv}"), done)
            self.assertEqual(k.out("annotate", "pods", "nginx", "description-"), done)
            annotations = k.get("pod", "nginx")["metadata"]["annotations"]
            annotations.pop("kubectl.kubernetes.io/last-applied-configuration")
            self.assertEqual(annotations, {"owner": "team-a"})
        self.each_kubectl(check)

    # -- scale / set image --------------------------------------------------------

    def test_scale(self):
        def check(k):
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            self.deployment_settled(k, "nginx-deployment", 3)
            self.assertEqual(k.out("scale", "deployment", "nginx-deployment", "--replicas=5"),
                             "deployment.apps/nginx-deployment scaled")
            dep, rs, pods = self.deployment_settled(k, "nginx-deployment", 5)
            self.assertEqual(rs["spec"]["replicas"], 5)
            self.assertEqual(rows(k.out("get", "deployment", "nginx-deployment"))[0][:4],
                             ["nginx-deployment", "0/5", "5", "0"])
            # --current-replicas is a precondition (GET, then PUT of the Scale).
            err = k.fails("scale", "deployment", "nginx-deployment", "--current-replicas=2", "--replicas=3")
            self.assertEqual(err, "error: Expected replicas to be 2, was 5")
            self.assertEqual(k.out("scale", "deployment", "nginx-deployment", "--current-replicas=5", "--replicas=2"),
                             "deployment.apps/nginx-deployment scaled")
            self.deployment_settled(k, "nginx-deployment", 2)
            # The scale subresource as kubectl reads it.
            scale = json.loads(k.out("get", "--raw",
                                     f"/apis/apps/v1/namespaces/{k.ns}/deployments/nginx-deployment/scale",
                                     namespaced=False))
            self.assertEqual((scale["kind"], scale["apiVersion"]), ("Scale", "autoscaling/v1"))
            self.assertEqual(scale["spec"], {"replicas": 2})
            self.assertEqual(scale["status"], {"replicas": 2, "selector": "app=nginx"})
            # By file, as the docs' `kubectl scale --replicas=3 -f foo.yaml`.
            self.assertEqual(k.out("scale", "--replicas=1", "-f", manifest("nginx-deployment.yaml")),
                             "deployment.apps/nginx-deployment scaled")
            self.deployment_settled(k, "nginx-deployment", 1)
        self.each_kubectl(check)

    def test_set_image(self):
        def check(k):
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            k("apply", "-f", manifest("nginx-pod.yaml"))
            _, first_rs, _ = self.deployment_settled(k, "nginx-deployment", 3)
            # The docs' rolling update example.
            self.assertEqual(k.out("set", "image", "deployment/nginx-deployment", "nginx=nginx:1.16.1"),
                             "deployment.apps/nginx-deployment image updated")
            dep = k.get("deployment", "nginx-deployment")
            self.assertEqual(dep["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.16.1")
            self.assertEqual(dep["metadata"]["generation"], 2)

            def second_rs():
                rss = {r["metadata"]["name"]: r for r in k.items("rs", "-l", "app=nginx")}
                new = [r for n, r in rss.items() if n != first_rs["metadata"]["name"]]
                return new[0] if len(rss) == 2 and new else None
            new_rs = self.wait(second_rs, message="the new ReplicaSet")
            self.assertEqual(new_rs["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.16.1")
            self.assertEqual(new_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2")

            err = k.fails("set", "image", "deployment/nginx-deployment", "nope=nginx:1.16.1")
            self.assertEqual(err, 'error: unable to find container named "nope"')
            self.assertEqual(k.out("set", "image", "deployment/nginx-deployment", "*=nginx:1.17"),
                             "deployment.apps/nginx-deployment image updated")
            self.assertEqual(k.out("set", "image", "pod/nginx", "nginx=nginx:1.16.1"), "pod/nginx image updated")
            self.assertEqual(k.get("pod", "nginx")["spec"]["containers"][0]["image"], "nginx:1.16.1")
        self.each_kubectl(check)

    # -- delete ---------------------------------------------------------------------

    def test_delete_cascade(self):
        def check(k):
            deleted = 'deployment.apps "nginx-deployment" deleted'

            # background (kubectl's default): the Deployment goes at once, the
            # garbage collector removes its ReplicaSet and pods after it.
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            self.deployment_settled(k, "nginx-deployment", 3)
            self.assertEqual(k.out("delete", "deployment", "nginx-deployment", "--cascade=background"), deleted)
            self.wait(lambda: not k.items("rs", "-l", "app=nginx") and not k.items("pods", "-l", "app=nginx"),
                      message="ReplicaSet and pods collected")

            # orphan: the ReplicaSet stays, without its ownerReference; its
            # pods stay with it.
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            _, rs, pods = self.deployment_settled(k, "nginx-deployment", 3)
            self.assertEqual(k.out("delete", "deployment", "nginx-deployment", "--cascade=orphan"), deleted)
            self.assertFalse(k.exists("deployment", "nginx-deployment"))
            left = k.get("rs", rs["metadata"]["name"])
            self.assertEqual(left["metadata"]["uid"], rs["metadata"]["uid"])
            self.assertNotIn("ownerReferences", left["metadata"])
            self.assertNotIn("deletionTimestamp", left["metadata"])
            self.assertEqual(sorted(p["metadata"]["name"] for p in k.items("pods", "-l", "app=nginx")),
                             sorted(p["metadata"]["name"] for p in pods))
            self.assertEqual(k.out("delete", "rs", rs["metadata"]["name"]),
                             f'replicaset.apps "{rs["metadata"]["name"]}" deleted')
            self.wait(lambda: not k.items("pods", "-l", "app=nginx"), message="orphaned ReplicaSet's pods collected")

            # foreground: the Deployment stays, with the foregroundDeletion
            # finalizer, until its dependents are gone. A finalizer of our own
            # holds the ReplicaSet (in a cluster, pods that take time to stop
            # do; KubectlWithNodeTest shows that case).
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            _, rs, _ = self.deployment_settled(k, "nginx-deployment", 3)
            rs_name = rs["metadata"]["name"]
            k("patch", "rs", rs_name, "--type", "merge", "-p", '{"metadata":{"finalizers":["example.com/hold"]}}')
            deleting = k.background("delete", "deployment", "nginx-deployment", "--cascade=foreground")
            dep = self.wait(lambda: (lambda d: d if "deletionTimestamp" in d["metadata"] else None)(
                k.get("deployment", "nginx-deployment")), message="Deployment marked for deletion")
            self.assertEqual(dep["metadata"]["finalizers"], ["foregroundDeletion"])
            held = self.wait(lambda: (lambda r: r if "deletionTimestamp" in r["metadata"]
                                      and r["metadata"].get("finalizers") == ["example.com/hold"] else None)(
                k.get("rs", rs_name)), message="ReplicaSet deleted but held, its pods gone")
            self.assertEqual(k.items("pods", "-l", "app=nginx"), [])
            time.sleep(1)  # the garbage collector had time to act; nothing may change while the RS is held
            self.assertIsNone(deleting.proc.poll(), "kubectl delete returned while a dependent was left")
            self.assertEqual(k.get("deployment", "nginx-deployment")["metadata"]["finalizers"],
                             ["foregroundDeletion"])
            self.assertEqual(held["metadata"]["ownerReferences"][0]["blockOwnerDeletion"], True)
            k("patch", "rs", rs_name, "--type", "json", "-p",
              '[{"op":"test","path":"/metadata/finalizers","value":["example.com/hold"]},'
              '{"op":"remove","path":"/metadata/finalizers"}]')
            self.assertEqual(deleting.proc.wait(timeout=30), 0, "\n".join(deleting.err.seen))
            deleting.out.wait_for(lambda line: line == deleted, timeout=5)
            self.assertFalse(k.exists("deployment", "nginx-deployment"))
            self.assertFalse(k.exists("rs", rs_name))
        self.each_kubectl(check)

    def test_delete_by_label(self):
        def check(k):
            k("apply", "-f", manifest("guestbook.yaml"))
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            _, _, pods = self.deployment_settled(k, "nginx-deployment", 3)
            # In the order of the types asked for.
            self.assertEqual(k.lines("delete", "deployments,services,configmaps", "-l", "app=guestbook"),
                             ['deployment.apps "frontend" deleted', 'service "frontend" deleted',
                              'configmap "guestbook-config" deleted'])
            self.assertEqual([d["metadata"]["name"] for d in k.items("deployments")], ["nginx-deployment"])
            self.assertEqual(k.items("services"), [])
            self.assertEqual(sorted(k.lines("delete", "pods", "-l", "app=nginx")),
                             sorted(f'pod "{p["metadata"]["name"]}" deleted' for p in pods))
            # The ReplicaSet replaces them.
            _, _, again = self.deployment_settled(k, "nginx-deployment", 3)
            self.assertFalse({p["metadata"]["name"] for p in pods} & {p["metadata"]["name"] for p in again})
            p = k("delete", "pods", "-l", "app=nothing")
            self.assertEqual((p.returncode, p.stdout.strip()), (0, "No resources found"))
        self.each_kubectl(check)

    # -- wait -------------------------------------------------------------------------

    def test_wait(self):
        def check(k):
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            k("apply", "-f", manifest("nginx-pod.yaml"))
            self.assertEqual(k.out("wait", "--for=condition=Progressing", "deployment/nginx-deployment",
                                   "--timeout=60s"), "deployment.apps/nginx-deployment condition met")
            self.assertEqual(k.out("wait", "--for=condition=Available=false", "deployment/nginx-deployment",
                                   "--timeout=60s"), "deployment.apps/nginx-deployment condition met")
            self.assertEqual(k.out("wait", "--for=condition=PodScheduled=false", "pod/nginx", "--timeout=60s"),
                             "pod/nginx condition met")
            self.assertEqual(k.out("wait", "--for=jsonpath={.status.phase}=Pending", "pod/nginx", "--timeout=60s"),
                             "pod/nginx condition met")
            # No node: the Deployment never becomes Available.
            err = k.fails("wait", "--for=condition=Available", "deployment/nginx-deployment", "--timeout=2s")
            self.assertEqual(err, "error: timed out waiting for the condition on deployments/nginx-deployment")

            # --for=delete returns once the object is gone.
            k("create", "configmap", "short-lived", "--from-literal=k=v")
            # (-v=6 logs its requests: the delete comes once its watch is open;
            # a waiter that finds nothing to wait for exits 0 silently.)
            waiter = k.background("wait", "--for=delete", "configmap/short-lived", "--timeout=60s", "-v=6")
            waiter.err.wait_for(lambda line: "watch=true" in line, timeout=30)
            self.assertIsNone(waiter.proc.poll(), "\n".join(waiter.err.seen))
            self.assertEqual(k.out("delete", "configmap", "short-lived"), 'configmap "short-lived" deleted')
            self.assertEqual(waiter.proc.wait(timeout=30), 0, "\n".join(waiter.err.seen))
            waiter.out.wait_for(lambda line: line == "configmap/short-lived condition met", timeout=5)
        self.each_kubectl(check)

    # -- events -----------------------------------------------------------------------

    def test_get_events_sorted_by_last_timestamp(self):
        def check(k):
            k("apply", "-f", manifest("nginx-deployment.yaml"))
            self.deployment_settled(k, "nginx-deployment", 3)
            time.sleep(1.1)  # timestamps have second precision: later events sort after
            k("scale", "deployment", "nginx-deployment", "--replicas=1")
            self.deployment_settled(k, "nginx-deployment", 1)
            # An event posted now about something that happened an hour ago
            # sorts first although it was created last.
            k("create", "-f", "-", input=json.dumps({
                "apiVersion": "v1", "kind": "Event", "metadata": {"name": "nginx-deployment.earlier"},
                "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx-deployment",
                                   "namespace": k.ns},
                "reason": "Earlier", "message": "an hour ago", "type": "Normal",
                "source": {"component": "e2e-checker"}, "count": 1,
                "firstTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600)),
                "lastTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))}))
            by_name = {e["metadata"]["name"]: e for e in k.items("events")}
            self.assertGreaterEqual(len(by_name), 8)

            out = k.out("get", "events", "--sort-by=.lastTimestamp")
            self.assertEqual(header(out), ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"])
            first = rows(out)[0]
            self.assertEqual(first[1:], ["Normal", "Earlier", "deployment/nginx-deployment", "an hour ago"])
            self.assertRegex(first[0], r"^(59m|60m|61m)$")

            out = k.out("get", "events", "--sort-by=.lastTimestamp", "-o", "wide")
            self.assertEqual(header(out), ["LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE",
                                           "FIRST SEEN", "COUNT", "NAME"])
            names = [line.split()[-1] for line in out.splitlines()[1:]]
            self.assertEqual(sorted(names), sorted(by_name))
            stamps = [by_name[n]["lastTimestamp"] for n in names]
            self.assertEqual(stamps, sorted(stamps))
            self.assertLess(stamps[0], stamps[-1])
            reasons = [by_name[n]["reason"] for n in names]
            self.assertLess(reasons.index("SuccessfulCreate"), reasons.index("SuccessfulDelete"))
        self.each_kubectl(check)

    # -- cluster-level commands ---------------------------------------------------------

    def test_auth_whoami(self):
        def check(k):
            out = k.out("auth", "whoami", namespaced=False)
            self.assertEqual([re.split(r"\s{2,}", line.strip()) for line in out.splitlines()],
                             [["ATTRIBUTE", "VALUE"], ["Username", "system:admin"],
                              ["Groups", "[system:masters system:authenticated]"]])
            review = k.json("auth", "whoami", namespaced=False)
            # 1.28+ ask authentication.k8s.io/v1 first; 1.27 knows only v1beta1
            # (then v1alpha1), which kube-apiserver 1.28+ serves when enabled
            # (--runtime-config) and capstan serves always.
            self.assertEqual(review["apiVersion"],
                             "authentication.k8s.io/v1" if k.newest else "authentication.k8s.io/v1beta1")
            self.assertEqual(review["kind"], "SelfSubjectReview")
            self.assertEqual(review["status"]["userInfo"],
                             {"username": "system:admin", "groups": ["system:masters", "system:authenticated"]})
        self.each_kubectl(check)

        # The API as kube-apiserver serves it: create only, nothing stored.
        status, body, _ = request_json(self.server, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                       {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        self.assertEqual(status, 201, body)
        self.assertEqual(body["status"]["userInfo"]["username"], "system:admin")
        status, body, _ = request_json(self.server, "GET", "/apis/authentication.k8s.io/v1/selfsubjectreviews")
        self.assertEqual((status, body["reason"]), (405, "MethodNotAllowed"))
        resources = self.kubectl_api_resources()
        self.assertIn(["selfsubjectreviews", "authentication.k8s.io/v1", "false", "SelfSubjectReview"], resources)

    def kubectl_api_resources(self):
        out = Kubectl(self, "newest", KUBECTL_NEWEST, self.server, self.home, "default").out(
            "api-resources", "--api-group=authentication.k8s.io", namespaced=False)
        return rows(out)

    def test_cluster_info(self):
        def check(k):
            # The control plane, then the kube-system Services labelled
            # kubernetes.io/cluster-service=true (the cluster DNS, as CoreDNS
            # in kubeadm and k3s clusters), named by kubernetes.io/name.
            out = ANSI.sub("", k.out("cluster-info", namespaced=False))
            self.assertEqual(out.splitlines(), [
                f"Kubernetes control plane is running at {self.server.url}",
                f"capstan-dns is running at {self.server.url}/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy",
                "", "To further debug and diagnose cluster problems, use 'kubectl cluster-info dump'."])
        self.each_kubectl(check)

    def test_version(self):
        def check(k):
            p = k("version", namespaced=False)
            info = json.loads(k.out("version", "-o", "json", namespaced=False))
            server = info["serverVersion"]
            self.assertEqual((server["major"], server["minor"]), ("1", "31"))
            self.assertTrue(server["gitVersion"].startswith("v1.31."), server)
            if k.newest:
                minor = KUBECTL_NEWEST.rsplit(".", 1)[1]
                self.assertEqual(info["clientVersion"]["minor"], minor)
                lines = p.stdout.splitlines()
                self.assertRegex(lines[0], rf"^Client Version: v1\.{minor}\.\d+$")
                self.assertRegex(lines[1], r"^Kustomize Version: v\d+\.\d+\.\d+$")
                self.assertEqual(lines[2], f"Server Version: {server['gitVersion']}")
                if abs(int(minor) - 31) > 1:  # as against any 1.31 server
                    self.assertIn(f"WARNING: version difference between client (1.{minor}) and server (1.31) "
                                  "exceeds the supported minor version skew of +/-1", p.stderr)
                else:
                    self.assertEqual(p.stderr, "")
            else:
                self.assertEqual(info["clientVersion"]["minor"], "27")
                lines = p.stdout.splitlines()
                self.assertTrue(lines[0].startswith('Client Version: version.Info{Major:"1", Minor:"27"'), lines[0])
                self.assertTrue(lines[-1].startswith(
                    f'Server Version: version.Info{{Major:"1", Minor:"31", GitVersion:"{server["gitVersion"]}"'),
                    lines[-1])
                # As against any 1.31 server: the skew warning.
                self.assertIn("WARNING: version difference between client (1.27) and server (1.31) exceeds the "
                              "supported minor version skew of +/-1", p.stderr)
        self.each_kubectl(check)


class KubectlWithNodeTest(CommandsMixin, unittest.TestCase):
    """Commands that need pods to run: a server with its node agent."""

    server_class = NodeServer

    @staticmethod
    def runnable_deployment(stop_seconds=0):
        """nginx-deployment.yaml with the test image serving HTTP, since no
        registry is reachable; with stop_seconds, each pod takes that long to
        stop (a preStop hook)."""
        doc = yaml.safe_load(read_manifest("nginx-deployment.yaml"))
        c = doc["spec"]["template"]["spec"]["containers"][0]
        c["image"] = IMAGE
        c["command"] = ["/bin/httpd", "-f", "-p", "80", "-h", "/www"]
        c["readinessProbe"] = {"tcpSocket": {"port": 80}, "periodSeconds": 1}
        if stop_seconds:
            c["lifecycle"] = {"preStop": {"exec": {"command": ["/bin/sleep", str(stop_seconds)]}}}
        # httpd runs as PID 1 and ignores SIGTERM: SIGKILL ends it 2 s after
        # the preStop hook (instead of after the default 30 s).
        doc["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = stop_seconds + 2
        return yaml.safe_dump(doc)

    def test_wait_available_then_delete_foreground(self):
        def check(k):
            self.assertEqual(k.out("apply", "-f", "-", input=self.runnable_deployment(stop_seconds=3)),
                             "deployment.apps/nginx-deployment created")
            self.assertEqual(k.out("wait", "--for=condition=Available", "deployment/nginx-deployment",
                                   "--timeout=120s", timeout=150), "deployment.apps/nginx-deployment condition met")
            dep = k.get("deployment", "nginx-deployment")
            self.assertEqual(dep["status"]["availableReplicas"], 3)
            self.assertEqual(rows(k.out("get", "deployment", "nginx-deployment"))[0][:4],
                             ["nginx-deployment", "3/3", "3", "3"])

            # Foreground: the Deployment is still there, with the
            # foregroundDeletion finalizer, while its pods stop (3 s preStop).
            deleting = k.background("delete", "deployment", "nginx-deployment", "--cascade=foreground")
            seen = self.wait(lambda: (lambda d: d if "deletionTimestamp" in d["metadata"] else None)(
                k.get("deployment", "nginx-deployment")), message="Deployment marked for deletion")
            self.assertEqual(seen["metadata"]["finalizers"], ["foregroundDeletion"])
            terminating = self.wait(lambda: [p for p in k.items("pods", "-l", "app=nginx")
                                             if "deletionTimestamp" in p["metadata"]],
                                    message="pods terminating")
            self.assertTrue(terminating)
            self.assertTrue(k.exists("deployment", "nginx-deployment"))
            self.assertIsNone(deleting.proc.poll())
            self.assertEqual(deleting.proc.wait(timeout=60), 0, "\n".join(deleting.err.seen))
            # Gone only after everything it owned.
            self.assertFalse(k.exists("deployment", "nginx-deployment"))
            self.assertEqual(k.items("rs", "-l", "app=nginx"), [])
            self.assertEqual(k.items("pods", "-l", "app=nginx"), [])
        self.each_kubectl(check)

    def test_describe_node_and_running_pod(self):
        node = self.server.node_name

        def check(k):
            k("apply", "-f", "-", input=self.runnable_deployment())
            k("wait", "--for=condition=Available", "deployment/nginx-deployment", "--timeout=120s", timeout=150)
            pod = k.items("pods", "-l", "app=nginx")[0]
            name = pod["metadata"]["name"]

            out = k.out("describe", "pod", name)
            self.assertEqual(field(out, "Node"), f"{node}/{pod['status']['hostIP']}")
            self.assertEqual(field(out, "Status"), "Running")
            self.assertEqual(field(out, "IP"), pod["status"]["podIP"])
            self.assertEqual(field(out, "Controlled By"), f"ReplicaSet/{pod['metadata']['ownerReferences'][0]['name']}")
            self.assertRegex(out, r"(?m)^    State:\s+Running\n      Started:\s+\S")
            self.assertRegex(out, r"(?m)^    Ready:\s+True$")
            conditions = {r.split()[0]: r.split()[1] for r in block(out, "Conditions")[1:]}
            for c in ("Initialized", "Ready", "ContainersReady", "PodScheduled"):
                self.assertEqual(conditions.get(c), "True", out)
            got = [(e["type"], e["reason"], e["from"]) for e in events(out)]
            self.assertEqual(got[0], ("Normal", "Scheduled", "default-scheduler"))
            self.assertEqual(events(out)[0]["message"], f"Successfully assigned {k.ns}/{name} to {node}")
            self.assertEqual(got[1:4], [("Normal", "Pulled", "kubelet"), ("Normal", "Created", "kubelet"),
                                        ("Normal", "Started", "kubelet")])
            self.assertEqual([e["message"] for e in events(out)[1:4]],
                             [f'Container image "{IMAGE}" already present on machine', "Created container nginx",
                              "Started container nginx"])

            out = k.out("describe", "node", node, namespaced=False)
            self.assertInOrder(["Name", "Roles", "Labels", "Annotations", "CreationTimestamp", "Taints",
                                "Unschedulable", "Lease", "Conditions", "Addresses", "Capacity", "Allocatable",
                                "System Info", "PodCIDR", "PodCIDRs", "Non-terminated Pods", "Allocated resources",
                                "Events"], sections(out))
            self.assertEqual(sections(out)[-1], "Events")
            self.assertEqual(field(out, "Name"), node)
            self.assertIn(f"kubernetes.io/hostname={node}", field(out, "Labels"))
            self.assertEqual(field(out, "Taints"), "<none>")
            self.assertEqual(field(out, "Unschedulable"), "false")
            conditions = {r.split()[0]: r.split()[1] for r in block(out, "Conditions")[2:]}
            self.assertEqual(conditions, {"MemoryPressure": "False", "DiskPressure": "False",
                                          "PIDPressure": "False", "Ready": "True"})
            self.assertIn(name, "\n".join(block(out, "Non-terminated Pods")))
            # The agent's (kubelet's) and the node controller's events, found by
            # the Node's name (kubelet's uid for it) and by its uid.
            got = {(e["type"], e["reason"], e["from"], e["message"]) for e in events(out)}
            for want in (("Normal", "Starting", "kubelet", "Starting kubelet."),
                         ("Normal", "NodeHasSufficientMemory", "kubelet",
                          f"Node {node} status is now: NodeHasSufficientMemory"),
                         ("Normal", "NodeHasNoDiskPressure", "kubelet", f"Node {node} status is now: NodeHasNoDiskPressure"),
                         ("Normal", "NodeHasSufficientPID", "kubelet", f"Node {node} status is now: NodeHasSufficientPID"),
                         ("Normal", "NodeReady", "kubelet", f"Node {node} status is now: NodeReady"),
                         ("Normal", "RegisteredNode", "node-controller",
                          f"Node {node} event: Registered Node {node} in Controller")):
                self.assertIn(want, got)
            k("delete", "deployment", "nginx-deployment")
        self.each_kubectl(check)


if __name__ == "__main__":
    unittest.main()
