import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GitHubServer } from '../support/github-server.js';
import { cli } from '../support/run.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('handoff');
const verdict = (o: Record<string, unknown> = {}) => ({
  schema: 'mlloop/verdict@1',
  gate: 'ct',
  pass: true,
  policy: 'gate.yaml',
  created_at: '2025-06-13T12:00:00Z',
  candidate: { metrics_file: 'c.json', samples_file: 'c.jsonl', model_version: 'ocr-v2', dataset: 'review-test' },
  baseline: { kind: 'file', metrics_file: 'b.json', samples_file: 'b.jsonl', model_version: 'ocr-v1', dataset: 'review-test' },
  comparable: true,
  incomparable_reasons: [],
  checks: [],
  per_field_skipped: [],
  significance: { overall: { test: 'paired-bootstrap', require: 'improvement', significant: true, p_value: 0.001, delta: 0.05, ci: [0.03, 0.07] }, per_field: [], correction: 'holm', unpaired_images: 0 },
  failed: [],
  ...o,
});
const file = (name: string, v: unknown) => {
  writeFileSync(join(dir, name), JSON.stringify(v));
  return join(dir, name);
};

describe('ct handoff', () => {
  let gh: GitHubServer;
  beforeAll(async () => {
    gh = await GitHubServer.start({ tokens: { ghs_write_token_1: { login: 'github-actions[bot]', app: true }, ghs_read_token_1: { login: 'github-actions[bot]', readOnly: true } } });
  });
  afterAll(() => gh?.close());
  const handoff = (args: string[], token = 'ghs_write_token_1') => cli(['ct', 'handoff', '--repository', 'acme/ocr-cd', '--api-url', gh.url, '--token', token, ...args], { cwd: dir });

  it('sends a workflow_dispatch whose inputs carry the provenance', async () => {
    const r = await handoff(['--verdict', file('v.json', verdict()), '--workflow', 'cd.yml', '--ref', 'release', '--image', 'registry.example.com/ocr:ocr-v2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ handed_off: true, via: 'workflow_dispatch' });
    const [w] = gh.state.workflowDispatches;
    expect(w).toMatchObject({ repo: 'acme/ocr-cd', workflow_id: 'cd.yml', ref: 'release', inputs: { model_version: 'ocr-v2', image: 'registry.example.com/ocr:ocr-v2' } });
    expect(JSON.parse((w!.inputs as { provenance: string }).provenance)).toMatchObject({ schema: 'mlloop/candidate@1', parent_model: 'ocr-v1', gate: { p_value: 0.001 } });
  });

  it.each([
    ['a failed gate', verdict({ pass: false, failed: ['overall.f1 ≥ min'] }), [], /the gate did not pass: overall.f1 ≥ min/],
    ['no significance test', verdict({ significance: null }), [], /must be shown significantly better/],
    ['a non-inferiority test', verdict({ significance: { overall: { require: 'non-inferiority', significant: true } } }), [], /requires "non-inferiority"/],
    ['an improvement that is not significant', verdict({ significance: { overall: { require: 'improvement', significant: false, p_value: 0.3 } } }), [], /significantly better/],
  ])('refuses %s (exit 1) and sends nothing', async (_n, v, extra, msg) => {
    const before = gh.requests.length;
    const r = await handoff(['--verdict', file('bad.json', v), ...extra]);
    expect(r.code).toBe(1);
    expect(r.stderr + r.stdout).toMatch(msg);
    expect(gh.requests.length).toBe(before);
  });

  it('a passing gate without a significance test is enough with --no-require-improvement', async () => {
    const r = await handoff(['--verdict', file('nosig.json', verdict({ significance: null })), '--no-require-improvement']);
    expect(r.code, r.stderr).toBe(0);
    expect(gh.state.repositoryDispatches.at(-1)).toMatchObject({ event_type: 'mlloop-candidate', client_payload: { model_version: 'ocr-v2', gate: { require: null } } });
  });

  it('--dry-run checks and prints without sending', async () => {
    const before = gh.requests.length;
    const r = await handoff(['--verdict', file('v2.json', verdict()), '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/would hand ocr-v2 to acme\/ocr-cd \(repository_dispatch mlloop-candidate\)/);
    expect(gh.requests.length).toBe(before);
  });

  it('a token that may not write is the user\'s to fix (exit 2), and is never printed', async () => {
    const r = await handoff(['--verdict', file('v3.json', verdict())], 'ghs_read_token_1');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/GitHub refused the hand-off \(HTTP 403/);
    expect(r.stderr + r.stdout).not.toContain('ghs_read_token_1');
  });

  it('something that is not a verdict is bad input (exit 2)', async () => {
    const r = await handoff(['--verdict', file('m.json', { overall: { f1: 0.9 } })]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a gate verdict/);
  });
});
