import { createWriteStream, promises as fs, type WriteStream } from 'node:fs';
import * as path from 'node:path';
import { ConfigurationError, ExternalError } from '../errors.js';
import { runShell, type RunResult } from '../process.js';
import { sha256Tree } from '../fs/hash.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { readMetricsFile, headlineMetrics } from './metrics-file.js';

export interface TrainRequest {
  repo: string;
  command: string;
  install?: string;
  test?: string;
  timeoutMs: number;
  outputs: string;
  logs: string;
  checkpoints?: string;
  resume: boolean;
  resumeArgs: string;
  data?: string;
  /** The version the model is built as: MLLOOP_MODEL_VERSION for the commands, and model_version in run.json. */
  modelVersion?: string;
  env: Record<string, string | undefined>;
  signal?: AbortSignal;
  now: () => Date;
  onLine?: (line: string) => void;
}

export interface PhaseRecord {
  name: 'install' | 'test' | 'train';
  command: string;
  exit_code: number | null;
  signal: string | null;
  duration_s: number;
}

export interface RunRecord {
  schema: 'mlloop/run@1';
  status: 'succeeded' | 'failed' | 'timed-out' | 'aborted';
  command: string;
  exit_code: number | null;
  started_at: string;
  ended_at: string;
  duration_s: number;
  timeout_s: number;
  git_commit: string | null;
  /** --model-version, else the model_version the training wrote into its metrics file. */
  model_version: string | null;
  data: { path: string; sha256: string; files: number; bytes: number } | null;
  resumed_from_epoch: number | null;
  checkpoints: string;
  phases: PhaseRecord[];
  metrics_path: string | null;
  metrics: Record<string, number>;
  log_path: string;
}

export interface TrainOutcome {
  record: RunRecord;
  runPath: string;
  metricsPath: string;
  logPath: string;
}

/** The highest epoch number among checkpoint files (`epoch-0003.json`, `ckpt_epoch_12.pt`, latest.json). */
export async function lastCheckpointEpoch(dir: string): Promise<number | null> {
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch {
    return null;
  }
  let best: number | null = null;
  for (const name of entries) {
    const m = /epoch[-_]?(\d+)/i.exec(name);
    if (m) best = Math.max(best ?? 0, Number(m[1]));
  }
  try {
    const latest = JSON.parse(await fs.readFile(path.join(dir, 'latest.json'), 'utf8')) as { epoch?: unknown };
    if (typeof latest.epoch === 'number') best = Math.max(best ?? 0, latest.epoch);
  } catch {
    /* no latest.json */
  }
  return best;
}

/** The `--data X` argument of a training command, when the user did not name the data folder. */
export function dataArgument(command: string): string | undefined {
  const m = /--data(?:=|\s+)("[^"]+"|'[^']+'|\S+)/.exec(command);
  return m ? m[1]!.replace(/^["']|["']$/g, '') : undefined;
}

async function gitCommit(repo: string): Promise<string | null> {
  try {
    const { simpleGit } = await import('simple-git');
    return (await simpleGit(repo).revparse(['HEAD'])).trim() || null;
  } catch {
    return null;
  }
}

function timestamped(stream: WriteStream, now: () => Date) {
  return (tag: string, line: string) => stream.write(`${now().toISOString()} [${tag}] ${line}\n`);
}

/**
 * The first step of a model team's CI: install, test, train on sample data under one time budget,
 * with every line logged (timestamped) to logs/train.log, then check the metrics and record the run.
 */
export async function train(req: TrainRequest): Promise<TrainOutcome> {
  const repo = path.resolve(req.repo);
  const stat = await fs.stat(repo).catch(() => null);
  if (!stat?.isDirectory()) throw new ConfigurationError('repository folder not found', { file: req.repo, hint: 'pass --repo with the model repository (the folder holding train.py)' });
  const outputs = path.resolve(repo, req.outputs);
  const logs = path.resolve(repo, req.logs);
  const checkpoints = path.resolve(repo, req.checkpoints ?? path.join(req.outputs, 'checkpoints'));
  const dataRel = req.data ?? dataArgument(req.command);
  const dataDir = dataRel ? path.resolve(repo, dataRel) : undefined;
  if (dataDir && !(await fs.stat(dataDir).catch(() => null))?.isDirectory()) {
    throw new ConfigurationError('data folder not found', { file: dataRel, hint: 'pass --data with the folder the training reads (relative to --repo)' });
  }
  await fs.mkdir(outputs, { recursive: true });
  await fs.mkdir(logs, { recursive: true });
  const logPath = path.join(logs, 'train.log');
  const metricsPath = path.join(outputs, 'metrics.json');
  const runPath = path.join(outputs, 'run.json');
  const started = req.now();
  const deadline = Date.now() + req.timeoutMs;

  let resumedFrom: number | null = null;
  let trainCommand = req.command;
  if (req.resume) {
    resumedFrom = await lastCheckpointEpoch(checkpoints);
    if (resumedFrom !== null && req.resumeArgs && !trainCommand.includes(req.resumeArgs)) trainCommand = `${trainCommand} ${req.resumeArgs}`;
  } else {
    // A fresh run must not pick up a stale metrics file from an earlier run.
    await fs.rm(metricsPath, { force: true });
  }

  // Append mode (O_APPEND): a training script that also writes this file interleaves with us instead of being overwritten.
  if (!req.resume) await fs.writeFile(logPath, '');
  const logStream = createWriteStream(logPath, { flags: 'a' });
  const log = timestamped(logStream, req.now);
  const env = {
    ...req.env,
    PYTHONUNBUFFERED: '1',
    MLLOOP_OUTPUTS: outputs,
    MLLOOP_LOGS: logs,
    MLLOOP_CHECKPOINTS: checkpoints,
    ...(req.modelVersion ? { MLLOOP_MODEL_VERSION: req.modelVersion } : {}),
    ...(resumedFrom !== null ? { MLLOOP_RESUME_EPOCH: String(resumedFrom) } : {}),
  };
  const phases: PhaseRecord[] = [];
  let last: RunResult | undefined;
  let status: RunRecord['status'] = 'succeeded';
  const plan: [PhaseRecord['name'], string | undefined][] = [
    ['install', req.install],
    ['test', req.test],
    ['train', trainCommand],
  ];
  try {
    if (resumedFrom !== null) log('mlloop', `resuming: last checkpoint is epoch ${resumedFrom} in ${path.relative(repo, checkpoints) || '.'}`);
    else if (req.resume) log('mlloop', `no checkpoint in ${path.relative(repo, checkpoints) || '.'}: starting from epoch 1`);
    for (const [name, command] of plan) {
      if (!command) continue;
      log('mlloop', `${name}: ${command}`);
      req.onLine?.(`[${name}] $ ${command}`);
      last = await runShell({
        command,
        cwd: repo,
        env,
        deadline,
        signal: req.signal,
        onLine: (line, stream) => {
          log(stream === 'stderr' ? `${name}!` : name, line);
          req.onLine?.(`[${name}] ${line}`);
        },
      });
      phases.push({ name, command, exit_code: last.exitCode, signal: last.signal, duration_s: last.durationMs / 1000 });
      if (last.timedOut) status = 'timed-out';
      else if (last.aborted) status = 'aborted';
      else if (last.exitCode !== 0) status = 'failed';
      if (status !== 'succeeded') {
        log('mlloop', `${name} ${status === 'failed' ? `exited with code ${last.exitCode ?? last.signal}` : status}`);
        break;
      }
    }
  } finally {
    await new Promise<void>((r) => logStream.end(r));
  }

  const ended = req.now();
  const record: RunRecord = {
    schema: 'mlloop/run@1',
    status,
    command: trainCommand,
    exit_code: last?.exitCode ?? null,
    started_at: started.toISOString(),
    ended_at: ended.toISOString(),
    duration_s: (ended.getTime() - started.getTime()) / 1000,
    timeout_s: req.timeoutMs / 1000,
    git_commit: await gitCommit(repo),
    model_version: req.modelVersion ?? null,
    data: dataDir ? { path: path.relative(repo, dataDir) || '.', ...(await sha256Tree(dataDir)) } : null,
    resumed_from_epoch: resumedFrom,
    checkpoints: path.relative(repo, checkpoints),
    phases,
    metrics_path: null,
    metrics: {},
    log_path: path.relative(repo, logPath),
  };
  const finish = async () => writeJsonAtomic(runPath, record);

  if (status === 'timed-out') {
    await finish();
    const phase = phases[phases.length - 1]!;
    throw new ExternalError(`${phase.name} timed out after ${formatDuration(req.timeoutMs)}; its whole process tree was killed (log: ${record.log_path})`, {
      hint: 'raise --timeout, or train fewer epochs on the sample data',
    });
  }
  if (status !== 'succeeded') {
    await finish();
    return { record, runPath, metricsPath, logPath };
  }
  const relMetrics = path.relative(repo, metricsPath);
  try {
    const metrics = await readMetricsFile(metricsPath);
    record.metrics_path = relMetrics;
    record.metrics = headlineMetrics(metrics);
    if (record.model_version === null && typeof metrics.model_version === 'string') record.model_version = metrics.model_version;
  } catch (e) {
    record.status = 'failed';
    await finish();
    if (e instanceof ConfigurationError && /not found/.test(e.message)) {
      throw new ConfigurationError(`training finished but wrote no metrics file`, {
        file: relMetrics,
        hint: `make the training command write ${relMetrics} (JSON with numeric metrics, e.g. {"overall": {"f1": 0.93}})`,
      });
    }
    throw e;
  }
  await finish();
  return { record, runPath, metricsPath, logPath };
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
}
