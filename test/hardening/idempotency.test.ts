import { afterEach, describe, expect, it } from 'vitest';
import { cli, type Ran } from '../support/run.js';
import { git, makeRemote, type Remote } from '../gitops/git-fixture.js';

// Issue 13, "Idempotency and fail-closed": a rollback that finds the environment already rolled back is a
// success without a commit, so a retried job or a duplicate rollout-aborted event is green.

const SHA = 'abc1234def5678abc1234def5678abc1234def56';
const image = (v: string) => `registry.example.com/ocr-service:${v}-commit-abc1234-20250612110522`;

const remotes: Remote[] = [];
afterEach(() => {
  for (const r of remotes.splice(0)) r.cleanup();
});

async function withReleases(versions: string[]): Promise<Remote> {
  const r = makeRemote();
  remotes.push(r);
  for (const v of versions) {
    const d = await cli(['gitops', 'deploy', '--repo', r.bare, '--app', 'ocr', '--env', 'prod', '--image', image(v), '--model-version', v, '--source-commit', SHA], { timeoutMs: 120_000 });
    expect(d.code, d.stderr).toBe(0);
  }
  return r;
}

const rollback = (r: Remote, extra: string[] = []): Promise<Ran> =>
  cli(['gitops', 'rollback', '--repo', r.bare, '--app', 'ocr', '--env', 'prod', '--reason', 'canary analysis failed: latency_ms.p95=412 > 200', '--json', ...extra], { timeoutMs: 180_000 });

const rollbackCommits = (r: Remote) => git(r.bare, 'log', '--format=%(trailers:key=Mlloop-Action,valueonly)', 'main').split('\n').filter((l) => l.trim() === 'rollback').length;

describe('gitops rollback is idempotent', () => {
  it('a second rollback finds the environment rolled back: exit 0, "no change", no commit', async () => {
    const r = await withReleases(['ocr-v3.1', 'ocr-v3.2']);
    const first = await rollback(r);
    expect(first.code, first.stderr).toBe(0);
    const head = r.head();
    const second = await rollback(r);
    expect(second.code, second.stderr).toBe(0);
    const out = JSON.parse(second.stdout);
    expect(out.changed).toBe(false);
    expect(out.commit).toBe(head);
    expect(r.head()).toBe(head);
    expect(rollbackCommits(r)).toBe(1);
    const text = await cli(['gitops', 'rollback', '--repo', r.bare, '--app', 'ocr', '--env', 'prod', '--reason', 'duplicate rollout-aborted event']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('no change: ocr/prod is already rolled back to ocr-v3.1');
    // The same with the version named by a person: already there, no change.
    const to = await rollback(r, ['--to', 'ocr-v3.1']);
    expect(to.code, to.stderr).toBe(0);
    expect(JSON.parse(to.stdout).changed).toBe(false);
    expect(r.head()).toBe(head);
  }, 300_000);

  it('8 concurrent rollbacks: all exit 0, exactly one rollback commit', async () => {
    const r = await withReleases(['ocr-v3.1', 'ocr-v3.2', 'ocr-v3.3']);
    const runs = await Promise.all(Array.from({ length: 8 }, () => rollback(r)));
    for (const ran of runs) expect(ran.code, ran.stderr).toBe(0);
    expect(runs.filter((ran) => JSON.parse(ran.stdout).changed === true)).toHaveLength(1);
    expect(rollbackCommits(r)).toBe(1);
    expect(JSON.parse(r.show('apps/ocr/prod/release.json'))).toMatchObject({ action: 'rollback', model_version: 'ocr-v3.2' });
    expect(r.show('apps/ocr/prod/quarantine.yaml').match(/model_version: ocr-v3\.3/g)).toHaveLength(1);
  }, 300_000);

  it('--to the version that runs now by a deploy names release.json, not quarantine.yaml', async () => {
    const r = await withReleases(['ocr-v3.1']);
    // The same version again with a rebuilt image: ocr-v3.1 is in the history before the current release.
    const rebuilt = await cli(['gitops', 'deploy', '--repo', r.bare, '--app', 'ocr', '--env', 'prod', '--image', 'registry.example.com/ocr-service:ocr-v3.1-commit-abc1234-20250613000000', '--model-version', 'ocr-v3.1']);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    const head = r.head();
    const ran = await rollback(r, ['--to', 'ocr-v3.1']);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toContain('ocr-v3.1 is what runs now in ocr/prod');
    expect(ran.stderr).toContain('apps/ocr/prod/release.json');
    expect(ran.stderr).not.toContain('quarantine.yaml');
    expect(r.head()).toBe(head);
  }, 300_000);
});
