"""Durability: SIGKILL the server in the middle of a stream of writes,
restart it on the same data dir, and check that every write the server
acknowledged is there, that resourceVersions keep increasing, and that a
watch from a pre-restart resourceVersion still delivers later events."""
import json
import shutil
import tempfile
import threading
import time
import unittest

from harness import Server, WatchStream, request_json

NS = "durable"
CM = f"/api/v1/namespaces/{NS}/configmaps"


class KillDuringWrites(unittest.TestCase):
    WRITERS = 8
    DURATION = 1.5

    def setUp(self):
        self.data_dir = tempfile.mkdtemp(prefix="capstan-e2e-durable-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.server = self.start_server()
        status, doc, _ = request_json(self.server, "POST", "/api/v1/namespaces",
                                      {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        self.assertEqual(status, 201, doc)

    def start_server(self):
        # Server(data_dir=...) does not own (and will not delete) the dir;
        # setUp's cleanup removes it after every server is stopped.
        srv = Server(data_dir=self.data_dir)
        self.addCleanup(srv.cleanup)
        srv.start()
        return srv

    def run_writers(self, work):
        """Runs work(writer_index, stop_event) in WRITERS threads for
        DURATION seconds, then SIGKILLs the server while they are still
        writing, and joins them."""
        stop = threading.Event()
        threads = [threading.Thread(target=work, args=(i, stop), daemon=True) for i in range(self.WRITERS)]
        for t in threads:
            t.start()
        time.sleep(self.DURATION)  # the length of the write stream, not a wait for a condition
        self.server.kill()  # SIGKILL, mid-stream
        stop.set()
        for t in threads:
            t.join(30)
            self.assertFalse(t.is_alive(), "a writer thread hung")

    def test_acknowledged_creates_survive_sigkill(self):
        acked = {}  # name -> (data, resourceVersion)
        lock = threading.Lock()
        server = self.server

        def writer(w, stop):
            i = 0
            while not stop.is_set():
                name = f"w{w}-{i}"
                data = {"writer": str(w), "seq": str(i), "payload": f"{name}-" + "x" * 200}
                try:
                    status, doc, _ = request_json(server, "POST", CM, {
                        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data},
                        timeout=5)
                except Exception:
                    return  # the server is gone
                if status == 201:
                    with lock:
                        acked[name] = (data, int(doc["metadata"]["resourceVersion"]))
                i += 1

        self.run_writers(writer)
        self.assertGreater(len(acked), 50, "too few writes acknowledged to make the test meaningful")
        max_acked_rv = max(rv for _, rv in acked.values())
        acked_rvs = sorted(rv for _, rv in acked.values())
        self.assertEqual(len(set(acked_rvs)), len(acked_rvs), "two creates were acknowledged with the same RV")

        self.server = self.start_server()
        status, lst, _ = request_json(self.server, "GET", CM)
        self.assertEqual(status, 200, lst)
        stored = {i["metadata"]["name"]: i for i in lst["items"]}
        missing = sorted(set(acked) - set(stored))
        self.assertEqual(missing, [], f"{len(missing)} of {len(acked)} acknowledged configmaps lost")
        for name, (data, rv) in acked.items():
            self.assertEqual(stored[name]["data"], data, name)
            self.assertEqual(int(stored[name]["metadata"]["resourceVersion"]), rv, name)
        # Anything extra must be a complete write that just lost its reply.
        for name, obj in stored.items():
            if name not in acked:
                w, i = name[1:].split("-")
                self.assertEqual(obj["data"]["seq"], i)
                self.assertEqual(obj["data"]["writer"], w)

        # resourceVersions keep increasing after the restart.
        self.assertGreaterEqual(int(lst["metadata"]["resourceVersion"]), max_acked_rv)
        highest_before = max(int(i["metadata"]["resourceVersion"]) for i in lst["items"])
        status, doc, _ = request_json(self.server, "POST", CM, {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after-restart"}, "data": {"k": "v"}})
        self.assertEqual(status, 201, doc)
        after_rv = int(doc["metadata"]["resourceVersion"])
        self.assertGreater(after_rv, highest_before)
        self.assertGreater(after_rv, max_acked_rv)
        status, doc, _ = request_json(self.server, "PATCH", CM + "/after-restart", {"data": {"k": "w"}},
                                      {"Content-Type": "application/merge-patch+json"})
        self.assertEqual(status, 200, doc)
        self.assertGreater(int(doc["metadata"]["resourceVersion"]), after_rv)

        # A watch from a resourceVersion taken before the kill delivers every
        # later event, exactly once and in order, then the live ones.
        start_rv = acked_rvs[len(acked_rvs) // 2]
        later = sorted((rv, name) for name, (_, rv) in acked.items() if rv > start_rv)
        w = WatchStream(self.server, CM + f"?watch=true&resourceVersion={start_rv}")
        self.addCleanup(w.close)
        self.assertEqual(w.status, 200, w.body)
        events = w.events_until(lambda e: e["type"] == "MODIFIED"
                                and e["object"]["metadata"]["name"] == "after-restart", timeout=20)
        if events and events[0]["type"] == "ERROR":
            self.fail(f"watch from pre-restart RV {start_rv} failed: {events[0]['object']}")
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
        self.assertEqual(rvs, sorted(rvs))
        self.assertEqual(len(set(rvs)), len(rvs), "an event was delivered twice")
        self.assertTrue(all(rv > start_rv for rv in rvs))
        seen = [(int(e["object"]["metadata"]["resourceVersion"]), e["object"]["metadata"]["name"])
                for e in events if e["type"] == "ADDED"]
        self.assertTrue(set(later) <= set(seen), f"missing: {sorted(set(later) - set(seen))[:10]}")
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in events[-2:]],
                         [("ADDED", "after-restart"), ("MODIFIED", "after-restart")])
        # ...and live events after that.
        request_json(self.server, "DELETE", CM + "/after-restart")
        ev = w.next_event()
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("DELETED", "after-restart"))

    def test_acknowledged_updates_and_deletes_survive_sigkill(self):
        # Each writer owns one counter ConfigMap that it bumps with merge
        # patches, and creates + deletes scratch objects.
        for w in range(self.WRITERS):
            status, doc, _ = request_json(self.server, "POST", CM, {
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"counter-{w}"}, "data": {"n": "0"}})
            self.assertEqual(status, 201, doc)
        last_acked = {w: 0 for w in range(self.WRITERS)}
        deleted = set()
        server = self.server

        def writer(w, stop):
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    status, doc, _ = request_json(server, "PATCH", f"{CM}/counter-{w}", {"data": {"n": str(n)}},
                                                  {"Content-Type": "application/merge-patch+json"}, timeout=5)
                    if status == 200:
                        last_acked[w] = n
                    if n % 5 == 0:
                        name = f"scratch-{w}-{n}"
                        status, _, _ = request_json(server, "POST", CM, {
                            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}, timeout=5)
                        if status == 201:
                            status, _, _ = request_json(server, "DELETE", f"{CM}/{name}", timeout=5)
                            if status == 200:
                                deleted.add(name)
                except Exception:
                    return

        self.run_writers(writer)
        self.assertGreater(sum(last_acked.values()), 20)
        self.server = self.start_server()
        for w, n in last_acked.items():
            status, doc, _ = request_json(self.server, "GET", f"{CM}/counter-{w}")
            self.assertEqual(status, 200, doc)
            # The stored value is the last acknowledged one, or one write
            # later whose reply was lost in the kill.
            self.assertIn(int(doc["data"]["n"]), (n, n + 1), f"counter-{w}: acked {n}, stored {doc['data']}")
        status, lst, _ = request_json(self.server, "GET", CM)
        resurrected = sorted(deleted & {i["metadata"]["name"] for i in lst["items"]})
        self.assertEqual(resurrected, [], "acknowledged deletes came back after the restart")

    def test_clean_restart_keeps_everything(self):
        for i in range(20):
            status, doc, _ = request_json(self.server, "POST", CM, {
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c-{i}"}, "data": {"i": str(i)}})
            self.assertEqual(status, 201, doc)
        status, before, _ = request_json(self.server, "GET", CM)
        self.server.stop()  # SIGTERM
        self.assertEqual(self.server.proc.returncode, 0, self.server.read_log()[-2000:])
        self.server = self.start_server()
        status, after, _ = request_json(self.server, "GET", CM)
        self.assertEqual(json.dumps(after["items"], sort_keys=True), json.dumps(before["items"], sort_keys=True))
        # The admin credentials and the CA survive too (same kubeconfig works).
        status, doc, _ = request_json(self.server, "GET", "/api/v1/namespaces/" + NS)
        self.assertEqual(status, 200, doc)
        # The restarted server listens on another port (Server picks a free
        # one each time, almost surely not the last): default/kubernetes
        # follows it.
        status, ep, _ = request_json(self.server, "GET", "/api/v1/namespaces/default/endpoints/kubernetes")
        self.assertEqual(status, 200, ep)
        self.assertEqual([p["port"] for s in ep["subsets"] for p in s["ports"]], [self.server.port])
        status, eps, _ = request_json(self.server, "GET",
                                      "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes")
        self.assertEqual(status, 200, eps)
        self.assertEqual([p["port"] for p in eps["ports"]], [self.server.port])
        status, svc, _ = request_json(self.server, "GET", "/api/v1/namespaces/default/services/kubernetes")
        self.assertEqual(svc["spec"]["ports"][0]["targetPort"], self.server.port)


if __name__ == "__main__":
    unittest.main()
