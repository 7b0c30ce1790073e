import filecmp
import json
import os
import re
import signal
import subprocess
import unittest

from tests.helpers import ENV, PY, ROOT, run, small_data, tmpdir, trained_model

LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2} epoch=(\d+)/(\d+) loss=\d+\.\d{4} val_f1=\d\.\d{4} lr=[0-9.e-]+")


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class TrainTest(unittest.TestCase):
    def test_outputs_and_f1_rises_with_epochs(self):
        out, logs = tmpdir("rise"), tmpdir("rise-logs")
        proc = run("train.py", "--epochs", 6, "--data", small_data(), "--out", out, "--logs", logs, "--seed", 1)
        epoch_lines = [l for l in proc.stdout.splitlines() if " epoch=" in l]
        self.assertEqual(len(epoch_lines), 6)
        for l in epoch_lines:
            self.assertRegex(l, LOG_LINE)
        with open(os.path.join(logs, "train.log"), encoding="utf-8") as f:
            self.assertEqual([l for l in f.read().splitlines() if " epoch=" in l], epoch_lines)

        m = read_json(os.path.join(out, "metrics.json"))
        self.assertEqual(m["schema"], "mlloop/metrics@1")
        self.assertEqual(m["dataset"], "ocr-fields-sample-val")
        self.assertEqual(m["epochs"], 6)
        self.assertIsInstance(m["loss"], float)
        self.assertEqual(set(m["per_field"]), {"name", "id_number", "effective_date", "amount"})
        for block in [m["overall"]] + list(m["per_field"].values()):
            for k in ("precision", "recall", "f1"):
                self.assertTrue(0.0 <= block[k] <= 1.0)
            self.assertEqual(block["tp"] + block["fn"], block.get("support", block["tp"] + block["fn"]))
        model = read_json(os.path.join(out, "model.json"))
        self.assertEqual(model["model_version"], m["model_version"])
        self.assertRegex(model["model_version"], r"^ocr-fields-[0-9a-f]{12}$")

        f1 = [h["val_f1"] for h in m["history"]]
        losses = [h["loss"] for h in m["history"]]
        self.assertEqual(f1[-1], m["overall"]["f1"])
        self.assertLess(f1[0], 0.6)
        self.assertGreater(f1[-1], f1[0] + 0.3)
        self.assertEqual(losses, sorted(losses, reverse=True))

        ck = os.path.join(out, "checkpoints")
        self.assertEqual(sorted(os.listdir(ck)), ["epoch-%04d.json" % e for e in range(1, 7)] + ["latest.json"])
        self.assertEqual(read_json(os.path.join(ck, "latest.json")), {"epoch": 6, "file": "epoch-0006.json"})

    def test_same_seed_same_model_other_seed_other_model(self):
        a, b, c = tmpdir("det-a"), tmpdir("det-b"), tmpdir("det-c")
        for out, seed in ((a, 5), (b, 5), (c, 6)):
            run("train.py", "--epochs", 2, "--data", small_data(), "--out", out, "--logs", out, "--seed", seed)
        self.assertTrue(filecmp.cmp(os.path.join(a, "model.json"), os.path.join(b, "model.json"), shallow=False))
        self.assertTrue(filecmp.cmp(os.path.join(a, "metrics.json"), os.path.join(b, "metrics.json"), shallow=False))
        self.assertNotEqual(read_json(os.path.join(a, "model.json"))["weights"],
                            read_json(os.path.join(c, "model.json"))["weights"])

    def test_killed_run_resumes_to_the_same_model(self):
        data = small_data()
        straight, crashed = tmpdir("straight"), tmpdir("crashed")
        run("train.py", "--epochs", 5, "--data", data, "--out", straight, "--logs", straight)

        # kill -9 the second run right after it reports epoch 2
        proc = subprocess.Popen([PY, os.path.join(ROOT, "train.py"), "--epochs", "5", "--data", data,
                                 "--out", crashed, "--logs", crashed], stdout=subprocess.PIPE, text=True, cwd=crashed, env=ENV)
        try:
            for line in proc.stdout:
                if " epoch=2/5 " in line:
                    proc.send_signal(signal.SIGKILL)
                    break
        finally:
            proc.wait(30)
            proc.stdout.close()
        self.assertEqual(proc.returncode, -signal.SIGKILL)
        self.assertFalse(os.path.exists(os.path.join(crashed, "model.json")))
        k = read_json(os.path.join(crashed, "checkpoints", "latest.json"))["epoch"]
        self.assertIn(k, (2, 3, 4))

        resumed = run("train.py", "--epochs", 5, "--data", data, "--out", crashed, "--logs", crashed, "--resume")
        self.assertIn("resumed from epoch %d" % k, resumed.stdout)
        epochs = [int(LOG_LINE.match(l).group(1)) for l in resumed.stdout.splitlines() if LOG_LINE.match(l)]
        self.assertEqual(epochs, list(range(k + 1, 6)))
        self.assertTrue(filecmp.cmp(os.path.join(straight, "model.json"), os.path.join(crashed, "model.json"),
                                    shallow=False), "resumed model differs from the uninterrupted one")
        self.assertEqual(read_json(os.path.join(straight, "metrics.json")), read_json(os.path.join(crashed, "metrics.json")))
        with open(os.path.join(crashed, "train.log"), encoding="utf-8") as f:
            self.assertIn("resumed from epoch %d" % k, f.read())

        # resuming a finished run trains nothing and leaves the same model
        again = run("train.py", "--epochs", 5, "--data", data, "--out", crashed, "--logs", crashed, "--resume")
        self.assertIn("resumed from epoch 5", again.stdout)
        self.assertIn("nothing to train", again.stdout)
        self.assertTrue(filecmp.cmp(os.path.join(straight, "model.json"), os.path.join(crashed, "model.json"),
                                    shallow=False))

    def test_resume_without_checkpoint_starts_at_epoch_1(self):
        out = tmpdir("fresh-resume")
        proc = run("train.py", "--epochs", 1, "--data", small_data(), "--out", out, "--logs", out, "--resume")
        self.assertIn("no checkpoint in", proc.stdout)
        self.assertIn("starting at epoch 1", proc.stdout)
        self.assertIn("epoch=1/1", proc.stdout)

    def test_init_from_continues_from_a_trained_model(self):
        base = trained_model()
        out = tmpdir("incremental")
        proc = run("train.py", "--epochs", 1, "--data", small_data(), "--out", out, "--logs", out, "--init-from", base)
        self.assertIn("initialised from", proc.stdout)
        base_f1 = read_json(os.path.join(base, "metrics.json"))["overall"]["f1"]
        new = read_json(os.path.join(out, "metrics.json"))
        self.assertGreater(new["overall"]["f1"], base_f1 - 0.05)   # starts where the base model was, not from zero
        self.assertEqual(read_json(os.path.join(out, "model.json"))["training"]["init_from"],
                         read_json(os.path.join(base, "model.json"))["model_version"])

    def test_bad_arguments_exit_2_with_a_message(self):
        out = tmpdir("bad")
        cases = [
            (["--epochs", "0", "--data", small_data()], "--epochs must be >= 1"),
            (["--epochs", "x"], "invalid int value"),
            (["--lr", "-1", "--data", small_data()], "--lr must be a positive number"),
            (["--data", os.path.join(out, "nowhere")], "missing the train/ split"),
            (["--epochs", "1", "--data", small_data(), "--init-from", os.path.join(out, "nomodel")], "no model here"),
            (["--no-such-flag"], "unrecognized arguments"),
        ]
        for args, message in cases:
            proc = run("train.py", *(args + ["--out", out, "--logs", out]), check=False)
            self.assertEqual(proc.returncode, 2, args)
            self.assertIn(message, proc.stderr, args)
            self.assertNotIn("Traceback", proc.stderr)

    def test_resume_refuses_a_different_seed(self):
        out = tmpdir("seed-change")
        run("train.py", "--epochs", 1, "--data", small_data(), "--out", out, "--logs", out, "--seed", 1)
        proc = run("train.py", "--epochs", 2, "--data", small_data(), "--out", out, "--logs", out, "--seed", 2,
                   "--resume", check=False)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--seed 2 differs from the checkpoint", proc.stderr)


if __name__ == "__main__":
    unittest.main()
