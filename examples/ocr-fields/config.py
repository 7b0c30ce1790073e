"""Read config.yaml with the standard library.

Only the YAML this repository uses is supported: nested mappings by indentation, scalars (strings,
numbers, true/false, null), flow lists ``[a, b]`` and ``#`` comments.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PATH = os.path.join(HERE, "config.yaml")

DEFAULTS = {
    "model": {"name": "ocr-fields", "path": "outputs"},
    "labels": ["name", "id_number", "effective_date", "amount"],
    "inference": {"threshold": 0.5, "low_confidence": 0.6},
    "training": {"epochs": 10, "lr": 0.025, "seed": 1, "hash_bits": 18},
    "serving": {"host": "127.0.0.1", "port": 8080},
}


class ConfigError(Exception):
    pass


def _scalar(text):
    t = text.strip()
    if not t:
        return None
    if t[0] in "\"'" and t[-1] == t[0] and len(t) >= 2:
        return t[1:-1]
    if t.startswith("[") and t.endswith("]"):
        inner = t[1:-1].strip()
        return [_scalar(x) for x in inner.split(",")] if inner else []
    low = t.lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    if low in ("null", "~"):
        return None
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    return t


def _strip_comment(line):
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def parse_yaml(text, source="config.yaml"):
    root = {}
    stack = [(-1, root)]
    for n, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        key, sep, rest = line.strip().partition(":")
        if not sep or not key:
            raise ConfigError("%s:%d: expected 'key: value'" % (source, n))
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if rest.strip():
            parent[key.strip()] = _scalar(rest)
        else:
            child = {}
            parent[key.strip()] = child
            stack.append((indent, child))
    return root


def _merge(base, over):
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path=None):
    """config.yaml merged over the built-in defaults (a missing default file is fine)."""
    p = path or DEFAULT_PATH
    if not os.path.isfile(p):
        if path:
            raise ConfigError("%s: not found" % path)
        return _merge(DEFAULTS, {})
    with open(p, encoding="utf-8") as f:
        return _merge(DEFAULTS, parse_yaml(f.read(), p))
