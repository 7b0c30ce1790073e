// GitOps writes under contention: 32 concurrent `mlloop gitops deploy` processes (dist/cli.cjs), each for its
// own app, into one bare repository — against the same edits done with plain git in a shell (clone --depth 1,
// write values.yaml and release.json, commit, push; on rejection pull --rebase and retry with the same
// exponential backoff and jitter). Both run interleaved in this process; ratios are mlloop / plain git.
// Zero lost updates is asserted for both (a failure throws): every one of the 32 commits must land.
// mlloop is measured twice: as it runs by default (a shallow bare clone per deploy), and with --cache-dir (one
// mirror shared by the 32 writers of a round, made by the first of them: writers on one machine then take turns
// from fetch to push instead of rejecting each other). The plain-git baseline is the same for both.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST as BUILT, median, round } from './_util.mjs';

// A private copy of dist/, so a rebuild during the (minutes-long) run cannot change what is measured.
let DIST = BUILT;

const WRITERS = 32;
const ROUNDS = 3;

function git(cwd, ...args) {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@example.com', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@example.com' } });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function seedRemote() {
  const root = mkdtempSync(join(tmpdir(), 'mlloop-bench-gitops-'));
  const bare = join(root, 'remote.git');
  git(root, 'init', '-q', '--bare', '-b', 'main', bare);
  const seed = join(root, 'seed');
  git(root, 'init', '-q', '-b', 'main', seed);
  mkdirSync(join(seed, 'apps'));
  writeFileSync(join(seed, 'README.md'), '# gitops\n');
  git(seed, 'add', '-A');
  git(seed, 'commit', '-qm', 'seed');
  git(seed, 'push', '-q', bare, 'main');
  return { root, bare };
}

const PLAIN = String.raw`set -e
app="$1"; bare="$2"; work="$3"
git clone -q --depth 1 --single-branch --branch main "file://$bare" "$work"
cd "$work"
mkdir -p "apps/$app/prod"
printf 'image:\n  repository: registry.example.com/%s\n  tag: %s-v1.0\nmodel:\n  version: %s-v1.0\n' "$app" "$app" "$app" > "apps/$app/prod/values.yaml"
printf '{"schema":"mlloop/release@1","app":"%s","env":"prod","model_version":"%s-v1.0"}\n' "$app" "$app" > "apps/$app/prod/release.json"
git add -A
git commit -q -m "deploy($app/prod): $app-v1.0" -m "Mlloop-Action: deploy
Model-Version: $app-v1.0"
n=1
until git push -q --porcelain origin HEAD:refs/heads/main >/dev/null 2>&1; do
  [ "$n" -ge 50 ] && exit 3
  cap=$(awk -v n="$n" 'BEGIN { c = 0.1 * 2 ^ (n - 1); if (c > 4) c = 4; print c }')
  sleep "$(awk -v c="$cap" -v s="$$$n" 'BEGIN { srand(s); print rand() * c }')"
  git fetch -q --no-tags origin main
  git rebase -q FETCH_HEAD || { git rebase --abort; exit 3; }
  n=$((n + 1))
done
`;

function runAll(make) {
  const t0 = process.hrtime.bigint();
  return Promise.all(
    Array.from({ length: WRITERS }, (_, i) =>
      new Promise((resolve, reject) => {
        const [cmd, args] = make(`app-${String(i).padStart(2, '0')}`, i);
        const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@example.com', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@example.com' } });
        let err = '';
        child.stderr.on('data', (d) => (err += d));
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.slice(-1)} exited ${code}: ${err.slice(-400)}`))));
      }),
    ),
  ).then(() => Number(process.hrtime.bigint() - t0) / 1e6);
}

function assertNoLostUpdates(bare, label) {
  const count = Number(git(bare, 'rev-list', '--count', 'main').trim());
  if (count !== WRITERS + 1) throw new Error(`${label}: ${count - 1} of ${WRITERS} commits landed (lost updates)`);
  if (git(bare, 'rev-list', '--merges', 'main').trim()) throw new Error(`${label}: history is not linear`);
  for (let i = 0; i < WRITERS; i++) git(bare, 'cat-file', '-e', `main:apps/app-${String(i).padStart(2, '0')}/prod/release.json`);
}

function deployArgs(bare, app, extra = []) {
  return [join(DIST, 'cli.cjs'), 'gitops', 'deploy', '--repo', bare, '--app', app, '--env', 'prod', '--image', `registry.example.com/${app}:${app}-v1.0`, '--model-version', `${app}-v1.0`, ...extra];
}

async function mlloopRound(cached = false) {
  const { root, bare } = seedRemote();
  try {
    const ms = await runAll((app) => [process.execPath, deployArgs(bare, app, cached ? ['--cache-dir', join(root, 'cache')] : [])]);
    assertNoLostUpdates(bare, 'mlloop');
    return ms;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function plainRound() {
  const { root, bare } = seedRemote();
  const script = join(root, 'deploy.sh');
  writeFileSync(script, PLAIN);
  try {
    const ms = await runAll((app) => ['bash', [script, app, bare, join(root, `w-${app}`)]]);
    assertNoLostUpdates(bare, 'plain git');
    return ms;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** One uncontended deploy: the fixed cost of a commit. 'cached': with a --cache-dir warmed by an earlier deploy. */
async function single(kind) {
  const { root, bare } = seedRemote();
  const script = join(root, 'deploy.sh');
  writeFileSync(script, PLAIN);
  try {
    const cache = ['--cache-dir', join(root, 'cache')];
    if (kind === 'cached' && spawnSync(process.execPath, deployArgs(bare, 'warm', cache), { stdio: 'ignore' }).status !== 0) throw new Error('warming the cache failed');
    const t0 = process.hrtime.bigint();
    const r = kind !== 'plain'
      ? spawnSync(process.execPath, deployArgs(bare, 'solo', kind === 'cached' ? cache : []), { stdio: 'ignore' })
      : spawnSync('bash', [script, 'solo', bare, join(root, 'w')], { stdio: 'ignore', env: { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@example.com', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@example.com' } });
    if (r.status !== 0) throw new Error(`${kind} single deploy failed`);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export default async function* gitops() {
  const copy = mkdtempSync(join(tmpdir(), 'mlloop-bench-dist-'));
  cpSync(BUILT, copy, { recursive: true });
  DIST = copy;
  try {
    yield* measure();
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

async function* measure() {
  const mine = [];
  const cached = [];
  const plain = [];
  for (let i = 0; i < ROUNDS; i++) {
    plain.push(await plainRound());
    mine.push(await mlloopRound());
    cached.push(await mlloopRound(true));
  }
  const base = median(plain);
  const baseline = 'plain git (clone, edit, commit, push with fetch-rebase retry)';
  for (const [name, xs] of [['', mine], [', --cache-dir shared by the writers (cold at the start of a round)', cached]]) {
    const wall = median(xs);
    yield { bench: 'gitops', case: `${WRITERS} concurrent deploys, wall time${name}`, ms: round(wall, 0), baseline, baseline_ms: round(base, 0), ratio: round(wall / base, 2), per_commit_ms: round(wall / WRITERS, 1), baseline_per_commit_ms: round(base / WRITERS, 1), lost_updates: 0, target: 1.3, rounds_ms: xs.map((x) => round(x, 0)), baseline_rounds_ms: plain.map((x) => round(x, 0)) };
  }
  const s = { plain: [], mlloop: [], cached: [] };
  for (let i = 0; i < 7; i++) for (const k of Object.keys(s)) s[k].push(await single(k));
  for (const [k, name] of [['mlloop', ''], ['cached', ', warm --cache-dir']]) {
    yield { bench: 'gitops', case: `one uncontended deploy (per-commit cost)${name}`, ms: round(median(s[k]), 1), baseline: 'plain git', baseline_ms: round(median(s.plain), 1), ratio: round(median(s[k]) / median(s.plain), 2), target: 1.3 };
  }
}
