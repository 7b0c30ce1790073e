import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An in-repo server that follows Label Studio's import API as documented
 * (https://api.labelstud.io/api-reference/api-reference/projects/import-tasks and
 * label_studio/data_import/api.py): `POST /api/projects/{id}/import` with `Authorization: Token <token>`
 * (or `Bearer` for personal access tokens), a JSON array of tasks, at most 250,000 tasks and 200 MB per
 * request, `201 {task_count, annotation_count, prediction_count, duration, file_upload_ids,
 * could_be_tasks_list, found_formats, data_columns}` (+ `task_ids` with `?return_task_ids=true`).
 * Imported data is checked against the project's labeling configuration as Label Studio does: every
 * `$variable` must be in `data`, and each prediction result must name a control tag of the right type
 * (`from_name`), its object tag (`to_name`) and, for labels, a label the tag defines.
 */

export interface ControlTag {
  tag: string;
  name: string;
  toName?: string;
  labels: string[];
  perRegion?: boolean;
}

export interface ParsedConfig {
  variables: string[];
  objects: string[];
  controls: Map<string, ControlTag>;
}

/** Reads the tags of a labeling configuration (the XML subset Label Studio configs use). */
export function parseLabelConfig(xml: string): ParsedConfig {
  const variables: string[] = [];
  const objects: string[] = [];
  const controls = new Map<string, ControlTag>();
  let parent: ControlTag | undefined;
  for (const m of xml.matchAll(/<(\/?)([A-Za-z]+)([^>]*?)(\/?)>/g)) {
    const [, closing, tag, attrText, selfClosing] = m;
    if (closing) {
      if (parent && parent.tag === tag) parent = undefined;
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(/([A-Za-z_:-]+)="([^"]*)"/g)) attrs[a[1]!] = a[2]!.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&amp;/g, '&');
    if (tag === 'Label' && parent) {
      parent.labels.push(attrs.value!);
      continue;
    }
    if (attrs.value?.startsWith('$')) variables.push(attrs.value.slice(1));
    if (['Image', 'Text', 'Audio', 'HyperText'].includes(tag!)) objects.push(attrs.name!);
    else if (attrs.name && attrs.toName) {
      const c: ControlTag = { tag: tag!, name: attrs.name, toName: attrs.toName, labels: [], perRegion: attrs.perRegion === 'true' };
      controls.set(c.name, c);
      if (!selfClosing) parent = c;
    }
  }
  return { variables, objects, controls };
}

export interface StoredTask {
  id: number;
  project: number;
  data: Record<string, unknown>;
  meta?: unknown;
  predictions: { id: number; model_version: string; score: number | null; result: unknown[] }[];
}

export interface LabelStudioServer {
  url: string;
  token: string;
  projects: Map<number, { id: number; title: string; label_config: string; tasks: StoredTask[] }>;
  requests: { method: string; path: string; authorization: string | undefined; tasks: number; status: number }[];
  /** Answers the next `count` import requests with `status` (e.g. 503, or 429 with Retry-After). */
  failNext(status: number, count?: number, headers?: Record<string, string>): void;
  close(): Promise<void>;
}

const MAX_TASKS = 250_000;
const MAX_BYTES = 200 * 1024 * 1024;
const RESULT_TYPES: Record<string, string> = { rectanglelabels: 'RectangleLabels', textarea: 'TextArea', rectangle: 'Rectangle', labels: 'Labels', choices: 'Choices', polygonlabels: 'PolygonLabels' };

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** Checks one task in import format against the documented structure and the labeling configuration. */
export function validateTask(task: unknown, config: ParsedConfig): string | null {
  if (!task || typeof task !== 'object' || Array.isArray(task)) return 'task must be an object';
  const t = task as Record<string, unknown>;
  const data = ('data' in t ? t.data : t) as Record<string, unknown>;
  if (!data || typeof data !== 'object' || Array.isArray(data)) return '"data" must be an object';
  for (const v of config.variables) if (!(v in data)) return `data does not contain the "${v}" variable the labeling config uses ($${v})`;
  if (!('data' in t)) return null;
  for (const k of Object.keys(t)) if (!['data', 'meta', 'predictions', 'annotations', 'id', 'drafts'].includes(k)) return `unknown task field "${k}"`;
  if (t.predictions === undefined) return null;
  if (!Array.isArray(t.predictions)) return '"predictions" must be an array';
  for (const [pi, p] of t.predictions.entries()) {
    if (!p || typeof p !== 'object') return `predictions[${pi}] must be an object`;
    const pr = p as Record<string, unknown>;
    if (!Array.isArray(pr.result)) return `predictions[${pi}].result must be an array`;
    if (pr.score !== undefined && (typeof pr.score !== 'number' || !Number.isFinite(pr.score))) return `predictions[${pi}].score must be a number`;
    if (pr.model_version !== undefined && typeof pr.model_version !== 'string') return `predictions[${pi}].model_version must be a string`;
    const regions = new Map<string, unknown>();
    for (const [ri, r] of pr.result.entries()) {
      const where = `predictions[${pi}].result[${ri}]`;
      const res = r as Record<string, unknown>;
      for (const k of ['from_name', 'to_name', 'type', 'value']) if (!(k in res)) return `${where} has no "${k}"`;
      const control = config.controls.get(String(res.from_name));
      if (!control) return `${where}: from_name "${String(res.from_name)}" is not a control tag of the labeling config`;
      if (RESULT_TYPES[String(res.type)] !== control.tag) return `${where}: type "${String(res.type)}" does not match the ${control.tag} tag "${control.name}"`;
      if (res.to_name !== control.toName || !config.objects.includes(String(res.to_name))) return `${where}: to_name "${String(res.to_name)}" is not the object tag of "${control.name}"`;
      const value = res.value as Record<string, unknown>;
      if (!value || typeof value !== 'object') return `${where}.value must be an object`;
      if ('x' in value) {
        for (const k of ['x', 'y', 'width', 'height']) {
          const n = value[k];
          if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > 100) return `${where}.value.${k} must be a percentage in [0, 100]`;
        }
        if ((value.x as number) + (value.width as number) > 100.0001 || (value.y as number) + (value.height as number) > 100.0001) return `${where}: the region leaves the image`;
      }
      if (res.type === 'rectanglelabels') {
        const labels = value.rectanglelabels;
        if (!Array.isArray(labels) || !labels.length) return `${where}.value.rectanglelabels must be a non-empty array`;
        for (const l of labels) if (!control.labels.includes(l as string)) return `${where}: label "${String(l)}" is not defined in <RectangleLabels name="${control.name}">`;
      }
      if (res.type === 'textarea') {
        if (!Array.isArray(value.text) || !value.text.every((x) => typeof x === 'string')) return `${where}.value.text must be an array of strings`;
        if (control.perRegion && !regions.has(String(res.id))) return `${where}: per-region text must follow the region with id "${String(res.id)}"`;
      }
      if (res.id !== undefined) regions.set(String(res.id), res);
      for (const k of ['original_width', 'original_height']) if (k in res && (typeof res[k] !== 'number' || (res[k] as number) <= 0)) return `${where}.${k} must be a positive number`;
    }
  }
  return null;
}

export async function startLabelStudioServer(opts: { token?: string; projects?: { id: number; title?: string; label_config: string }[] } = {}): Promise<LabelStudioServer> {
  const token = opts.token ?? 'ls-test-token-7c1d2e';
  const projects: LabelStudioServer['projects'] = new Map();
  for (const p of opts.projects ?? []) projects.set(p.id, { id: p.id, title: p.title ?? `project ${p.id}`, label_config: p.label_config, tasks: [] });
  const requests: LabelStudioServer['requests'] = [];
  const failures: { status: number; headers: Record<string, string> }[] = [];
  let nextTask = 1;
  let nextPrediction = 1;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const auth = req.headers.authorization;
    const log = { method: req.method ?? '', path: url.pathname, authorization: auth, tasks: 0, status: 0 };
    requests.push(log);
    const reply = (status: number, body: unknown, headers?: Record<string, string>) => {
      log.status = status;
      send(res, status, body, headers);
    };
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const c of req) {
      bytes += (c as Buffer).length;
      if (bytes > MAX_BYTES) return reply(413, { detail: 'Request entity too large' });
      chunks.push(c as Buffer);
    }
    if (!auth) return reply(401, { detail: 'Authentication credentials were not provided.' });
    const m = /^(Token|Bearer) (.+)$/.exec(auth);
    if (!m || m[2] !== token) return reply(401, { detail: 'Invalid token.' });
    const im = /^\/api\/projects\/(\d+)\/import\/?$/.exec(url.pathname);
    const pm = /^\/api\/projects\/(\d+)\/?$/.exec(url.pathname);
    if (pm && req.method === 'GET') {
      const p = projects.get(Number(pm[1]));
      return p ? reply(200, { id: p.id, title: p.title, label_config: p.label_config, task_number: p.tasks.length }) : reply(404, { detail: 'Not found.' });
    }
    if (!im) return reply(404, { detail: 'Not found.' });
    if (req.method !== 'POST') return reply(405, { detail: `Method "${req.method}" not allowed.` });
    const project = projects.get(Number(im[1]));
    if (!project) return reply(404, { detail: 'Not found.' });
    const failure = failures.shift();
    if (failure) return reply(failure.status, { detail: 'temporarily unavailable' }, failure.headers);
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) return reply(415, { detail: 'Unsupported media type' });
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      return reply(400, { detail: `JSON parse error - ${(e as Error).message}` });
    }
    const tasks = Array.isArray(body) ? body : [body];
    log.tasks = tasks.length;
    if (tasks.length > MAX_TASKS) return reply(400, { detail: `Too many tasks: ${tasks.length} > ${MAX_TASKS}` });
    const config = parseLabelConfig(project.label_config);
    for (const [i, t] of tasks.entries()) {
      const problem = validateTask(t, config);
      if (problem) return reply(400, { validation_errors: { non_field_errors: [`task ${i}: ${problem}`] } });
    }
    const start = Date.now();
    const created: StoredTask[] = tasks.map((t) => {
      const tt = t as Record<string, unknown>;
      const hasData = 'data' in tt;
      return {
        id: nextTask++,
        project: project.id,
        data: (hasData ? tt.data : tt) as Record<string, unknown>,
        meta: hasData ? tt.meta : undefined,
        predictions: ((hasData ? tt.predictions : undefined) as { model_version?: string; score?: number; result: unknown[] }[] | undefined ?? []).map((p) => ({ id: nextPrediction++, model_version: p.model_version ?? 'undefined', score: p.score ?? null, result: p.result })),
      };
    });
    project.tasks.push(...created);
    const columns = [...new Set(created.flatMap((t) => Object.keys(t.data)))];
    const out: Record<string, unknown> = {
      task_count: created.length,
      annotation_count: 0,
      prediction_count: created.reduce((n, t) => n + t.predictions.length, 0),
      duration: (Date.now() - start) / 1000,
      file_upload_ids: [],
      could_be_tasks_list: false,
      found_formats: [],
      data_columns: columns,
    };
    if (url.searchParams.get('return_task_ids') === 'true') out.task_ids = created.map((t) => t.id);
    return reply(201, out);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => send(res, 500, { detail: String(e) }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    projects,
    requests,
    failNext(status, count = 1, headers = {}) {
      for (let i = 0; i < count; i++) failures.push({ status, headers });
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
