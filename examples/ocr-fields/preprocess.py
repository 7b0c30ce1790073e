"""Token features and value normalisation.

Features are sparse: each token becomes a list of string feature names (all with value 1), built
from the token's own text (character-class shape, length, hashed character n-grams, affixes), its
place on the page, and its neighbours: the token to its left on the same line and the token above
it (where the key label such as "姓名:" or "Name:" sits), plus the previous token in reading order.

Values are normalised per field the way the model "reads" them: OCR look-alikes in digit fields are
mapped back (O→0, l→1, S→5, B→8, Z→2, G→6), dates become YYYY-MM-DD, amounts a plain number with two
decimals (万 = 10,000), names lose spaces and punctuation.
"""

import datetime
import re
import unicodedata
import zlib

FEATURE_VERSION = 1
DEFAULT_HASH_BITS = 18

_PUNCT_KEY = re.compile(r"[\s:：/|()（）\[\]【】.,，。]+")


def char_class(ch):
    if "0" <= ch <= "9":
        return "d"
    if "a" <= ch <= "z":
        return "a"
    if "A" <= ch <= "Z":
        return "A"
    if ch in "年月日":
        return "y"
    if ch in "万元¥￥":
        return "m"
    if ord(ch) >= 0x2E80:
        return "c"
    return ch


def shape(text):
    """Character-class shape: '2025-06-12' -> 'dddd-dd-dd', '张三' -> 'cc'."""
    return "".join(char_class(ch) for ch in text)


def short_shape(text):
    """Shape with runs collapsed: '2025-06-12' -> 'd-d-d', '¥120,000.00' -> 'md,d.d'."""
    out = []
    for c in shape(text):
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out)


def key_text(text):
    """A neighbour's text as a context key: NFKC, lower case, punctuation and spaces removed; text
    with digits (a value, not a key label) is represented by its shape."""
    t = _PUNCT_KEY.sub("", unicodedata.normalize("NFKC", text).lower())
    if any("0" <= c <= "9" for c in t):
        return "#" + short_shape(t)[:6]
    return t[:12] if t else "<punct>"


def _hash(s, mask):
    return zlib.crc32(s.encode("utf-8")) & mask


def ngrams(text, mask, prefix, sizes=(1, 2, 3)):
    t = "^" + unicodedata.normalize("NFKC", text).lower() + "$"
    feats = []
    for n in sizes:
        for i in range(len(t) - n + 1):
            feats.append("%s%d" % (prefix, _hash(t[i:i + n], mask)))
    return feats


def neighbours(tokens):
    """For each token: index of the nearest token to its left on the same line, and of the nearest
    token above it that overlaps it horizontally (or -1)."""
    n = len(tokens)
    boxes = [t["bbox"] for t in tokens]
    left = [-1] * n
    above = [-1] * n
    for i in range(n):
        x1, y1, x2, y2 = boxes[i]
        h = y2 - y1
        best_l = best_a = None
        for j in range(n):
            if j == i:
                continue
            a1, b1, a2, b2 = boxes[j]
            v_overlap = min(y2, b2) - max(y1, b1)
            if v_overlap > 0.5 * min(h, b2 - b1) and a2 <= x1 + 0.25 * h:
                gap = x1 - a2
                if gap < 12 * h and (best_l is None or gap < best_l):
                    best_l, left[i] = gap, j
            h_overlap = min(x2, a2) - max(x1, a1)
            if h_overlap > 0 and b2 <= y1 + 0.25 * h:
                gap = y1 - b2
                if gap < 3 * h and (best_a is None or gap < best_a):
                    best_a, above[i] = gap, j
    return left, above


def token_features(doc, hash_bits=DEFAULT_HASH_BITS):
    """Feature lists, one per token of the document (order preserved, no duplicates)."""
    return featurize(doc, hash_bits)[0]


def featurize(doc, hash_bits=DEFAULT_HASH_BITS):
    """(feature lists per token, index of each token's left neighbour or -1)."""
    tokens = doc.get("tokens") or []
    mask = (1 << hash_bits) - 1
    width = float(doc.get("width") or 0) or max([t["bbox"][2] for t in tokens] + [1])
    height = float(doc.get("height") or 0) or max([t["bbox"][3] for t in tokens] + [1])
    left, above = neighbours(tokens)
    keys = [key_text(t["text"]) for t in tokens]
    out = []
    for i, tok in enumerate(tokens):
        text = tok["text"]
        x1, y1, x2, y2 = tok["bbox"]
        sh = shape(text)
        ss = short_shape(text)
        nd = sum(1 for c in sh if c == "d")
        f = ["bias",
             "sh=" + sh[:20], "ss=" + ss[:10], "len=%d" % min(len(text), 24),
             "pre=" + text[:1], "suf=" + text[-1:],
             "digits=%d" % min(nd, 20), "dfrac=%d" % (4 * nd // max(1, len(text))),
             "x=%d" % int(8 * (x1 + x2) / 2 / width), "y=%d" % int(8 * (y1 + y2) / 2 / height)]
        if text.endswith((":", "：")):
            f.append("colon")
        f.extend(ngrams(text, mask, "g"))
        lj = left[i]
        if lj >= 0:
            lk = keys[lj]
            f.append("L=" + lk)
            f.append("L=" + lk + "|ss=" + ss[:6])
            f.extend(ngrams(lk[-4:], mask, "Lg", (2,)))
            l2 = left[lj]
            f.append("L2=" + (keys[l2] if l2 >= 0 else "<none>"))
            f.append("Lcolon" if tokens[lj]["text"].endswith((":", "：")) else "Lnocolon")
        else:
            f.append("L=<none>")
        aj = above[i]
        if aj >= 0:
            ak = keys[aj]
            f.append("A=" + ak)
            f.append("A=" + ak + "|ss=" + ss[:6])
            f.extend(ngrams(ak[-4:], mask, "Ag", (2,)))
        else:
            f.append("A=<none>")
        f.append("P=" + (keys[i - 1] if i > 0 else "<start>"))
        out.append(list(dict.fromkeys(f)))
    return out, left


# ---------------------------------------------------------------------------------------------
# value normalisation

_DIGIT_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "l": "1", "I": "1", "i": "1",
                                   "|": "1", "S": "5", "s": "5", "B": "8", "Z": "2", "z": "2", "G": "6"})
_SPACE_PUNCT = re.compile(r"[\s\-_:：·・.,，。/\\|()（）]+")
_DATE_PATTERNS = [
    (re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"), (1, 2, 3)),
    (re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"), (1, 2, 3)),
    (re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$"), (3, 2, 1)),   # DD/MM/YYYY
    (re.compile(r"^(\d{4})(\d{2})(\d{2})$"), (1, 2, 3)),
]
_AMOUNT = re.compile(r"^(\d+(?:\.\d+)?)(万|亿)?$")


def clean_text(text):
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))


def normalize_name(text):
    return _SPACE_PUNCT.sub("", unicodedata.normalize("NFKC", text or ""))


def normalize_id(text):
    t = _SPACE_PUNCT.sub("", unicodedata.normalize("NFKC", text or ""))
    if not t:
        return t
    body, last = t[:-1], t[-1]
    body = body.translate(_DIGIT_LOOKALIKES)
    last = "X" if last in "xX" else last.translate(_DIGIT_LOOKALIKES)
    return (body + last).upper()


def normalize_date(text):
    t = clean_text(text).translate(_DIGIT_LOOKALIKES)
    for pat, (yi, mi, di) in _DATE_PATTERNS:
        m = pat.match(t)
        if m:
            try:
                return datetime.date(int(m.group(yi)), int(m.group(mi)), int(m.group(di))).isoformat()
            except ValueError:
                break
    return t


def normalize_amount(text):
    t = clean_text(text)
    for junk in ("人民币", "RMB", "CNY", "¥", "￥", "元整", "元", "整"):
        t = t.replace(junk, "")
    t = t.replace(",", "").replace("，", "").translate(_DIGIT_LOOKALIKES)
    m = _AMOUNT.match(t)
    if not m:
        return t
    value = float(m.group(1))
    if m.group(2) == "万":
        value *= 10000
    elif m.group(2) == "亿":
        value *= 100000000
    return "%.2f" % value


NORMALIZERS = {"name": normalize_name, "id_number": normalize_id, "effective_date": normalize_date,
               "amount": normalize_amount}


def normalize_value(label, text):
    fn = NORMALIZERS.get(label, clean_text)
    return fn(text)
