"""The official JavaScript client (@kubernetes/client-node from npm, pinned
in tests/e2e/clients/node/package-lock.json and installed by scripts/deps.sh)
against capstan: it loads the server's kubeconfig, lists ConfigMaps with
CoreV1Api and watches them with Watch while this test writes."""
import json
import os
import shutil
import subprocess
import unittest

from harness import BackgroundProcess, ServerTestCase, request_json

CLIENT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients", "node")
SCRIPT = os.path.join(CLIENT_DIR, "list_watch.mjs")
NODE = shutil.which("node")
INSTALLED = os.path.isfile(os.path.join(CLIENT_DIR, "node_modules", "@kubernetes", "client-node", "package.json"))

# The script's own deadline; the test waits a little longer for its exit.
CLIENT_TIMEOUT = 30


@unittest.skipUnless(NODE and INSTALLED,
                     "@kubernetes/client-node is not installed in tests/e2e/clients/node: run scripts/deps.sh")
class NodeClient(ServerTestCase):
    _counter = 0

    def setUp(self):
        type(self)._counter += 1
        self.ns = f"node-{type(self)._counter}"
        self.create("/api/v1/namespaces", {"metadata": {"name": self.ns}})

    def create(self, path, body):
        status, doc, _ = request_json(self.server, "POST", path, body)
        self.assertEqual(status, 201, doc)
        return doc

    def configmap(self, name, data, ns=None):
        return self.create(f"/api/v1/namespaces/{ns or self.ns}/configmaps",
                           {"metadata": {"name": name}, "data": data})

    def start_client(self, events, start="list"):
        """Runs list_watch.mjs; returns (process, its list result) once its
        watch is established (it printed READY)."""
        proc = BackgroundProcess([NODE, SCRIPT, self.server.kubeconfig, self.ns, str(events),
                                  str(CLIENT_TIMEOUT), start])
        self.addCleanup(proc.stop)
        try:
            proc.out.wait_for(lambda line: line == "READY", timeout=CLIENT_TIMEOUT)
        except AssertionError as e:
            self.fail(f"{e}\n{self.stderr_of(proc)}")
        listed = [json.loads(line) for line in proc.out.seen if line.startswith('{"list"')]
        self.assertEqual(len(listed), 1, proc.out.seen)
        return proc, listed[0]["list"]

    @staticmethod
    def all_lines(proc, reader):
        """Every line reader got, once the process has exited and the stream
        ended (what has arrived so far otherwise)."""
        if proc.proc.poll() is not None:
            reader.thread.join(timeout=5)
        while not reader.lines.empty():
            line = reader.lines.get_nowait()
            if line is not None:
                reader.seen.append(line)
        return reader.seen

    def stderr_of(self, proc):
        return "client stderr:\n" + "\n".join(self.all_lines(proc, proc.err))

    def finish(self, proc):
        """Waits for the client's exit (it stops after the events it was told
        to expect); returns the events it printed."""
        try:
            code = proc.proc.wait(timeout=CLIENT_TIMEOUT + 10)
        except subprocess.TimeoutExpired:
            self.fail(f"the client did not exit; stdout so far: {self.all_lines(proc, proc.out)}\n"
                      f"{self.stderr_of(proc)}")
        out = self.all_lines(proc, proc.out)
        self.assertEqual(code, 0, f"stdout: {out}\n{self.stderr_of(proc)}")
        return [json.loads(line) for line in out if line.startswith('{"type"')]

    def test_list_then_watch_sees_added_modified_deleted(self):
        first = self.configmap("first", {"color": "blue"})
        second = self.configmap("second", {"size": "m"})
        self.configmap("elsewhere", {}, ns="default")

        proc, listed = self.start_client(events=3)
        self.assertEqual(sorted((i["name"], i["resourceVersion"], i["data"]) for i in listed["items"]),
                         [("first", first["metadata"]["resourceVersion"], {"color": "blue"}),
                          ("second", second["metadata"]["resourceVersion"], {"size": "m"})])
        self.assertTrue(listed["resourceVersion"])

        # Writes while the client watches from the list's resourceVersion:
        # one in another namespace (not seen), then one of each event type.
        self.configmap("elsewhere-2", {}, ns="default")
        third = self.configmap("third", {"k": "v"})
        first["data"] = {"color": "green"}
        status, updated, _ = request_json(self.server, "PUT", f"/api/v1/namespaces/{self.ns}/configmaps/first", first)
        self.assertEqual(status, 200, updated)
        status, doc, _ = request_json(self.server, "DELETE", f"/api/v1/namespaces/{self.ns}/configmaps/second")
        self.assertEqual(status, 200, doc)

        events = self.finish(proc)
        self.assertEqual([(e["type"], e["name"]) for e in events],
                         [("ADDED", "third"), ("MODIFIED", "first"), ("DELETED", "second")])
        self.assertEqual(events[0]["resourceVersion"], third["metadata"]["resourceVersion"])
        self.assertEqual(events[1]["resourceVersion"], updated["metadata"]["resourceVersion"])
        # The deletion is a write of its own: a newer resourceVersion than
        # every one before it (capstan's are store revisions).
        rvs = [int(e["resourceVersion"]) for e in events]
        self.assertEqual(rvs, sorted(set(rvs)), events)
        self.assertGreater(rvs[0], int(listed["resourceVersion"]))

    def test_watch_without_resource_version_starts_with_existing(self):
        # No resourceVersion: the server first sends the current ConfigMaps as
        # ADDED (any order), then changes.
        a = self.configmap("a", {})
        b = self.configmap("b", {})
        proc, listed = self.start_client(events=3, start="none")
        self.assertEqual(sorted(i["name"] for i in listed["items"]), ["a", "b"])
        status, doc, _ = request_json(self.server, "DELETE", f"/api/v1/namespaces/{self.ns}/configmaps/a")
        self.assertEqual(status, 200, doc)

        events = self.finish(proc)
        self.assertEqual(sorted((e["type"], e["name"], e["resourceVersion"]) for e in events[:2]),
                         [("ADDED", "a", a["metadata"]["resourceVersion"]),
                          ("ADDED", "b", b["metadata"]["resourceVersion"])])
        self.assertEqual((events[2]["type"], events[2]["name"]), ("DELETED", "a"))


if __name__ == "__main__":
    unittest.main()
