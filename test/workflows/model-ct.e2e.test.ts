// model-ct.yml's check job end to end on examples/ocr-fields: the ct-retrain dispatch mlloop relay sends for the
// example's Alertmanager payload, the inference log app.py wrote (fetched by the caller's prepare command, as the
// starter workflow does with curl), ct check and ct relabel, and the retrain state carried to the next run by the
// cache. (The retraining job copies the production model out of its image with Docker, which these machines do
// not have; the handoff it leads to is covered by ct handoff's own tests.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { EXAMPLE } from '../support/paths.js';
import { startExampleApp, trainedModel } from '../support/example-app.js';
import { readWorkflow, relayRetrainPayload } from './helpers.js';
import { checkoutExample, failedSteps, runWorkflow, type RunResult, type Value } from './runner.js';
import { tempDir } from '../support/tmp.js';

const REPO = 'acme/ocr-fields';
let logs: Server;
let logUrl = '';
const cache = new Map<string, string>();

const clientPayload = relayRetrainPayload() as Value;

beforeAll(async () => {
  // Production traffic: a weakly trained model serves 60 test documents and logs every inference.
  const log = join(tempDir('ct-wf'), 'inference.jsonl');
  const app = await startExampleApp({ model: await trainedModel(1), inferenceLog: log, modelVersion: 'ocr-v1.20250601.080000' });
  try {
    for (const d of readFileSync(join(EXAMPLE, 'sample_data/test/docs.jsonl'), 'utf8').trim().split('\n').slice(0, 60)) {
      const r = await fetch(`${app.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: d });
      expect(r.status).toBe(200);
    }
  } finally {
    await app.stop();
  }
  // Where the log shipper keeps it.
  logs = createServer((req, res) => (req.url === '/ocr/inference.jsonl' ? res.end(readFileSync(log)) : res.writeHead(404).end()));
  await new Promise<void>((resolve) => logs.listen(0, '127.0.0.1', resolve));
  logUrl = `http://127.0.0.1:${(logs.address() as { port: number }).port}/ocr/inference.jsonl`;
}, 180_000);

afterAll(() => new Promise<void>((resolve) => (logs ? logs.close(() => resolve()) : resolve())));

function ct(runId: string, event: { name: string; payload: Record<string, Value> }): Promise<RunResult> {
  // The example's caller, with its log URL pointed at the test's log server and no Label Studio to post to.
  const caller = readWorkflow('examples/ocr-fields/.github/workflows/model-ct.yml').jobs['model-ct']!.with as Record<string, string>;
  return runWorkflow({
    workflow: '.github/workflows/model-ct.yml',
    with: { ...caller, 'prepare-command': caller['prepare-command']!.replace(/https:\/\/\S+/, logUrl), 'label-studio-url': '' },
    secrets: { 'gitops-token': 'ghs_unused' },
    eventName: event.name,
    event: event.payload,
    github: { repository: REPO, sha: '1'.repeat(40), run_id: runId, token: 'ghs_unused', ref: 'refs/heads/main', workflow_ref: `${REPO}/.github/workflows/model-ct.yml@refs/heads/main` },
    checkout: (dir) => checkoutExample(dir),
    only: ['check'],
    cache,
  });
}

const decision = (r: RunResult) => JSON.parse(readFileSync(join(r.artifacts['mlloop-ct']!, 'ct-decision.json'), 'utf8')) as { retrain: boolean; reasons: { trigger: string }[] };

describe('model-ct.yml check job', () => {
  it('an alert dispatched by the relay decides to retrain and exports the uncertain scans for relabelling', async () => {
    const r = await ct('9101', { name: 'repository_dispatch', payload: { action: 'ct-retrain', client_payload: clientPayload } });
    expect(failedSteps(r, 'check')).toEqual([]);
    expect(r.jobs.check!.outputs).toMatchObject({ retrain: 'true', mode: 'incremental' });
    expect(decision(r).reasons.map((x) => x.trigger)).toEqual(expect.arrayContaining(['alerts', 'low_confidence']));
    const tasks = JSON.parse(readFileSync(join(r.artifacts['mlloop-ct']!, 'relabel-tasks.json'), 'utf8')) as { data: Record<string, string> }[];
    expect(tasks.length).toBeGreaterThan(0);
    // The caller's image URL template names each scan.
    expect(tasks[0]!.data.image).toMatch(/^s3:\/\/acme-scans\/.+\.png$/);
    expect(cache.size).toBe(1);
  });

  it('the next run restores the state from the cache: the alert already acted on and the cooldown hold the retraining back', async () => {
    const r = await ct('9102', { name: 'repository_dispatch', payload: { action: 'ct-retrain', client_payload: clientPayload } });
    expect(failedSteps(r, 'check')).toEqual([]);
    expect(r.jobs.check!.outputs.retrain).toBe('false');
    expect(r.jobs.check!.steps.find((s) => s.name.startsWith('restore the retrain state'))!.outputs['cache-hit']).toBe('false');
  });

  it('a dispatch that names no alert fails before deciding', async () => {
    const r = await ct('9103', { name: 'repository_dispatch', payload: { action: 'ct-retrain', client_payload: { source: 'argo-rollouts', app: 'ocr' } } });
    expect(r.jobs.check!.result).toBe('failure');
    expect(r.jobs.check!.steps.find((s) => s.id === 'check')!.outcome).toBe('skipped');
  });
});
