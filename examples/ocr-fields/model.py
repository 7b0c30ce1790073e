"""The field extractor: a token classifier (multinomial logistic regression) trained with SGD.

Every token gets a softmax distribution over the labels ``O, name, id_number, effective_date,
amount``. Decoding takes, per document and label, the best-scoring token whose probability reaches
the threshold (a token serves at most one label), grows it over adjacent tokens on the same line
that the model also assigns to that label (e.g. "RMB" + "600,000.00"), and reads the value through
the label's normaliser. The field's confidence is the softmax probability of its best token.
"""

import hashlib
import json
import math
import os
import time

from preprocess import DEFAULT_HASH_BITS, FEATURE_VERSION, featurize, normalize_value

LABELS = ["O", "name", "id_number", "effective_date", "amount"]
MODEL_SCHEMA = "ocr-fields/model@1"
MODEL_FILE = "model.json"


class ModelError(Exception):
    """A model file is missing, malformed or incompatible (exit code 2)."""


def _close(tokens, a, b):
    """Tokens a and b on one line are parts of one phrase: the gap is under 0.8 line heights."""
    ba, bb = tokens[a]["bbox"], tokens[b]["bbox"]
    gap = max(bb[0] - ba[2], ba[0] - bb[2])
    return gap <= 0.8 * (ba[3] - ba[1])


class FieldExtractor:
    def __init__(self, labels=None, hash_bits=DEFAULT_HASH_BITS, weights=None, bias=None,
                 model_version=None, training=None):
        self.labels = list(labels or LABELS)
        if self.labels[0] != "O":
            raise ModelError("the first label must be 'O' (outside any field), got %r" % self.labels[0])
        self.k = len(self.labels)
        self.hash_bits = hash_bits
        self.weights = weights if weights is not None else {}   # feature -> [one weight per label]
        self.bias = list(bias) if bias is not None else [0.0] * self.k
        self.model_version = model_version
        self.training = dict(training or {})

    @property
    def field_labels(self):
        return self.labels[1:]

    # -- scoring --------------------------------------------------------------------------------

    def proba(self, feats):
        s = self.bias
        get = self.weights.get
        for f in feats:
            w = get(f)
            if w is not None:
                s = [a + b for a, b in zip(s, w)]
        m = max(s)
        e = [math.exp(v - m) for v in s]
        z = sum(e)
        return [v / z for v in e]

    def sgd_step(self, batch, lr):
        """One SGD step on the mean cross-entropy of a batch of (features, label index) tokens;
        returns the summed loss before the step."""
        probs = [self.proba(feats) for feats, _ in batch]   # all at the weights before the step
        scale = lr / max(1, len(batch))
        W = self.weights
        get = W.get
        zero = [0.0] * self.k
        bias = self.bias
        loss = 0.0
        for (feats, y), p in zip(batch, probs):
            loss -= math.log(max(p[y], 1e-12))
            g = [scale * v for v in p]
            g[y] -= scale
            bias = [a - b for a, b in zip(bias, g)]
            for f in feats:
                W[f] = [a - b for a, b in zip(get(f, zero), g)]
        self.bias = bias
        return loss

    def train_epoch(self, batches, order, lr):
        """One pass over ``batches`` (one per document: a list of (features, label index)) in the
        given order; returns the mean per-token loss."""
        total, n = 0.0, 0
        for i in order:
            total += self.sgd_step(batches[i], lr)
            n += len(batches[i])
        return total / max(1, n)

    # -- decoding -------------------------------------------------------------------------------

    def extract(self, doc, threshold=0.5, features=None):
        """Predicted fields of one document: [{label, bbox, value, confidence}]."""
        tokens = doc.get("tokens") or []
        if not tokens:
            return []
        feats, left = features if features is not None else featurize(doc, self.hash_bits)
        probs = [self.proba(f) for f in feats]
        right = [-1] * len(tokens)
        for i, j in enumerate(left):
            if j >= 0 and right[j] < 0:
                right[j] = i
        argmax = [max(range(self.k), key=p.__getitem__) for p in probs]
        candidates = []
        for k in range(1, self.k):
            for i, p in enumerate(probs):
                if p[k] >= threshold:
                    candidates.append((-p[k], k, i))
        candidates.sort()
        used, done, fields = set(), set(), []
        for negp, k, i in candidates:
            if k in done or i in used:
                continue
            done.add(k)
            span = [i]
            for step in (left, right):   # grow over close same-line neighbours of the same label
                edge = span[-1] if step is right else span[0]
                j = step[edge]
                while j >= 0 and j not in used and j not in span and argmax[j] == k and _close(tokens, edge, j):
                    if step is left:
                        span.insert(0, j)
                    else:
                        span.append(j)
                    edge, j = j, step[j]
            used.update(span)
            boxes = [tokens[j]["bbox"] for j in span]
            text = " ".join(tokens[j]["text"] for j in span)
            fields.append({
                "label": self.labels[k],
                "bbox": [min(b[0] for b in boxes), min(b[1] for b in boxes),
                         max(b[2] for b in boxes), max(b[3] for b in boxes)],
                "value": normalize_value(self.labels[k], text),
                "confidence": round(-negp, 6),
            })
        order = {lab: n for n, lab in enumerate(self.labels)}
        fields.sort(key=lambda f: order[f["label"]])
        return fields

    def predict_images(self, docs, threshold=0.5, features=None):
        """mlloop/fields@1 image entries with measured per-image latency."""
        images = []
        for n, doc in enumerate(docs):
            t0 = time.perf_counter()
            fields = self.extract(doc, threshold, None if features is None else features[n])
            ms = (time.perf_counter() - t0) * 1000.0
            images.append({"image_id": doc["image_id"], "latency_ms": round(ms, 3), "fields": fields})
        return images

    # -- persistence ----------------------------------------------------------------------------

    def to_dict(self):
        return {
            "schema": MODEL_SCHEMA,
            "model_version": self.model_version,
            "labels": self.labels,
            "feature_version": FEATURE_VERSION,
            "hash_bits": self.hash_bits,
            "training": self.training,
            "bias": self.bias,
            "weights": {f: self.weights[f] for f in sorted(self.weights)},
        }

    def digest(self):
        """Content hash of the parameters (labels, features, weights)."""
        body = json.dumps([self.labels, FEATURE_VERSION, self.hash_bits, self.bias,
                           sorted(self.weights.items())], separators=(",", ":"))
        return hashlib.sha256(body.encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, d, source="model"):
        if not isinstance(d, dict) or d.get("schema") != MODEL_SCHEMA:
            raise ModelError("%s: not an ocr-fields model ($.schema must be %r)" % (source, MODEL_SCHEMA))
        if d.get("feature_version") != FEATURE_VERSION:
            raise ModelError("%s: built with feature_version %r, this code has %r; retrain the model"
                             % (source, d.get("feature_version"), FEATURE_VERSION))
        labels = d.get("labels")
        weights = d.get("weights")
        if not isinstance(labels, list) or not isinstance(weights, dict):
            raise ModelError("%s: $.labels must be a list and $.weights an object" % source)
        return cls(labels=labels, hash_bits=d.get("hash_bits", DEFAULT_HASH_BITS), weights=weights,
                   bias=d.get("bias"), model_version=d.get("model_version"), training=d.get("training"))

    @classmethod
    def load(cls, path):
        """Load from a model.json file, or a folder holding one."""
        if os.path.isdir(path):
            path = os.path.join(path, MODEL_FILE)
        if not os.path.isfile(path):
            raise ModelError("%s: no model here (train one with: python3 train.py --out DIR)" % path)
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except ValueError as e:
            raise ModelError("%s: not valid JSON (%s)" % (path, e))
        return cls.from_dict(d, path)


# ---------------------------------------------------------------------------------------------
# metrics (the training-time metric: same label and equal normalised value)

def _prf(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 6), "recall": round(r, 6), "f1": round(f1, 6), "tp": tp, "fp": fp, "fn": fn}


def field_metrics(pred_images, gt_by_id, labels):
    """overall (micro) and per-field precision/recall/F1 for predictions against ground truth.

    A prediction is a true positive when the same image has a ground-truth field with the same label
    and an equal normalised value (each ground-truth field matches at most once). Images in the
    ground truth without predictions count as all missed.
    """
    counts = {lab: [0, 0, 0, 0] for lab in labels}   # tp, fp, fn, support
    preds = {im["image_id"]: im.get("fields", []) for im in pred_images}
    ids = list(gt_by_id) + [i for i in preds if i not in gt_by_id]
    for image_id in ids:
        gts = gt_by_id.get(image_id, [])
        ps = preds.get(image_id, [])
        for lab in labels:
            g = [normalize_value(lab, f["value"]) for f in gts if f["label"] == lab]
            p = [normalize_value(lab, f["value"]) for f in ps if f["label"] == lab]
            remaining = list(g)
            tp = 0
            for v in p:
                if v in remaining:
                    remaining.remove(v)
                    tp += 1
            c = counts[lab]
            c[0] += tp
            c[1] += len(p) - tp
            c[2] += len(g) - tp
            c[3] += len(g)
    per_field = {}
    for lab in labels:
        tp, fp, fn, support = counts[lab]
        per_field[lab] = dict(_prf(tp, fp, fn), support=support)
    overall = _prf(sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values()),
                   sum(c[2] for c in counts.values()))
    return overall, per_field
