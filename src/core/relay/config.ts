import { ConfigurationError, jsonPath } from '../errors.js';
import { parseDuration } from '../duration.js';
import { readYaml } from '../io/yaml.js';
import { validateSchema, type JsonSchema } from '../schema.js';
import schema from '../../../schemas/relay.schema.json';

export interface Route {
  name: string;
  source: 'alertmanager' | 'notification';
  match: Record<string, string[]>;
  eventType: string;
  owner: string;
  repo: string;
  sendResolved: boolean;
  token: string;
  /** The GitOps app and environment for alerts that do not carry app/env labels. */
  app?: string;
  env?: string;
}

export interface RelayConfig {
  host: string;
  port: number;
  bearerToken?: string;
  hmacSecret?: string;
  apiUrl: string;
  routes: Route[];
  maxBodyBytes: number;
  maxConnections: number;
  maxQueue: number;
  dedupWindowMs: number;
  dedupMaxKeys: number;
  retries: number;
  retryBackoffMs: number;
  concurrency: number;
  shutdownGraceMs: number;
  /** Connections one client address may hold open; more are closed at once. */
  maxConnectionsPerClient: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Events merged into one repository_dispatch, at most (count and serialized size). */
  coalesceMax: number;
  coalesceMaxBytes: number;
  /** Spacing of repository_dispatch calls: GitHub asks for about one content-creating request per second. */
  writeIntervalMs: number;
  /** The token of the github section (events replayed for a route that no longer exists use it). */
  githubToken: string;
  /** The append-only spool folder (relative to the working directory unless absolute); unused with redis. */
  spoolDir: string;
  redis?: { url: string; stream: string; group: string; consumer?: string; claimIdleMs: number };
}

interface RawConfig {
  listen?: { host?: string; port?: number };
  auth: { bearer_token_env?: string; hmac_secret_env?: string };
  github: { api_url?: string; token_env: string };
  limits?: {
    max_body_bytes?: number; max_connections?: number; max_connections_per_client?: number; headers_timeout?: string; request_timeout?: string;
    max_queue?: number; dedup_window?: string; dedup_max_keys?: number; retries?: number; retry_backoff?: string; concurrency?: number; shutdown_grace?: string;
    coalesce_max?: number; coalesce_max_bytes?: number; write_interval?: string;
  };
  spool?: { dir?: string };
  redis?: { url_env: string; stream?: string; group?: string; consumer?: string; claim_idle?: string };
  routes: { name: string; source: 'alertmanager' | 'notification'; match?: Record<string, string | string[]>; event_type: string; repository: string; send_resolved?: boolean; token_env?: string; app?: string; env?: string }[];
}

/**
 * Reads relay.yaml: checked against schemas/relay.schema.json, secrets read from the environment
 * variables it names (a named variable that is unset or empty is an error, before the port opens).
 */
export async function loadRelayConfig(file: string, env: Readonly<Record<string, string | undefined>>, secret: (v: string) => void): Promise<RelayConfig> {
  const raw = validateSchema<RawConfig>(await readYaml(file, 'relay config'), schema as JsonSchema, file);
  const fromEnv = (name: string, at: (string | number)[]) => {
    const v = env[name];
    if (!v) throw new ConfigurationError(`environment variable ${name} is not set`, { file, path: jsonPath(at), hint: `set ${name} (in Kubernetes: from a Secret, see manifests/relay/deployment.yaml)` });
    secret(v);
    return v;
  };
  const bearerToken = raw.auth.bearer_token_env ? fromEnv(raw.auth.bearer_token_env, ['auth', 'bearer_token_env']) : undefined;
  const hmacSecret = raw.auth.hmac_secret_env ? fromEnv(raw.auth.hmac_secret_env, ['auth', 'hmac_secret_env']) : undefined;
  if (bearerToken && bearerToken.length < 16) throw new ConfigurationError(`the bearer token in ${raw.auth.bearer_token_env} is shorter than 16 characters`, { file, path: '$.auth.bearer_token_env', hint: 'use a random token, e.g. openssl rand -hex 32' });
  if (hmacSecret && hmacSecret.length < 16) throw new ConfigurationError(`the HMAC secret in ${raw.auth.hmac_secret_env} is shorter than 16 characters`, { file, path: '$.auth.hmac_secret_env', hint: 'use a random secret, e.g. openssl rand -hex 32' });
  const defaultToken = fromEnv(raw.github.token_env, ['github', 'token_env']);
  const names = new Set<string>();
  const routes = raw.routes.map((r, i): Route => {
    if (names.has(r.name)) throw new ConfigurationError(`route name "${r.name}" is used twice`, { file, path: jsonPath(['routes', i, 'name']), hint: 'give every route its own name' });
    names.add(r.name);
    const [owner, repo] = r.repository.split('/') as [string, string];
    return {
      name: r.name,
      source: r.source,
      match: Object.fromEntries(Object.entries(r.match ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v : [v]])),
      eventType: r.event_type,
      owner,
      repo,
      sendResolved: r.send_resolved ?? false,
      app: r.app,
      env: r.env,
      token: r.token_env ? fromEnv(r.token_env, ['routes', i, 'token_env']) : defaultToken,
    };
  });
  const dur = (v: string | undefined, dflt: string, at: string, section = 'limits') => {
    try {
      return parseDuration(v ?? dflt, at);
    } catch (e) {
      throw new ConfigurationError((e as Error).message.split('\n')[0]!, { file, path: `$.${section}.${at}` });
    }
  };
  const r = raw.redis;
  const l = raw.limits ?? {};
  return {
    host: raw.listen?.host ?? '127.0.0.1',
    port: raw.listen?.port ?? 8080,
    bearerToken,
    hmacSecret,
    apiUrl: raw.github.api_url ?? 'https://api.github.com',
    routes,
    maxBodyBytes: l.max_body_bytes ?? 256 * 1024,
    maxConnections: l.max_connections ?? 256,
    maxQueue: l.max_queue ?? 1000,
    dedupWindowMs: dur(l.dedup_window, '1h', 'dedup_window'),
    dedupMaxKeys: l.dedup_max_keys ?? 100_000,
    retries: l.retries ?? 5,
    retryBackoffMs: dur(l.retry_backoff, '1s', 'retry_backoff'),
    concurrency: l.concurrency ?? 4,
    shutdownGraceMs: dur(l.shutdown_grace, '30s', 'shutdown_grace'),
    maxConnectionsPerClient: l.max_connections_per_client ?? 64,
    headersTimeoutMs: dur(l.headers_timeout, '5s', 'headers_timeout'),
    requestTimeoutMs: dur(l.request_timeout, '15s', 'request_timeout'),
    coalesceMax: l.coalesce_max ?? 100,
    coalesceMaxBytes: l.coalesce_max_bytes ?? 60_000,
    writeIntervalMs: dur(l.write_interval, '1s', 'write_interval'),
    githubToken: defaultToken,
    spoolDir: raw.spool?.dir ?? 'relay-spool',
    redis: r && {
      url: fromEnv(r.url_env, ['redis', 'url_env']),
      stream: r.stream ?? 'mlloop-relay',
      group: r.group ?? 'mlloop-relay',
      consumer: r.consumer,
      claimIdleMs: dur(r.claim_idle, '30s', 'claim_idle', 'redis'),
    },
  };
}
