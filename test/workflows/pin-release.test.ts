import { beforeAll, describe, expect, it } from 'vitest';
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../support/paths.js';
import { run } from '../support/run.js';
import { tempDir } from '../support/tmp.js';
import { lintWorkflow } from './linters.js';
// @ts-expect-error: a plain JavaScript script without type declarations
import { pinWorkflow } from '../../scripts/pin-release.mjs';

const SCRIPT = join(ROOT, 'scripts/pin-release.mjs');
const IDENTITY = { GIT_AUTHOR_NAME: 'release', GIT_AUTHOR_EMAIL: 'release@example.com', GIT_COMMITTER_NAME: 'release', GIT_COMMITTER_EMAIL: 'release@example.com' };
const OWN_REF = /^mlloop\/mlloop(\/[^@]+)?@(.+)$/;
const WORKFLOWS = readdirSync(join(ROOT, '.github/workflows')).filter((f) => f.endsWith('.yml'));

let dir: string;
let repo: string;
let remote: string;

async function git(args: string[], cwd = repo): Promise<string> {
  const r = await run('git', args, { cwd, env: IDENTITY });
  if (r.code !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

const release = (args: string[]) => run(process.execPath, [SCRIPT, ...args], { cwd: repo, env: IDENTITY });

/** Every `uses:` of a job or a step. */
function usesOf(text: string): string[] {
  const wf = parse(text) as { jobs: Record<string, { uses?: string; steps?: { uses?: string }[] }> };
  return Object.values(wf.jobs).flatMap((j) => [j.uses, ...(j.steps ?? []).map((s) => s.uses)]).filter((u): u is string => !!u);
}

// A real repository holding mlloop's workflows and actions, with a bare remote to push the tags to.
beforeAll(async () => {
  dir = tempDir('pin-release');
  repo = join(dir, 'mlloop');
  remote = join(dir, 'remote.git');
  await git(['init', '-q', '--bare', remote], dir);
  await git(['init', '-q', '-b', 'main', repo], dir);
  for (const p of ['.github/workflows', 'actions', 'action.yml']) cpSync(join(ROOT, p), join(repo, p), { recursive: true });
  await git(['add', '.']);
  await git(['commit', '-q', '-m', 'mlloop']);
  await git(['remote', 'add', 'origin', remote]);
  await git(['push', '-q', 'origin', 'main']);
});

describe('scripts/pin-release.mjs on a real repository', () => {
  it("pins every mlloop action ref to the released commit, changes nothing else, and tags v<version> and v<major>", async () => {
    const source = await git(['rev-parse', 'HEAD']);
    const r = await release(['--version', '0.3.1', '--push', 'origin']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { source: string; commit: string; tags: string[]; pinned: number };
    expect(out.source).toBe(source);
    expect(out.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(out.tags).toEqual(['v0.3.1', 'v0']);

    // The release commit sits on the released one and changes only workflows; the branch and work tree stay.
    expect(await git(['rev-list', '--parents', '-n', '1', out.commit])).toBe(`${out.commit} ${source}`);
    expect((await git(['diff', '--name-only', source, out.commit])).split('\n').every((f) => f.startsWith('.github/workflows/'))).toBe(true);
    expect(await git(['diff', '--summary', source, out.commit])).not.toMatch(/mode change/);
    expect(await git(['rev-parse', 'HEAD'])).toBe(source);
    expect(await git(['status', '--porcelain'])).toBe('');

    let own = 0;
    const objects: string[] = [];
    for (const f of WORKFLOWS) {
      const before = await git(['show', `${source}:.github/workflows/${f}`]);
      const after = await git(['show', `${out.commit}:.github/workflows/${f}`]);
      // Line for line, only the uses: of mlloop's own actions and workflows differ, and they differ only in the ref.
      const [b, a] = [before.split('\n'), after.split('\n')];
      expect(a.length, f).toBe(b.length);
      b.forEach((line, i) => {
        if (line === a[i]) return;
        expect(line, `${f}:${i + 1}`).toMatch(/^\s*(-\s+)?uses: mlloop\/mlloop[\w/.-]*@v0$/);
        expect(a[i], `${f}:${i + 1}`).toBe(`${line.replace(/@v0$/, `@${source}`)} # v0.3.1`);
      });
      for (const u of usesOf(after)) {
        const m = OWN_REF.exec(u);
        if (!m) {
          expect(u, `${f}: third-party actions stay pinned`).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
          continue;
        }
        own++;
        expect(m[2], `${f}: ${u}`).toBe(source);
        // The SHA must be a commit of this repository that holds the action or workflow named.
        objects.push(`${m[2]}^{commit}`, `${m[2]}:${m[1]?.endsWith('.yml') ? m[1].slice(1) : `${m[1] ? `${m[1].slice(1)}/` : ''}action.yml`}`);
      }
      expect(await lintWorkflow(after, f), f).toEqual([]);
    }
    const found = await run('git', ['cat-file', '--batch-check'], { cwd: repo, input: objects.join('\n') + '\n' });
    expect(found.stdout.split('\n').filter((l) => / missing$/.test(l))).toEqual([]);
    expect(found.stdout.trim().split('\n')).toHaveLength(objects.length);
    expect(own).toBeGreaterThan(20);
    expect(out.pinned).toBe(own);

    for (const t of ['v0.3.1', 'v0']) {
      expect(await git(['rev-parse', `${t}^{commit}`]), t).toBe(out.commit);
      expect(await git(['rev-parse', `${t}^{commit}`], remote), `${t} pushed`).toBe(out.commit);
    }
  });

  it('is idempotent: run again, it finds its release commit and makes no other', async () => {
    const first = await git(['rev-parse', 'v0.3.1^{commit}']);
    const r = await release(['--version', '0.3.1', '--push', 'origin']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ commit: first, pinned: 0 });
  });

  it("does nothing when started by the push of the release's own tag", async () => {
    const commit = await git(['rev-parse', 'v0.3.1^{commit}']);
    const r = await release(['--version', '0.3.1', '--source', 'v0.3.1', '--push', 'origin']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ version: '0.3.1', source: await git(['rev-parse', `${commit}^`]), commit, tags: [], pinned: 0 });
  });

  it('moves v<major> to the next release and leaves the earlier release tag where it was', async () => {
    const earlier = await git(['rev-parse', 'v0.3.1^{commit}']);
    await git(['commit', '-q', '--allow-empty', '-m', 'next']);
    const r = await release(['--version', '0.3.2', '--push', 'origin']);
    expect(r.code, r.stderr).toBe(0);
    const next = JSON.parse(r.stdout).commit as string;
    expect(next).not.toBe(earlier);
    expect(await git(['rev-parse', 'v0^{commit}'], remote)).toBe(next);
    expect(await git(['rev-parse', 'v0.3.1^{commit}'], remote)).toBe(earlier);
    // A retried run of the earlier release does not move v0 back.
    const retried = await release(['--version', '0.3.1', '--source', 'v0.3.1^', '--push', 'origin']);
    expect(retried.code, retried.stderr).toBe(0);
    expect(JSON.parse(retried.stdout)).toMatchObject({ commit: earlier, tags: ['v0.3.1'] });
    expect(await git(['rev-parse', 'v0^{commit}'], remote)).toBe(next);
  });

  it('releases the commit a pushed tag names, and a pre-release does not move v<major>', async () => {
    const major = await git(['rev-parse', 'v0^{commit}']);
    await git(['commit', '-q', '--allow-empty', '-m', 'candidate']);
    await git(['tag', 'v0.4.0-rc.1']);
    const source = await git(['rev-parse', 'HEAD']);
    const r = await release(['--version', '0.4.0-rc.1', '--source', 'v0.4.0-rc.1']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { commit: string; tags: string[] };
    expect(out.tags).toEqual(['v0.4.0-rc.1']);
    expect(await git(['rev-parse', 'v0.4.0-rc.1^{commit}'])).toBe(out.commit);
    expect(await git(['rev-parse', `${out.commit}^`])).toBe(source);
    expect(await git(['rev-parse', 'v0^{commit}'])).toBe(major);
  });

  it('refuses a tag that names another commit, a release commit as source, and a malformed version (exit 2)', async () => {
    await git(['tag', 'v0.5.0', 'HEAD~1']);
    const taken = await release(['--version', '0.5.0']);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toMatch(/tag v0\.5\.0 already names [0-9a-f]{40}/);
    const again = await release(['--version', '0.6.0', '--source', 'v0.3.1']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already a release commit/);
    const bad = await release(['--version', '1.2']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--version must be X\.Y\.Z/);
    expect(await git(['tag', '--list', 'v0.6.0', 'v1.2'])).toBe('');
  });
});

describe('pinWorkflow', () => {
  const SHA = 'a'.repeat(40);
  it("rewrites only the uses: of the named repository's root action, actions and workflows", () => {
    const text = [
      '# uses: mlloop/mlloop/.github/workflows/model-ci.yml@v0   (a comment stays)',
      'jobs:',
      '  call:',
      '    uses: "mlloop/mlloop/.github/workflows/model-ci.yml@v0" # was a tag',
      '  steps:',
      '    steps:',
      '      - uses: mlloop/mlloop@v0',
      '      - uses: mlloop/mlloop-extra/actions/x@v0',
      '      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2',
      '      - run: echo "uses: mlloop/mlloop@v0"',
      '        with: {note: mlloop/mlloop@v0}',
      '',
    ].join('\n');
    const r = pinWorkflow(text, 'mlloop/mlloop', SHA, '1.2.3') as { text: string; pinned: number };
    expect(r.pinned).toBe(2);
    const want = text
      .replace('"mlloop/mlloop/.github/workflows/model-ci.yml@v0" # was a tag', `mlloop/mlloop/.github/workflows/model-ci.yml@${SHA} # v1.2.3`)
      .replace('- uses: mlloop/mlloop@v0', `- uses: mlloop/mlloop@${SHA} # v1.2.3`);
    expect(r.text).toBe(want);
  });
});
