import { promises as fs, existsSync } from 'node:fs';
import * as path from 'node:path';
import { tmpdir } from 'node:os';
import { spawn, execFileSync } from 'node:child_process';
import type { Context, Result } from '../commands/define.js';
import { ConfigurationError, ExternalError, isMlloopError } from '../core/errors.js';
import { runShell } from '../core/process.js';
import { textTable } from '../core/format/markdown.js';
import { writeFilesAtomic } from '../core/io/atomic.js';
import { invoke } from './invoke.js';

export interface DemoOptions {
  keep?: string;
  python: string;
  baselineEpochs: number;
  candidateEpochs: number;
  faultLatencyMs: number;
}

interface StepRecord {
  step: string;
  decision: string;
  artifact: string;
  seconds: number;
}

/** Where the project's files are: next to dist/ in a checkout or an installed package. */
function projectRoot(): string {
  for (const start of [typeof __dirname === 'string' ? __dirname : '', process.cwd()]) {
    let dir = start;
    for (let i = 0; dir && i < 5; i++, dir = path.dirname(dir)) {
      if (existsSync(path.join(dir, 'examples/ocr-fields/train.py')) && existsSync(path.join(dir, 'manifests'))) return dir;
    }
  }
  throw new ConfigurationError('cannot find examples/ocr-fields next to the mlloop installation', { hint: 'run the demo from a checkout of mlloop (node dist/cli.cjs demo)' });
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=mlloop demo', '-c', 'user.email=demo@mlloop.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8' }).trim();
}

/** Starts the example service and resolves with its URL once it prints "listening on". */
function startService(python: string, repo: string, args: string[]): Promise<{ url: string; stop: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['app.py', ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new ExternalError(`the example service did not start within 30s: ${out.slice(-500)}`));
    }, 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1]!.replace(/\/$/, ''),
          stop: () =>
            new Promise<void>((res) => {
              child.once('close', () => res());
              child.kill('SIGTERM');
              setTimeout(() => child.kill('SIGKILL'), 5000).unref();
            }),
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new ExternalError(`the example service exited with code ${code}: ${out.slice(-500)}`));
    });
  });
}

export async function runDemo(o: DemoOptions, ctx: Context): Promise<Result> {
  if (o.keep) {
    const work = path.resolve(ctx.cwd, o.keep);
    await fs.rm(work, { recursive: true, force: true });
    await fs.mkdir(work, { recursive: true });
    return demoIn(work, o, ctx);
  }
  // Without --keep the artifacts live in a temp folder that goes when the demo ends, also on failure or Ctrl-C.
  const work = await fs.mkdtemp(path.join(tmpdir(), 'mlloop-demo-'));
  try {
    return await demoIn(work, o, ctx);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

async function demoIn(work: string, o: DemoOptions, ctx: Context): Promise<Result> {
  const root = projectRoot();
  const repo = path.join(work, 'model-repo');
  const rel = (p: string) => (p.startsWith(ctx.cwd + path.sep) ? path.relative(ctx.cwd, p) : p);
  const records: StepRecord[] = [];
  const total = 19;
  let n = 0;
  const quiet: Context = { ...ctx, cwd: repo, log: { ...ctx.log, info: () => {}, progress: () => {} } };

  // While a step runs: its own output lines (the training's epochs), or a heartbeat when it is quiet for a while.
  let lastShown = Date.now();
  const show = (line: string) => {
    lastShown = Date.now();
    ctx.log.progress(`        │ ${line}`);
  };
  const HEARTBEAT_MS = 5000;

  /** One step: progress line, run, record the decision and the artifact. */
  async function step<T>(title: string, fn: () => Promise<{ decision: string; artifact?: string; value?: T }>): Promise<T | undefined> {
    n++;
    ctx.log.progress(`[${String(n).padStart(2)}/${total}] ${title} …`);
    const t0 = Date.now();
    lastShown = t0;
    const beat = setInterval(() => {
      if (Date.now() - lastShown >= HEARTBEAT_MS) show(`still running (${Math.round((Date.now() - t0) / 1000)}s)`);
    }, 1000);
    beat.unref();
    try {
      const r = await fn();
      const seconds = (Date.now() - t0) / 1000;
      records.push({ step: title, decision: r.decision, artifact: r.artifact ? rel(r.artifact) : '', seconds });
      ctx.log.progress(`        ${r.decision}${r.artifact ? `  → ${rel(r.artifact)}` : ''} (${seconds.toFixed(1)}s)`);
      return r.value;
    } catch (e) {
      const msg = isMlloopError(e) ? e.message : (e as Error).stack ?? String(e);
      throw new ExternalError(`demo step "${title}" failed: ${msg}`);
    } finally {
      clearInterval(beat);
    }
  }
  const mlloop = (argv: string[]) => invoke(argv, quiet);
  // The training's own lines ("epoch=3/12 loss=… val_f1=…"), shown as they come (without the command line and the
  // script's timestamps); install and test output stays quiet.
  const trainLine = /^\[train\] (?!\$ )(?:\d{4}-\d\d-\d\dT\S+ )?(.+)$/;
  const streamed: Context = { ...quiet, log: { ...quiet.log, info: (line) => void (trainLine.exec(line)?.[1] && show(trainLine.exec(line)![1]!)) } };
  const py = async (args: string[]) => {
    const r = await runShell({ command: [o.python, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' '), cwd: repo, env: { ...ctx.env, PYTHONUNBUFFERED: '1' }, signal: ctx.signal });
    if (r.exitCode !== 0) throw new ExternalError(`${o.python} ${args.join(' ')} exited with ${r.exitCode}`);
  };

  // 1. The model repository, as a team has it: a git checkout of the example.
  await step('prepare the model repository (examples/ocr-fields, a git checkout)', async () => {
    await fs.cp(path.join(root, 'examples/ocr-fields'), repo, { recursive: true, filter: (src) => !/[/\\](outputs[^/\\]*|logs|__pycache__|\.venv)$/.test(src) });
    git(repo, 'init', '-q');
    git(repo, 'add', '.');
    git(repo, 'commit', '-qm', 'ocr-fields model');
    return { decision: `commit ${git(repo, 'rev-parse', '--short', 'HEAD')}`, artifact: repo };
  });
  const sha = git(repo, 'rev-parse', 'HEAD');

  const trained: Record<string, number> = {};
  // Each model is built as a version (train.py reads MLLOOP_MODEL_VERSION), so every report names it ocr-v3.x, not by a hash.
  const versions = { baseline: 'ocr-v3.1', candidate: 'ocr-v3.2' } as const;
  for (const [name, epochs] of [['baseline', o.baselineEpochs], ['candidate', o.candidateEpochs]] as const) {
    await step(`train the ${name} ${versions[name]} (${epochs} epoch${epochs > 1 ? 's' : ''}, mlloop train)`, async () => {
      const r = await invoke(['train', '--repo', repo, '--command', `${o.python} train.py --epochs ${epochs} --data sample_data --out outputs-${name} --seed 1`, '--outputs', `outputs-${name}`, '--model-version', versions[name], '--no-upload'], streamed);
      if (r.exitCode !== 0) throw new ExternalError(r.failure ?? 'training failed');
      const f1 = (r.data as { metrics: { f1?: number } }).metrics.f1 ?? NaN;
      trained[name] = f1;
      return { decision: `validation F1 ${f1.toFixed(3)}`, artifact: path.join(repo, `outputs-${name}/run.json`) };
    });
  }

  const evals: Record<string, { metrics: string; samples: string; pred: string }> = {};
  for (const name of ['baseline', 'candidate']) {
    await step(`predict and evaluate the ${name} on the test set (mlloop evaluate)`, async () => {
      const pred = path.join(work, `eval/${name}/pred.json`);
      await fs.mkdir(path.dirname(pred), { recursive: true });
      await py(['predict.py', '--model', `outputs-${name}`, '--data', 'sample_data/test', '--out', pred]);
      const metrics = path.join(work, `eval/${name}/metrics.json`);
      const samples = path.join(work, `eval/${name}/samples.jsonl`);
      const r = await mlloop(['evaluate', '--gt', path.join(repo, 'sample_data/test/gt.json'), '--pred', pred, '--out', metrics, '--samples', samples]);
      evals[name] = { metrics, samples, pred };
      const d = r.data as { overall: { f1: number; map50?: number } };
      return { decision: `test F1 ${d.overall.f1.toFixed(3)}`, artifact: metrics };
    });
  }

  // The model team's own release gate, retrain policy and job request live in the model repository.
  const gatePolicy = path.join(repo, 'gate.yaml');
  const gitopsRemote = path.join(work, 'gitops.git');
  await step('create the GitOps repository; production runs the baseline ocr-v3.1 (mlloop gitops deploy)', async () => {
    git(work, 'init', '-q', '--bare', gitopsRemote);
    const seed = path.join(work, 'gitops-seed');
    await fs.cp(path.join(root, 'manifests/gitops-repo'), seed, { recursive: true });
    git(seed, 'init', '-q');
    git(seed, 'add', '.');
    git(seed, 'commit', '-qm', 'GitOps repository skeleton');
    git(seed, 'push', '-q', gitopsRemote, 'HEAD:main');
    const tag = await mlloop(['tag', '--model', 'ocr', '--version', '3.1', '--sha', sha, '--image', 'registry.example.com/ocr-service', '--time', '2025-06-01T09:00:00Z']);
    const baselineImage = String(tag.outputs?.tags ?? '').split('\n')[0]!;
    const r = await mlloop(['gitops', 'deploy', '--repo', gitopsRemote, '--app', 'ocr', '--env', 'prod', '--image', baselineImage, '--model-version', 'ocr-v3.1', '--metrics', evals.baseline!.metrics, '--samples', evals.baseline!.samples, '--source-commit', sha, '--dataset', 'ocr-fields-sample-test']);
    const c = r.data as { commit?: string };
    return { decision: `commit ${String(c.commit ?? '').slice(0, 7)}: apps/ocr/prod runs ocr-v3.1`, artifact: gitopsRemote };
  });

  const verdict = path.join(work, 'gate/verdict.json');
  await step('gate the candidate against what production runs, with significance (mlloop gate)', async () => {
    const r = await mlloop(['gate', '--candidate', evals.candidate!.metrics, '--candidate-samples', evals.candidate!.samples, '--baseline-gitops', gitopsRemote, '--app', 'ocr', '--env', 'prod', '--policy', gatePolicy, '--out', verdict]);
    if (r.exitCode !== 0) throw new ExternalError(`the gate failed: ${r.failure ?? ''}`);
    const v = r.data as { checks?: { name?: string; p_value?: number }[]; significance?: { p_value?: number } };
    const p = v.significance?.p_value ?? v.checks?.find((c) => typeof c.p_value === 'number')?.p_value;
    return { decision: `pass${p !== undefined ? ` (p=${p.toPrecision(2)})` : ''}`, artifact: verdict };
  });

  await step('write the pull-request report, Markdown and HTML (mlloop compare)', async () => {
    const out = path.join(work, 'compare_reports');
    // The report follows the gate's verdict: it must not contradict the decision the gate just made.
    const r = await mlloop(['compare', '--candidate', evals.candidate!.metrics, '--baseline', evals.baseline!.metrics, '--candidate-samples', evals.candidate!.samples, '--baseline-samples', evals.baseline!.samples, '--verdict', verdict, '--out-dir', out, '--no-pdf']);
    const rec = (r.data as { recommendation: { level: string } }).recommendation.level;
    return { decision: `recommendation "${rec}" (the gate's verdict): report.md, summary_metrics.html, samples_diff.html`, artifact: String((r.data as { report_dir: string }).report_dir) };
  });

  const image = await step('tag the image (mlloop tag)', async () => {
    const r = await mlloop(['tag', '--model', 'ocr', '--version', '3.2', '--sha', sha, '--image', 'registry.example.com/ocr-service', '--time', ctx.now().toISOString()]);
    const tags = String(r.outputs?.tags ?? '').split('\n')[0]!;
    return { decision: tags.split(':').pop() ?? tags, value: tags };
  });

  await step('render the staging Helm values (mlloop values)', async () => {
    const values = path.join(work, 'values-staging.yaml');
    await mlloop(['values', '--chart', path.join(root, 'manifests/charts/model-service'), '--env', 'staging', '--set', `image.tag=${image!.split(':').pop()}`, '--set', 'model.version=ocr-v3.2', '--out', values]);
    return { decision: 'values valid against the chart schema', artifact: values };
  });

  for (const env of ['staging', 'prod']) {
    await step(env === 'staging' ? 'deploy to staging (mlloop gitops deploy)' : 'promote staging to production (mlloop gitops promote)', async () => {
      const r =
        env === 'staging'
          ? await mlloop(['gitops', 'deploy', '--repo', gitopsRemote, '--app', 'ocr', '--env', 'staging', '--image', image!, '--model-version', 'ocr-v3.2', '--metrics', evals.candidate!.metrics, '--samples', evals.candidate!.samples, '--source-commit', sha, '--dataset', 'ocr-fields-sample-test'])
          : await mlloop(['gitops', 'promote', '--repo', gitopsRemote, '--app', 'ocr', '--from', 'staging', '--to', 'prod']);
      const c = r.data as { commit?: string };
      return { decision: `commit ${String(c.commit ?? '').slice(0, 7)} in apps/ocr/${env}`, artifact: gitopsRemote };
    });
  }

  const inferenceLog = path.join(work, 'service/inference_log.jsonl');
  await fs.mkdir(path.dirname(inferenceLog), { recursive: true });
  const service = await step(`start the canary with ${o.faultLatencyMs} ms injected latency (examples/ocr-fields/app.py)`, async () => {
    const s = await startService(o.python, repo, ['--model', 'outputs-candidate', '--port', '0', '--model-version', 'ocr-v3.2', '--inject-latency-ms', String(o.faultLatencyMs), '--inference-log', inferenceLog]);
    return { decision: s.url, value: s };
  });
  let reason = '';
  try {
    await step('smoke test the canary (mlloop smoke)', async () => {
      const r = await mlloop(['smoke', '--url', service!.url, '--request', path.join(repo, 'test_request.json'), '--expect-model-version', 'ocr-v3.2', '--timeout', '30s']);
      if (r.exitCode !== 0) throw new ExternalError(r.failure ?? 'smoke failed');
      return { decision: 'pass: envelope and model version ok' };
    });
    await step('analyze the canary under load (mlloop analyze --scrape)', async () => {
      const out = path.join(work, 'canary/analysis.json');
      const r = await mlloop(['analyze', '--scrape', `${service!.url}/metrics`, '--target', `${service!.url}/predict`, '--request', path.join(repo, 'test_request.json'), '--load', '20', '--duration', '6s', '--interval', '3s', '--max-p95-ms', '200', '--max-error-rate', '0.01', '--out', out]);
      if (r.exitCode === 0) throw new ExternalError('the canary analysis passed despite the injected latency');
      // The analysis' own failure text ("canary analysis failed: latency_ms.p95=412 > 200") is the rollback's Reason.
      reason = (r.failure ?? 'canary analysis failed').split('\n')[0]!;
      return { decision: reason, artifact: out };
    });
  } finally {
    await service?.stop();
  }

  await step('roll production back with a commit, quarantining the bad version (mlloop gitops rollback)', async () => {
    const r = await mlloop(['gitops', 'rollback', '--repo', gitopsRemote, '--app', 'ocr', '--env', 'prod', '--reason', reason]);
    const c = r.data as { commit?: string; to?: unknown };
    return { decision: `commit ${String(c.commit ?? '').slice(0, 7)}: prod back on ocr-v3.1, ocr-v3.2 quarantined (Rollback-Of, Reason)`, artifact: gitopsRemote };
  });

  await step('choose a cluster for a GPU training job, on real GPU node data (mlloop dispatch --snapshot)', async () => {
    const dir = path.join(root, 'docs/examples/dispatch');
    const out = path.join(work, 'dispatch/decision.json');
    const r = await mlloop(['dispatch', '--snapshot', path.join(dir, 'snapshot'), '--request', path.join(repo, 'job.yaml'), '--clusters', path.join(dir, 'clusters.yaml'), '--explain', '--dry-run']);
    await writeFilesAtomic([{ path: out, data: `${JSON.stringify(r.data, null, 2)}\n` }]);
    const d = r.data as { cluster?: string; namespace?: string };
    return { decision: d.cluster ? `${d.cluster} (namespace ${d.namespace})` : 'no cluster fits', artifact: out };
  });

  await step('decide whether to retrain from alerts and the inference log (mlloop ct check)', async () => {
    const out = path.join(work, 'ct/decision.json');
    const r = await mlloop(['ct', 'check', '--policy', path.join(repo, 'retrain_policy.yaml'), '--alerts', path.join(repo, 'monitoring_alerts.json'), '--inference-log', inferenceLog, '--state', path.join(work, 'ct/state.json'), '--out', out]);
    const d = r.data as { retrain: boolean; mode?: string; reasons?: { trigger: string }[] };
    return { decision: d.retrain ? `retrain (${d.mode}): ${(d.reasons ?? []).map((x) => x.trigger).join(', ')}` : 'no retrain', artifact: out };
  });

  await step('export the samples worth relabelling to Label Studio tasks (mlloop ct relabel)', async () => {
    const out = path.join(work, 'ct/relabel-tasks.json');
    const r = await mlloop(['ct', 'relabel', '--inference-log', inferenceLog, '--predictions', evals.candidate!.pred, '--docs', path.join(repo, 'sample_data/test/docs.jsonl'), '--out', out]);
    const d = r.data as { selected: unknown[]; considered: number; reasons: Record<string, number> };
    const why = Object.entries(d.reasons).map(([k, v]) => `${k} ${v}`).join(', ');
    return { decision: `${d.selected.length} of ${d.considered} samples to relabel (${why})`, artifact: out };
  });

  const table = textTable(['step', 'decision', 'artifact'], records.map((r) => [r.step, r.decision, r.artifact]));
  const seconds = records.reduce((a, r) => a + r.seconds, 0);
  const text = `${table}\n\nThe whole loop ran in ${seconds.toFixed(0)}s. ${o.keep ? `Everything is in ${rel(work)}.` : 'Its temporary folder is removed; pass --keep DIR to keep every artifact.'}`;
  return { exitCode: 0, data: { work: o.keep ? work : null, steps: records, seconds }, text };
}
