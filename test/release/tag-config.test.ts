import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { imageTag, parseTime, bareVersion } from '../../src/core/tag/tag.js';
import { deepMerge } from '../../src/core/config/merge.js';
import { cli, runAction } from '../support/run.js';
import { tempDir } from '../support/tmp.js';

const FIX = join(import.meta.dirname, 'fixtures');
const T = new Date('2025-06-12T11:05:22Z');
const SHA = 'abc1234def5678abc1234def5678abc1234def56';

describe('tag', () => {
  it.each([
    ['ocr', '3.2', 'ocr-v3.2-commit-abc1234-20250612110522'],
    ['ocr', 'v3.2', 'ocr-v3.2-commit-abc1234-20250612110522'],
    ['ocr', 'ocr-v3.2', 'ocr-v3.2-commit-abc1234-20250612110522'],
    ['policy_fields', '1.0.0-rc.1', 'policy_fields-v1.0.0-rc.1-commit-abc1234-20250612110522'],
  ])('%s %s → %s', (model, version, tag) => {
    const r = imageTag({ model, version, sha: SHA, time: T });
    expect(r.tag).toBe(tag);
    expect(r.tag).toMatch(/^[\w][\w.-]{0,127}$/);
  });

  it('uses UTC whatever the zone of --time', () => {
    expect(imageTag({ model: 'ocr', version: '3.2', sha: SHA, time: parseTime('2025-06-12T19:05:22+08:00') }).tag).toBe('ocr-v3.2-commit-abc1234-20250612110522');
    expect(imageTag({ model: 'ocr', version: '3.2', sha: SHA, time: parseTime('2025-06-12T11:05:22') }).tag).toBe('ocr-v3.2-commit-abc1234-20250612110522');
    expect(imageTag({ model: 'ocr', version: '3.2', sha: SHA, time: parseTime('2025-06-12') }).tag).toBe('ocr-v3.2-commit-abc1234-20250612000000');
    expect(() => parseTime('12/06/2025')).toThrow(/not an ISO-8601 time/);
  });

  it('labels follow the OCI annotation keys and io.mlloop (reverse-DNS of mlloop.io)', () => {
    const r = imageTag({ model: 'ocr', version: '3.2', sha: SHA.toUpperCase(), time: T, image: 'registry.example.com/ocr-service', source: 'https://github.com/acme/ocr-fields', dataset: 'invoice-clean-2025Q1' });
    expect(r.tags).toEqual(['registry.example.com/ocr-service:ocr-v3.2-commit-abc1234-20250612110522']);
    expect(r.labels).toEqual({
      'org.opencontainers.image.title': 'ocr',
      'org.opencontainers.image.version': 'ocr-v3.2-commit-abc1234-20250612110522',
      'org.opencontainers.image.revision': SHA,
      'org.opencontainers.image.created': '2025-06-12T11:05:22Z',
      'org.opencontainers.image.source': 'https://github.com/acme/ocr-fields',
      'io.mlloop.model-version': 'ocr-v3.2',
      'io.mlloop.dataset': 'invoice-clean-2025Q1',
    });
    expect(bareVersion('ocr', 'OCR-v3.2')).toBe('3.2');
  });

  it.each([
    [{ model: 'ocr service' }, /--model "ocr service" cannot be part of an image tag/],
    [{ model: '-ocr' }, /cannot be part of an image tag/],
    [{ version: '3.2/x' }, /--version "3.2\/x" cannot be part of an image tag/],
    [{ version: '3.2\nx' }, /cannot be part of an image tag/],
    [{ sha: 'main' }, /not a git commit id/],
    [{ model: 'm'.repeat(100), version: '1.0' }, /at most 128 are allowed/],
    [{ image: 'Registry.example.com/OCR' }, /not a valid image reference/],
    [{ image: 'registry.example.com/ocr:latest' }, /without a tag or digest/],
  ])('refuses %j', (bad, msg) => {
    expect(() => imageTag({ model: 'ocr', version: '3.2', sha: SHA, time: T, ...bad })).toThrow(msg);
  });

  it('the action sets tags and labels as docker/build-push-action reads them', async () => {
    const ran = await runAction('tag', { model: 'ocr', version: '3.2', sha: SHA, time: '2025-06-12T11:05:22Z', image: 'registry.example.com/ocr-service' }, { env: { GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'acme/ocr-fields' } });
    expect(ran.code, ran.stdout).toBe(0);
    expect(ran.outputs.tags).toBe('registry.example.com/ocr-service:ocr-v3.2-commit-abc1234-20250612110522');
    expect(ran.outputs.labels!.split('\n')).toContain('org.opencontainers.image.source=https://github.com/acme/ocr-fields');
    expect(ran.outputs.labels!.split('\n')).toHaveLength(6);
    expect(ran.outputs.version).toBe('ocr-v3.2-commit-abc1234-20250612110522');
    expect(ran.outputs['model-version']).toBe('ocr-v3.2');
    const bad = await cli(['tag', '--model', 'ocr', '--version', '3.2', '--sha', 'nope']);
    expect(bad.code).toBe(2);
  });
});

describe('config merge', () => {
  it('merges the seed\'s policy overrides into ocr-template.yaml@v2.1 and records the provenance', async () => {
    const dir = tempDir('merge');
    const ran = await cli(['config', 'merge', '--template', join(FIX, 'ocr-template.yaml'), '--overrides', join(FIX, 'policy-overrides.yaml'), '--out', join(dir, 'job-uuid-998.yaml'), '--job-id', 'uuid-998', '--commit-sha', 'a97cb21', '--triggered-by', 'admin', '--submit-time', '2025-06-12T11:05:22', '--json']);
    expect(ran.code, ran.stderr).toBe(0);
    const text = readFileSync(join(dir, 'job-uuid-998.yaml'), 'utf8');
    expect(parse(text)).toEqual({
      model: { type: 'pytorch', backbone: 'resnet50', pretrained: true },
      training: { lr: 0.0005, batch_size: 8, epochs: 50, optimizer: 'adam', augmentations: ['rotate'] },
      data: { train_path: '/mnt/datasets/policy/train', val_path: '/mnt/datasets/policy/val', num_classes: 12 },
      output: { save_dir: '/mnt/models/policy-model-v2.0', log_level: 'INFO' },
      resources: { gpu: 1 },
    });
    expect(text).toMatch(/^# auto-generated by mlloop config merge for job uuid-998\n# template: ocr-template@v2.1\n/);
    expect(text).toContain('lr: 0.0005 # overridden by user');
    expect(text).not.toMatch(/optimizer: adam #/);
    const prov = JSON.parse(readFileSync(join(dir, 'job-uuid-998.provenance.json'), 'utf8'));
    expect(prov).toMatchObject({
      schema: 'mlloop/config-provenance@1',
      job_id: 'uuid-998',
      template_used: 'ocr-template.yaml@v2.1',
      commit_sha: 'a97cb21',
      triggered_by: 'admin',
      submit_time: '2025-06-12T11:05:22Z',
      overridden_keys: ['training.lr', 'training.batch_size', 'training.epochs', 'training.augmentations', 'data.train_path', 'data.val_path', 'output.save_dir'],
      added_keys: [],
      deleted_keys: ['resources.gpu_type'],
    });
    expect(prov.merged_config_path).toContain('job-uuid-998.yaml');
    expect(JSON.parse(ran.stdout).job_id).toBe('uuid-998');
  });

  it('merge rules: lists replace, null deletes, new keys are added, a mapping is not replaced by a value', () => {
    const r = deepMerge({ a: { b: 1, c: [1, 2], d: { e: 1 } }, f: 'x' }, { a: { c: [3], d: null, g: { h: 2 } } }, 'o.yaml');
    expect(r.merged).toEqual({ a: { b: 1, c: [3], g: { h: 2 } }, f: 'x' });
    expect(r).toMatchObject({ overridden: ['a.c'], added: ['a.g.h'], deleted: ['a.d'] });
    expect(() => deepMerge({ a: { b: 1 } }, { a: 5 }, 'o.yaml')).toThrow(/o\.yaml: \$\.a: the template has a mapping here, the overrides a value/);
  });

  it.each([
    ['a pinned template version that differs', 'template: {version: v2.0}\ntraining: {lr: 0.1}\n', [], /written for template version "v2.0", but .* is ocr-template@v2.1/],
    ['an unknown key with --strict', 'training: {epoch: 3}\n', ['--strict'], /"training.epoch" is not in template ocr-template@v2.1[\s\S]*did you mean "training.epochs"/],
    ['a list where the template has a mapping', 'training: [1]\n', [], /\$\.training: the template has a mapping here, the overrides a list/],
    ['overrides that are not a mapping', '- a\n', [], /the overrides must be a YAML mapping/],
  ])('refuses %s with exit 2 and writes nothing', async (_n, overrides, extra, msg) => {
    const dir = tempDir('merge');
    writeFileSync(join(dir, 'o.yaml'), overrides);
    const ran = await cli(['config', 'merge', '--template', join(FIX, 'ocr-template.yaml'), '--overrides', join(dir, 'o.yaml'), '--out', join(dir, 'out.yaml'), ...extra]);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toMatch(msg);
    expect(existsSync(join(dir, 'out.yaml'))).toBe(false);
    expect(existsSync(join(dir, 'out.provenance.json'))).toBe(false);
  });

  it('a template without template: {name, version} is refused', async () => {
    const dir = tempDir('merge');
    writeFileSync(join(dir, 't.yaml'), 'training: {lr: 1}\n');
    writeFileSync(join(dir, 'o.yaml'), 'training: {lr: 2}\n');
    const ran = await cli(['config', 'merge', '--template', join(dir, 't.yaml'), '--overrides', join(dir, 'o.yaml'), '--out', join(dir, 'out.yaml')]);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toContain('required field "template" is missing');
  });

  it('warns about a likely typo without --strict', async () => {
    const dir = tempDir('merge');
    writeFileSync(join(dir, 'o.yaml'), 'training: {epoch: 3}\n');
    const ran = await cli(['config', 'merge', '--template', join(FIX, 'ocr-template.yaml'), '--overrides', join(dir, 'o.yaml'), '--out', join(dir, 'out.yaml'), '--job-id', 'j1']);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stderr).toContain('"training.epoch" is not in the template; did you mean "training.epochs"?');
    expect(readFileSync(join(dir, 'out.yaml'), 'utf8')).toContain('epoch: 3 # added by user');
  });
});
