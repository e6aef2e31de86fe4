"""The official Python client (Debian's python3-kubernetes) against capstan:
typed CRUD through CoreV1Api / AppsV1Api and a watch while another thread
writes."""
import queue
import threading
import time
import unittest

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from harness import ServerTestCase


class PythonClient(ServerTestCase):
    _counter = 0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.api_client = config.new_client_from_config(config_file=cls.server.kubeconfig)
        except Exception:
            super().tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.api_client.close()
        finally:
            super().tearDownClass()

    def setUp(self):
        type(self)._counter += 1
        self.ns = f"py-{type(self)._counter}"
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=self.ns)))

    def test_load_kube_config(self):
        # The documented entry point: config.load_kube_config(config_file=...).
        config.load_kube_config(config_file=self.server.kubeconfig)
        api = client.ApiClient()
        self.addCleanup(api.close)
        v = client.VersionApi(api).get_code()
        self.assertEqual((v.major, v.minor), ("1", "31"))
        names = [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
        self.assertIn("default", names)
        self.assertIn(self.ns, names)

    def test_config_map_crud(self):
        self.assertEqual(self.core.list_namespaced_config_map(self.ns).items, [])
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings", labels={"app": "demo"}),
                                  data={"color": "blue", "size": "m"})
        created = self.core.create_namespaced_config_map(self.ns, body)
        self.assertEqual(created.metadata.name, "settings")
        self.assertEqual(created.metadata.namespace, self.ns)
        self.assertTrue(created.metadata.uid)
        self.assertIsNotNone(created.metadata.creation_timestamp)

        got = self.core.read_namespaced_config_map("settings", self.ns)
        self.assertEqual(got.data, {"color": "blue", "size": "m"})
        self.assertEqual(got.metadata.resource_version, created.metadata.resource_version)

        lst = self.core.list_namespaced_config_map(self.ns, label_selector="app=demo")
        self.assertEqual([i.metadata.name for i in lst.items], ["settings"])
        self.assertTrue(lst.metadata.resource_version)
        self.assertEqual(self.core.list_namespaced_config_map(self.ns, label_selector="app=other").items, [])
        lst = self.core.list_namespaced_config_map(self.ns, field_selector="metadata.name=settings")
        self.assertEqual(len(lst.items), 1)

        # patch: the client sends a strategic merge patch for a dict body
        patched = self.core.patch_namespaced_config_map("settings", self.ns,
                                                        {"data": {"color": "green"},
                                                         "metadata": {"labels": {"tier": "web"}}})
        self.assertEqual(patched.data, {"color": "green", "size": "m"})
        self.assertEqual(patched.metadata.labels, {"app": "demo", "tier": "web"})
        self.assertGreater(int(patched.metadata.resource_version), int(created.metadata.resource_version))

        # replace with a stale resourceVersion: 409
        stale = got
        stale.data = {"color": "red"}
        with self.assertRaises(ApiException) as cm:
            self.core.replace_namespaced_config_map("settings", self.ns, stale)
        self.assertEqual(cm.exception.status, 409)

        # replace with the current one works
        cur = self.core.read_namespaced_config_map("settings", self.ns)
        cur.data = {"color": "red"}
        replaced = self.core.replace_namespaced_config_map("settings", self.ns, cur)
        self.assertEqual(replaced.data, {"color": "red"})

        # create again: 409 AlreadyExists
        with self.assertRaises(ApiException) as cm:
            self.core.create_namespaced_config_map(self.ns, body)
        self.assertEqual(cm.exception.status, 409)

        status = self.core.delete_namespaced_config_map("settings", self.ns)
        self.assertIsNotNone(status)
        with self.assertRaises(ApiException) as cm:
            self.core.read_namespaced_config_map("settings", self.ns)
        self.assertEqual(cm.exception.status, 404)
        self.assertEqual(self.core.list_namespaced_config_map(self.ns).items, [])

    def test_typed_deployment_and_scale(self):
        dep = client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web", labels={"app": "web"}),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels={"app": "web"}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels={"app": "web"}),
                    spec=client.V1PodSpec(containers=[client.V1Container(
                        name="nginx", image="nginx:1.27", ports=[client.V1ContainerPort(container_port=80)])]))))
        created = self.apps.create_namespaced_deployment(self.ns, dep)
        self.assertEqual(created.spec.strategy.type, "RollingUpdate")
        self.assertEqual(created.spec.template.spec.containers[0].image_pull_policy, "IfNotPresent")
        scale = self.apps.read_namespaced_deployment_scale("web", self.ns)
        self.assertEqual(scale.spec.replicas, 2)
        scale = self.apps.patch_namespaced_deployment_scale("web", self.ns, {"spec": {"replicas": 5}})
        self.assertEqual(scale.spec.replicas, 5)
        self.assertEqual(self.apps.read_namespaced_deployment("web", self.ns).spec.replicas, 5)
        deps = self.apps.list_namespaced_deployment(self.ns).items
        self.assertEqual([d.metadata.name for d in deps], ["web"])
        self.apps.delete_namespaced_deployment("web", self.ns)
        self.assertEqual(self.apps.list_namespaced_deployment(self.ns).items, [])

    def test_invalid_object_is_422_with_causes(self):
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Bad_Name"))
        with self.assertRaises(ApiException) as cm:
            self.core.create_namespaced_config_map(self.ns, body)
        self.assertEqual(cm.exception.status, 422)
        self.assertIn("metadata.name", cm.exception.body)

    def watch_while(self, list_fn, writer, count):
        """Watches list_fn (from the current resourceVersion) while writer()
        runs in another thread; returns the first `count` events as
        (type, name, object) and the errors the stream raised."""
        rv = list_fn(self.ns).metadata.resource_version
        events = queue.Queue()
        w = watch.Watch()
        errors = []

        def consume():
            try:
                for ev in w.stream(list_fn, self.ns, resource_version=rv, timeout_seconds=20):
                    events.put((ev["type"], ev["object"].metadata.name, ev["object"]))
            except Exception as e:  # reported by the main thread
                errors.append(e)
            finally:
                events.put(None)

        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
        self.addCleanup(reader.join, 25)
        self.addCleanup(w.stop)
        t = threading.Thread(target=writer)
        t.start()
        t.join(20)
        self.assertFalse(t.is_alive())
        seen = []
        deadline = time.monotonic() + 20
        while len(seen) < count and time.monotonic() < deadline:
            try:
                item = events.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                break
            seen.append(item)
        w.stop()
        return seen, errors

    def test_watch_sees_added_modified_deleted(self):
        def writer():
            self.core.create_namespaced_config_map(
                self.ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="watched"), data={"a": "1"}))
            self.core.patch_namespaced_config_map("watched", self.ns, {"data": {"a": "2"}})
            self.core.delete_namespaced_config_map("watched", self.ns)

        seen, errors = self.watch_while(self.core.list_namespaced_config_map, writer, 3)
        self.assertEqual(errors, [])
        # (The client sends watch=True; a server that only accepts "true"
        # answers with a plain list and the stream ends with no events.)
        self.assertEqual([(t, n) for t, n, _ in seen],
                         [("ADDED", "watched"), ("MODIFIED", "watched"), ("DELETED", "watched")])
        self.assertIsInstance(seen[0][2], client.V1ConfigMap)
        self.assertEqual(seen[0][2].data, {"a": "1"})
        self.assertEqual(seen[1][2].data, {"a": "2"})
        rvs = [int(o.metadata.resource_version) for _, _, o in seen]
        self.assertEqual(rvs, sorted(rvs))

    def test_typed_pod_crud_patch_and_watch(self):
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name="web", labels={"app": "web"}),
            spec=client.V1PodSpec(containers=[client.V1Container(
                name="nginx", image="nginx:1.27", env=[client.V1EnvVar(name="A", value="1")])]))

        def writer():
            created = self.core.create_namespaced_pod(self.ns, pod)
            self.assertEqual(created.spec.containers[0].termination_message_path, "/dev/termination-log")
            # A dict body goes as a strategic merge patch: containers merge
            # by name (the image is the one container field a pod may change).
            self.core.patch_namespaced_pod("web", self.ns, {"metadata": {"labels": {"tier": "front"}},
                                                             "spec": {"containers": [{"name": "nginx",
                                                                                      "image": "nginx:1.28"}]}})
            self.core.delete_namespaced_pod("web", self.ns, grace_period_seconds=0)

        seen, errors = self.watch_while(self.core.list_namespaced_pod, writer, 3)
        self.assertEqual(errors, [])
        self.assertEqual([(t, n) for t, n, _ in seen][:2], [("ADDED", "web"), ("MODIFIED", "web")])
        patched = seen[1][2]
        self.assertIsInstance(patched, client.V1Pod)
        self.assertEqual(patched.metadata.labels, {"app": "web", "tier": "front"})
        self.assertEqual(patched.spec.containers[0].image, "nginx:1.28")
        self.assertEqual([(e.name, e.value) for e in patched.spec.containers[0].env], [("A", "1")])
        self.assertEqual(seen[-1][0], "DELETED")
        with self.assertRaises(ApiException) as cm:
            self.core.read_namespaced_pod("web", self.ns)
        self.assertEqual(cm.exception.status, 404)

    def test_deployment_patch_and_watch(self):
        dep = client.V1Deployment(
            metadata=client.V1ObjectMeta(name="api"),
            spec=client.V1DeploymentSpec(
                replicas=1, selector=client.V1LabelSelector(match_labels={"app": "api"}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels={"app": "api"}),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="api", image="busybox:1.36")]))))

        def writer():
            self.apps.create_namespaced_deployment(self.ns, dep)
            self.apps.patch_namespaced_deployment("api", self.ns, {"spec": {"template": {"spec": {"containers": [
                {"name": "api", "image": "busybox:1.37"}]}}}})
            self.apps.delete_namespaced_deployment("api", self.ns)

        seen, errors = self.watch_while(self.apps.list_namespaced_deployment, writer, 3)
        self.assertEqual(errors, [])
        self.assertEqual([(t, n) for t, n, _ in seen], [("ADDED", "api"), ("MODIFIED", "api"), ("DELETED", "api")])
        self.assertIsInstance(seen[1][2], client.V1Deployment)
        self.assertEqual(seen[1][2].spec.template.spec.containers[0].image, "busybox:1.37")
        self.assertEqual(seen[1][2].metadata.generation, 2)

    def test_watch_timeout_seconds_ends_stream(self):
        w = watch.Watch()
        t0 = time.monotonic()
        got = list(w.stream(self.core.list_namespaced_config_map, self.ns, timeout_seconds=1,
                            resource_version=self.core.list_namespaced_config_map(self.ns).metadata.resource_version))
        self.assertEqual(got, [])
        self.assertLess(time.monotonic() - t0, 10)

    def test_list_pagination(self):
        for i in range(7):
            self.core.create_namespaced_config_map(
                self.ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"p-{i}")))
        names, token = [], None
        for _ in range(10):
            lst = self.core.list_namespaced_config_map(self.ns, limit=3, _continue=token)
            names += [i.metadata.name for i in lst.items]
            token = lst.metadata._continue
            if not token:
                break
        self.assertEqual(sorted(names), [f"p-{i}" for i in range(7)])


if __name__ == "__main__":
    unittest.main()
