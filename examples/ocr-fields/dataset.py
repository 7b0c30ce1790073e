"""Data loading: documents (docs.jsonl), ground truth (gt.json, mlloop/fields@1), token labels.

A split folder holds ``docs.jsonl`` (one OCR'd document per line) and ``gt.json``. Training labels
for tokens come from the ground-truth boxes: a token whose centre lies inside a field's box takes
that field's label, every other token is ``O``.
"""

import hashlib
import json
import os
import tempfile

_UMASK = os.umask(0o022)
os.umask(_UMASK)


class DataError(Exception):
    """The user's data is missing or malformed (exit code 2)."""


def read_docs(path):
    """Documents from a docs.jsonl file, or from a split folder holding one."""
    if os.path.isdir(path):
        path = os.path.join(path, "docs.jsonl")
    if not os.path.isfile(path):
        raise DataError("%s: not found (expected one OCR'd document per line)" % path)
    docs = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except ValueError as e:
                raise DataError("%s:%d: not valid JSON (%s)" % (path, n, e))
            problem = validate_doc(doc)
            if problem:
                raise DataError("%s:%d: %s" % (path, n, problem))
            docs.append(doc)
    return docs


def validate_doc(doc):
    """None if ``doc`` is a usable document, else a message naming the offending field."""
    if not isinstance(doc, dict):
        return "document must be a JSON object"
    if not isinstance(doc.get("image_id"), str) or not doc["image_id"]:
        return "image_id must be a non-empty string"
    tokens = doc.get("tokens")
    if not isinstance(tokens, list):
        return "tokens must be a list of {text, bbox}"
    for i, t in enumerate(tokens):
        if not isinstance(t, dict) or not isinstance(t.get("text"), str):
            return "tokens[%d].text must be a string" % i
        b = t.get("bbox")
        if (not isinstance(b, list) or len(b) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)):
            return "tokens[%d].bbox must be [x1, y1, x2, y2] numbers" % i
        if not (b[0] < b[2] and b[1] < b[3]):
            return "tokens[%d].bbox must have x1 < x2 and y1 < y2" % i
    for k in ("width", "height"):
        if k in doc and doc[k] is not None and (not isinstance(doc[k], (int, float)) or doc[k] <= 0):
            return "%s must be a positive number" % k
    return None


def read_gt(path):
    if os.path.isdir(path):
        path = os.path.join(path, "gt.json")
    if not os.path.isfile(path):
        raise DataError("%s: not found (expected mlloop/fields@1 ground truth)" % path)
    try:
        with open(path, encoding="utf-8") as f:
            gt = json.load(f)
    except ValueError as e:
        raise DataError("%s: not valid JSON (%s)" % (path, e))
    if not isinstance(gt, dict) or not isinstance(gt.get("images"), list):
        raise DataError("%s: $.images must be a list (mlloop/fields@1)" % path)
    return gt


def load_split(split_dir):
    """(docs, {image_id: [gt fields]}, dataset name) for one split folder."""
    docs = read_docs(split_dir)
    gt = read_gt(split_dir)
    by_id = {im["image_id"]: im.get("fields", []) for im in gt["images"]}
    name = gt.get("dataset") or "ocr-fields-" + os.path.basename(os.path.normpath(split_dir))
    return docs, by_id, name


def token_labels(doc, fields, labels):
    """Label index per token, aligned from the ground-truth field boxes."""
    index = {lab: i for i, lab in enumerate(labels)}
    out = []
    for t in doc["tokens"]:
        x1, y1, x2, y2 = t["bbox"]
        cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
        lab = 0
        for f in fields:
            b = f["bbox"]
            if b[0] - 2 <= cx <= b[2] + 2 and b[1] - 2 <= cy <= b[3] + 2 and f["label"] in index:
                lab = index[f["label"]]
                break
        out.append(lab)
    return out


def fingerprint(*paths):
    """sha256 over the bytes of the given files: identifies the data a checkpoint was trained on."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 16), b""):
                h.update(chunk)
    return h.hexdigest()


def atomic_write_text(path, text):
    """Write via a temp file in the same folder and os.replace: readers never see half a file."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)   # mkstemp creates 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_json(path, obj, indent=None):
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=indent,
                                       separators=None if indent else (",", ":")) + "\n")
