import json
import os
import re
import signal
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.request

from app import DURATION_BUCKETS, Service, make_server
from model import FieldExtractor
from tests.helpers import ENV, PY, ROOT, tmpdir, trained_model

with open(os.path.join(ROOT, "test_request.json"), encoding="utf-8") as _f:
    REQUEST = json.load(_f)

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')


def parse_metrics(text):
    """Prometheus text format 0.0.4 -> ({name: type}, [(name, {labels}, value)])."""
    types, samples = {}, []
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        value = float(m.group(4).replace("+Inf", "inf"))
        samples.append((m.group(1), labels, value))
    return types, samples


def call(base, path, body=None, method=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode("utf-8"))
    req = urllib.request.Request(base + path, data=data, method=method or ("POST" if data is not None else "GET"),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode("utf-8")


class ServerCase(unittest.TestCase):
    service_args = {}

    def setUp(self):
        self.service = Service(trained_model(), **self.service_args)
        self.server = make_server(self.service, "127.0.0.1", 0)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.base = "http://127.0.0.1:%d" % self.server.server_address[1]

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()


class AppTest(ServerCase):
    def setUp(self):
        self.log = os.path.join(tmpdir("app"), "inference-%d.jsonl" % id(self))
        self.service_args = {"inference_log": self.log}
        super().setUp()

    def test_readiness_and_health(self):
        self.assertEqual(call(self.base, "/healthz")[0], 200)
        status, _, body = call(self.base, "/readyz")
        self.assertEqual(status, 503)
        self.assertEqual(call(self.base, "/metrics")[0], 200)
        self.service.load()
        status, _, body = call(self.base, "/readyz")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["model_version"], self.service.model_version)
        self.assertEqual(json.loads(call(self.base, "/healthz")[2]), {"status": "ok"})

    def test_predict_envelope_log_and_metrics(self):
        self.service.load()
        status, ctype, body = call(self.base, "/predict", REQUEST)
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("application/json"))
        env = json.loads(body)
        self.assertEqual(set(env), {"status", "result", "error_code", "model_version"})
        self.assertEqual((env["status"], env["error_code"]), ("ok", None))
        self.assertEqual(env["model_version"], FieldExtractor.load(trained_model()).model_version)
        result = env["result"]
        self.assertEqual(result["image_id"], REQUEST["image_id"])
        self.assertGreaterEqual(result["latency_ms"], 0)
        self.assertTrue(result["fields"])
        for f in result["fields"]:
            self.assertEqual(set(f), {"label", "bbox", "value", "confidence"})
            self.assertTrue(f["bbox"][0] < f["bbox"][2] and f["bbox"][1] < f["bbox"][3])
            self.assertTrue(0 <= f["confidence"] <= 1)

        for bad in (b"{not json", {"image_id": "x"}, {"image_id": "x", "tokens": [{"text": "a", "bbox": [5, 5, 1, 1]}]}):
            status, _, body = call(self.base, "/predict", bad)
            self.assertEqual(status, 400)
            env = json.loads(body)
            self.assertEqual((env["status"], env["error_code"], env["result"]), ("error", "bad_request", None))
        self.assertEqual(call(self.base, "/nope")[0], 404)
        self.assertEqual(call(self.base, "/predict")[0], 405)

        with open(self.log, encoding="utf-8") as f:
            lines = [json.loads(l) for l in f]
        self.assertEqual(len(lines), 4)
        ok = lines[0]
        self.assertEqual(set(ok), {"file_id", "confidence_score", "error", "status", "model_version", "timestamp", "fields"})
        self.assertEqual(ok["file_id"], REQUEST["image_id"])
        self.assertEqual(ok["confidence_score"], min(f["confidence"] for f in result["fields"]))
        found = {f["label"]: f["value"] for f in result["fields"]}
        self.assertEqual(ok["fields"], {lab: found.get(lab) for lab in ("name", "id_number", "effective_date", "amount")})
        self.assertRegex(ok["timestamp"], r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
        if len(result["fields"]) == 4:
            self.assertEqual((ok["status"], ok["error"]), ("success", None))
        self.assertTrue(all(l["status"] == "fail" and l["error"].startswith("bad_request") for l in lines[1:]))

        types, samples = parse_metrics(call(self.base, "/metrics")[2])
        self.assertEqual(types["ocr_requests_total"], "counter")
        self.assertEqual(types["ocr_request_duration_seconds"], "histogram")
        self.assertEqual(types["ocr_prediction_confidence"], "histogram")
        self.assertEqual(types["ocr_model_info"], "gauge")
        v = self.service.model_version
        counts = {s[1]["code"]: s[2] for s in samples if s[0] == "ocr_requests_total" and s[1]["model_version"] == v}
        self.assertEqual(counts, {"200": 1, "400": 3, "500": 0})
        buckets = [(s[1]["le"], s[2]) for s in samples if s[0] == "ocr_request_duration_seconds_bucket"]
        self.assertEqual([b[0] for b in buckets], [repr(float(b)) for b in DURATION_BUCKETS] + ["+Inf"])
        self.assertEqual([b[1] for b in buckets], sorted(b[1] for b in buckets))
        count = [s[2] for s in samples if s[0] == "ocr_request_duration_seconds_count"]
        self.assertEqual(count, [4.0])
        self.assertEqual(buckets[-1][1], 4.0)
        self.assertIn(("ocr_model_info", {"model_version": v}, 1.0), samples)
        conf = [s for s in samples if s[0] == "ocr_prediction_confidence_count"]
        self.assertEqual(sum(s[2] for s in conf), len(result["fields"]))


class InjectionTest(ServerCase):
    service_args = {"inject_error_rate": 1.0, "inject_latency_ms": 60, "model_version": "canary-x"}

    def test_injected_error_and_latency(self):
        self.service.load()
        t0 = time.perf_counter()
        status, _, body = call(self.base, "/predict", REQUEST)
        self.assertGreaterEqual(time.perf_counter() - t0, 0.06)
        self.assertEqual(status, 500)
        env = json.loads(body)
        self.assertEqual((env["status"], env["error_code"], env["model_version"]), ("error", "injected_error", "canary-x"))
        _, samples = parse_metrics(call(self.base, "/metrics")[2])
        self.assertIn(("ocr_requests_total", {"code": "500", "model_version": "canary-x"}, 1.0), samples)
        le = {s[1]["le"]: s[2] for s in samples if s[0] == "ocr_request_duration_seconds_bucket"}
        self.assertEqual((le["0.05"], le["0.1"]), (0.0, 1.0))

    def test_error_draws_are_seeded(self):
        def draws(seed):
            s = Service(trained_model(), inject_error_rate=0.3, seed=seed)
            return [s.draw_error() for _ in range(200)]
        self.assertEqual(draws(1), draws(1))
        self.assertNotEqual(draws(1), draws(2))
        self.assertTrue(30 < sum(draws(1)) < 90)


class ProcessTest(unittest.TestCase):
    def test_cli_prints_address_serves_and_stops_on_sigterm(self):
        proc = subprocess.Popen([PY, os.path.join(ROOT, "app.py"), "--model", trained_model(), "--port", "0",
                                 "--model-version", "v-test"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        try:
            line = proc.stdout.readline()
            m = re.match(r"^listening on (http://127\.0\.0\.1:(\d+))$", line.strip())
            self.assertTrue(m, line)
            self.assertNotEqual(m.group(2), "0")
            self.assertEqual(proc.stdout.readline().strip(), "ready model_version=v-test")
            status, _, body = call(m.group(1), "/predict", REQUEST)
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body)["model_version"], "v-test")
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(10), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()

    def test_missing_model_exits_2(self):
        proc = subprocess.run([PY, os.path.join(ROOT, "app.py"), "--model", tmpdir("no-model"), "--port", "0"],
                              capture_output=True, text=True, timeout=20, env=ENV)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("no model here", proc.stderr)


if __name__ == "__main__":
    unittest.main()
