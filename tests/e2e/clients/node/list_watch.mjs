// A list and a watch of ConfigMaps with @kubernetes/client-node, the way an
// informer starts: list, then watch from the list's resourceVersion.
// tests/e2e/test_client_node.py drives it.
//
//   node list_watch.mjs KUBECONFIG NAMESPACE EVENTS TIMEOUT_SECONDS [FROM]
//
// FROM is "list" (default: watch from the list's resourceVersion, so only
// later changes arrive) or "none" (watch without a resourceVersion, so the
// existing ConfigMaps arrive first as ADDED).
//
// Protocol on stdout, one JSON document per line:
//   {"list": {"resourceVersion": RV, "items": [{"name", "resourceVersion", "data"}]}}
//   READY                        once the watch's response has arrived
//   {"type", "name", "resourceVersion"}   one per watch event
// Exit status: 0 after EVENTS events; 1 on any error (a failed request, an
// ERROR event, the server ending the watch early); 2 after TIMEOUT_SECONDS;
// 64 on bad arguments.
// Errors are written to stderr.
import * as k8s from '@kubernetes/client-node';

const [kubeconfig, namespace, wantText, timeoutText, from = 'list'] = process.argv.slice(2);
const want = Number(wantText);
const timeoutSeconds = Number(timeoutText);
if (!kubeconfig || !namespace || !Number.isInteger(want) || want < 0 || !(timeoutSeconds > 0) ||
    !['list', 'none'].includes(from)) {
  process.stderr.write('usage: list_watch.mjs KUBECONFIG NAMESPACE EVENTS TIMEOUT_SECONDS [list|none]\n');
  process.exit(64);
}

let watchController = null;
let finished = false;

// The first outcome wins: aborting the watch below calls its done callback,
// which must not report the abort as a second, different error.
function finish(code, message) {
  if (finished) return;
  finished = true;
  if (message) process.stderr.write(`list_watch: ${message}\n`);
  if (watchController) watchController.abort();
  // Let stdout drain before exiting (it is a pipe, written asynchronously).
  process.stdout.write('', () => process.exit(code));
}

function describe(err) {
  // ApiException carries the HTTP code and the body (a Status) the server sent.
  if (err && err.code !== undefined && err.body !== undefined) {
    return `HTTP ${err.code}: ${typeof err.body === 'string' ? err.body : JSON.stringify(err.body)}`;
  }
  if (err && err.statusCode !== undefined) return `HTTP ${err.statusCode}: ${err.message}`;
  return err && err.stack ? err.stack : String(err);
}

const timer = setTimeout(() => finish(2, `timed out after ${timeoutSeconds}s`), timeoutSeconds * 1000);

try {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);

  const list = await core.listNamespacedConfigMap({ namespace });
  const listRV = list.metadata?.resourceVersion;
  console.log(JSON.stringify({
    list: {
      resourceVersion: listRV,
      items: list.items.map((cm) => ({
        name: cm.metadata?.name,
        resourceVersion: cm.metadata?.resourceVersion,
        data: cm.data ?? {},
      })),
    },
  }));

  let seen = 0;
  const params = from === 'list' ? { resourceVersion: listRV } : {};
  const watch = new k8s.Watch(kc);
  watchController = await watch.watch(
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`,
    params,
    (type, obj) => {
      if (seen >= want) return;
      if (type === 'ERROR') {
        finish(1, `ERROR event: ${JSON.stringify(obj)}`);
        return;
      }
      seen += 1;
      console.log(JSON.stringify({
        type,
        name: obj?.metadata?.name,
        resourceVersion: obj?.metadata?.resourceVersion,
      }));
      if (seen === want) {
        clearTimeout(timer);
        finish(0);
      }
    },
    (err) => {
      // Called once: when the stream ends, fails, or we abort it ourselves.
      if (seen >= want) return;
      finish(1, err ? `watch failed: ${describe(err)}` : `server ended the watch after ${seen} of ${want} events`);
    },
  );
  // watch() resolves once the response headers have arrived and the body is
  // being read; on a failed request it has already called done().
  if (watchController.signal.aborted) {
    // done() reported it
  } else if (want === 0) {
    clearTimeout(timer);
    console.log('READY');
    finish(0);
  } else {
    console.log('READY');
  }
} catch (err) {
  finish(1, describe(err));
}
