"""Train the field extractor on DATA/train, validating on DATA/val after every epoch.

    python3 train.py --epochs 10 --data sample_data --out outputs
    python3 train.py --epochs 10 --data sample_data --out outputs --resume      # after a crash
    python3 train.py --epochs 3 --data new_data --out retrained --init-from outputs   # incremental

Writes OUT/model.json, OUT/metrics.json (mlloop/metrics@1, on the val split), one checkpoint per
epoch in OUT/checkpoints/ (epoch-NNNN.json + latest.json, each written atomically) and appends
to logs/train.log. The result depends only on the data, --seed, --lr, --epochs and --init-from:
a run killed after epoch k and resumed ends with the same model as an uninterrupted run.
Exit codes: 0 done, 2 bad arguments or input (the message says which), 130 interrupted.
"""

import argparse
import datetime
import glob
import json
import math
import os
import random
import sys
import time

from config import ConfigError, load_config
from dataset import DataError, atomic_write_json, atomic_write_text, fingerprint, load_split, token_labels
from model import LABELS, MODEL_FILE, FieldExtractor, ModelError, field_metrics
from preprocess import featurize

CHECKPOINT_SCHEMA = "ocr-fields/checkpoint@1"


class UsageError(Exception):
    """Bad arguments or inputs: exit code 2."""


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


class Log:
    """Every message goes to stdout (flushed) and to logs/train.log, prefixed with a UTC timestamp."""

    def __init__(self, logs_dir, to_file=True):
        self.f = None
        if to_file:
            os.makedirs(logs_dir, exist_ok=True)
            self.path = os.path.join(logs_dir, "train.log")
            self.f = open(self.path, "a", encoding="utf-8")

    def __call__(self, msg):
        line = "%s %s" % (now(), msg)
        print(line, flush=True)
        if self.f:
            self.f.write(line + "\n")
            self.f.flush()

    def close(self):
        if self.f:
            self.f.close()


def parse_args(argv, cfg):
    t = cfg["training"]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Defaults come from config.yaml (training: ...).")
    p.add_argument("--epochs", type=int, default=t["epochs"], help="total epochs to reach (default %(default)s)")
    p.add_argument("--data", default="sample_data", help="folder with train/ and val/ splits (default %(default)s)")
    p.add_argument("--out", default=cfg["model"]["path"], help="output folder (default %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in OUT/checkpoints")
    p.add_argument("--seed", type=int, default=None, help="shuffling seed (default %s)" % t["seed"])
    p.add_argument("--lr", type=float, default=None, help="SGD learning rate (default %s)" % t["lr"])
    p.add_argument("--init-from", default=None, metavar="MODEL",
                   help="start from this model's weights (a folder with model.json, or the file): incremental training")
    p.add_argument("--logs", default=os.environ.get("MLLOOP_LOGS") or "logs",
                   help="folder for train.log (default $MLLOOP_LOGS, else ./logs)")
    p.add_argument("--checkpoints", default=os.environ.get("MLLOOP_CHECKPOINTS") or None,
                   help="checkpoint folder (default $MLLOOP_CHECKPOINTS, else OUT/checkpoints)")
    p.add_argument("--keep-checkpoints", type=int, default=0, metavar="K",
                   help="keep only the newest K epoch checkpoints (default 0: keep all)")
    p.add_argument("--model-version", default=os.environ.get("MLLOOP_MODEL_VERSION") or None,
                   help="version recorded in model.json (default $MLLOOP_MODEL_VERSION, else %s-<hash of the weights>)"
                   % cfg["model"]["name"])
    p.add_argument("--threshold", type=float, default=None,
                   help="decoding threshold for validation (default %s)" % cfg["inference"]["threshold"])
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be >= 1, got %d" % args.epochs)
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        p.error("--lr must be a positive number, got %r" % args.lr)
    if args.threshold is not None and not 0.0 < args.threshold < 1.0:
        p.error("--threshold must be in (0, 1), got %r" % args.threshold)
    if args.keep_checkpoints < 0:
        p.error("--keep-checkpoints must be >= 0")
    return args


def load_examples(split_dir, labels, hash_bits):
    docs, gt, name = load_split(split_dir)
    missing = [d["image_id"] for d in docs if d["image_id"] not in gt]
    if missing:
        raise DataError("%s/gt.json: no ground truth for %d documents (first: %s)"
                        % (split_dir, len(missing), missing[0]))
    feats = [featurize(d, hash_bits) for d in docs]
    batches = [list(zip(f[0], token_labels(d, gt[d["image_id"]], labels))) for d, f in zip(docs, feats)]
    return docs, gt, name, feats, batches


def read_checkpoint(ckpt_dir):
    """(checkpoint dict, epoch) from latest.json, or (None, 0) when there is none."""
    latest = os.path.join(ckpt_dir, "latest.json")
    if not os.path.isfile(latest):
        return None, 0
    try:
        with open(latest, encoding="utf-8") as f:
            pointer = json.load(f)
        path = os.path.join(ckpt_dir, os.path.basename(pointer["file"]))
        with open(path, encoding="utf-8") as f:
            ckpt = json.load(f)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError("%s: unreadable checkpoint (%s); delete %s to start over" % (latest, e, ckpt_dir))
    if ckpt.get("schema") != CHECKPOINT_SCHEMA or ckpt.get("epoch") != pointer.get("epoch"):
        raise UsageError("%s: checkpoint does not match latest.json; delete %s to start over" % (path, ckpt_dir))
    return ckpt, ckpt["epoch"]


def write_checkpoint(ckpt_dir, state, keep):
    name = "epoch-%04d.json" % state["epoch"]
    atomic_write_json(os.path.join(ckpt_dir, name), state)
    atomic_write_json(os.path.join(ckpt_dir, "latest.json"), {"epoch": state["epoch"], "file": name})
    if keep:
        files = sorted(glob.glob(os.path.join(ckpt_dir, "epoch-*.json")))
        for old in files[:-keep]:
            os.unlink(old)


def run(argv):
    cfg = load_config()
    args = parse_args(argv, cfg)
    labels = ["O"] + list(cfg["labels"])
    if labels != LABELS:
        raise UsageError("config.yaml: labels must be %s" % LABELS[1:])
    hash_bits = int(cfg["training"]["hash_bits"])
    threshold = args.threshold if args.threshold is not None else float(cfg["inference"]["threshold"])
    train_dir, val_dir = os.path.join(args.data, "train"), os.path.join(args.data, "val")
    for d in (train_dir, val_dir):
        if not os.path.isdir(d):
            raise UsageError("--data %s: missing the %s/ split (expected %s/{train,val}/docs.jsonl + gt.json)"
                             % (args.data, os.path.basename(d), args.data))
    ckpt_dir = args.checkpoints or os.path.join(args.out, "checkpoints")
    # Under `mlloop train` (MLLOOP_LOGS set) stdout already goes to logs/train.log, timestamped: write it once.
    log = Log(args.logs, to_file=not (os.environ.get("MLLOOP_LOGS") and os.path.abspath(args.logs) == os.path.abspath(os.environ["MLLOOP_LOGS"])))
    try:
        return train(args, cfg, labels, hash_bits, threshold, train_dir, val_dir, ckpt_dir, log)
    finally:
        log.close()


def train(args, cfg, labels, hash_bits, threshold, train_dir, val_dir, ckpt_dir, log):
    t0 = time.perf_counter()
    data_fp = fingerprint(os.path.join(train_dir, "docs.jsonl"), os.path.join(train_dir, "gt.json"))
    _, _, train_name, _, batches = load_examples(train_dir, labels, hash_bits)
    vdocs, vgt, val_name, vfeats, _ = load_examples(val_dir, labels, hash_bits)
    ntokens = sum(len(b) for b in batches)

    start, history, init_from = 0, [], None
    ckpt = None
    if args.resume:
        ckpt, start = read_checkpoint(ckpt_dir)
    if ckpt is not None:
        for opt, key in (("seed", "seed"), ("lr", "lr")):
            given = getattr(args, opt)
            if given is not None and given != ckpt[key]:
                raise UsageError("--%s %s differs from the checkpoint's %s=%s in %s; resume with the same value "
                                 "or train without --resume" % (opt, given, key, ckpt[key], ckpt_dir))
        if ckpt.get("data_fingerprint") != data_fp:
            raise UsageError("%s: the checkpoint was trained on different data than %s; train without --resume"
                             % (ckpt_dir, train_dir))
        seed, lr = ckpt["seed"], ckpt["lr"]
        model = FieldExtractor.from_dict(ckpt["model"], os.path.join(ckpt_dir, "epoch-%04d.json" % start))
        history, init_from = ckpt.get("history", []), ckpt.get("init_from")
        log("resumed from epoch %d (%s)" % (start, ckpt_dir))
        if args.init_from:
            log("--init-from %s ignored: the checkpoint already holds the weights" % args.init_from)
    else:
        seed = args.seed if args.seed is not None else int(cfg["training"]["seed"])
        lr = args.lr if args.lr is not None else float(cfg["training"]["lr"])
        if args.resume:
            log("no checkpoint in %s; starting at epoch 1" % ckpt_dir)
        for stale in glob.glob(os.path.join(ckpt_dir, "epoch-*.json")) + glob.glob(os.path.join(ckpt_dir, "latest.json")):
            os.unlink(stale)
        if args.init_from:
            try:
                base = FieldExtractor.load(args.init_from)
            except ModelError as e:
                raise UsageError("--init-from: %s" % e)
            if base.labels != labels or base.hash_bits != hash_bits:
                raise UsageError("--init-from %s: labels/hash_bits %s/%s do not match this code's %s/%s"
                                 % (args.init_from, base.labels, base.hash_bits, labels, hash_bits))
            model = FieldExtractor(labels, hash_bits, weights=base.weights, bias=base.bias)
            init_from = base.model_version
            log("initialised from %s (model_version=%s)" % (args.init_from, init_from))
        else:
            model = FieldExtractor(labels, hash_bits)
    log("train %s: %d documents, %d tokens; val %s: %d documents; epochs=%d seed=%d lr=%g (features %.2fs)"
        % (train_name, len(batches), ntokens, val_name, len(vdocs), args.epochs, seed, lr, time.perf_counter() - t0))
    if start >= args.epochs:
        log("checkpoint is at epoch %d >= --epochs %d; nothing to train" % (start, args.epochs))

    overall = per_field = None
    loss = history[-1]["loss"] if history else None
    for epoch in range(start + 1, args.epochs + 1):
        t = time.perf_counter()
        order = list(range(len(batches)))
        random.Random("%d:%d" % (seed, epoch)).shuffle(order)   # depends on (seed, epoch) only: resumable
        loss = model.train_epoch(batches, order, lr)
        images = model.predict_images(vdocs, threshold, vfeats)
        overall, per_field = field_metrics(images, vgt, labels[1:])
        history.append({"epoch": epoch, "loss": round(loss, 6), "val_f1": overall["f1"]})
        write_checkpoint(ckpt_dir, {"schema": CHECKPOINT_SCHEMA, "epoch": epoch, "seed": seed, "lr": lr,
                                    "data_fingerprint": data_fp, "init_from": init_from,
                                    "history": history, "model": model.to_dict()}, args.keep_checkpoints)
        log("epoch=%d/%d loss=%.4f val_f1=%.4f lr=%g time=%.2fs"
            % (epoch, args.epochs, loss, overall["f1"], lr, time.perf_counter() - t))

    if overall is None:   # nothing trained in this process: evaluate what the checkpoint holds
        overall, per_field = field_metrics(model.predict_images(vdocs, threshold, vfeats), vgt, labels[1:])
    model.training = {"epochs": max(start, args.epochs),
                      "seed": seed, "lr": lr, "train_dataset": train_name,
                      "train_documents": len(batches), "data_fingerprint": data_fp, "init_from": init_from,
                      "threshold": threshold}
    model.model_version = args.model_version or "%s-%s" % (cfg["model"]["name"], model.digest()[:12])
    os.makedirs(args.out, exist_ok=True)
    atomic_write_json(os.path.join(args.out, MODEL_FILE), model.to_dict())
    metrics = {
        "schema": "mlloop/metrics@1",
        "model_version": model.model_version,
        "dataset": val_name,
        "overall": overall,
        "per_field": per_field,
        "images": len(vdocs),
        "epochs": model.training["epochs"],
        "loss": round(loss, 6) if loss is not None else None,
        "history": history,
        "config": {"match": "label+normalized_value", "threshold": threshold, "seed": seed, "lr": lr},
    }
    atomic_write_text(os.path.join(args.out, "metrics.json"), json.dumps(metrics, ensure_ascii=False, indent=2) + "\n")
    log("done: model_version=%s val_f1=%.4f -> %s" % (model.model_version, overall["f1"],
                                                       os.path.join(args.out, MODEL_FILE)))
    return 0


def main(argv=None):
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except (UsageError, DataError, ModelError, ConfigError) as e:
        print("train.py: error: %s" % e, file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("train.py: interrupted; rerun with --resume to continue from the last checkpoint",
              file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
