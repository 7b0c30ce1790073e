import json
import os
import unittest

from model import FieldExtractor, field_metrics
from dataset import read_docs, read_gt
from tests.helpers import run, small_data, tmpdir, trained_model

LABELS = {"name", "id_number", "effective_date", "amount"}


class PredictTest(unittest.TestCase):
    def test_predictions_are_valid_fields_at_1(self):
        data = os.path.join(small_data(), "test")
        out = os.path.join(tmpdir("predict"), "pred.json")
        proc = run("predict.py", "--model", trained_model(), "--data", data, "--out", out)
        self.assertIn("-> " + out, proc.stdout)
        with open(out, encoding="utf-8") as f:
            pred = json.load(f)
        model = FieldExtractor.load(trained_model())
        self.assertEqual(pred["dataset"], "ocr-fields-sample-test")
        self.assertEqual(pred["model_version"], model.model_version)
        docs = read_docs(data)
        self.assertEqual([im["image_id"] for im in pred["images"]], [d["image_id"] for d in docs])
        nfields = 0
        for im in pred["images"]:
            self.assertEqual(set(im), {"image_id", "latency_ms", "fields"})
            self.assertIsInstance(im["latency_ms"], float)
            self.assertGreaterEqual(im["latency_ms"], 0.0)
            labels = [f["label"] for f in im["fields"]]
            self.assertEqual(len(labels), len(set(labels)))
            for f in im["fields"]:
                nfields += 1
                self.assertEqual(set(f), {"label", "bbox", "value", "confidence"})
                self.assertIn(f["label"], LABELS)
                x1, y1, x2, y2 = f["bbox"]
                self.assertTrue(x1 < x2 and y1 < y2, f)
                self.assertTrue(0.0 <= f["confidence"] <= 1.0, f)
                self.assertIsInstance(f["value"], str)
        self.assertGreater(nfields, 0)
        gt = read_gt(data)
        overall, _ = field_metrics(pred["images"], {im["image_id"]: im["fields"] for im in gt["images"]}, sorted(LABELS))
        self.assertGreater(overall["f1"], 0.6)

    def test_missing_input_exits_2(self):
        proc = run("predict.py", "--model", trained_model(), "--data", tmpdir("empty-split"),
                   "--out", os.path.join(tmpdir("predict"), "x.json"), check=False)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("docs.jsonl: not found", proc.stderr)

    def test_extract_edge_cases(self):
        model = FieldExtractor.load(trained_model())
        self.assertEqual(model.extract({"image_id": "empty", "tokens": []}), [])
        doc = {"image_id": "x", "tokens": [{"text": "被保险人:", "bbox": [10, 10, 120, 40]},
                                           {"text": "张三", "bbox": [200, 10, 260, 40]}]}
        for f in model.extract(doc, threshold=0.01):
            self.assertTrue(0.0 <= f["confidence"] <= 1.0)
        self.assertEqual(model.extract(doc, threshold=0.999999), [])


if __name__ == "__main__":
    unittest.main()
