import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalJson, copyText, metricRows, modelOf, rawSampleMembers, sampleCopyLine } from '../../src/core/history/records.js';
import { parseSampleLine } from '../../src/core/stats/samples.js';

describe('history records', () => {
  it('takes per_field and fields from the line as written, whatever their strings hold', () => {
    const lines = [
      '{"image_id": "a", "tp": 1, "fp": 0, "fn": 0, "per_field": {"名}": {"tp": 1, "fp": 0, "fn": 0}}, "fields": [{"label": "x,\\"}]", "gt": "a\\\\b", "pred": null}]}',
      '{ "fields" : [ ] , "image_id":"b","per_field":{}, "tp":0,"fp":0,"fn":0 }',
      '{"tp": 0, "fp": 0, "fn": 0, "image_id": "c"}',
    ];
    expect(rawSampleMembers(lines[0]!)).toEqual({ per_field: '{"名}": {"tp": 1, "fp": 0, "fn": 0}}', fields: '[{"label": "x,\\"}]", "gt": "a\\\\b", "pred": null}]' });
    expect(rawSampleMembers(lines[1]!)).toEqual({ per_field: '{}', fields: '[ ]' });
    expect(rawSampleMembers(lines[2]!)).toEqual({});
  });

  it('the raw members parse to what JSON.parse reads (random objects)', () => {
    const counts = fc.record({ tp: fc.nat(5), fp: fc.nat(5), fn: fc.nat(5) });
    fc.assert(
      fc.property(fc.string(), fc.dictionary(fc.string(), counts), fc.array(fc.record({ label: fc.string(), gt: fc.option(fc.string()), pred: fc.option(fc.string()), iou: fc.option(fc.double({ min: 0, max: 1, noNaN: true })) })), fc.boolean(), (id, perField, fields, spaced) => {
        const obj = { image_id: id, tp: 1, fp: 0, fn: 0, per_field: perField, fields };
        const line = spaced ? JSON.stringify(obj, null, 1).replace(/\n/g, ' ') : JSON.stringify(obj);
        const raw = rawSampleMembers(line);
        expect(JSON.parse(raw.per_field!)).toEqual(perField);
        expect(JSON.parse(raw.fields!)).toEqual(JSON.parse(JSON.stringify(fields)));
        const row = sampleCopyLine('7', parseSampleLine(JSON.parse(line), 1, 'f'), line);
        expect(row.endsWith('\n')).toBe(true);
        expect(row.slice(0, -1).split('\t')).toHaveLength(7);
      }),
    );
  });

  it('escapes what COPY text format treats specially', () => {
    expect(copyText('a\tb\\c\nd\re')).toBe('a\\tb\\\\c\\nd\\re');
    expect(copyText(null)).toBe('\\N');
    expect(copyText('plain 张三')).toBe('plain 张三');
  });

  it('names every finite number by dotted path, leaving out config and labels', () => {
    expect(metricRows({ schema: 'mlloop/metrics@1', model_version: 'v', overall: { f1: 0.9, note: 'x' }, per_field: { 'a.b': { recall: 1 } }, bleu: 70, config: { iou_threshold: 0.5 } })).toEqual([
      { path: 'overall.f1', value: 0.9 },
      { path: 'per_field.a.b.recall', value: 1 },
      { path: 'bleu', value: 70 },
    ]);
  });

  it('hashes content, not key order; names the model of a version', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 0 }], c: null } })).toBe('{"a":{"c":null,"d":[2,{"x":0,"y":1}]},"b":1}');
    expect(modelOf('ocr-v3.2')).toBe('ocr');
    expect(modelOf('invoice-ocr-v10.0.1')).toBe('invoice-ocr');
    expect(modelOf('baseline')).toBe('baseline');
  });
});
