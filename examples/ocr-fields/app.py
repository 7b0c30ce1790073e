"""Inference service: POST /predict, GET /healthz, GET /readyz, GET /metrics (Prometheus).

    python3 app.py --model outputs --port 8080 [--host 127.0.0.1]
                   [--inject-latency-ms 200] [--inject-error-rate 0.1] [--model-version V]
                   [--inference-log inference.jsonl]

POST /predict takes one OCR'd document ``{"image_id", "tokens": [{"text", "bbox"}], "width"?,
"height"?}`` and answers with the envelope ``{"status": "ok"|"error", "result": {"image_id",
"latency_ms", "fields": [...]}|null, "error_code": null|"bad_request"|"injected_error"|...,
"model_version", "message"?}``. The process prints ``listening on http://HOST:PORT`` once the port
is bound (port 0 picks a free port; the printed one is real) and ``ready model_version=V`` once the
model is loaded; /readyz answers 503 until then. SIGTERM or SIGINT: stop accepting, finish the
requests in flight, exit 0.
"""

import argparse
import datetime
import json
import math
import os
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from config import ConfigError, load_config
from dataset import validate_doc
from model import FieldExtractor, ModelError

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
MAX_BODY = 8 * 1024 * 1024
READY_WAIT_S = 10.0


def _fmt(v):
    """Numbers as Prometheus clients print them (Go float formatting for le and values)."""
    if v == math.inf:
        return "+Inf"
    if isinstance(v, int):
        return str(v)
    return repr(float(v))


def _labels(pairs):
    def esc(s):
        return str(s).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")
    return "{" + ",".join('%s="%s"' % (k, esc(v)) for k, v in pairs) + "}"


class Histogram:
    def __init__(self, buckets):
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.sum = 0.0
        self.count = 0

    def observe(self, v):
        for i, b in enumerate(self.buckets):
            if v <= b:
                self.counts[i] += 1
        self.sum += v
        self.count += 1

    def render(self, name, labels, out):
        for b, c in zip(self.buckets, self.counts):
            out.append("%s_bucket%s %d" % (name, _labels(labels + [("le", _fmt(b))]), c))
        out.append("%s_bucket%s %d" % (name, _labels(labels + [("le", "+Inf")]), self.count))
        out.append("%s_sum%s %s" % (name, _labels(labels), _fmt(self.sum)))
        out.append("%s_count%s %d" % (name, _labels(labels), self.count))


class Metrics:
    """The service's Prometheus metrics (text exposition format 0.0.4)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = {}      # (code, model_version) -> n
        self.durations = {}     # model_version -> Histogram
        self.confidence = {}    # (field, model_version) -> Histogram
        self.low_conf = {}      # model_version -> n
        self.missing = {}       # (field, model_version) -> n
        self.model_version = None

    def set_model(self, version, fields):
        with self.lock:
            self.model_version = version
            for code in ("200", "500"):
                self.requests.setdefault((code, version), 0)
            self.durations.setdefault(version, Histogram(DURATION_BUCKETS))
            self.low_conf.setdefault(version, 0)
            for f in fields:
                self.confidence.setdefault((f, version), Histogram(CONFIDENCE_BUCKETS))
                self.missing.setdefault((f, version), 0)

    def observe_request(self, code, version, seconds):
        with self.lock:
            key = (str(code), version)
            self.requests[key] = self.requests.get(key, 0) + 1
            self.durations.setdefault(version, Histogram(DURATION_BUCKETS)).observe(seconds)

    def observe_fields(self, version, fields, missing, low_threshold):
        with self.lock:
            for f in fields:
                h = self.confidence.setdefault((f["label"], version), Histogram(CONFIDENCE_BUCKETS))
                h.observe(f["confidence"])
                if f["confidence"] < low_threshold:
                    self.low_conf[version] = self.low_conf.get(version, 0) + 1
            for lab in missing:
                self.missing[(lab, version)] = self.missing.get((lab, version), 0) + 1

    def render(self):
        out = []
        with self.lock:
            out.append("# HELP ocr_requests_total POST /predict requests by HTTP status code.")
            out.append("# TYPE ocr_requests_total counter")
            for (code, v), n in sorted(self.requests.items()):
                out.append("ocr_requests_total%s %d" % (_labels([("code", code), ("model_version", v)]), n))
            out.append("# HELP ocr_request_duration_seconds Time to answer POST /predict, injected latency included.")
            out.append("# TYPE ocr_request_duration_seconds histogram")
            for v, h in sorted(self.durations.items()):
                h.render("ocr_request_duration_seconds", [("model_version", v)], out)
            out.append("# HELP ocr_prediction_confidence Confidence of each extracted field.")
            out.append("# TYPE ocr_prediction_confidence histogram")
            for (f, v), h in sorted(self.confidence.items()):
                h.render("ocr_prediction_confidence", [("field", f), ("model_version", v)], out)
            out.append("# HELP ocr_low_confidence_predictions_total Extracted fields below the low-confidence threshold.")
            out.append("# TYPE ocr_low_confidence_predictions_total counter")
            for v, n in sorted(self.low_conf.items()):
                out.append("ocr_low_confidence_predictions_total%s %d" % (_labels([("model_version", v)]), n))
            out.append("# HELP ocr_missing_fields_total Successful predictions that did not find a field.")
            out.append("# TYPE ocr_missing_fields_total counter")
            for (f, v), n in sorted(self.missing.items()):
                out.append("ocr_missing_fields_total%s %d" % (_labels([("field", f), ("model_version", v)]), n))
            out.append("# HELP ocr_model_info The model this process serves.")
            out.append("# TYPE ocr_model_info gauge")
            if self.model_version is not None:
                out.append("ocr_model_info%s 1" % _labels([("model_version", self.model_version)]))
        return "\n".join(out) + "\n"


class Service:
    """Model, settings and side effects (metrics, inference log) shared by the request threads."""

    def __init__(self, model_dir, threshold=0.5, low_confidence=0.6, model_version=None,
                 inject_latency_ms=0.0, inject_error_rate=0.0, seed=0, inference_log=None):
        self.model_dir = model_dir
        self.threshold = threshold
        self.low_confidence = low_confidence
        self.version_override = model_version
        self.inject_latency_ms = inject_latency_ms
        self.inject_error_rate = inject_error_rate
        self.rng = random.Random(seed)
        self.rng_lock = threading.Lock()
        self.log_path = inference_log
        self.log_lock = threading.Lock()
        self.model = None
        self.ready = threading.Event()
        self.metrics = Metrics()

    @property
    def model_version(self):
        if self.version_override:
            return self.version_override
        return self.model.model_version if self.model is not None else "unknown"

    def load(self, model=None):
        self.model = model if model is not None else FieldExtractor.load(self.model_dir)
        self.metrics.set_model(self.model_version, self.model.field_labels)
        self.ready.set()

    def draw_error(self):
        if self.inject_error_rate <= 0:
            return False
        with self.rng_lock:   # seeded: the same request sequence fails the same way every run
            return self.rng.random() < self.inject_error_rate

    def log_inference(self, file_id, fields, error, status, labels=()):
        """One model_inference_log line; ``fields`` maps every label to its value, null when not found."""
        if not self.log_path:
            return
        values = {lab: None for lab in labels}
        values.update({f["label"]: f["value"] for f in fields})
        rec = {
            "file_id": file_id,
            "confidence_score": round(min([f["confidence"] for f in fields]), 6) if fields else 0,
            "error": error,
            "status": status,
            "model_version": self.model_version,
            "timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
            "fields": values,
        }
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        with self.log_lock:
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(line)

    def predict(self, body):
        """(HTTP status, envelope) for one /predict body (bytes)."""
        t0 = time.perf_counter()
        if self.inject_latency_ms > 0:
            time.sleep(self.inject_latency_ms / 1000.0)
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            return self._fail(400, "bad_request", "body is not valid JSON: %s" % e, None, t0)
        problem = validate_doc(doc)
        if problem:
            file_id = doc.get("image_id") if isinstance(doc, dict) and isinstance(doc.get("image_id"), str) else None
            return self._fail(400, "bad_request", problem, file_id, t0)
        if not self.ready.wait(READY_WAIT_S):
            return self._fail(503, "not_ready", "the model is still loading", doc["image_id"], t0)
        if self.draw_error():
            return self._fail(500, "injected_error", "error injected by --inject-error-rate", doc["image_id"], t0)
        t_inf = time.perf_counter()
        try:
            fields = self.model.extract(doc, self.threshold)
        except Exception as e:   # a bug, not the caller's fault: answer 500, keep serving
            return self._fail(500, "internal_error", "%s: %s" % (type(e).__name__, e), doc["image_id"], t0)
        latency_ms = round((time.perf_counter() - t_inf) * 1000.0, 3)
        found = {f["label"] for f in fields}
        missing = [lab for lab in self.model.field_labels if lab not in found]
        version = self.model_version
        self.metrics.observe_fields(version, fields, missing, self.low_confidence)
        self.log_inference(doc["image_id"], fields, "missing field: " + ", ".join(missing) if missing else None,
                           "fail" if missing else "success", self.model.field_labels)
        self.metrics.observe_request(200, version, time.perf_counter() - t0)
        return 200, {"status": "ok",
                     "result": {"image_id": doc["image_id"], "latency_ms": latency_ms, "fields": fields},
                     "error_code": None, "model_version": version}

    def _fail(self, code, error_code, message, file_id, t0):
        self.log_inference(file_id, [], "%s: %s" % (error_code, message), "fail")
        self.metrics.observe_request(code, self.model_version, time.perf_counter() - t0)
        return code, {"status": "error", "result": None, "error_code": error_code,
                      "model_version": self.model_version, "message": message}


class Handler(BaseHTTPRequestHandler):
    server_version = "ocr-fields"
    timeout = 10   # seconds a client may take to send its request
    access_log = False

    @property
    def service(self):
        return self.server.service

    def _send(self, code, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else (json.dumps(body, ensure_ascii=False) + "\n").encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype if ctype != "application/json" else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, code, error_code, message):
        self._send(code, {"status": "error", "result": None, "error_code": error_code,
                          "model_version": self.service.model_version, "message": message})

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        svc = self.service
        if path == "/healthz":
            self._send(200, {"status": "ok"})
        elif path == "/readyz":
            if svc.ready.is_set():
                self._send(200, {"status": "ok", "model_version": svc.model_version})
            else:
                self._send(503, {"status": "loading", "model_version": None})
        elif path == "/metrics":
            self._send(200, svc.metrics.render().encode("utf-8"), "text/plain; version=0.0.4; charset=utf-8")
        elif path == "/":
            self._send(200, {"service": "ocr-fields", "model_version": svc.model_version,
                             "ready": svc.ready.is_set(),
                             "endpoints": ["POST /predict", "GET /healthz", "GET /readyz", "GET /metrics"]})
        elif path == "/predict":
            self._error(405, "method_not_allowed", "use POST /predict")
        else:
            self._error(404, "not_found", "no such endpoint: %s" % path)

    do_HEAD = do_GET

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        if path in ("/healthz", "/readyz", "/metrics", "/"):
            self._error(405, "method_not_allowed", "use GET %s" % path)
            return
        if path != "/predict":
            self._error(404, "not_found", "no such endpoint: %s" % path)
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._error(413 if length > MAX_BODY else 400, "payload_too_large" if length > MAX_BODY else "bad_request",
                        "Content-Length must be between 0 and %d" % MAX_BODY)
            return
        body = self.rfile.read(length)
        code, env = self.service.predict(body)
        self._send(code, env)

    def log_message(self, fmt, *args):
        if self.access_log:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


class Server(ThreadingHTTPServer):
    daemon_threads = False     # server_close() waits for requests in flight
    block_on_close = True
    allow_reuse_address = True


def make_server(service, host="127.0.0.1", port=0):
    server = Server((host, port), Handler)
    server.service = service
    return server


def main(argv=None):
    cfg = load_config()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=cfg["model"]["path"], help="folder with model.json (default %(default)s)")
    p.add_argument("--port", type=int, default=int(cfg["serving"]["port"]), help="0 picks a free port (default %(default)s)")
    p.add_argument("--host", default=str(cfg["serving"]["host"]), help="bind address (default %(default)s)")
    p.add_argument("--inject-latency-ms", type=float, default=0.0, metavar="N", help="add N ms to every /predict")
    p.add_argument("--inject-error-rate", type=float, default=0.0, metavar="R",
                   help="answer this share of /predict calls with 500 injected_error (seeded, see --seed)")
    p.add_argument("--seed", type=int, default=0, help="seed for the injected errors (default 0)")
    p.add_argument("--model-version", default=None, help="serve under this model_version instead of the model's")
    p.add_argument("--inference-log", default=None, metavar="FILE", help="append one JSON line per /predict")
    p.add_argument("--threshold", type=float, default=float(cfg["inference"]["threshold"]),
                   help="minimum field confidence (default %(default)s)")
    p.add_argument("--startup-delay-ms", type=float, default=0.0, metavar="N",
                   help="wait N ms before loading the model (exercises readiness probes)")
    p.add_argument("--access-log", action="store_true", help="log every request to stderr")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if not 0 <= args.port <= 65535:
        p.error("--port must be in 0..65535")
    if args.inject_latency_ms < 0 or not math.isfinite(args.inject_latency_ms):
        p.error("--inject-latency-ms must be >= 0")
    if not 0.0 <= args.inject_error_rate <= 1.0:
        p.error("--inject-error-rate must be in [0, 1]")
    if not 0.0 < args.threshold < 1.0:
        p.error("--threshold must be in (0, 1)")
    model_file = args.model if os.path.isfile(args.model) else os.path.join(args.model, "model.json")
    if not os.path.isfile(model_file):
        print("app.py: error: %s: no model here (train one: python3 train.py --out %s)" % (model_file, args.model),
              file=sys.stderr, flush=True)
        return 2
    Handler.access_log = args.access_log
    service = Service(args.model, threshold=args.threshold, low_confidence=float(cfg["inference"]["low_confidence"]),
                      model_version=args.model_version, inject_latency_ms=args.inject_latency_ms,
                      inject_error_rate=args.inject_error_rate, seed=args.seed, inference_log=args.inference_log)
    try:
        server = make_server(service, args.host, args.port)
    except OSError as e:
        print("app.py: error: cannot listen on %s:%d: %s" % (args.host, args.port, e), file=sys.stderr, flush=True)
        return 2

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    serving.start()
    host, port = server.server_address[:2]
    print("listening on http://%s:%d" % (host, port), flush=True)
    status = 0
    try:
        if args.startup_delay_ms > 0:
            stop.wait(args.startup_delay_ms / 1000.0)
        if not stop.is_set():
            service.load()
            print("ready model_version=%s" % service.model_version, flush=True)
        while not stop.wait(0.5):
            pass
    except (ModelError, ConfigError) as e:
        print("app.py: error: %s" % e, file=sys.stderr, flush=True)
        status = 2
    print("shutting down", flush=True)
    server.shutdown()
    server.server_close()
    return status


if __name__ == "__main__":
    sys.exit(main())
