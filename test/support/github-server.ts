/**
 * An in-repo GitHub REST API for tests, checked against GitHub's published OpenAPI description
 * (`@octokit/openapi`, api.github.com). Use it through the real Octokit (`baseUrl: server.url`) or through
 * `GITHUB_API_URL` for code that builds its own client (@actions/artifact).
 *
 * Every request is
 *   1. matched to an operation by method + path template (unknown route → 404, like GitHub);
 *   2. validated: path and query parameters against their schemas (unknown query parameters are refused,
 *      so a client typo does not pass silently) and the JSON body against the operation's request schema
 *      (→ 422 with the ajv errors, shaped like GitHub's validation errors);
 *   3. authenticated: `Authorization: token|Bearer <t>` must name a token given to `start()` (401 otherwise);
 *      a read-only token gets 403 "Resource not accessible by integration" on any write — what a fork's
 *      pull_request GITHUB_TOKEN gets;
 *   4. recorded in `server.requests` (method, path, query, body, token, status, operationId);
 *   5. served from in-memory state (`server.state`) when the operation is implemented (see HANDLERS), or
 *      501 when it is valid but not implemented here — add a handler rather than loosening validation.
 *
 * Implemented: issue comments (list with Link pagination and `since`, get, create, update, delete), pulls
 * (get, list with state/head/base, create → 422 when one is open for the same head, update), labels on a
 * pull request, repos/get, repository_dispatch, workflow dispatch, workflow runs (per repo and per
 * workflow; branch/event/status filters), run artifacts (list, download through a 302 to a zip blob),
 * users/get-authenticated. Seed state with addComments/createComment, addPull, addRun, addArtifact; read
 * it from `state` (dispatches are recorded in state.repositoryDispatches / state.workflowDispatches).
 *
 *   const gh = await GitHubServer.start({ tokens: { 'ghs_rw': { login: 'github-actions[bot]' }, 'ghs_ro': { login: 'github-actions[bot]', readOnly: true } } });
 *   gh.addComments('acme', 'ocr', 7, 120, { login: 'someone' });
 *   … new Octokit({ baseUrl: gh.url, auth: 'ghs_rw' }) …
 *   expect(gh.requests.filter((r) => r.operationId === 'issues/update-comment')).toHaveLength(1);
 *   await gh.close();
 */
import { closeApi, listenApi } from './api-server.js';
import { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { deflateRawSync, crc32 as zlibCrc32 } from 'node:zlib';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

export interface TokenInfo {
  login: string;
  /** Writes (POST/PATCH/PUT/DELETE) get 403, as a fork's pull_request token. */
  readOnly?: boolean;
  /** An installation token (GITHUB_TOKEN): GET /user answers 403 as on github.com. */
  app?: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  token: string | null;
  status: number;
  operationId: string | null;
}

export interface Comment {
  id: number;
  node_id: string;
  url: string;
  html_url: string;
  issue_url: string;
  body: string;
  user: { login: string; id: number; type: string };
  created_at: string;
  updated_at: string;
  author_association: string;
}

export interface Pull {
  id: number;
  number: number;
  state: 'open' | 'closed';
  title: string;
  body: string | null;
  head: { ref: string; sha: string; label: string; repo: { full_name: string; fork: boolean } };
  base: { ref: string; sha: string; label: string; repo: { full_name: string; fork: boolean } };
  draft: boolean;
  merged: boolean;
  html_url: string;
  url: string;
  user: { login: string; id: number; type: string };
  labels: { name: string }[];
  created_at: string;
  updated_at: string;
}

export interface WorkflowRun {
  id: number;
  name: string;
  head_branch: string;
  head_sha: string;
  event: string;
  status: string;
  conclusion: string | null;
  workflow_id: number;
  path: string;
  run_number: number;
  html_url: string;
  created_at: string;
  updated_at: string;
}

export interface Artifact {
  id: number;
  run_id: number;
  name: string;
  size_in_bytes: number;
  expired: boolean;
  created_at: string;
  /** Files inside the artifact zip. */
  files: Record<string, string | Buffer>;
}

interface Route {
  method: string;
  template: string;
  regex: RegExp;
  names: string[];
  operation: Record<string, any>;
}

type Handler = (ctx: { s: GitHubServer; p: Record<string, string>; q: Record<string, any>; body: any; login: string; res: ServerResponse; url: URL }) => { status: number; body?: unknown; headers?: Record<string, string> } | void;

let specCache: { spec: any; routes: Route[] } | undefined;

function loadSpec(): { spec: any; routes: Route[] } {
  if (specCache) return specCache;
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve('@octokit/openapi/package.json'));
  const spec = JSON.parse(readFileSync(join(pkgDir, 'generated', 'api.github.com.json'), 'utf8'));
  const routes: Route[] = [];
  for (const [template, item] of Object.entries<any>(spec.paths)) {
    const names: string[] = [];
    const regex = new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{([^}]+)\}/g, (_, n: string) => (names.push(n), '([^/]+)'))}$`);
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      if (item[method]) routes.push({ method: method.toUpperCase(), template, regex, names, operation: { ...item[method], parameters: [...(item.parameters ?? []), ...(item[method].parameters ?? [])] } });
    }
  }
  // Literal segments beat parameters: /repos/{o}/{r}/issues/comments before /repos/{o}/{r}/issues/{n}.
  routes.sort((a, b) => b.template.split('/').filter((s) => !s.startsWith('{')).length - a.template.split('/').filter((s) => !s.startsWith('{')).length);
  specCache = { spec, routes };
  return specCache;
}

/** OpenAPI 3.0 → JSON Schema: `nullable`, and refs into the spec document. */
function toJsonSchema(s: any): any {
  if (Array.isArray(s)) return s.map(toJsonSchema);
  if (!s || typeof s !== 'object') return s;
  const out: any = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === '$ref' && typeof v === 'string') out.$ref = `github-openapi${v}`;
    else if (k === 'example' || k === 'examples' || k === 'x-github') continue;
    else out[k] = toJsonSchema(v);
  }
  if (out.nullable === true) {
    delete out.nullable;
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    else if (out.enum) out.enum = [...out.enum, null];
    else if (out.$ref || out.anyOf || out.oneOf || out.allOf) return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export class GitHubServer {
  readonly requests: RecordedRequest[] = [];
  readonly state = {
    comments: [] as (Comment & { repo: string; issue: number })[],
    pulls: [] as (Pull & { repo: string })[],
    repositoryDispatches: [] as { repo: string; event_type: string; client_payload: unknown }[],
    workflowDispatches: [] as { repo: string; workflow_id: string; ref: string; inputs: unknown }[],
    runs: [] as (WorkflowRun & { repo: string })[],
    artifacts: [] as (Artifact & { repo: string })[],
  };
  url = '';
  private server!: Server;
  private nextId = 1000;
  private readonly ajv: Ajv;
  private readonly validators = new Map<string, ValidateFunction>();
  private failures: { status: number; count: number; match?: (method: string, path: string) => boolean; headers?: Record<string, string> }[] = [];
  private clock = Date.parse('2025-06-12T10:00:00Z');

  private constructor(private readonly tokens: Record<string, TokenInfo>) {
    const { spec } = loadSpec();
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true, coerceTypes: false });
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: 'github-openapi', components: toJsonSchema(spec.components) });
  }

  /** API paths are served under this prefix: `/api/v3` is GitHub Enterprise Server's REST root. */
  private prefix = '';

  /** `url` is the REST API root to give clients (with `prefix: '/api/v3'`, as a GHES instance's). */
  static async start(opts: { tokens: Record<string, TokenInfo>; prefix?: string }): Promise<GitHubServer> {
    const s = new GitHubServer(opts.tokens);
    s.prefix = (opts.prefix ?? '').replace(/\/+$/, '');
    ({ server: s.server, url: s.url } = await listenApi((req, res) => s.handle(req, res), s.prefix));
    return s;
  }

  close(): Promise<void> {
    return closeApi(this.server);
  }

  /** Answers the next `count` matching requests with `status` (to exercise retries and outage handling). */
  failNext(count: number, status: number, match?: (method: string, path: string) => boolean, headers?: Record<string, string>): void {
    this.failures.push({ status, count, match, headers });
  }

  private id(): number {
    return this.nextId++;
  }

  private now(): string {
    this.clock += 1000;
    return iso(new Date(this.clock));
  }

  private user(login: string) {
    return { login, id: 10_000 + [...login].reduce((a, c) => a + c.charCodeAt(0), 0), type: login.endsWith('[bot]') ? 'Bot' : 'User' };
  }

  /** Seeds `count` comments on an issue or pull request. */
  addComments(owner: string, repo: string, issue: number, count: number, by: { login: string; body?: (i: number) => string }): Comment[] {
    const out: Comment[] = [];
    for (let i = 0; i < count; i++) out.push(this.createComment(`${owner}/${repo}`, issue, by.body ? by.body(i) : `comment ${i + 1}`, by.login));
    return out;
  }

  createComment(repo: string, issue: number, body: string, login: string): Comment & { repo: string; issue: number } {
    const id = this.id();
    const at = this.now();
    const c = {
      id,
      node_id: `IC_${id}`,
      url: `${this.url}/repos/${repo}/issues/comments/${id}`,
      html_url: `https://github.com/${repo}/pull/${issue}#issuecomment-${id}`,
      issue_url: `${this.url}/repos/${repo}/issues/${issue}`,
      body,
      user: this.user(login),
      created_at: at,
      updated_at: at,
      author_association: login.endsWith('[bot]') ? 'NONE' : 'MEMBER',
      repo,
      issue,
    };
    this.state.comments.push(c);
    return c;
  }

  comments(owner: string, repo: string, issue: number): Comment[] {
    return this.state.comments.filter((c) => c.repo === `${owner}/${repo}` && c.issue === issue);
  }

  addPull(owner: string, repo: string, p: { number?: number; title?: string; head: string; base: string; fork?: boolean; headRepo?: string; login?: string }): Pull {
    const number = p.number ?? this.id();
    const full = `${owner}/${repo}`;
    const headRepo = p.headRepo ?? full;
    const at = this.now();
    const pull = {
      id: this.id(),
      number,
      state: 'open' as const,
      title: p.title ?? `PR ${number}`,
      body: null,
      head: { ref: p.head, sha: 'b'.repeat(40), label: `${headRepo.split('/')[0]}:${p.head}`, repo: { full_name: headRepo, fork: p.fork ?? headRepo !== full } },
      base: { ref: p.base, sha: 'a'.repeat(40), label: `${owner}:${p.base}`, repo: { full_name: full, fork: false } },
      draft: false,
      merged: false,
      html_url: `https://github.com/${full}/pull/${number}`,
      url: `${this.url}/repos/${full}/pulls/${number}`,
      user: this.user(p.login ?? 'octocat'),
      labels: [],
      created_at: at,
      updated_at: at,
      repo: full,
    };
    this.state.pulls.push(pull);
    return pull;
  }

  addRun(owner: string, repo: string, r: Partial<WorkflowRun> & { head_branch: string }): WorkflowRun {
    const id = r.id ?? this.id();
    const at = r.created_at ?? this.now();
    const run = {
      id,
      name: r.name ?? 'ci',
      head_branch: r.head_branch,
      head_sha: r.head_sha ?? 'c'.repeat(40),
      event: r.event ?? 'push',
      status: r.status ?? 'completed',
      conclusion: r.conclusion === undefined ? 'success' : r.conclusion,
      workflow_id: r.workflow_id ?? 161335,
      path: r.path ?? '.github/workflows/ci.yml',
      run_number: r.run_number ?? id,
      html_url: `https://github.com/${owner}/${repo}/actions/runs/${id}`,
      created_at: at,
      updated_at: at,
      repo: `${owner}/${repo}`,
    };
    this.state.runs.push(run);
    return run;
  }

  addArtifact(owner: string, repo: string, a: { run_id: number; name: string; files: Record<string, string | Buffer>; expired?: boolean }): Artifact {
    const zip = zipFiles(a.files);
    const art = { id: this.id(), run_id: a.run_id, name: a.name, size_in_bytes: zip.length, expired: a.expired ?? false, created_at: this.now(), files: a.files, repo: `${owner}/${repo}` };
    this.state.artifacts.push(art);
    return art;
  }

  private validator(key: string, schema: unknown): ValidateFunction {
    let v = this.validators.get(key);
    if (!v) {
      v = this.ajv.compile(toJsonSchema(schema));
      this.validators.set(key, v);
    }
    return v;
  }

  private resolveParam(p: any): any {
    if (p.$ref) {
      const name = p.$ref.split('/').pop();
      return loadSpec().spec.components.parameters[name];
    }
    return p;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    // Under a prefix (GHES), a request outside it is not an API call at all.
    if (this.prefix) {
      if (url.pathname !== this.prefix && !url.pathname.startsWith(`${this.prefix}/`)) {
        res.writeHead(404, { 'content-type': 'text/html' });
        res.end('<html>not the API root</html>');
        return;
      }
      url.pathname = url.pathname.slice(this.prefix.length) || '/';
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const auth = req.headers.authorization ?? '';
    const token = /^(?:token|bearer)\s+(.+)$/i.exec(auth)?.[1] ?? null;
    const query = Object.fromEntries(url.searchParams);
    const rec: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query, body: undefined, token, status: 0, operationId: null };
    this.requests.push(rec);
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      rec.status = status;
      const text = body === undefined ? '' : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      res.writeHead(status, { ...(body !== undefined && !Buffer.isBuffer(body) ? { 'content-type': 'application/json; charset=utf-8' } : {}), 'x-github-api-version-selected': '2022-11-28', ...headers });
      res.end(text);
    };
    // Artifact blobs: what the 302 of download-artifact points at (no API auth, as signed blob URLs).
    const blob = /^\/_blobs\/(\d+)\.zip$/.exec(url.pathname);
    if (blob) {
      const art = this.state.artifacts.find((a) => a.id === Number(blob[1]));
      return art ? send(200, zipFiles(art.files), { 'content-type': 'application/zip' }) : send(404, { message: 'BlobNotFound' });
    }
    const method = rec.method;
    const route = loadSpec().routes.find((r) => r.method === method && r.regex.test(url.pathname));
    if (!route) return send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
    rec.operationId = route.operation.operationId;
    const m = route.regex.exec(url.pathname)!;
    const params: Record<string, string> = {};
    route.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1]!)));
    const errors: { resource: string; field: string; code: string; message?: string }[] = [];
    const q: Record<string, any> = {};
    const declared = route.operation.parameters.map((p: any) => this.resolveParam(p));
    for (const p of declared) {
      const value = p.in === 'path' ? params[p.name] : p.in === 'query' ? query[p.name] : undefined;
      if (p.in !== 'path' && p.in !== 'query') continue;
      if (value === undefined) {
        if (p.required) errors.push({ resource: 'Request', field: p.name, code: 'missing_field' });
        continue;
      }
      const typed = coerce(value, p.schema);
      const v = this.validator(`${route.operation.operationId}:${p.in}:${p.name}`, p.schema ?? {});
      if (!v(typed)) errors.push({ resource: 'Request', field: p.name, code: 'invalid', message: `${p.in} parameter ${p.name}=${JSON.stringify(value)} ${this.ajv.errorsText(v.errors)}` });
      (p.in === 'path' ? params : q)[p.name] = typed;
    }
    for (const name of Object.keys(query)) {
      if (!declared.some((p: any) => p.in === 'query' && p.name === name)) errors.push({ resource: 'Request', field: name, code: 'unexpected', message: `unknown query parameter "${name}" for ${route.operation.operationId}` });
    }
    let body: any;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        return send(400, { message: 'Problems parsing JSON' });
      }
    }
    rec.body = body;
    const bodySchema = route.operation.requestBody?.content?.['application/json']?.schema;
    if (bodySchema) {
      if (body === undefined && route.operation.requestBody.required) errors.push({ resource: 'Request', field: 'body', code: 'missing' });
      else if (body !== undefined) {
        const v = this.validator(`${route.operation.operationId}:body`, bodySchema);
        if (!v(body)) for (const e of v.errors ?? []) errors.push({ resource: 'Request', field: e.instancePath || '(body)', code: 'invalid', message: `${e.instancePath || 'body'} ${e.message}` });
      }
    }
    if (!token) return send(401, { message: 'Requires authentication', documentation_url: 'https://docs.github.com/rest' });
    const who = this.tokens[token];
    if (!who) return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
    if (errors.length) return send(422, { message: 'Validation Failed', errors, documentation_url: 'https://docs.github.com/rest' });
    const fail = this.failures.find((f) => f.count > 0 && (!f.match || f.match(method, url.pathname)));
    if (fail) {
      fail.count--;
      return send(fail.status, { message: fail.status === 403 ? 'You have exceeded a secondary rate limit' : 'Server Error' }, fail.headers);
    }
    if (method !== 'GET' && who.readOnly) return send(403, { message: 'Resource not accessible by integration', documentation_url: 'https://docs.github.com/rest', status: '403' });
    const handler = HANDLERS[route.operation.operationId];
    if (!handler) return send(501, { message: `mlloop test server: ${route.operation.operationId} is valid but not implemented; add a handler in test/support/github-server.ts` });
    if (route.operation.operationId === 'users/get-authenticated' && who.app) return send(403, { message: 'Resource not accessible by integration', status: '403' });
    const out = handler({ s: this, p: params, q, body, login: who.login, res, url });
    if (out) send(out.status, out.body, out.headers);
  }

  /** One page of a list, with GitHub's Link header. */
  page<T>(items: T[], q: Record<string, any>, url: URL): { body: T[]; headers: Record<string, string>; total: number } {
    const perPage = Math.min(100, Number(q.per_page ?? 30));
    const page = Math.max(1, Number(q.page ?? 1));
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const link = (p: number, rel: string) => {
      const u = new URL(url.toString());
      u.searchParams.set('per_page', String(perPage));
      u.searchParams.set('page', String(p));
      return `<${u.toString()}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
    if (page > 1) links.push(link(1, 'first'), link(page - 1, 'prev'));
    return { body: items.slice((page - 1) * perPage, page * perPage), headers: links.length ? { link: links.join(', ') } : {}, total: items.length };
  }
}

function coerce(value: string, schema: any): unknown {
  const t = schema?.type;
  if (t === 'integer' || t === 'number') return value.trim() !== '' && !Number.isNaN(Number(value)) ? Number(value) : value;
  if (t === 'boolean') return value === 'true' ? true : value === 'false' ? false : value;
  if (t === 'array') return value.split(',');
  return value;
}

const strip = (x: object) => {
  const { repo: _r, issue: _i, ...rest } = x as any;
  return rest;
};

const HANDLERS: Record<string, Handler> = {
  'users/get-authenticated': ({ s, login }) => ({ status: 200, body: { ...(s as any).user(login), name: login } }),
  'issues/list-comments': ({ s, p, q, url }) => {
    const items = s.comments(p.owner!, p.repo!, Number(p.issue_number)).filter((c) => !q.since || c.updated_at >= q.since).map(strip);
    const pg = s.page(items, q, url);
    return { status: 200, body: pg.body, headers: pg.headers };
  },
  'issues/get-comment': ({ s, p }) => {
    const c = s.state.comments.find((x) => x.id === Number(p.comment_id) && x.repo === `${p.owner}/${p.repo}`);
    return c ? { status: 200, body: strip(c) } : { status: 404, body: { message: 'Not Found' } };
  },
  'issues/create-comment': ({ s, p, body, login }) => {
    const issue = Number(p.issue_number);
    return { status: 201, body: strip(s.createComment(`${p.owner}/${p.repo}`, issue, body.body, login)) };
  },
  'issues/update-comment': ({ s, p, body, login }) => {
    const c = s.state.comments.find((x) => x.id === Number(p.comment_id) && x.repo === `${p.owner}/${p.repo}`);
    if (!c) return { status: 404, body: { message: 'Not Found' } };
    if (c.user.login !== login) return { status: 403, body: { message: 'Resource not accessible by integration' } };
    c.body = body.body;
    c.updated_at = (s as any).now();
    return { status: 200, body: strip(c) };
  },
  'issues/delete-comment': ({ s, p }) => {
    const i = s.state.comments.findIndex((x) => x.id === Number(p.comment_id) && x.repo === `${p.owner}/${p.repo}`);
    if (i < 0) return { status: 404, body: { message: 'Not Found' } };
    s.state.comments.splice(i, 1);
    return { status: 204 };
  },
  'pulls/get': ({ s, p }) => {
    const pr = s.state.pulls.find((x) => x.repo === `${p.owner}/${p.repo}` && x.number === Number(p.pull_number));
    return pr ? { status: 200, body: strip(pr) } : { status: 404, body: { message: 'Not Found' } };
  },
  'pulls/list': ({ s, p, q, url }) => {
    const state = q.state ?? 'open';
    const items = s.state.pulls
      .filter((x) => x.repo === `${p.owner}/${p.repo}` && (state === 'all' || x.state === state) && (!q.base || x.base.ref === q.base) && (!q.head || x.head.label === q.head))
      .map(strip);
    const pg = s.page(items, q, url);
    return { status: 200, body: pg.body, headers: pg.headers };
  },
  'pulls/create': ({ s, p, body, login }) => {
    const full = `${p.owner}/${p.repo}`;
    const headLabel = String(body.head).includes(':') ? String(body.head) : `${p.owner}:${body.head}`;
    if (s.state.pulls.some((x) => x.repo === full && x.state === 'open' && x.head.label === headLabel && x.base.ref === body.base)) {
      return { status: 422, body: { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${headLabel}.` }] } };
    }
    const [headOwner, headRef] = headLabel.split(':') as [string, string];
    const pr = s.addPull(p.owner!, p.repo!, { head: headRef, base: body.base, title: body.title, headRepo: `${headOwner}/${p.repo}`, login });
    (pr as any).body = body.body ?? null;
    (pr as any).draft = body.draft ?? false;
    return { status: 201, body: strip(pr) };
  },
  'pulls/update': ({ s, p, body }) => {
    const pr = s.state.pulls.find((x) => x.repo === `${p.owner}/${p.repo}` && x.number === Number(p.pull_number));
    if (!pr) return { status: 404, body: { message: 'Not Found' } };
    for (const k of ['title', 'body', 'state'] as const) if (body[k] !== undefined) (pr as any)[k] = body[k];
    if (body.base !== undefined) pr.base.ref = body.base;
    pr.updated_at = (s as any).now();
    return { status: 200, body: strip(pr) };
  },
  'repos/get': ({ p }) => ({ status: 200, body: { id: 600001, name: p.repo, full_name: `${p.owner}/${p.repo}`, private: false, fork: false, default_branch: 'main', owner: { login: p.owner, id: 1, type: 'Organization' }, html_url: `https://github.com/${p.owner}/${p.repo}` } }),
  'issues/add-labels': ({ s, p, body }) => {
    const pr = s.state.pulls.find((x) => x.repo === `${p.owner}/${p.repo}` && x.number === Number(p.issue_number));
    if (!pr) return { status: 404, body: { message: 'Not Found' } };
    const names: string[] = Array.isArray(body) ? body : Array.isArray(body?.labels) ? body.labels.map((l: string | { name: string }) => (typeof l === 'string' ? l : l.name)) : [];
    for (const n of names) if (!pr.labels.some((l) => l.name === n)) pr.labels.push({ name: n });
    return { status: 200, body: pr.labels.map((l, i) => ({ id: i + 1, name: l.name, color: 'ededed', default: false })) };
  },
  'repos/create-dispatch-event': ({ s, p, body }) => {
    s.state.repositoryDispatches.push({ repo: `${p.owner}/${p.repo}`, event_type: body.event_type, client_payload: body.client_payload ?? {} });
    return { status: 204 };
  },
  'actions/create-workflow-dispatch': ({ s, p, body }) => {
    s.state.workflowDispatches.push({ repo: `${p.owner}/${p.repo}`, workflow_id: String(p.workflow_id), ref: body.ref, inputs: body.inputs ?? {} });
    return { status: 204 };
  },
  'actions/list-workflow-runs-for-repo': (c) => listRuns(c),
  'actions/list-workflow-runs': (c) => listRuns(c, String(c.p.workflow_id)),
  'actions/list-workflow-run-artifacts': ({ s, p, q, url }) => {
    const items = s.state.artifacts.filter((a) => a.repo === `${p.owner}/${p.repo}` && a.run_id === Number(p.run_id) && (!q.name || a.name === q.name)).map((a) => artifactJson(s, a));
    const pg = s.page(items, q, url);
    return { status: 200, body: { total_count: pg.total, artifacts: pg.body }, headers: pg.headers };
  },
  'actions/list-artifacts-for-repo': ({ s, p, q, url }) => {
    const items = s.state.artifacts.filter((a) => a.repo === `${p.owner}/${p.repo}` && (!q.name || a.name === q.name)).map((a) => artifactJson(s, a));
    const pg = s.page(items, q, url);
    return { status: 200, body: { total_count: pg.total, artifacts: pg.body }, headers: pg.headers };
  },
  'actions/download-artifact': ({ s, p }) => {
    const a = s.state.artifacts.find((x) => x.repo === `${p.owner}/${p.repo}` && x.id === Number(p.artifact_id));
    if (!a) return { status: 404, body: { message: 'Not Found' } };
    if (a.expired) return { status: 410, body: { message: 'Artifact has expired' } };
    return { status: 302, headers: { location: `${s.url}/_blobs/${a.id}.zip?sig=test` } };
  },
};

function artifactJson(s: GitHubServer, a: Artifact & { repo: string }) {
  return {
    id: a.id,
    node_id: `MDg6QXJ0aWZhY3Q${a.id}`,
    name: a.name,
    size_in_bytes: a.size_in_bytes,
    url: `${s.url}/repos/${a.repo}/actions/artifacts/${a.id}`,
    archive_download_url: `${s.url}/repos/${a.repo}/actions/artifacts/${a.id}/zip`,
    expired: a.expired,
    created_at: a.created_at,
    expires_at: a.created_at,
    updated_at: a.created_at,
    workflow_run: { id: a.run_id, head_branch: 'main', head_sha: 'c'.repeat(40) },
  };
}

function listRuns({ s, p, q, url }: Parameters<Handler>[0], workflow?: string) {
  const items = s.state.runs
    .filter((r) => r.repo === `${p.owner}/${p.repo}`)
    .filter((r) => !workflow || String(r.workflow_id) === workflow || r.path.endsWith(`/${workflow}`))
    .filter((r) => !q.branch || r.head_branch === q.branch)
    .filter((r) => !q.event || r.event === q.event)
    .filter((r) => !q.head_sha || r.head_sha === q.head_sha)
    .filter((r) => !q.status || r.status === q.status || r.conclusion === q.status)
    .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id - a.id)
    .map(strip);
  const pg = s.page(items, q, url);
  return { status: 200, body: { total_count: pg.total, workflow_runs: pg.body }, headers: pg.headers };
}

/** A zip archive (deflate) of the given files, as artifact downloads return. */
export function zipFiles(files: Record<string, string | Buffer>): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content);
    const packed = deflateRawSync(data);
    const crc = zlibCrc32(data);
    const n = Buffer.from(name);
    // The fields a local header (at 4) and a central-directory entry (at 6) share.
    const common = (b: Buffer, at: number) => {
      b.writeUInt16LE(20, at);
      b.writeUInt16LE(0x0800, at + 2);
      b.writeUInt16LE(8, at + 4);
      b.writeUInt32LE(crc, at + 10);
      b.writeUInt32LE(packed.length, at + 14);
      b.writeUInt32LE(data.length, at + 18);
      b.writeUInt16LE(n.length, at + 22);
    };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    common(local, 4);
    locals.push(local, n, packed);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    common(c, 6);
    c.writeUInt32LE(offset, 42);
    central.push(c, n);
    offset += 30 + n.length + packed.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
