"""Batch inference: OCR'd documents in, mlloop/fields@1 predictions out.

    python3 predict.py --model outputs --data sample_data/test --out pred.json

DATA is a split folder holding docs.jsonl (or a .jsonl file). The output names the dataset after
DATA/gt.json when there is one, and records the measured inference time of every image.
Exit codes: 0 done, 2 bad arguments or input.
"""

import argparse
import json
import os
import sys

from config import ConfigError, load_config
from dataset import DataError, atomic_write_text, read_docs
from model import FieldExtractor, ModelError


def dataset_name(data):
    folder = data if os.path.isdir(data) else os.path.dirname(os.path.abspath(data))
    gt_path = os.path.join(folder, "gt.json")
    if os.path.isfile(gt_path):
        try:
            with open(gt_path, encoding="utf-8") as f:
                name = json.load(f).get("dataset")
            if isinstance(name, str) and name:
                return name
        except (OSError, ValueError, AttributeError):
            pass
    return "ocr-fields-" + os.path.basename(os.path.normpath(folder))


def render(pred):
    """One image per line: diff-friendly and still one JSON document."""
    head = {k: v for k, v in pred.items() if k != "images"}
    lines = [json.dumps(im, ensure_ascii=False, separators=(",", ":")) for im in pred["images"]]
    return (json.dumps(head, ensure_ascii=False)[:-1] + ', "images": [\n' + ",\n".join(lines) + "\n]}\n")


def run(argv):
    cfg = load_config()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=cfg["model"]["path"], help="folder with model.json (default %(default)s)")
    p.add_argument("--data", required=True, help="split folder with docs.jsonl (or the .jsonl file)")
    p.add_argument("--out", required=True, help="predictions file to write (mlloop/fields@1)")
    p.add_argument("--threshold", type=float, default=float(cfg["inference"]["threshold"]),
                   help="minimum field confidence (default %(default)s)")
    p.add_argument("--model-version", default=None, help="override the model_version written to the output")
    p.add_argument("--dataset", default=None, help="dataset name (default: from DATA/gt.json)")
    args = p.parse_args(argv)
    if not 0.0 < args.threshold < 1.0:
        p.error("--threshold must be in (0, 1), got %r" % args.threshold)
    model = FieldExtractor.load(args.model)
    docs = read_docs(args.data)
    images = model.predict_images(docs, args.threshold)
    pred = {"dataset": args.dataset or dataset_name(args.data),
            "model_version": args.model_version or model.model_version,
            "images": images}
    atomic_write_text(args.out, render(pred))
    nfields = sum(len(im["fields"]) for im in images)
    mean_ms = sum(im["latency_ms"] for im in images) / max(1, len(images))
    print("predicted %d fields in %d images (mean %.2f ms/image) -> %s" % (nfields, len(images), mean_ms, args.out),
          flush=True)
    return 0


def main(argv=None):
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except (DataError, ModelError, ConfigError) as e:
        print("predict.py: error: %s" % e, file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
