import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { coerceOptions, defineCommand, optionSecrets } from '../../src/commands/define.js';
import { parseDuration } from '../../src/core/duration.js';
import { parseArgs } from '../../src/cli/args.js';
import { commandHelp } from '../../src/cli/help.js';
import { ConfigurationError, ExternalError, jsonPath, closest } from '../../src/core/errors.js';
import { Masker, redactUrlCredentials } from '../../src/core/mask.js';
import { writeFilesAtomic } from '../../src/core/io/atomic.js';
import { validateSchema } from '../../src/core/schema.js';
import { parseJson, getByDottedPath } from '../../src/core/io/read.js';
import { parseYaml } from '../../src/core/io/yaml.js';
import { tempDir } from '../support/tmp.js';

const spec = defineCommand({
  name: 'demo thing',
  summary: 's',
  description: 'd',
  options: {
    file: { type: 'path', required: true, help: 'a file' },
    iou: { type: 'number', default: 0.5, min: 0, max: 1, help: 'threshold' },
    count: { type: 'integer', help: 'how many' },
    mode: { type: 'enum', choices: ['lenient', 'exact'] as const, default: 'lenient', help: 'mode' },
    timeout: { type: 'duration', default: '15m', help: 'budget' },
    dry: { type: 'boolean', help: 'dry run' },
    set: { type: 'string', multiple: true, help: 'k=v' },
    token: { type: 'string', secret: true, help: 'token' },
  },
  examples: [{ command: 'mlloop demo thing --file x', explain: 'does it' }],
  async run() {
    return { exitCode: 0, data: null, text: '' };
  },
});
const cliWhere = (n: string) => `--${n}`;

describe('option parsing shared by CLI and actions', () => {
  it('applies defaults and types, camelCases names', () => {
    const o = coerceOptions(spec, { file: 'a.json', set: ['a=1', 'b=2'] }, cliWhere);
    expect(o).toEqual({ file: 'a.json', iou: 0.5, mode: 'lenient', timeout: 900_000, dry: false, set: ['a=1', 'b=2'] });
  });

  it.each([
    [{}, /missing required option --file/],
    [{ file: 'x', iou: 'high' }, /--iou must be a number/],
    [{ file: 'x', iou: '1.5' }, /--iou must be at most 1/],
    [{ file: 'x', count: '2.5' }, /--count must be a whole number/],
    [{ file: 'x', mode: 'fuzzy' }, /--mode must be one of lenient, exact/],
    [{ file: 'x', timeout: '10 minutes' }, /not a duration/],
    [{ file: 'x', dry: 'maybe' }, /--dry must be true or false/],
    [{ file: 'x', iuo: '0.3' }, /unknown option --iuo[\s\S]*did you mean --iou/],
  ])('refuses %j with a ConfigurationError', (raw, message) => {
    expect(() => coerceOptions(spec, raw, cliWhere)).toThrow(ConfigurationError);
    expect(() => coerceOptions(spec, raw, cliWhere)).toThrow(message);
  });

  it('parses argv forms: --a v, --a=v, flags, --no-flag, repeated lists, --json, --help', () => {
    const p = parseArgs(spec, ['--file', 'x.json', '--iou=0.7', '--dry', '--set', 'a=1', '--set', 'b=2', '--json']);
    expect(p).toEqual({ raw: { file: 'x.json', iou: '0.7', dry: true, set: ['a=1', 'b=2'] }, json: true, help: false });
    expect(parseArgs(spec, ['--no-dry']).raw).toEqual({ dry: false });
    expect(parseArgs(spec, ['-h']).help).toBe(true);
    expect(() => parseArgs(spec, ['stray'])).toThrow(/unexpected argument "stray"/);
    expect(() => parseArgs(spec, ['--file'])).toThrow(/--file needs a value/);
    // A value may start with a dash (negative numbers, command lines).
    expect(parseArgs(spec, ['--iou', '-1']).raw.iou).toBe('-1');
  });

  it('parses durations', () => {
    expect(parseDuration('90s', 'x')).toBe(90_000);
    expect(parseDuration('1h30m', 'x')).toBe(5_400_000);
    expect(parseDuration('500ms', 'x')).toBe(500);
    expect(parseDuration('2', 'x')).toBe(2000);
    expect(() => parseDuration('1h 30m', 'x')).toThrow(ConfigurationError);
    expect(() => parseDuration('', 'x')).toThrow(ConfigurationError);
  });

  it('help lists every option with its default, and the examples', () => {
    const h = commandHelp(spec);
    for (const name of Object.keys(spec.options)) expect(h).toContain(`--${name}`);
    expect(h).toContain('[default: 15m]');
    expect(h).toContain('(required) a file');
    expect(h).toContain('mlloop demo thing --file x');
    expect(h).toMatch(/Exit codes: 0/);
  });
});

describe('errors', () => {
  it('name file, JSON path and fix; carry the exit code', () => {
    const e = new ConfigurationError('must be a number', { file: 'gate.yaml', path: jsonPath(['metrics', 'overall.f1', 'min']), hint: 'write 0.8' });
    expect(e.message).toBe('gate.yaml: $.metrics["overall.f1"].min: must be a number\n  fix: write 0.8');
    expect(e.exitCode).toBe(2);
    expect(new ExternalError('push failed').exitCode).toBe(3);
    expect(jsonPath(['images', 3, 'bbox'])).toBe('$.images[3].bbox');
    expect(closest('iuo', ['iou', 'normalize'])).toBe('iou');
    expect(closest('bogus', ['logs', 'repo'])).toBeUndefined();
  });
});

describe('masking', () => {
  it('hides secrets and their URL/base64 forms, and credentials in URLs', () => {
    const m = new Masker();
    m.add('ghp_abc123SECRET');
    const text = `token ghp_abc123SECRET, b64 ${Buffer.from('ghp_abc123SECRET').toString('base64')}, url https://x:ghp_abc123SECRET@github.com/o/r.git`;
    const out = m.mask(text);
    expect(out).not.toContain('ghp_abc123SECRET');
    expect(out).not.toContain(Buffer.from('ghp_abc123SECRET').toString('base64'));
    expect(out).toContain('https://***@github.com/o/r.git');
    expect(redactUrlCredentials('git clone https://oauth2:tok@gitlab.example/a.git')).toBe('git clone https://***@gitlab.example/a.git');
  });
});

describe('atomic writes', () => {
  it('writes all files of a batch or none, and leaves no temp file', async () => {
    const dir = tempDir('atomic');
    await writeFilesAtomic([
      { path: join(dir, 'a.json'), data: '{"a":1}' },
      { path: join(dir, 'sub', 'b.txt'), data: 'b' },
    ]);
    expect(readFileSync(join(dir, 'a.json'), 'utf8')).toBe('{"a":1}');
    expect(readFileSync(join(dir, 'sub', 'b.txt'), 'utf8')).toBe('b');
    // The second target's folder cannot be created (a file is in the way): nothing of the batch lands.
    writeFileSync(join(dir, 'blocker'), 'x');
    await expect(
      writeFilesAtomic([
        { path: join(dir, 'a.json'), data: 'NEW' },
        { path: join(dir, 'blocker', 'c.txt'), data: 'c' },
      ]),
    ).rejects.toThrow();
    expect(readFileSync(join(dir, 'a.json'), 'utf8')).toBe('{"a":1}');
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('config parsing and schema validation', () => {
  const schema = {
    $id: 'https://mlloop.dev/schemas/test.json',
    type: 'object',
    required: ['metrics'],
    additionalProperties: false,
    properties: {
      metrics: {
        type: 'object',
        additionalProperties: {
          type: 'object',
          required: ['direction'],
          additionalProperties: false,
          properties: { direction: { enum: ['higher', 'lower'] }, min: { type: 'number' } },
        },
      },
    },
  };

  it.each([
    ['metrics:\n  overall.f1: {direction: up}\n', /gate\.yaml: \$\.metrics\["overall\.f1"\]\.direction: must be one of "higher", "lower"/],
    ['metrics:\n  overall.f1: {direction: higher, mni: 0.8}\n', /unknown field "mni"[\s\S]*did you mean "min"/],
    ['metrics:\n  overall.f1: {min: 0.8}\n', /required field "direction" is missing/],
    ['metric: {}\n', /unknown field "metric"/],
  ])('names file and JSON path: %j', (text, message) => {
    expect(() => validateSchema(parseYaml(text, 'gate.yaml'), schema, 'gate.yaml')).toThrow(message);
  });

  it('reports YAML and JSON syntax errors with line and column', () => {
    expect(() => parseYaml('a: [1, 2\nb: 3\n', 'p.yaml')).toThrow(/p\.yaml: not valid YAML \(line \d+, column \d+\)/);
    expect(() => parseYaml('a: 1\na: 2\n', 'p.yaml')).toThrow(/not valid YAML/);
    expect(() => parseJson('{"a": 1,\n "b": NaN}', 'm.json')).toThrow(/m\.json: not valid JSON at line 2, column 7 near "NaN}" \(NaN and Infinity are not JSON/);
  });

  it('reads dotted metric paths, including keys that contain dots', () => {
    const m = { overall: { f1: 0.9 }, per_field: { 'a.b': { recall: 0.5 } } };
    expect(getByDottedPath(m, 'overall.f1')).toBe(0.9);
    expect(getByDottedPath(m, 'per_field.a.b.recall')).toBe(0.5);
    expect(getByDottedPath(m, 'overall.f2')).toBeUndefined();
  });
});

describe('JSON error positions', () => {
  it.each([
    ['{"a": 1,}', 1, 9],
    ['[1, 2', 1, 6],
    ['{"a": "x\ny"}', 1, 9],
    ['{\n  "a": tru\n}', 2, 8],
    ['{"a": 1} x', 1, 10],
  ])('%j fails at line %i, column %i', (text, line, col) => {
    expect(() => parseJson(text, 'f.json')).toThrow(`at line ${line}, column ${col}`);
  });
});

describe('schema formats', () => {
  const schema = { type: 'object', properties: { at: { type: 'string', format: 'date-time' }, url: { type: 'string', format: 'uri' } } };
  it.each([
    [{ at: '2025-06-12T11:05:22Z', url: 'https://github.com/o/r/actions/runs/1' }, true],
    [{ at: '2025-06-12T11:05:22.5+08:00' }, true],
    [{ at: '2025-13-12T11:05:22Z' }, false],
    [{ at: '12/06/2025' }, false],
    [{ url: 'not a url' }, false],
  ])('%j valid: %s', (value, ok) => {
    const check = () => validateSchema(value, schema, 'x.json');
    if (ok) expect(check).not.toThrow();
    else expect(check).toThrow(/must match format/);
  });
});

describe('optionSecrets', () => {
  it('names the values of secret options and the password of any URL option with credentials, nothing else', () => {
    const spec = defineCommand({
      name: 'x',
      summary: 's',
      description: 'd',
      options: {
        token: { type: 'string', secret: true, help: 'h' },
        state: { type: 'string', help: 'h' },
        targets: { type: 'string', multiple: true, help: 'h' },
        plain: { type: 'string', help: 'h' },
      },
      examples: [],
      run: async () => ({ exitCode: 0, data: null, text: '' }),
    });
    const found = optionSecrets(spec, { token: 'ghs_abcdef', state: 'redis://:r3dis-pw@redis:6379/0', targets: ['https://bot:t0ken-x@git.example/a.git', 'https://git.example/b.git'], plain: 'user:pw@not-a-url' });
    expect(found.sort()).toEqual(['ghs_abcdef', 'r3dis-pw', 't0ken-x']);
  });
});
