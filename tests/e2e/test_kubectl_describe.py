"""kubectl describe (issue 3) for pods, deployments, replicasets, services
and namespaces, with kubectl 1.27 and the newest client, compared with what a
real 1.31 cluster prints: the sections in order, key values, and the Events
found by involvedObject fields last. Nodes and running pods are described in
test_kubectl_commands.KubectlWithNodeTest, which runs a node agent."""
import unittest

from kubectl_commands_support import *  # noqa: F401,F403 (the shared helpers)


class KubectlDescribeTest(CommandsMixin, unittest.TestCase):
    server_class = ControlPlane

    # -- describe -------------------------------------------------------------

    def test_describe_pod_deployment_replicaset(self):
        def check(k):
            self.assertEqual(k.out("apply", "-f", manifest("nginx-deployment.yaml")),
                             "deployment.apps/nginx-deployment created")
            self.assertEqual(k.out("apply", "-f", manifest("nginx-pod.yaml")), "pod/nginx created")
            dep, rs, pods = self.deployment_settled(k, "nginx-deployment", 3)
            rs_name, pod_hash = rs["metadata"]["name"], rs["metadata"]["labels"]["pod-template-hash"]
            self.wait(lambda: "FailedScheduling" in self.event_reasons(k, kind="Pod", name="nginx")
                      and "ScalingReplicaSet" in self.event_reasons(k, kind="Deployment")
                      and self.event_reasons(k, kind="ReplicaSet").count("SuccessfulCreate") == 3,
                      message="scheduler and controller events")

            # A pod nobody can schedule.
            out = k.out("describe", "pod", "nginx")
            self.assertInOrder(["Name", "Namespace", "Priority", "Service Account", "Node", "Labels",
                                "Annotations", "Status", "IP", "IPs", "Containers", "Conditions", "Volumes",
                                "QoS Class", "Node-Selectors", "Tolerations", "Events"], sections(out))
            self.assertEqual(sections(out)[-1], "Events")
            self.assertEqual(field(out, "Name"), "nginx")
            self.assertEqual(field(out, "Namespace"), k.ns)
            self.assertEqual(field(out, "Service Account"), "default")
            self.assertEqual(field(out, "Node"), "<none>")
            self.assertEqual(field(out, "Labels"), ["app=nginx-pod", "tier=web"])
            self.assertEqual(field(out, "Annotations"), "<none>")  # last-applied-configuration is not shown
            self.assertEqual(field(out, "Status"), "Pending")
            self.assertEqual(field(out, "QoS Class"), "BestEffort")
            self.assertRegex(out, r"(?m)^  nginx:\n    Image:\s+nginx:1\.14\.2\n    Port:\s+80/TCP$")
            self.assertEqual([r.split() for r in block(out, "Conditions")], [["Type", "Status"], ["PodScheduled", "False"]])
            evs = events(out)
            self.assertTrue(evs)
            for e in evs:  # only this pod's events, not its neighbours'
                self.assertEqual((e["type"], e["reason"], e["from"], e["message"]),
                                 ("Warning", "FailedScheduling", "default-scheduler",
                                  "no nodes available to schedule pods"))

            # Its Deployment.
            out = k.out("describe", "deployment", "nginx-deployment")
            self.assertInOrder(["Name", "Namespace", "CreationTimestamp", "Labels", "Annotations", "Selector",
                                "Replicas", "StrategyType", "MinReadySeconds", "RollingUpdateStrategy",
                                "Pod Template", "Conditions", "OldReplicaSets", "NewReplicaSet", "Events"],
                               sections(out))
            self.assertEqual(sections(out)[-1], "Events")
            self.assertEqual(field(out, "Name"), "nginx-deployment")
            self.assertEqual(field(out, "Namespace"), k.ns)
            self.assertEqual(field(out, "Labels"), "app=nginx")
            self.assertEqual(field(out, "Annotations"), "deployment.kubernetes.io/revision: 1")
            self.assertEqual(field(out, "Selector"), "app=nginx")
            self.assertEqual(field(out, "Replicas"), "3 desired | 3 updated | 3 total | 0 available | 3 unavailable")
            self.assertEqual(field(out, "StrategyType"), "RollingUpdate")
            self.assertEqual(field(out, "MinReadySeconds"), "0")
            self.assertEqual(field(out, "RollingUpdateStrategy"), "25% max unavailable, 25% max surge")
            self.assertEqual(field(out, "OldReplicaSets"), "<none>")
            self.assertEqual(field(out, "NewReplicaSet"), f"{rs_name} (3/3 replicas created)")
            self.assertEqual([r.split() for r in block(out, "Conditions")],
                             [["Type", "Status", "Reason"], ["----", "------", "------"],
                              ["Available", "False", "MinimumReplicasUnavailable"],
                              ["Progressing", "True", "ReplicaSetUpdated"]])
            self.assertEqual([(e["type"], e["reason"], e["from"], e["message"]) for e in events(out)],
                             [("Normal", "ScalingReplicaSet", "deployment-controller",
                               f"Scaled up replica set {rs_name} to 3")])

            # Its ReplicaSet.
            out = k.out("describe", "rs", rs_name)
            self.assertInOrder(["Name", "Namespace", "Selector", "Labels", "Annotations", "Controlled By",
                                "Replicas", "Pods Status", "Pod Template", "Events"], sections(out))
            self.assertEqual(sections(out)[-1], "Events")
            self.assertEqual(field(out, "Selector"), f"app=nginx,pod-template-hash={pod_hash}")
            self.assertEqual(field(out, "Labels"), ["app=nginx", f"pod-template-hash={pod_hash}"])
            self.assertEqual(field(out, "Annotations"), ["deployment.kubernetes.io/desired-replicas: 3",
                                                         "deployment.kubernetes.io/max-replicas: 4",
                                                         "deployment.kubernetes.io/revision: 1"])
            self.assertEqual(field(out, "Controlled By"), "Deployment/nginx-deployment")
            self.assertEqual(field(out, "Replicas"), "3 current / 3 desired")
            self.assertEqual(field(out, "Pods Status"), "0 Running / 3 Waiting / 0 Succeeded / 0 Failed")
            evs = events(out)
            self.assertEqual(sorted(e["message"] for e in evs),
                             sorted(f"Created pod: {p['metadata']['name']}" for p in pods))
            self.assertEqual({(e["type"], e["reason"], e["from"]) for e in evs},
                             {("Normal", "SuccessfulCreate", "replicaset-controller")})
        self.each_kubectl(check)

    def test_describe_service_and_namespace(self):
        def check(k):
            self.assertEqual(k.lines("apply", "-f", manifest("guestbook.yaml")),
                             ["configmap/guestbook-config created", "service/frontend created",
                              "deployment.apps/frontend created"])
            svc = k.get("service", "frontend")
            # Events about the Service as another component would post them:
            # one for this Service, one for an earlier Service of the same
            # name (another uid), which describe must leave out.
            for name, uid, message in (("frontend.current", svc["metadata"]["uid"], "current service"),
                                       ("frontend.previous", "6a1f07c5-0000-4000-8000-000000000000", "old service")):
                k("create", "-f", "-", input=json.dumps({
                    "apiVersion": "v1", "kind": "Event",
                    "metadata": {"name": name},
                    "involvedObject": {"apiVersion": "v1", "kind": "Service", "name": "frontend",
                                       "namespace": k.ns, "uid": uid},
                    "reason": "Checked", "message": message, "type": "Normal",
                    "source": {"component": "e2e-checker"}, "count": 1,
                    "firstTimestamp": svc["metadata"]["creationTimestamp"],
                    "lastTimestamp": svc["metadata"]["creationTimestamp"]}))

            out = k.out("describe", "service", "frontend")
            self.assertInOrder(["Name", "Namespace", "Labels", "Annotations", "Selector", "Type",
                                "IP Family Policy", "IP Families", "IP", "IPs", "Port", "TargetPort", "Endpoints",
                                "Session Affinity", "Events"], sections(out))
            self.assertEqual(sections(out)[-1], "Events")
            self.assertEqual(field(out, "Name"), "frontend")
            self.assertEqual(field(out, "Namespace"), k.ns)
            self.assertEqual(field(out, "Labels"), ["app=guestbook", "tier=frontend"])
            self.assertEqual(field(out, "Annotations"), "<none>")
            self.assertEqual(field(out, "Selector"), "app=guestbook,tier=frontend")
            self.assertEqual(field(out, "Type"), "ClusterIP")
            self.assertEqual(field(out, "IP Family Policy"), "SingleStack")
            self.assertEqual(field(out, "IP Families"), "IPv4")
            self.assertEqual(field(out, "IP"), svc["spec"]["clusterIP"])
            self.assertEqual(field(out, "IPs"), svc["spec"]["clusterIP"])
            self.assertEqual(re.split(r"\s{2,}", field(out, "Port")), ["<unset>", "80/TCP"])
            self.assertEqual(field(out, "TargetPort"), "80/TCP")
            # No pod is ready: 1.27 reads the Endpoints (no subsets: <none>),
            # 1.31 the EndpointSlices (a slice without endpoints: empty).
            self.assertEqual(field(out, "Endpoints"), "" if k.newest else "<none>")
            self.assertEqual(field(out, "Session Affinity"), "None")
            self.assertEqual([(e["type"], e["reason"], e["from"], e["message"]) for e in events(out)],
                             [("Normal", "Checked", "e2e-checker", "current service")])

            # The namespace, with a LimitRange (no ResourceQuota).
            self.assertEqual(k.out("apply", "-f", manifest("limitrange-memory-defaults.yaml")),
                             "limitrange/mem-limit-range created")
            out = k.out("describe", "namespace", k.ns, namespaced=False)
            self.assertEqual(sections(out)[:4], ["Name", "Labels", "Annotations", "Status"])
            self.assertEqual(field(out, "Name"), k.ns)
            self.assertEqual(field(out, "Labels"), f"kubernetes.io/metadata.name={k.ns}")
            self.assertEqual(field(out, "Annotations"), "<none>")
            self.assertEqual(field(out, "Status"), "Active")
            self.assertIn("\nNo resource quota.\n", out)
            limits = out.split("Resource Limits\n", 1)[1].splitlines()
            self.assertEqual(re.split(r"\s{2,}", limits[0].strip()),
                             ["Type", "Resource", "Min", "Max", "Default Request", "Default Limit",
                              "Max Limit/Request Ratio"])
            self.assertEqual(limits[2].split(), ["Container", "memory", "-", "-", "256Mi", "512Mi", "-"])
        self.each_kubectl(check)


if __name__ == "__main__":
    unittest.main()
