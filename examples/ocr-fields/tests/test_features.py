import json
import os
import subprocess
import sys
import unittest

from preprocess import (featurize, key_text, normalize_amount, normalize_date, normalize_id, normalize_name,
                        normalize_value, shape, short_shape, token_features)
from tests.helpers import ROOT


def tok(text, x1, y1, x2, y2):
    return {"text": text, "bbox": [x1, y1, x2, y2]}


DOC = {"image_id": "t-1", "width": 1000, "height": 1400, "tokens": [
    tok("被保险人:", 100, 100, 250, 130), tok("张三", 300, 101, 360, 131),
    tok("Effective", 100, 200, 220, 230), tok("Date:", 230, 200, 300, 230), tok("2025-06-12", 330, 200, 480, 230),
    tok("保险金额", 600, 300, 720, 330), tok("12万元", 600, 350, 700, 380),
]}


class FeatureTest(unittest.TestCase):
    def test_shapes(self):
        self.assertEqual(shape("2025-06-12"), "dddd-dd-dd")
        self.assertEqual(short_shape("2025-06-12"), "d-d-d")
        self.assertEqual(short_shape("¥120,000.00"), "md,d.d")
        self.assertEqual(shape("张三"), "cc")
        self.assertEqual(short_shape("Name:"), "Aa:")
        self.assertEqual(key_text("姓名："), "姓名")
        self.assertEqual(key_text("Name:"), "name")
        self.assertEqual(key_text("P2025"), "#ad")   # values are keyed by shape, not text

    def test_neighbours_and_context_features(self):
        feats, left = featurize(DOC)
        self.assertEqual(len(feats), len(DOC["tokens"]))
        self.assertEqual(left, [-1, 0, -1, 2, 3, -1, -1])
        name, date, amount = feats[1], feats[4], feats[6]
        self.assertIn("L=被保险人", name)
        self.assertIn("ss=c", name)
        self.assertIn("L=date", date)
        self.assertIn("L2=effective", date)
        self.assertIn("sh=dddd-dd-dd", date)
        self.assertIn("A=保险金额", amount)
        self.assertIn("L=<none>", amount)
        self.assertIn("P=保险金额", amount)
        for f in feats:
            self.assertIn("bias", f)
            self.assertEqual(len(f), len(set(f)))
            self.assertTrue(any(x.startswith("g") and x[1:].isdigit() for x in f))   # hashed n-grams

    def test_features_do_not_depend_on_the_hash_seed(self):
        code = ("import json, sys; sys.path.insert(0, %r); from preprocess import token_features; "
                "print(json.dumps(token_features(json.loads(sys.stdin.read()))))" % ROOT)
        outs = set()
        for seed in ("1", "2"):
            env = dict(os.environ, PYTHONHASHSEED=seed)
            outs.add(subprocess.run([sys.executable, "-c", code], input=json.dumps(DOC), env=env,
                                    capture_output=True, text=True, check=True).stdout)
        self.assertEqual(len(outs), 1)
        self.assertEqual(json.loads(outs.pop()), token_features(DOC))

    def test_empty_document(self):
        self.assertEqual(featurize({"image_id": "e", "tokens": []}), ([], []))

    def test_value_normalisation(self):
        for raw in ("2025-06-12", "2025年6月12日", "12/06/2025", "2025/06/12", "2025.06.12", "2O25-O6-l2", "20250612"):
            self.assertEqual(normalize_date(raw), "2025-06-12", raw)
        self.assertEqual(normalize_date("2025-0612"), "2025-0612")   # unreadable stays as read
        for raw in ("¥120,000.00", "12万元", "120,000.00元", "120000", "RMB 120,000.00", "l2O,OOO.OO元", "人民币12万元整"):
            self.assertEqual(normalize_amount(raw), "120000.00", raw)
        self.assertEqual(normalize_amount("12.5万元"), "125000.00")
        self.assertEqual(normalize_id("11010519491231002x"), "11010519491231002X")
        self.assertEqual(normalize_id("110l05l9491Z31OO2X"), "11010519491231002X")
        self.assertEqual(normalize_id("110105 19491231 002X"), "11010519491231002X")
        self.assertEqual(normalize_name(" 张 三 "), "张三")
        self.assertEqual(normalize_value("name", "欧阳娜"), "欧阳娜")


if __name__ == "__main__":
    unittest.main()
