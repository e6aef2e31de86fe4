"""The thin slice: the real kubectl creates and reads an object through the
real server and store."""
import unittest

from harness import ServerTestCase


class Smoke(ServerTestCase):
    def test_create_and_get_configmap(self):
        self.kubectl("create", "configmap", "hello", "--from-literal=greeting=hi")
        cm = self.kubectl_json("get", "configmap", "hello")
        self.assertEqual(cm["data"], {"greeting": "hi"})
        self.assertTrue(cm["metadata"]["uid"])
        self.assertTrue(int(cm["metadata"]["resourceVersion"]) > 0)
        out = self.kubectl("get", "configmaps").stdout.splitlines()
        self.assertEqual(out[0].split(), ["NAME", "DATA", "AGE"])
        self.assertIn("hello", out[1])

    def test_namespaces_exist_from_the_start(self):
        names = [i["metadata"]["name"] for i in self.kubectl_json("get", "namespaces")["items"]]
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.assertIn(ns, names)


if __name__ == "__main__":
    unittest.main()
