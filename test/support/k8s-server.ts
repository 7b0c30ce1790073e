import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { validateObject, type K8sObject } from './manifests.js';
import { ROOT } from './paths.js';

/**
 * A Kubernetes API test server (one per cluster) for the dispatcher's tests: no API server can run on
 * these machines. It speaks the real REST paths, status codes and Status objects of the API server for
 * what mlloop uses: list nodes/pods (labelSelector, fieldSelector, limit/continue, resourceVersion),
 * `?watch=true` streams, create (201, 409 AlreadyExists) / get (404 NotFound) / patch (JSON and merge
 * patch; a failed JSON patch `test` is 422) / delete (DeleteOptions preconditions.uid: 409 Conflict) of batch/v1
 * and Volcano batch.volcano.sh/v1alpha1 Jobs, and SelfSubjectAccessReview.
 * Every object it receives is validated (kubernetes-models; the Volcano Job against its CRD schema)
 * and a bad one is refused with 422 Invalid and recorded in `invalid`. A tiny Job controller creates
 * the Job's pods, which get scheduled after `scheduleAfterMs` or stay Pending (`schedule: 'never'`).
 * Pod logs (`GET …/pods/NAME/log`) are served from lines a test writes with `writeLog`, honouring
 * `container`, `sinceSeconds`, `sinceTime`, `tailLines`, `timestamps` and `limitBytes` as the kubelet does.
 */
export type Obj = Record<string, any>;

export interface K8sServerOptions {
  nodes: Obj[];
  pods?: Obj[];
  token?: string;
  /** SelfSubjectAccessReview answer; default: allowed. */
  allow?: (attrs: Obj) => boolean;
  /** What happens to pods of created Jobs. */
  schedule?: 'never' | { afterMs: number };
  /** Delay every response (a slow API server). */
  latencyMs?: number;
  /** A deleted Job lingers this long with a deletionTimestamp (finalizers). */
  deleteDelayMs?: number;
  /** Requests to matching paths get 403 Forbidden, as RBAC answers (e.g. /^\/api\/v1\/pods$/). */
  forbidden?: RegExp;
  /** An evicted pod is deleted this long after the Eviction (its grace period); default 100 ms. */
  evictionGraceMs?: number;
  /** scheduling.k8s.io/v1 PriorityClasses. */
  priorityClasses?: Obj[];
}

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
}

type Kind = 'pods' | 'jobs' | 'nodes' | 'priorityclasses';

interface Event {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  kind: Kind;
  object: Obj;
}

let volcanoValidator: ValidateFunction | undefined;
function volcanoSchema(): ValidateFunction {
  if (!volcanoValidator) {
    const schema = parseYaml(readFileSync(join(ROOT, 'test/dispatch/fixtures/volcano-job-crd-schema.yaml'), 'utf8')) as Obj;
    // Unknown fields are errors here (the API server would prune them silently and the job would differ).
    const strict = (s: Obj): Obj => {
      if (s && typeof s === 'object' && s.type === 'object' && s.properties && !s['x-mlloop-podspec']) {
        s.additionalProperties = false;
        for (const v of Object.values(s.properties as Obj)) strict(v as Obj);
      }
      if (s?.items) strict(s.items);
      return s;
    };
    const ajv = new Ajv({ allErrors: true, strict: false });
    ajv.addKeyword({ keyword: 'x-mlloop-podspec' });
    ajv.addFormat('int32', true);
    ajv.addFormat('int64', true);
    volcanoValidator = ajv.compile(strict(schema));
  }
  return volcanoValidator;
}

/** Validates an object the way the test server does (kubernetes-models; Volcano Jobs against the CRD schema). */
export async function validate(obj: Obj): Promise<void> {
  if (obj.apiVersion === 'batch.volcano.sh/v1alpha1') {
    const v = volcanoSchema();
    const jobName = String(obj.metadata?.name);
    if (!v(obj)) throw new Error(`Job.batch.volcano.sh "${jobName}" is invalid: ${v.errors!.map((e) => `${e.instancePath} ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`).join('; ')}`);
    for (const [i, t] of (obj.spec?.tasks ?? []).entries()) {
      await validateObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `${jobName}-task-${i}` }, spec: t.template?.spec } as K8sObject);
    }
    return;
  }
  await validateObject(obj as K8sObject);
}

function status(code: number, reason: string, message: string, details?: Obj): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: code < 400 ? 'Success' : 'Failure', message, reason, ...(details ? { details } : {}), code };
}

/** Label selector: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`, comma-joined. */
export function matchLabels(selector: string | undefined, labels: Record<string, string> = {}): boolean {
  if (!selector) return true;
  const parts = selector.match(/([^,(]+(\([^)]*\))?)/g) ?? [];
  return parts.every((raw) => {
    const p = raw.trim();
    if (!p) return true;
    let m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p);
    if (m) {
      const vals = m[3]!.split(',').map((s) => s.trim());
      const has = m[1]! in labels && vals.includes(labels[m[1]!]!);
      return m[2] === 'in' ? has : !has;
    }
    if ((m = /^([^!=]+)!=(.*)$/.exec(p))) return labels[m[1]!.trim()] !== m[2]!.trim();
    if ((m = /^([^!=]+)==?(.*)$/.exec(p))) return labels[m[1]!.trim()] === m[2]!.trim();
    if (p.startsWith('!')) return !(p.slice(1) in labels);
    return p in labels;
  });
}

function fieldValue(obj: Obj, field: string): string {
  let cur: any = obj;
  for (const k of field.split('.')) cur = cur?.[k];
  return cur === undefined || cur === null ? '' : String(cur);
}

/** Field selector: `f=v`, `f==v`, `f!=v`, comma-joined (what the API server supports for pods/nodes). */
export function matchFields(selector: string | undefined, obj: Obj): boolean {
  if (!selector) return true;
  return selector.split(',').every((raw) => {
    const p = raw.trim();
    let m = /^([^!=]+)!=(.*)$/.exec(p);
    if (m) return fieldValue(obj, m[1]!) !== m[2];
    m = /^([^!=]+)==?(.*)$/.exec(p);
    if (m) return fieldValue(obj, m[1]!) === m[2];
    return false;
  });
}

/** A JSON patch `test` that does not hold: the API server answers 422 Invalid. */
class PatchTestFailed extends Error {}

function applyJsonPatch(target: Obj, ops: Obj[]): Obj {
  const out = structuredClone(target);
  for (const op of ops) {
    const keys = String(op.path).split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop()!;
    let cur = out;
    for (const k of keys) cur = cur[k] ??= {};
    if (op.op === 'add' || op.op === 'replace') cur[last] = op.value;
    else if (op.op === 'remove') delete cur[last];
    else if (op.op === 'test') {
      if (JSON.stringify(cur[last]) !== JSON.stringify(op.value)) throw new PatchTestFailed(`Testing value ${op.path} failed`);
    }
    else throw new Error(`unsupported patch op ${op.op}`);
  }
  return out;
}

function mergePatch(target: any, patch: any): any {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export class K8sTestServer {
  readonly token: string;
  readonly requests: RequestRecord[] = [];
  /** Objects refused by validation (a test asserts this stays empty). */
  readonly invalid: string[] = [];
  readonly nodes: Obj[];
  readonly pods = new Map<string, Obj>();
  readonly jobs = new Map<string, Obj>();
  private rv = 1000;
  private readonly events: Event[] = [];
  readonly priorityClasses: Obj[];
  /** Pods evicted through the Eviction API (namespace/name). */
  readonly evictions: string[] = [];
  /** Log lines per container (namespace/pod/container), oldest first. */
  private readonly logs = new Map<string, { time: Date; text: string }[]>();
  /** Watches from a resourceVersion at or below this get 410 Gone (etcd compacted the history). */
  private compactedRv = 0;
  private readonly watchers = new Set<{ kind: Kind; ns?: string; labelSelector?: string; fieldSelector?: string; res: ServerResponse }>();
  private server!: Server;
  private timers = new Set<NodeJS.Timeout>();
  port = 0;

  private constructor(readonly opts: K8sServerOptions) {
    this.token = opts.token ?? `test-token-${randomBytes(12).toString('hex')}`;
    this.nodes = opts.nodes.map((n) => ({ ...structuredClone(n), metadata: { ...n.metadata, resourceVersion: String(++this.rv) } }));
    for (const p of opts.pods ?? []) this.putPod(structuredClone(p), false);
    this.priorityClasses = (opts.priorityClasses ?? []).map((pc) => ({ ...structuredClone(pc), metadata: { ...pc.metadata, resourceVersion: String(++this.rv) } }));
  }

  /** Creates or replaces a pod, as the API server would after a client's write (watchers see ADDED/MODIFIED). */
  applyPod(pod: Obj): void {
    const p = structuredClone(pod);
    const known = this.pods.has(`${p.metadata.namespace}/${p.metadata.name}`);
    this.putPod(p, true, known ? 'MODIFIED' : 'ADDED');
  }

  /** Appends a line to a container's log (the container defaults to the pod's first). */
  writeLog(namespace: string, pod: string, text: string, opts: { container?: string; time?: Date } = {}): void {
    const p = this.pods.get(`${namespace}/${pod}`);
    const container = opts.container ?? p?.spec?.containers?.[0]?.name ?? 'main';
    const key = `${namespace}/${pod}/${container}`;
    const lines = this.logs.get(key) ?? [];
    lines.push({ time: opts.time ?? new Date(), text });
    lines.sort((a, b) => a.time.getTime() - b.time.getTime());
    this.logs.set(key, lines);
  }

  removePod(namespace: string, name: string): void {
    this.deletePod(`${namespace}/${name}`);
  }

  /** Forgets the event history (as etcd compaction does) and ends open watches: a resumed watch gets 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    this.events.length = 0;
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  static async start(opts: K8sServerOptions): Promise<K8sTestServer> {
    const s = new K8sTestServer(opts);
    s.server = createServer((req, res) => void s.handle(req, res));
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.port = (s.server.address() as { port: number }).port;
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A kubeconfig for this server (bearer token), as users write them. */
  kubeconfig(context = 'test'): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      `current-context: ${context}`,
      'clusters:',
      `- name: ${context}`,
      '  cluster:',
      `    server: ${this.url}`,
      // client-node refuses plain http unless TLS verification is off explicitly.
      '    insecure-skip-tls-verify: true',
      'contexts:',
      `- name: ${context}`,
      '  context:',
      `    cluster: ${context}`,
      `    user: ${context}-user`,
      'users:',
      `- name: ${context}-user`,
      '  user:',
      `    token: ${this.token}`,
      '',
    ].join('\n');
  }

  writeKubeconfig(dir: string, context = 'test'): string {
    const file = join(dir, `kubeconfig-${context}-${this.port}.yaml`);
    writeFileSync(file, this.kubeconfig(context));
    return file;
  }

  /** Stops answering: the port is closed, so clients see connection refused (an unreachable cluster). */
  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Requests that created something (POST of Jobs). */
  get creates(): RequestRecord[] {
    return this.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/jobs'));
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private emit(kind: Kind, type: Event['type'], object: Obj): void {
    const ev: Event = { rv: Number(object.metadata.resourceVersion), type, kind, object: structuredClone(object) };
    this.events.push(ev);
    for (const w of this.watchers) {
      if (w.kind !== kind) continue;
      if (w.ns && object.metadata.namespace !== w.ns) continue;
      if (!matchLabels(w.labelSelector, object.metadata.labels) || !matchFields(w.fieldSelector, object)) continue;
      w.res.write(`${JSON.stringify({ type, object })}\n`);
    }
  }

  private putPod(pod: Obj, emit = true, type: Event['type'] = 'ADDED'): void {
    pod.metadata.resourceVersion = String(++this.rv);
    pod.metadata.uid ??= randomBytes(16).toString('hex');
    this.pods.set(`${pod.metadata.namespace}/${pod.metadata.name}`, pod);
    if (emit) this.emit('pods', type, pod);
  }

  private deletePod(key: string): void {
    const pod = this.pods.get(key);
    if (!pod) return;
    this.pods.delete(key);
    pod.metadata.resourceVersion = String(++this.rv);
    this.emit('pods', 'DELETED', pod);
  }

  private send(res: ServerResponse, code: number, body: Obj): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private async body(req: IncomingMessage): Promise<any> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return text ? JSON.parse(text) : undefined;
  }

  /** The request's object when kubernetes-models accepts it; otherwise answers 422 Invalid, records it, and returns undefined. */
  private async validBody(req: IncomingMessage, res: ServerResponse): Promise<Obj | undefined> {
    const body = await this.body(req);
    try {
      await validateObject(body as K8sObject);
      return body;
    } catch (e) {
      this.invalid.push((e as Error).message);
      this.send(res, 422, status(422, 'Invalid', (e as Error).message));
      return undefined;
    }
  }

  private list(res: ServerResponse, kind: string, items: Obj[], q: Record<string, string>): void {
    const selected = items.filter((o) => matchLabels(q.labelSelector, o.metadata?.labels) && matchFields(q.fieldSelector, o));
    const offset = q.continue ? Number(Buffer.from(q.continue, 'base64url').toString()) : 0;
    const limit = q.limit ? Number(q.limit) : Infinity;
    const page = selected.slice(offset, offset + limit);
    const next = offset + page.length < selected.length ? Buffer.from(String(offset + page.length)).toString('base64url') : undefined;
    const apiVersion = kind === 'JobList' && items[0]?.apiVersion ? items[0].apiVersion : kind === 'JobList' ? 'batch/v1' : kind === 'PriorityClassList' ? 'scheduling.k8s.io/v1' : 'v1';
    this.send(res, 200, { kind, apiVersion, metadata: { resourceVersion: String(this.rv), ...(next ? { continue: next } : {}) }, items: page });
  }

  private watch(res: ServerResponse, kind: Kind, ns: string | undefined, q: Record<string, string>): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const since = Number(q.resourceVersion ?? 0);
    if (q.resourceVersion && since <= this.compactedRv) {
      // What the API server sends for a resourceVersion older than its history: an ERROR event, then the end.
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${since} (${this.compactedRv + 1})`, reason: 'Expired', code: 410 } })}\n`);
      return;
    }
    for (const ev of this.events) {
      if (ev.kind !== kind || ev.rv <= since) continue;
      if (ns && ev.object.metadata.namespace !== ns) continue;
      if (!matchLabels(q.labelSelector, ev.object.metadata.labels) || !matchFields(q.fieldSelector, ev.object)) continue;
      res.write(`${JSON.stringify({ type: ev.type, object: ev.object })}\n`);
    }
    if (q.allowWatchBookmarks === 'true') res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: kind === 'priorityclasses' ? 'PriorityClass' : kind === 'nodes' ? 'Node' : kind === 'pods' ? 'Pod' : 'Job', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } } })}\n`);
    const w = { kind, ns, labelSelector: q.labelSelector, fieldSelector: q.fieldSelector, res };
    this.watchers.add(w);
    const timeout = Number(q.timeoutSeconds ?? 1800) * 1000;
    this.later(timeout, () => {
      this.watchers.delete(w);
      res.end();
    });
    res.on('close', () => this.watchers.delete(w));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = Object.fromEntries(url.searchParams) as Record<string, string>;
    const method = req.method ?? 'GET';
    this.requests.push({ method, path: url.pathname, query: q });
    if (this.opts.latencyMs) await new Promise((r) => setTimeout(r, this.opts.latencyMs));
    if (req.headers.authorization !== `Bearer ${this.token}`) return this.send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    if (this.opts.forbidden?.test(url.pathname)) {
      const resource = url.pathname.split('/').filter(Boolean).pop();
      return this.send(res, 403, status(403, 'Forbidden', `${resource} is forbidden: User "system:serviceaccount:mlloop:mlloop-dispatcher" cannot list resource "${resource}" in API group "" at the cluster scope`, { kind: resource }));
    }
    try {
      await this.route(method, url.pathname, q, req, res);
    } catch (e) {
      this.send(res, 500, status(500, 'InternalError', String((e as Error).message)));
    }
  }

  private async route(method: string, p: string, q: Record<string, string>, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const watching = q.watch === 'true' || q.watch === '1';
    if (method === 'GET' && p === '/api/v1/nodes') return watching ? this.watch(res, 'nodes', undefined, q) : this.list(res, 'NodeList', this.nodes, q);
    if (method === 'GET' && p === '/apis/scheduling.k8s.io/v1/priorityclasses') return watching ? this.watch(res, 'priorityclasses', undefined, q) : this.list(res, 'PriorityClassList', this.priorityClasses, q);
    let m = /^\/api\/v1(?:\/namespaces\/([^/]+))?\/pods$/.exec(p);
    if (m && method === 'GET') {
      if (watching) return this.watch(res, 'pods', m[1], q);
      const items = [...this.pods.values()].filter((x) => !m![1] || x.metadata.namespace === m![1]);
      return this.list(res, 'PodList', items, q);
    }
    m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)(\/eviction|\/log)?$/.exec(p);
    if (m) {
      const key = `${m[1]}/${m[2]}`;
      const pod = this.pods.get(key);
      const notFound = () => this.send(res, 404, status(404, 'NotFound', `pods "${m![2]}" not found`, { name: m![2], kind: 'pods' }));
      if (method === 'GET' && !m[3]) return pod ? this.send(res, 200, pod) : notFound();
      if (method === 'GET' && m[3] === '/log') return pod ? this.podLog(res, pod, q) : notFound();
      if (method === 'POST' && m[3] === '/eviction') {
        if (!(await this.validBody(req, res))) return;
        if (!pod) return notFound();
        this.evictions.push(key);
        // The pod terminates within its own grace period (here: after graceMs).
        this.later(this.opts.evictionGraceMs ?? 100, () => this.deletePod(key));
        return this.send(res, 201, status(201, '', '', { name: m[2], kind: 'pods' }));
      }
      return this.send(res, 405, status(405, 'MethodNotAllowed', `${method} not allowed`));
    }
    if (method === 'POST' && p === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
      const body = await this.validBody(req, res);
      if (!body) return;
      const attrs = body.spec?.resourceAttributes ?? {};
      const allowed = this.opts.allow ? this.opts.allow(attrs) : true;
      return this.send(res, 201, { ...body, status: { allowed, ...(allowed ? {} : { reason: 'RBAC: access denied' }) } });
    }
    m = /^\/apis\/(batch\/v1|batch\.volcano\.sh\/v1alpha1)\/namespaces\/([^/]+)\/jobs(?:\/([^/]+))?$/.exec(p);
    if (m) return this.jobRoute(method, m[1]!, m[2]!, m[3], q, req, res, watching);
    if (method === 'GET' && (p === '/api' || p === '/apis' || p === '/version')) return this.send(res, 200, p === '/version' ? { major: '1', minor: '31', gitVersion: 'v1.31.0-mlloop-test' } : { kind: 'APIVersions', versions: ['v1'] });
    return this.send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
  }

  /** GET …/pods/NAME/log, as the API server answers it (text/plain; 400 for a bad container or a pod not started). */
  private podLog(res: ServerResponse, pod: Obj, q: Record<string, string>): void {
    const name = pod.metadata.name as string;
    const containers = ((pod.spec?.containers ?? []) as Obj[]).map((c) => c.name as string);
    const all = [...containers, ...((pod.spec?.initContainers ?? []) as Obj[]).map((c) => c.name as string)];
    const bad = (message: string) => this.send(res, 400, status(400, 'BadRequest', message));
    let container = q.container;
    if (!container) {
      if (containers.length !== 1) return bad(`a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`);
      container = containers[0]!;
    }
    if (!all.includes(container)) return bad(`container ${container} is not valid for pod ${name}`);
    if (pod.status?.phase === 'Pending') return bad(`container "${container}" in pod "${name}" is waiting to start: ContainerCreating`);
    if (q.sinceSeconds !== undefined && q.sinceTime !== undefined) return this.send(res, 422, status(422, 'Invalid', 'PodLogOptions.meta.k8s.io "" is invalid: sinceSeconds: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified'));
    for (const k of ['sinceSeconds', 'tailLines', 'limitBytes'] as const) {
      if (q[k] !== undefined && !/^\d+$/.test(q[k]!)) return bad(`${k}: "${q[k]}" is not an integer`);
    }
    if (q.sinceSeconds !== undefined && Number(q.sinceSeconds) < 1) return this.send(res, 422, status(422, 'Invalid', 'PodLogOptions.meta.k8s.io "" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0'));
    let lines = this.logs.get(`${pod.metadata.namespace}/${name}/${container}`) ?? [];
    const since = q.sinceSeconds !== undefined ? Date.now() - Number(q.sinceSeconds) * 1000 : q.sinceTime ? Date.parse(q.sinceTime) : undefined;
    if (since !== undefined) lines = lines.filter((l) => l.time.getTime() >= since);
    if (q.tailLines !== undefined) lines = Number(q.tailLines) === 0 ? [] : lines.slice(-Number(q.tailLines));
    // RFC 3339 with nanoseconds, as the kubelet prefixes lines with timestamps=true.
    const stamp = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
    let text = lines.map((l) => `${q.timestamps === 'true' ? `${stamp(l.time)} ` : ''}${l.text}\n`).join('');
    if (q.limitBytes !== undefined) text = Buffer.from(text).subarray(0, Number(q.limitBytes)).toString('utf8');
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private async jobRoute(method: string, apiVersion: string, ns: string, name: string | undefined, q: Record<string, string>, req: IncomingMessage, res: ServerResponse, watching: boolean): Promise<void> {
    const group = apiVersion.split('/')[0]!;
    const key = (n: string) => `${apiVersion}|${ns}/${n}`;
    const notFound = (n: string) => this.send(res, 404, status(404, 'NotFound', `jobs.${group} "${n}" not found`, { name: n, group, kind: 'jobs' }));
    if (!name) {
      if (method === 'GET') {
        if (watching) return this.watch(res, 'jobs', ns, q);
        return this.list(res, 'JobList', [...this.jobs.entries()].filter(([k]) => k.startsWith(`${apiVersion}|${ns}/`)).map(([, v]) => v), q);
      }
      if (method !== 'POST') return this.send(res, 405, status(405, 'MethodNotAllowed', `${method} not allowed`));
      const obj = await this.body(req);
      if (obj?.apiVersion !== apiVersion || obj?.kind !== 'Job') return this.send(res, 400, status(400, 'BadRequest', `the API version in the data (${obj?.apiVersion}) does not match the expected API version (${apiVersion})`));
      if (obj.metadata?.namespace && obj.metadata.namespace !== ns) return this.send(res, 400, status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
      try {
        await validate(obj);
      } catch (e) {
        this.invalid.push((e as Error).message);
        return this.send(res, 422, status(422, 'Invalid', (e as Error).message));
      }
      const n = obj.metadata.name as string;
      if (this.jobs.has(key(n))) return this.send(res, 409, status(409, 'AlreadyExists', `jobs.${group} "${n}" already exists`, { name: n, group, kind: 'jobs' }));
      obj.metadata = { ...obj.metadata, namespace: ns, uid: randomBytes(16).toString('hex'), resourceVersion: String(++this.rv), creationTimestamp: new Date().toISOString() };
      this.jobs.set(key(n), obj);
      this.emit('jobs', 'ADDED', obj);
      this.startPods(obj);
      return this.send(res, 201, obj);
    }
    const job = this.jobs.get(key(name));
    if (method === 'GET') return job ? this.send(res, 200, job) : notFound(name);
    if (method === 'DELETE') {
      if (!job) return notFound(name);
      // DeleteOptions.preconditions, as the API server checks them (409 Conflict).
      const options = await this.body(req).catch(() => undefined);
      const want = options?.preconditions?.uid;
      if (want !== undefined && want !== job.metadata.uid) {
        return this.send(res, 409, status(409, 'Conflict', `Operation cannot be fulfilled on jobs.${group} "${name}": Precondition failed: UID in precondition: ${want}, UID in object meta: ${job.metadata.uid}`, { name, group, kind: 'jobs' }));
      }
      const remove = () => {
        this.jobs.delete(key(name));
        job.metadata.resourceVersion = String(++this.rv);
        this.emit('jobs', 'DELETED', job);
        for (const [k, pod] of this.pods) if (pod.metadata.labels?.['mlloop.io/job-uid'] === job.metadata.uid) this.deletePod(k);
      };
      if (this.opts.deleteDelayMs) {
        job.metadata.deletionTimestamp ??= new Date().toISOString();
        this.later(this.opts.deleteDelayMs, remove);
        return this.send(res, 202, job);
      }
      remove();
      return this.send(res, 200, status(200, '', '', { name, group, kind: 'jobs', uid: job.metadata.uid }));
    }
    if (method === 'PATCH') {
      if (!job) return notFound(name);
      const patch = await this.body(req);
      const type = String(req.headers['content-type'] ?? '');
      let next: Obj;
      if (type.startsWith('application/json-patch+json')) {
        try {
          next = applyJsonPatch(job, patch);
        } catch (e) {
          if (e instanceof PatchTestFailed) return this.send(res, 422, status(422, 'Invalid', e.message));
          throw e;
        }
      }
      else if (type.startsWith('application/merge-patch+json') || type.startsWith('application/strategic-merge-patch+json')) next = mergePatch(job, patch);
      else return this.send(res, 415, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`));
      try {
        await validate(next);
      } catch (e) {
        this.invalid.push((e as Error).message);
        return this.send(res, 422, status(422, 'Invalid', (e as Error).message));
      }
      next.metadata.resourceVersion = String(++this.rv);
      this.jobs.set(key(name), next);
      this.emit('jobs', 'MODIFIED', next);
      if (next.spec?.suspend === true) {
        for (const [k, pod] of this.pods) if (pod.metadata.labels?.['mlloop.io/job-uid'] === next.metadata.uid) this.deletePod(k);
      }
      return this.send(res, 200, next);
    }
    return this.send(res, 405, status(405, 'MethodNotAllowed', `${method} not allowed`));
  }

  /** The Job controller's part: one pod per replica, Pending; then scheduled, or never. */
  private startPods(job: Obj): void {
    const volcano = job.apiVersion !== 'batch/v1';
    const templates: { template: Obj; replicas: number }[] = volcano
      ? (job.spec.tasks as Obj[]).map((t) => ({ template: t.template, replicas: t.replicas ?? 1 }))
      : [{ template: job.spec.template, replicas: job.spec.parallelism ?? 1 }];
    const created: string[] = [];
    for (const { template, replicas } of templates) {
      for (let i = 0; i < replicas; i++) {
        const pod: Obj = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: `${job.metadata.name}-${randomBytes(3).toString('hex').slice(0, 5)}`,
            namespace: job.metadata.namespace,
            labels: { ...(template.metadata?.labels ?? {}), 'mlloop.io/job-uid': job.metadata.uid, ...(volcano ? { 'volcano.sh/job-name': job.metadata.name } : { 'job-name': job.metadata.name, 'batch.kubernetes.io/job-name': job.metadata.name }) },
          },
          spec: structuredClone(template.spec),
          status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available' }] },
        };
        this.putPod(pod);
        created.push(`${pod.metadata.namespace}/${pod.metadata.name}`);
      }
    }
    const schedule = this.opts.schedule ?? { afterMs: 50 };
    if (schedule === 'never') return;
    this.later(schedule.afterMs, () => {
      for (const k of created) {
        const pod = this.pods.get(k);
        if (!pod) continue;
        pod.spec.nodeName = this.nodes[0]?.metadata?.name ?? 'node-0';
        pod.status = { phase: 'Running', conditions: [{ type: 'PodScheduled', status: 'True' }] };
        this.putPod(pod, true, 'MODIFIED');
      }
    });
  }
}
