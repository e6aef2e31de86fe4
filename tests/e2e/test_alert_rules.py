"""The shipped Prometheus rules file (deploy/prometheus/capstan-alerts.yaml):
`promtool check rules` accepts it, `promtool test rules` shows every alert
firing on the series capstan serves and staying quiet on healthy ones, and
every metric a rule reads is one capstan exports."""
import os
import re
import subprocess
import tempfile
import unittest

import yaml

from harness import SOURCE_DIR

RULES = os.path.join(SOURCE_DIR, "deploy", "prometheus", "capstan-alerts.yaml")
PROMTOOL = "/usr/bin/promtool"


def buckets(name, labels, les_and_rates):
    """Cumulative histogram bucket series growing by `rate` per minute."""
    out = []
    for le, per_minute in les_and_rates:
        out.append({"series": f'{name}_bucket{{{labels},le="{le}"}}', "values": f"0+{per_minute}x30"})
    return out


# (alert, input series, eval time, expected labels of each firing alert).
FIRING = [
    ("CapstanPodCrashLooping",
     [{"series": 'kube_pod_container_status_waiting_reason{namespace="default",pod="p",container="c",'
                 'reason="CrashLoopBackOff"}', "values": "1x20"}],
     "10m", [{"namespace": "default", "pod": "p", "container": "c", "reason": "CrashLoopBackOff"}]),
    ("CapstanContainerOOMKilled",
     [{"series": 'kube_pod_container_status_restarts_total{namespace="default",pod="p",container="c"}',
       "values": "0x14 1x10"},
      {"series": 'kube_pod_container_status_last_terminated_reason{namespace="default",pod="p",container="c",'
                 'reason="OOMKilled"}', "values": "_x14 1x10"}],
     "16m", [{"namespace": "default", "pod": "p", "container": "c"}]),
    ("CapstanDeploymentReplicasMismatch",
     [{"series": 'kube_deployment_spec_replicas{namespace="default",deployment="web"}', "values": "3x30"},
      {"series": 'kube_deployment_status_replicas_available{namespace="default",deployment="web"}',
       "values": "1x30"},
      {"series": 'kube_deployment_status_replicas_updated{namespace="default",deployment="web"}',
       "values": "1x30"}],
     "20m", [{"namespace": "default", "deployment": "web"}]),
    ("CapstanDeploymentGenerationMismatch",
     [{"series": 'kube_deployment_status_observed_generation{namespace="default",deployment="web"}',
       "values": "1x30"},
      {"series": 'kube_deployment_metadata_generation{namespace="default",deployment="web"}', "values": "2x30"}],
     "20m", [{"namespace": "default", "deployment": "web"}]),
    ("CapstanJobFailed",
     [{"series": 'kube_job_status_failed{namespace="default",job_name="j"}', "values": "1x10"},
      {"series": 'kube_job_status_active{namespace="default",job_name="j"}', "values": "0x10"},
      {"series": 'kube_job_status_succeeded{namespace="default",job_name="j"}', "values": "0x10"}],
     "6m", [{"namespace": "default", "job_name": "j"}]),
    ("CapstanNodeNotReady",
     [{"series": 'kube_node_status_condition{node="n1",condition="Ready",status="true"}', "values": "0x10"}],
     "6m", [{"node": "n1", "condition": "Ready", "status": "true"}]),
    ("CapstanNodeUnderPressure",
     [{"series": 'kube_node_status_condition{node="n1",condition="MemoryPressure",status="true"}',
       "values": "1x10"}],
     "6m", [{"node": "n1", "condition": "MemoryPressure", "status": "true"}]),
    ("CapstanAPIServerErrors",
     [{"series": 'apiserver_request_total{verb="GET",code="500"}', "values": "0+60x30"},
      {"series": 'apiserver_request_total{verb="GET",code="200"}', "values": "0+600x30"}],
     "15m", [{}]),
    ("CapstanAPIServerSlow",
     buckets("apiserver_request_duration_seconds", 'verb="GET"', [("0.5", 0), ("1", 0), ("2.5", 10), ("+Inf", 10)]),
     "15m", [{"verb": "GET"}]),
    ("CapstanStoreSlow",
     buckets("etcd_request_duration_seconds", 'operation="txn",type="pods"', [("0.1", 0), ("1", 10), ("+Inf", 10)]),
     "15m", [{"operation": "txn"}]),
    # promtool evaluates at Unix time 0 + eval_time: an expiry 10 days after the epoch is near.
    ("CapstanCertificateExpiry",
     [{"series": 'capstan_certificate_expiration_timestamp_seconds{certificate="serving"}', "values": "864000x10"}],
     "5m", [{"certificate": "serving"}]),
]

# Healthy series: no alert.
QUIET = [
    ("CapstanPodCrashLooping",
     [{"series": 'kube_pod_container_status_restarts_total{namespace="default",pod="p",container="c"}',
       "values": "0x20"}], "10m"),
    ("CapstanContainerOOMKilled",
     [{"series": 'kube_pod_container_status_restarts_total{namespace="default",pod="p",container="c"}',
       "values": "0x14 1x10"},
      {"series": 'kube_pod_container_status_last_terminated_reason{namespace="default",pod="p",container="c",'
                 'reason="Error"}', "values": "_x14 1x10"}], "16m"),
    ("CapstanDeploymentReplicasMismatch",
     [{"series": 'kube_deployment_spec_replicas{namespace="default",deployment="web"}', "values": "3x30"},
      {"series": 'kube_deployment_status_replicas_available{namespace="default",deployment="web"}',
       "values": "3x30"},
      {"series": 'kube_deployment_status_replicas_updated{namespace="default",deployment="web"}',
       "values": "3x30"}], "20m"),
    ("CapstanNodeNotReady",
     [{"series": 'kube_node_status_condition{node="n1",condition="Ready",status="true"}', "values": "1x10"}],
     "6m"),
    ("CapstanAPIServerErrors",
     [{"series": 'apiserver_request_total{verb="GET",code="200"}', "values": "0+600x30"},
      {"series": 'apiserver_request_total{verb="GET",code="500"}', "values": "0x30"}], "15m"),
    ("CapstanJobFailed",
     [{"series": 'kube_job_status_failed{namespace="default",job_name="j"}', "values": "1x10"},
      {"series": 'kube_job_status_active{namespace="default",job_name="j"}', "values": "1x10"},
      {"series": 'kube_job_status_succeeded{namespace="default",job_name="j"}', "values": "0x10"}], "6m"),
    ("CapstanCertificateExpiry",
     [{"series": 'capstan_certificate_expiration_timestamp_seconds{certificate="serving"}', "values": "31536000x10"}],
     "5m"),
]


def load_rules():
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}


def render(template, labels):
    """The annotation as Prometheus expands it: {{ $labels.NAME }} only."""
    return re.sub(r"{{\s*\$labels\.(\w+)\s*}}", lambda m: labels.get(m.group(1), ""), template)


@unittest.skipUnless(os.path.exists(PROMTOOL), "promtool (Debian package prometheus) not installed")
class AlertRulesTest(unittest.TestCase):
    def test_promtool_checks_the_rules_file(self):
        p = subprocess.run([PROMTOOL, "check", "rules", RULES], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        rules = load_rules()
        for name, rule in rules.items():
            for key in ("summary", "runbook"):
                self.assertIn(key, rule.get("annotations", {}), f"{name} has no {key}")
            self.assertIn("Look:", rule["annotations"]["runbook"], name)
            self.assertIn("Fix:", rule["annotations"]["runbook"], name)

    def test_every_alert_fires_on_its_series_and_not_on_healthy_ones(self):
        rules = load_rules()
        self.assertEqual({c[0] for c in FIRING}, set(rules), "every alert has a firing case")
        tests = []
        for alert, series, at, expected in FIRING:
            exp = []
            for labels in expected:
                full = dict(labels, **rules[alert].get("labels", {}))
                exp.append({"exp_labels": full,
                            "exp_annotations": {k: render(v, full) for k, v in rules[alert]["annotations"].items()}})
            tests.append({"interval": "1m", "input_series": series,
                          "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": exp}]})
        for alert, series, at in QUIET:
            tests.append({"interval": "1m", "input_series": series,
                          "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": []}]})
        with tempfile.TemporaryDirectory(prefix="capstan-promtool-") as d:
            path = os.path.join(d, "tests.yaml")
            with open(path, "w") as f:
                yaml.safe_dump({"rule_files": [RULES], "evaluation_interval": "1m", "tests": tests}, f)
            p = subprocess.run([PROMTOOL, "test", "rules", path], capture_output=True, text=True, cwd=d)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_rules_read_only_metrics_capstan_exports(self):
        exported = set()
        for root, _, files in os.walk(os.path.join(SOURCE_DIR, "src")):
            for name in files:
                if name.endswith(".cc"):
                    with open(os.path.join(root, name)) as f:
                        exported.update(re.findall(r'"((?:kube|apiserver|etcd|container|capstan)_[a-z_]+)"', f.read()))
        for name, rule in load_rules().items():
            for metric in re.findall(r"\b((?:kube|apiserver|etcd|container|capstan)_[a-z_]+)", rule["expr"]):
                base = re.sub(r"_(bucket|sum|count)$", "", metric)
                self.assertIn(base, exported, f"{name} reads {metric}, which capstan does not export")


if __name__ == "__main__":
    unittest.main()
