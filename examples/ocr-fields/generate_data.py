"""Generate synthetic insurance-policy scans as OCR tokens with boxes.

Each document is what an OCR engine would hand the field extractor: the page size and a list of
tokens ``{"text", "bbox": [x1, y1, x2, y2]}`` in absolute pixels. Pages follow one of four layout
templates with jitter, carry distractors (applicant and agent names, issue date, premium, phone and
policy numbers, headers, footers), OCR noise (0/O, 1/l, 5/S, 8/B, dropped characters) and sometimes
miss a field. Ground truth is written per split as ``gt.json`` in the ``mlloop/fields@1`` format,
with canonical values (dates as YYYY-MM-DD, amounts as plain numbers with two decimals).

    python3 generate_data.py --seed 7 --out sample_data

The output depends only on the arguments: the same seed gives byte-identical files.
"""

import argparse
import datetime
import json
import os
import random
import sys

SPLITS = ("train", "val", "test")
FIELD_LABELS = ("name", "id_number", "effective_date", "amount")

SURNAMES = list("张王李赵刘陈杨黄周吴徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
COMPOUND_SURNAMES = ["欧阳", "司马", "诸葛", "上官", "东方", "慕容"]
GIVEN_CHARS = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国志强文博浩宇子轩梓涵欣怡佳琪思远嘉怡晨阳雨萱一诺俊杰晓东海波春梅秋菊冬雪立新永红德华")
# Glyphs an OCR engine confuses in names (one direction is enough for noise).
NAME_CONFUSIONS = {"王": "玉", "己": "已", "末": "未", "大": "太", "土": "士", "日": "曰", "人": "入",
                   "明": "朋", "晓": "哓", "博": "傅", "浩": "诰", "玲": "岭", "燕": "蔫", "辉": "挥"}
DIGIT_CONFUSIONS = {"0": "O", "1": "l", "5": "S", "8": "B", "2": "Z", "6": "G"}
LABEL_CONFUSIONS = {"日": "曰", "名": "各", "号": "弓", "保": "堡", "金": "全", "期": "朗", "险": "脸"}
REGION_CODES = ["110101", "110105", "310104", "310115", "440305", "440106", "330106", "320102",
                "510107", "420111", "610113", "370202", "210203", "500103", "350203", "120104"]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"

COMPANIES = ["中国平安人寿保险股份有限公司", "中国人寿保险股份有限公司", "太平洋人寿保险有限公司",
             "泰康人寿保险有限责任公司", "新华人寿保险股份有限公司", "Sunshine Life Insurance Co., Ltd."]
PRODUCTS = ["安心福终身重大疾病保险", "金瑞人生年金保险", "e生保百万医疗险", "尊享e生2025", "平安福",
            "Term Life Plan A", "鑫享未来两全保险"]
FOOTERS = ["本保单自生效日起生效", "客服电话 95511", "第1页 共2页", "(盖章)", "请妥善保管本保单",
           "保险金额以本合同约定为准", "犹豫期 15 日", "www.example-insurance.cn", "此页无正文", "签发机构:上海分公司"]

# key labels as printed by different issuers: (Chinese variants, English variants)
KEY_LABELS = {
    "holder": (["投保人:", "投保人姓名:", "投保人名称:"], ["Policyholder:", "Applicant:", "Policy Owner:"]),
    "name": (["被保险人:", "被保险人姓名:", "被保人:", "姓名:"], ["Insured Name:", "Name of Insured:", "Insured:", "Name:"]),
    "beneficiary": (["受益人:", "身故受益人:"], ["Beneficiary:"]),
    "id_number": (["身份证号:", "证件号码:", "身份证号码:", "被保险人证件号:"], ["ID No.:", "ID Number:", "Identity Card No.:"]),
    "phone": (["联系电话:", "手机号码:", "电话:"], ["Tel:", "Mobile:", "Phone:"]),
    "policy_no": (["保单号:", "保险单号:", "合同号:"], ["Policy No.:", "Contract No.:"]),
    "effective_date": (["生效日期:", "保险起期:", "合同生效日:", "生效日:"], ["Effective Date:", "Commencement Date:", "Start Date:"]),
    "issue_date": (["签发日期:", "签单日期:", "投保日期:"], ["Issue Date:", "Date of Issue:", "Application Date:"]),
    "amount": (["保险金额:", "基本保额:", "保额:", "保险金额(元):"], ["Sum Insured:", "Sum Assured:", "Coverage Amount:"]),
    "premium": (["保费:", "首期保费:", "年交保费:"], ["Premium:", "Annual Premium:"]),
    "agent": (["业务员:", "代理人:", "服务人员:"], ["Agent:", "Agent Name:"]),
}

# ---------------------------------------------------------------------------------------------
# field values

def id_checksum(first17):
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS)) % 11]


def make_id(rng):
    birth = datetime.date(1950, 1, 1) + datetime.timedelta(days=rng.randrange(0, 20000))
    first17 = rng.choice(REGION_CODES) + birth.strftime("%Y%m%d") + "%03d" % rng.randrange(1, 1000)
    return first17 + id_checksum(first17)


def make_name(rng):
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.04 else rng.choice(SURNAMES)
    given = "".join(rng.choice(GIVEN_CHARS) for _ in range(1 if rng.random() < 0.35 else 2))
    return surname + given


def make_date(rng, start=datetime.date(2019, 1, 1), days=2400):
    return start + datetime.timedelta(days=rng.randrange(days))


def format_date(rng, d):
    style = rng.choice(["iso", "iso", "cn", "cn", "dmy", "slash", "dot"])
    if style == "iso":
        return d.strftime("%Y-%m-%d")
    if style == "cn":
        return "%d年%d月%d日" % (d.year, d.month, d.day)
    if style == "dmy":
        return d.strftime("%d/%m/%Y")
    if style == "slash":
        return d.strftime("%Y/%m/%d")
    return d.strftime("%Y.%m.%d")


def make_amount(rng):
    if rng.random() < 0.5:
        return rng.choice([5, 8, 10, 12, 15, 20, 30, 50, 60, 80, 100, 150, 200]) * 10000.0
    return rng.randrange(100, 5000) * 100.0


def format_amount(rng, value, allow_split):
    """Printed amount as a list of tokens (usually one)."""
    style = rng.choice(["yen", "yen", "yuan", "wan", "plain", "rmb"])
    if style == "wan" and value % 1000 == 0:
        wan = value / 10000
        return ["%s万元" % (("%d" % wan) if wan == int(wan) else ("%g" % wan))]
    if style == "yuan":
        return ["{:,.2f}元".format(value)]
    if style == "plain":
        return ["%d" % value]
    if style == "rmb" and allow_split:
        return ["RMB", "{:,.2f}".format(value)]
    return ["¥{:,.2f}".format(value)]


def canonical_amount(value):
    return "%.2f" % value


# ---------------------------------------------------------------------------------------------
# OCR noise

def ocr_noise(rng, text, sub_p, drop_p, table):
    out = []
    for ch in text:
        if ch in table and rng.random() < sub_p:
            out.append(table[ch])
        else:
            out.append(ch)
    if len(out) > 2 and rng.random() < drop_p:
        del out[rng.randrange(len(out))]
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# page layout

class Page:
    def __init__(self, rng):
        self.rng = rng
        self.width = 1240 + rng.randrange(-40, 41)
        self.height = 1754 + rng.randrange(-60, 61)
        self.font = rng.randrange(22, 33)
        self.tokens = []   # [text, [x1, y1, x2, y2]]

    def text_width(self, text):
        w = 0.0
        for ch in text:
            w += self.font * (1.0 if ord(ch) > 0x2E80 else 0.56)
        return max(4, int(round(w)))

    def put(self, text, x, y, jitter=3):
        """Place a token with its top-left near (x, y); returns its bbox."""
        rng = self.rng
        x1 = int(x + rng.randint(-jitter, jitter))
        y1 = int(y + rng.randint(-jitter, jitter))
        x1 = min(max(2, x1), self.width - 40)
        y1 = min(max(2, y1), self.height - 40)
        x2 = min(self.width - 1, x1 + self.text_width(text))
        y2 = y1 + int(self.font * 1.25) + rng.randint(-1, 1)
        if x2 <= x1:
            x2 = x1 + 1
        bbox = [x1, y1, x2, y2]
        self.tokens.append([text, bbox])
        return bbox

    def put_run(self, texts, x, y, gap=None):
        """Place tokens left to right; returns the list of bboxes."""
        boxes = []
        for t in texts:
            b = self.put(t, x, y, jitter=1)
            boxes.append(b)
            x = b[2] + (gap if gap is not None else int(self.font * 0.5) + self.rng.randint(0, 6))
        return boxes


def union(boxes):
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def make_document(rng, image_id, noise):
    """Returns (doc, gt_fields)."""
    page = Page(rng)
    template = rng.randrange(4)
    english = template == 2
    if template == 3:   # the table needs a smaller font to fit five columns
        page.font = rng.randrange(20, 26)

    truth = {
        "name": make_name(rng),
        "id_number": make_id(rng),
        "effective_date": make_date(rng),
        "amount": make_amount(rng),
    }
    holder = make_name(rng)
    agent = make_name(rng)
    issue_date = truth["effective_date"] - datetime.timedelta(days=rng.randrange(1, 40))
    premium = round(truth["amount"] * rng.uniform(0.003, 0.05), -1) or 100.0
    phone = "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))
    policy_no = "P" + truth["effective_date"].strftime("%Y%m") + "".join(rng.choice("0123456789") for _ in range(8))

    # which fields are missing on this page: "omit" drops the line, "blank" keeps the label only
    missing = {}
    for lab in FIELD_LABELS:
        if rng.random() < noise["missing"]:
            missing[lab] = rng.choice(["omit", "blank"])

    def value_tokens(lab, value):
        if lab == "name":
            return [ocr_noise(rng, value, noise["name_sub"], noise["drop"], NAME_CONFUSIONS)]
        if lab == "id_number":
            printed = value if rng.random() > 0.1 else value[:6] + " " + value[6:14] + " " + value[14:]
            toks = [ocr_noise(rng, printed, noise["sub"], noise["drop"], DIGIT_CONFUSIONS)]
            return [t.replace(" ", "") for t in toks] if template != 3 else toks[0].split(" ")
        if lab == "effective_date":
            return [ocr_noise(rng, format_date(rng, value), noise["sub"], noise["drop"], DIGIT_CONFUSIONS)]
        return [ocr_noise(rng, t, noise["sub"], noise["drop"] * 0.5, DIGIT_CONFUSIONS) if t != "RMB" else t
                for t in format_amount(rng, value, allow_split=english)]

    def label_text(cn, en):
        t = en if english else cn
        if rng.random() < noise["label_sub"]:
            t = ocr_noise(rng, t, 0.5, 0.0, LABEL_CONFUSIONS)
        return t

    # entries: (key, label tokens, value tokens, field label or None)
    def pick(key):
        cn, en = KEY_LABELS[key]
        return label_text(rng.choice(cn), rng.choice(en))

    entries = [
        ("holder", [pick("holder")], [holder], None),
        ("name", [pick("name")], None, "name"),
        ("id_number", [pick("id_number")], None, "id_number"),
        ("phone", [pick("phone")], [phone], None),
        ("policy_no", [pick("policy_no")], [policy_no], None),
        ("effective_date", [pick("effective_date")], None, "effective_date"),
        ("issue_date", [pick("issue_date")], [format_date(rng, issue_date)], None),
        ("amount", [pick("amount")], None, "amount"),
        ("premium", [pick("premium")], ["¥{:,.2f}".format(premium)], None),
        ("agent", [pick("agent")], [agent], None),
    ]
    if rng.random() < 0.4:
        entries.insert(2, ("beneficiary", [pick("beneficiary")], [make_name(rng)], None))
    if english:
        # English labels are split into words by the OCR engine
        entries = [(k, [w for t in lt for w in t.split(" ")], vt, f) for k, lt, vt, f in entries]
    for i, (k, lt, vt, f) in enumerate(entries):
        if f is not None:
            entries[i] = (k, lt, value_tokens(f, truth[f]), f)
    entries = [e for e in entries if not (e[3] in missing and missing[e[3]] == "omit")]
    # the order of lines varies between issuers: shuffle within a few blocks
    blocks = [entries[0:4], entries[4:9], entries[9:]]
    for b in blocks:
        if rng.random() < 0.5:
            rng.shuffle(b)
    entries = [e for b in blocks for e in b]

    # header
    margin = rng.randrange(60, 140) if template != 3 else rng.randrange(50, 90)
    y = rng.randrange(50, 110)
    page.put(rng.choice(COMPANIES), margin + rng.randrange(0, 200), y)
    y += int(page.font * 2.0)
    page.put(rng.choice(["保险单", "个人保险合同", "POLICY SCHEDULE", "保险凭证"]), page.width // 2 - 80, y)
    y += int(page.font * 2.0)
    page.put(rng.choice(PRODUCTS), margin, y)
    y += int(page.font * rng.uniform(2.2, 3.2))

    gt = []
    line_h = int(page.font * rng.uniform(1.9, 2.6))

    def emit_value(f, vt, boxes):
        if f is not None and vt and missing.get(f) != "blank":
            value = truth[f]
            if f == "effective_date":
                value = value.strftime("%Y-%m-%d")
            elif f == "amount":
                value = canonical_amount(value)
            gt.append({"label": f, "bbox": union(boxes), "value": value})

    # the value column starts after the widest key label
    key_column = max(sum(page.text_width(t) for t in lt) + len(lt) * (page.font // 2 + 6) for _, lt, _, _ in entries)
    if template in (0, 2):
        # key: value on one line; template 2 in English with a wider key column
        value_x = margin + key_column + int(page.font * rng.uniform(0.8, 2.5))
        for k, lt, vt, f in entries:
            page.put_run(lt, margin, y)
            if vt and not (f is not None and missing.get(f) == "blank"):
                boxes = page.put_run(vt, value_x + rng.randrange(-8, 9), y)
                emit_value(f, vt, boxes)
            y += line_h + rng.randrange(-3, 4)
    elif template == 1:
        # form grid: two columns of cells, label above value
        col_w = (page.width - 2 * margin) // 2
        cell_h = int(page.font * rng.uniform(3.6, 4.4))
        for i, (k, lt, vt, f) in enumerate(entries):
            cx = margin + (i % 2) * col_w + rng.randrange(0, 20)
            cy = y + (i // 2) * cell_h
            page.put_run(lt, cx, cy)
            if vt and not (f is not None and missing.get(f) == "blank"):
                boxes = page.put_run(vt, cx + rng.randrange(0, 30), cy + int(page.font * 1.6))
                emit_value(f, vt, boxes)
        y += ((len(entries) + 1) // 2) * cell_h
    else:
        # table: a header row of labels, values in the row below; remaining entries as key: value
        table = [e for e in entries if e[0] in ("name", "id_number", "effective_date", "amount", "holder")][:5]
        rest = [e for e in entries if e not in table]
        rng.shuffle(table)
        x = margin
        widths = [max(page.text_width("".join(lt)), page.text_width("".join(vt or [""])) + int(page.font * 0.6))
                  + rng.randrange(int(page.font * 1.2), int(page.font * 2.2)) for k, lt, vt, f in table]
        keys = [e[0] for e in table]
        if sum(widths) > page.width - 2 * margin and "holder" in keys:   # too wide: applicant below the table
            i = keys.index("holder")
            rest.insert(0, table.pop(i))
            widths.pop(i)
        for (k, lt, vt, f), w in zip(table, widths):
            page.put_run([t.rstrip(":") for t in lt], x, y)
            if vt and not (f is not None and missing.get(f) == "blank"):
                boxes = page.put_run(vt, x, y + line_h, gap=int(page.font * 0.3))
                emit_value(f, vt, boxes)
            x += w
        y += 2 * line_h + int(page.font * 1.5)
        for k, lt, vt, f in rest:
            page.put_run(lt, margin, y)
            if vt:
                page.put_run(vt, margin + key_column + int(page.font * 1.2), y)
            y += line_h

    # footer distractors
    y = max(y + page.font * 2, page.height - int(page.font * rng.uniform(8, 12)))
    for t in rng.sample(FOOTERS, rng.randrange(2, 5)):
        page.put(t, margin + rng.randrange(0, 300), y)
        y += int(page.font * 1.8)

    # reading order: top to bottom by line, then left to right (what most OCR engines emit)
    page.tokens.sort(key=lambda tb: (round(tb[1][1] / (page.font * 0.8)), tb[1][0]))
    doc = {"image_id": image_id, "width": page.width, "height": page.height,
           "tokens": [{"text": t, "bbox": b} for t, b in page.tokens]}
    order = {"name": 0, "id_number": 1, "effective_date": 2, "amount": 3}
    gt.sort(key=lambda f: order[f["label"]])
    return doc, gt


DEFAULT_NOISE = {"sub": 0.04, "drop": 0.03, "name_sub": 0.03, "label_sub": 0.05, "missing": 0.05}


def generate_split(seed, split, count, noise=None):
    noise = dict(DEFAULT_NOISE, **(noise or {}))
    rng = random.Random("ocr-fields:%s:%s" % (seed, split))
    docs, images = [], []
    for i in range(1, count + 1):
        doc, fields = make_document(rng, "policy-%s-%05d" % (split, i), noise)
        docs.append(doc)
        images.append({"image_id": doc["image_id"], "fields": fields})
    gt = {"dataset": "ocr-fields-sample-%s" % split, "images": images}
    return docs, gt


def write_split(out_dir, split, docs, gt):
    d = os.path.join(out_dir, split)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "docs.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for doc in docs:
            f.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
    with open(os.path.join(d, "gt.json"), "w", encoding="utf-8", newline="\n") as f:
        f.write('{"dataset": %s, "images": [\n' % json.dumps(gt["dataset"]))
        f.write(",\n".join(json.dumps(im, ensure_ascii=False, separators=(",", ":")) for im in gt["images"]))
        f.write("\n]}\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=7, help="generator seed (default 7, the committed sample)")
    p.add_argument("--out", default="sample_data", help="output folder (default sample_data)")
    p.add_argument("--train", type=int, default=400, help="train documents (default 400)")
    p.add_argument("--val", type=int, default=100, help="val documents (default 100)")
    p.add_argument("--test", type=int, default=200, help="test documents (default 200)")
    p.add_argument("--missing-rate", type=float, default=DEFAULT_NOISE["missing"],
                   help="probability that a field is missing from a page (default %(default)s)")
    args = p.parse_args(argv)
    for split in SPLITS:
        n = getattr(args, split)
        if n < 0:
            p.error("--%s must be >= 0" % split)
    if not 0.0 <= args.missing_rate <= 1.0:
        p.error("--missing-rate must be in [0, 1]")
    for split in SPLITS:
        docs, gt = generate_split(args.seed, split, getattr(args, split), {"missing": args.missing_rate})
        write_split(args.out, split, docs, gt)
        nfields = sum(len(im["fields"]) for im in gt["images"])
        print("%s: %d documents, %d fields -> %s" % (split, len(docs), nfields, os.path.join(args.out, split)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
