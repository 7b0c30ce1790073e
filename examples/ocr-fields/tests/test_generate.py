import filecmp
import os
import re
import unittest

from generate_data import ID_CHECK, ID_WEIGHTS, generate_split
from dataset import read_docs, read_gt, token_labels, validate_doc
from model import LABELS
from tests.helpers import ROOT, run, tmpdir

SPLIT_SIZES = {"train": 400, "val": 100, "test": 200}


def id_ok(s):
    return (len(s) == 18 and s[:17].isdigit()
            and ID_CHECK[sum(int(c) * w for c, w in zip(s[:17], ID_WEIGHTS)) % 11] == s[17])


class GeneratorTest(unittest.TestCase):
    def test_same_seed_same_bytes_other_seed_other_data(self):
        a, b, c = tmpdir("gen-a"), tmpdir("gen-b"), tmpdir("gen-c")
        for out, seed in ((a, 3), (b, 3), (c, 4)):
            run("generate_data.py", "--seed", seed, "--out", out, "--train", 30, "--val", 10, "--test", 10)
        for split in ("train", "val", "test"):
            for name in ("docs.jsonl", "gt.json"):
                self.assertTrue(filecmp.cmp(os.path.join(a, split, name), os.path.join(b, split, name), shallow=False))
        self.assertFalse(filecmp.cmp(os.path.join(a, "train", "docs.jsonl"), os.path.join(c, "train", "docs.jsonl"),
                                     shallow=False))

    def test_committed_sample_data_is_what_the_generator_makes(self):
        out = tmpdir("gen-committed")
        run("generate_data.py", "--out", out)   # defaults: seed 7, 400/100/200
        for split in ("train", "val", "test"):
            for name in ("docs.jsonl", "gt.json"):
                self.assertTrue(filecmp.cmp(os.path.join(out, split, name), os.path.join(ROOT, "sample_data", split, name),
                                            shallow=False), "sample_data/%s/%s is stale: rerun generate_data.py" % (split, name))

    def test_sample_data_is_valid(self):
        total = 0
        seen_missing = seen_english = seen_noise = seen_multi = False
        for split, n in SPLIT_SIZES.items():
            d = os.path.join(ROOT, "sample_data", split)
            total += sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
            docs = read_docs(d)
            gt = read_gt(d)
            self.assertEqual(gt["dataset"], "ocr-fields-sample-%s" % split)
            self.assertEqual(len(docs), n)
            self.assertEqual([x["image_id"] for x in docs], [im["image_id"] for im in gt["images"]])
            self.assertEqual(docs[0]["image_id"], "policy-%s-00001" % split)
            for doc, im in zip(docs, gt["images"]):
                self.assertIsNone(validate_doc(doc))
                for t in doc["tokens"]:
                    x1, y1, x2, y2 = t["bbox"]
                    self.assertTrue(0 <= x1 < x2 <= doc["width"] and 0 <= y1 < y2 <= doc["height"], t)
                labels = [f["label"] for f in im["fields"]]
                self.assertEqual(len(labels), len(set(labels)))
                if len(labels) < 4:
                    seen_missing = True
                ys = token_labels(doc, im["fields"], LABELS)
                for f in im["fields"]:
                    self.assertEqual(set(f), {"label", "bbox", "value"})   # GT: no confidence, no latency
                    x1, y1, x2, y2 = f["bbox"]
                    self.assertTrue(x1 < x2 and y1 < y2)
                    covered = [t["text"] for t, y in zip(doc["tokens"], ys) if LABELS[y] == f["label"]]
                    self.assertTrue(covered, "no token under %s in %s" % (f, doc["image_id"]))
                    seen_multi |= len(covered) > 1
                    raw = "".join(covered)
                    if f["label"] == "id_number":
                        self.assertTrue(id_ok(f["value"]), f)
                        seen_noise |= raw != f["value"]
                    elif f["label"] == "effective_date":
                        self.assertRegex(f["value"], r"^\d{4}-\d{2}-\d{2}$")
                    elif f["label"] == "amount":
                        self.assertRegex(f["value"], r"^\d+\.\d{2}$")
                    else:
                        self.assertTrue(re.match(r"^[\u4e00-\u9fff]{2,4}$", f["value"]), f)
                seen_english |= any(t["text"] == "Date:" for t in doc["tokens"])
        self.assertLess(total, 3 * 1024 * 1024)
        self.assertTrue(seen_missing and seen_english and seen_noise and seen_multi)

    def test_value_formats_vary(self):
        docs, gt = generate_split(5, "train", 60)
        texts = [t["text"] for d in docs for t in d["tokens"]]
        self.assertTrue(any(re.match(r"^\d{4}年\d{1,2}月\d{1,2}日$", t) for t in texts))
        self.assertTrue(any(re.match(r"^\d{2}/\d{2}/\d{4}$", t) for t in texts))
        self.assertTrue(any(t.endswith("万元") for t in texts))
        self.assertTrue(any(t.startswith("¥") for t in texts))
        self.assertTrue(any(t in ("姓名:", "Name:", "被保险人:") for t in texts))


if __name__ == "__main__":
    unittest.main()
