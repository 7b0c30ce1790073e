"""Shared fixtures: a small generated data set and one trained model per test process."""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable

# scripts run without the MLLOOP_* variables a CI wrapper may set (they would point the tests'
# training runs at the real checkpoint folder)
ENV = {k: v for k, v in os.environ.items() if not k.startswith("MLLOOP_")}

_tmp = tempfile.mkdtemp(prefix="ocr-fields-tests-")
atexit.register(shutil.rmtree, _tmp, True)
_cache = {}


def tmpdir(name):
    d = os.path.join(_tmp, name)
    os.makedirs(d, exist_ok=True)
    return d


def run(script, *args, cwd=None, check=True, timeout=60):
    """Run one of the repository's scripts as a user would; returns the CompletedProcess."""
    proc = subprocess.run([PY, os.path.join(ROOT, script)] + [str(a) for a in args], cwd=cwd or _tmp, env=ENV,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError("%s %s exited %d\nstdout:\n%s\nstderr:\n%s"
                             % (script, " ".join(map(str, args)), proc.returncode, proc.stdout, proc.stderr))
    return proc


def small_data():
    """A small data set (train 120, val 40, test 30 documents), generated once."""
    if "data" not in _cache:
        d = tmpdir("data")
        run("generate_data.py", "--seed", 11, "--out", d, "--train", 120, "--val", 40, "--test", 30)
        _cache["data"] = d
    return _cache["data"]


def trained_model():
    """A model trained for 8 epochs on small_data() (with a larger step: few documents), trained once."""
    if "model" not in _cache:
        out = tmpdir("model")
        run("train.py", "--epochs", 8, "--lr", 0.1, "--data", small_data(), "--out", out,
            "--logs", tmpdir("model-logs"))
        _cache["model"] = out
    return _cache["model"]
