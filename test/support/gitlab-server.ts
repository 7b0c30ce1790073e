/**
 * An in-repo GitLab REST API v4 for tests, following GitLab's REST API documentation (docs.gitlab.com/api:
 * rest/index "Pagination" and "Status codes", notes, merge_requests, users, personal_access_tokens) and, for the
 * notes routes, the parameters GitLab's OpenAPI v4 description gives its operations
 * getApiV4ProjectsIdMergeRequestsNoteableIdNotes (order_by, sort, activity_filter, page, per_page),
 * postApiV4ProjectsIdMergeRequestsNoteableIdNotes (body required; created_at, internal,
 * merge_request_diff_head_sha), putApiV4ProjectsIdMergeRequestsNoteableIdNotesNoteId (body, confidential: at
 * least one) and deleteApiV4ProjectsIdMergeRequestsNoteableIdNotesNoteId; notes are shaped as its
 * API_Entities_Note.
 *
 * Every request is
 *   1. mounted under `prefix` + `/api/v4` (a self-managed instance at http://host/gitlab has its API at
 *      http://host/gitlab/api/v4); unknown routes → 404 `{"error":"404 Not Found"}`;
 *   2. authenticated: `PRIVATE-TOKEN: <t>`, `JOB-TOKEN: <t>` or `Authorization: Bearer <t>` naming a token given to
 *      `start()`; none or an unknown one → 401 `{"message":"401 Unauthorized"}`;
 *   3. checked for the token's scopes as GitLab does: reads need `api` or `read_api` (GET /user also `read_user`),
 *      writes need `api`; otherwise 403 `{"error":"insufficient_scope","error_description":"The request requires
 *      higher privileges than provided by the access token.","scope":"api read_api"}` with a WWW-Authenticate header;
 *   4. validated: path ids must be integers (a project also its URL-encoded path), query parameters must be ones the
 *      docs list for the route with valid values (`page` ≥ 1, `per_page` 1–100, `sort` asc|desc, `order_by`
 *      created_at|updated_at, `activity_filter` all_notes|only_comments|only_activity), and a body must hold the
 *      documented fields with their types (`body` is required on POST; PUT needs `body` or `confidential`; a body
 *      is at most 1,000,000 characters and not blank) → 400 like GitLab's (`{"error":"body is
 *      missing"}`, `{"message":{"note":["can't be blank"]}}`). Stricter than GitLab on one point: a parameter the
 *      docs do not list is refused (400) instead of ignored, so a client typo does not pass silently;
 *   5. recorded in `server.requests` (method, path below /api/v4, query, body, token, status);
 *   6. served from in-memory state: projects and merge requests (addProject, addMergeRequest), notes (addNotes,
 *      createNote), 404 for an unknown project, merge request or note; a token marked `readOnly` gets 403
 *      `{"message":"403 Forbidden"}` on writes (a user without permission in the project). Quick actions in a
 *      posted or edited note (`/close`, `/merge` at the start of a line outside code) are run and removed from the
 *      note, as GitLab does; they are recorded in state.quickActions.
 *
 * Lists are paginated as the docs say: `page`/`per_page` (default 20, max 100), headers x-page, x-per-page,
 * x-total, x-total-pages, x-next-page, x-prev-page (empty when none), and a Link header with rel="prev", "next",
 * "first", "last" whose URLs repeat the request's query with the new page.
 *
 *   const gl = await GitLabServer.start({ prefix: '/gitlab', tokens: { 'glpat-rw': { username: 'mlloop-bot', scopes: ['api'] } } });
 *   const p = gl.addProject('acme/ocr-fields'); gl.addMergeRequest(p.id, 7);
 *   … CI_API_V4_URL=gl.apiUrl …
 *   await gl.close();
 */
import { closeApi, listenApi } from './api-server.js';
import { type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface GitLabToken {
  username: string;
  /** Token scopes: api, read_api, read_user, read_repository, write_repository, … */
  scopes: string[];
  /** Writes get 403 Forbidden (a user without the permission in the project). */
  readOnly?: boolean;
}

export interface RecordedRequest {
  method: string;
  /** Below the API root, e.g. /projects/1/merge_requests/7/notes. */
  path: string;
  query: Record<string, string>;
  body: unknown;
  token: string | null;
  /** Which header carried the token. */
  auth: 'private-token' | 'job-token' | 'bearer' | null;
  status: number;
}

export interface User {
  id: number;
  username: string;
  name: string;
  state: 'active';
  locked: boolean;
  avatar_url: string;
  web_url: string;
}

export interface Note {
  id: number;
  type: null;
  body: string;
  attachment: null;
  author: User;
  created_at: string;
  updated_at: string;
  system: boolean;
  noteable_id: number;
  noteable_type: 'MergeRequest';
  project_id: number;
  noteable_iid: number;
  commit_id: null;
  resolvable: boolean;
  confidential: boolean;
  internal: boolean;
  imported: boolean;
  imported_from: 'none';
}

export interface Project {
  id: number;
  path_with_namespace: string;
  web_url: string;
}

export interface MergeRequest {
  id: number;
  iid: number;
  project_id: number;
  title: string;
  state: 'opened' | 'closed' | 'merged';
  source_branch: string;
  target_branch: string;
  sha: string;
  web_url: string;
  author: User;
  created_at: string;
  updated_at: string;
}

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };
type Ctx = { s: GitLabServer; p: Record<string, string>; q: Record<string, string>; body: Record<string, unknown>; user: User; token: GitLabToken; req: IncomingMessage; fullPath: string };

interface Route {
  method: string;
  template: string;
  regex: RegExp;
  names: string[];
  /** Query parameters the docs list for this route. */
  query: string[];
  /** Body fields the docs list: name → type, and which are required. */
  body?: { fields: Record<string, 'string' | 'boolean'>; required: string[] };
  /** Scopes any one of which allows the route. */
  scopes: string[];
  write: boolean;
  handle(c: Ctx): Reply;
}

const READ = ['api', 'read_api'];
const WRITE = ['api'];
const PAGE = ['page', 'per_page'];
const NOTE_MAX = 1_000_000;

const iso = (ms: number) => new Date(ms).toISOString();

export class GitLabServer {
  readonly requests: RecordedRequest[] = [];
  readonly state = {
    projects: [] as Project[],
    mergeRequests: [] as MergeRequest[],
    notes: [] as (Note & { mr: number })[],
    /** Quick actions GitLab would have run from note bodies (`/close`, `/merge` … at the start of a line outside code). */
    quickActions: [] as { mr: number; command: string; arg: string; by: string }[],
  };
  /** The instance's address (CI_SERVER_URL): `http://127.0.0.1:<port><prefix>`. */
  url = '';
  /** The REST API root (CI_API_V4_URL): `<url>/api/v4`. */
  apiUrl = '';
  private server!: Server;
  private prefix = '';
  private nextId = 500;
  private clock = Date.parse('2025-06-12T10:00:00Z');
  private readonly routes: Route[] = [];
  private readonly users = new Map<string, User>();
  private failures: { status: number; count: number; match?: (method: string, path: string) => boolean }[] = [];

  private constructor(private readonly tokens: Record<string, GitLabToken>) {
    this.defineRoutes();
  }

  static async start(opts: { tokens: Record<string, GitLabToken>; prefix?: string }): Promise<GitLabServer> {
    const s = new GitLabServer(opts.tokens);
    s.prefix = (opts.prefix ?? '').replace(/\/+$/, '');
    ({ server: s.server, url: s.url } = await listenApi((req, res) => s.handle(req, res), s.prefix));
    s.apiUrl = `${s.url}/api/v4`;
    return s;
  }

  close(): Promise<void> {
    return closeApi(this.server);
  }

  /** Answers the next `count` matching requests with `status` (retries, outages). */
  failNext(count: number, status: number, match?: (method: string, path: string) => boolean): void {
    this.failures.push({ status, count, match });
  }

  private id(): number {
    return this.nextId++;
  }

  private now(): string {
    this.clock += 1000;
    return iso(this.clock);
  }

  user(username: string): User {
    let u = this.users.get(username);
    if (!u) {
      const id = 100 + this.users.size;
      u = { id, username, name: username, state: 'active', locked: false, avatar_url: `https://secure.gravatar.com/avatar/${id}`, web_url: `${this.url}/${username}` };
      this.users.set(username, u);
    }
    return u;
  }

  addProject(path: string): Project {
    const p = { id: this.id(), path_with_namespace: path, web_url: `${this.url}/${path}` };
    this.state.projects.push(p);
    return p;
  }

  addMergeRequest(projectId: number, iid: number, m: { sha?: string; author?: string } = {}): MergeRequest {
    const project = this.state.projects.find((p) => p.id === projectId)!;
    const at = this.now();
    const mr: MergeRequest = {
      id: this.id(),
      iid,
      project_id: projectId,
      title: `MR ${iid}`,
      state: 'opened',
      source_branch: `feature-${iid}`,
      target_branch: 'main',
      sha: m.sha ?? 'b'.repeat(40),
      web_url: `${project.web_url}/-/merge_requests/${iid}`,
      author: this.user(m.author ?? 'developer'),
      created_at: at,
      updated_at: at,
    };
    this.state.mergeRequests.push(mr);
    return mr;
  }

  createNote(projectId: number, iid: number, body: string, username: string, system = false): Note {
    const mr = this.mr(projectId, iid)!;
    const at = this.now();
    const n = {
      id: this.id(),
      type: null,
      body,
      attachment: null,
      author: this.user(username),
      created_at: at,
      updated_at: at,
      system,
      noteable_id: mr.id,
      noteable_type: 'MergeRequest' as const,
      project_id: projectId,
      noteable_iid: iid,
      commit_id: null,
      resolvable: false,
      confidential: false,
      internal: false,
      imported: false,
      imported_from: 'none' as const,
      mr: mr.id,
    };
    this.state.notes.push(n);
    return n;
  }

  /** Seeds `count` notes on a merge request. */
  addNotes(projectId: number, iid: number, count: number, by: { username: string; body?: (i: number) => string; system?: boolean }): Note[] {
    return Array.from({ length: count }, (_, i) => this.createNote(projectId, iid, by.body ? by.body(i) : `note ${i + 1}`, by.username, by.system));
  }

  notes(projectId: number, iid: number): Note[] {
    const mr = this.mr(projectId, iid);
    return mr ? this.state.notes.filter((n) => n.mr === mr.id) : [];
  }

  private project(idOrPath: string): Project | undefined {
    return /^\d+$/.test(idOrPath) ? this.state.projects.find((p) => String(p.id) === idOrPath) : this.state.projects.find((p) => p.path_with_namespace === idOrPath);
  }

  private mr(projectId: number, iid: number): MergeRequest | undefined {
    return this.state.mergeRequests.find((m) => m.project_id === projectId && m.iid === iid);
  }

  private route(method: string, template: string, r: Omit<Route, 'method' | 'template' | 'regex' | 'names'>): void {
    const names: string[] = [];
    const regex = new RegExp(`^${template.replace(/:([a-z_]+)/g, (_, n: string) => (names.push(n), '([^/]+)'))}$`);
    this.routes.push({ method, template, regex, names, ...r });
  }

  private defineRoutes(): void {
    const mrOf = (c: Ctx): { project: Project; mr: MergeRequest } | Reply => {
      const project = this.project(c.p.id!);
      if (!project) return { status: 404, body: { message: '404 Project Not Found' } };
      const mr = this.mr(project.id, Number(c.p.merge_request_iid));
      if (!mr) return { status: 404, body: { message: '404 Not found' } };
      return { project, mr };
    };
    const noteOf = (c: Ctx): { project: Project; mr: MergeRequest; note: Note & { mr: number } } | Reply => {
      const found = mrOf(c);
      if ('status' in found) return found;
      const note = this.state.notes.find((n) => n.mr === found.mr.id && n.id === Number(c.p.note_id));
      if (!note) return { status: 404, body: { message: '404 Note Not Found' } };
      return { ...found, note };
    };
    const noteBody = (body: unknown): Reply | undefined => {
      const text = body as string;
      if (!text.trim()) return { status: 400, body: { message: { note: ["can't be blank"] } } };
      if ([...text].length > NOTE_MAX) return { status: 400, body: { message: { note: [`is too long (maximum is ${NOTE_MAX} characters)`] } } };
      return undefined;
    };
    this.route('GET', '/user', { query: [], scopes: ['api', 'read_api', 'read_user'], write: false, handle: (c) => ({ status: 200, body: { ...c.user, bot: c.user.username.includes('bot'), public_email: null } }) });
    this.route('GET', '/personal_access_tokens/self', {
      query: [],
      scopes: [],
      write: false,
      handle: (c) => ({ status: 200, body: { id: 42, name: 'mlloop', revoked: false, created_at: iso(this.clock), scopes: c.token.scopes, user_id: c.user.id, last_used_at: iso(this.clock), active: true, expires_at: null } }),
    });
    this.route('GET', '/projects/:id/merge_requests/:merge_request_iid', {
      query: ['render_html', 'include_diverged_commits_count', 'include_rebase_in_progress'],
      scopes: READ,
      write: false,
      handle: (c) => {
        const found = mrOf(c);
        return 'status' in found ? found : { status: 200, body: found.mr };
      },
    });
    this.route('GET', '/projects/:id/merge_requests/:merge_request_iid/notes', {
      query: [...PAGE, 'sort', 'order_by', 'activity_filter'],
      scopes: READ,
      write: false,
      handle: (c) => {
        const found = mrOf(c);
        if ('status' in found) return found;
        const key = (c.q.order_by ?? 'created_at') as 'created_at' | 'updated_at';
        const dir = (c.q.sort ?? 'desc') === 'asc' ? 1 : -1;
        const filter = c.q.activity_filter ?? 'all_notes';
        const all = this.state.notes.filter((n) => n.mr === found.mr.id && (filter === 'all_notes' || (filter === 'only_comments') === !n.system)).sort((a, b) => dir * (a[key].localeCompare(b[key]) || a.id - b.id));
        return this.page(c, all.map(({ mr: _mr, ...n }) => n));
      },
    });
    this.route('GET', '/projects/:id/merge_requests/:merge_request_iid/notes/:note_id', {
      query: [],
      scopes: READ,
      write: false,
      handle: (c) => {
        const found = noteOf(c);
        if ('status' in found) return found;
        const { mr: _mr, ...note } = found.note;
        return { status: 200, body: note };
      },
    });
    this.route('POST', '/projects/:id/merge_requests/:merge_request_iid/notes', {
      query: [],
      body: { fields: { body: 'string', created_at: 'string', internal: 'boolean', merge_request_diff_head_sha: 'string' }, required: ['body'] },
      scopes: WRITE,
      write: true,
      handle: (c) => {
        const found = mrOf(c);
        if ('status' in found) return found;
        const bad = noteBody(c.body.body);
        if (bad) return bad;
        const text = this.quickActions(found.mr, c.body.body as string, c.user.username);
        // A note of quick actions only is not kept: 202 with what the commands changed.
        if (!text.trim()) return { status: 202, body: { commands_changes: {}, summary: ['Applied the quick actions.'] } };
        const { mr: _mr, ...note } = this.createNote(found.project.id, found.mr.iid, text, c.user.username) as Note & { mr: number };
        return { status: 201, body: note };
      },
    });
    this.route('PUT', '/projects/:id/merge_requests/:merge_request_iid/notes/:note_id', {
      query: [],
      body: { fields: { body: 'string', confidential: 'boolean' }, required: [] },
      scopes: WRITE,
      write: true,
      handle: (c) => {
        if (c.body.body === undefined && c.body.confidential === undefined) return { status: 400, body: { error: 'body, confidential are missing, at least one parameter must be provided' } };
        const found = noteOf(c);
        if ('status' in found) return found;
        if (found.note.author.id !== c.user.id || found.note.system) return { status: 403, body: { message: '403 Forbidden' } };
        if (c.body.body === undefined) return { status: 200, body: (({ mr: _mr, ...n }) => n)(found.note) };
        const bad = noteBody(c.body.body);
        if (bad) return bad;
        found.note.body = this.quickActions(found.mr, c.body.body as string, c.user.username);
        found.note.updated_at = this.now();
        const { mr: _mr, ...note } = found.note;
        return { status: 200, body: note };
      },
    });
    this.route('DELETE', '/projects/:id/merge_requests/:merge_request_iid/notes/:note_id', {
      query: [],
      scopes: WRITE,
      write: true,
      handle: (c) => {
        const found = noteOf(c);
        if ('status' in found) return found;
        if (found.note.author.id !== c.user.id) return { status: 403, body: { message: '403 Forbidden' } };
        this.state.notes.splice(this.state.notes.indexOf(found.note), 1);
        return { status: 204 };
      },
    });
  }

  /**
   * Quick actions, as GitLab's extractor reads them: a line `/<command> [argument]` at the start of a line outside
   * fenced code is run with the author's rights and removed from the note. `/close`, `/reopen` and `/merge` change
   * the merge request's state here; every one is recorded in state.quickActions.
   */
  private quickActions(mr: MergeRequest, body: string, by: string): string {
    let fence: string | null = null;
    const kept: string[] = [];
    for (const line of body.split('\n')) {
      const f = /^ {0,3}(`{3,}|~{3,})/.exec(line);
      if (f) fence = fence === null ? f[1]! : f[1]![0] === fence[0] && f[1]!.length >= fence.length ? null : fence;
      const m = fence === null && !f ? /^\/([a-z_]+)(?: (.*))?$/.exec(line) : null;
      if (!m) {
        kept.push(line);
        continue;
      }
      this.state.quickActions.push({ mr: mr.id, command: m[1]!, arg: m[2] ?? '', by });
      if (m[1] === 'close') mr.state = 'closed';
      if (m[1] === 'reopen') mr.state = 'opened';
      if (m[1] === 'merge') mr.state = 'merged';
    }
    return kept.join('\n');
  }

  /** GitLab's offset pagination: page/per_page, x-* headers and a Link header. */
  private page(c: Ctx, all: unknown[]): Reply {
    const perPage = Math.min(Number(c.q.per_page ?? 20), 100);
    const page = Number(c.q.page ?? 1);
    const totalPages = Math.max(1, Math.ceil(all.length / perPage));
    const base = `http://${c.req.headers.host}${c.fullPath}`;
    const link = (p: number) => {
      const q = new URLSearchParams(Object.entries({ ...c.q, page: String(p), per_page: String(perPage) }).sort(([a], [b]) => a.localeCompare(b)));
      return `<${base}?${q}>`;
    };
    const rels: string[] = [];
    if (page > 1 && page <= totalPages) rels.push(`${link(page - 1)}; rel="prev"`);
    if (page < totalPages) rels.push(`${link(page + 1)}; rel="next"`);
    rels.push(`${link(1)}; rel="first"`, `${link(totalPages)}; rel="last"`);
    return {
      status: 200,
      body: all.slice((page - 1) * perPage, page * perPage),
      headers: {
        'x-page': String(page),
        'x-per-page': String(perPage),
        'x-total': String(all.length),
        'x-total-pages': String(totalPages),
        'x-next-page': page < totalPages ? String(page + 1) : '',
        'x-prev-page': page > 1 && page <= totalPages ? String(page - 1) : '',
        link: rels.join(', '),
      },
    };
  }

  private async readBody(req: IncomingMessage): Promise<{ value: Record<string, unknown>; error?: string }> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    if (!raw) return { value: {} };
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (type === 'application/json') {
      try {
        const v = JSON.parse(raw) as unknown;
        if (!v || typeof v !== 'object' || Array.isArray(v)) return { value: {}, error: 'the request body must be a JSON object' };
        return { value: v as Record<string, unknown> };
      } catch {
        return { value: {}, error: 'the request body is not valid JSON' };
      }
    }
    if (type === 'application/x-www-form-urlencoded') return { value: Object.fromEntries(new URLSearchParams(raw)) };
    return { value: {}, error: `unsupported content-type "${type}"` };
  }

  private auth(req: IncomingMessage): { token: string | null; kind: RecordedRequest['auth'] } {
    const pat = req.headers['private-token'];
    if (typeof pat === 'string') return { token: pat, kind: 'private-token' };
    const job = req.headers['job-token'];
    if (typeof job === 'string') return { token: job, kind: 'job-token' };
    const m = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
    if (m) return { token: m[1]!, kind: 'bearer' };
    return { token: null, kind: null };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const root = `${this.prefix}/api/v4`;
    const { token, kind } = this.auth(req);
    const { value: body, error: bodyError } = await this.readBody(req);
    const query = Object.fromEntries(url.searchParams);
    const rel = url.pathname.startsWith(`${root}/`) ? url.pathname.slice(root.length) : null;
    const rec: RecordedRequest = { method: req.method ?? 'GET', path: rel ?? url.pathname, query, body, token, auth: kind, status: 0 };
    this.requests.push(rec);
    const send = (r: Reply) => {
      rec.status = r.status;
      res.writeHead(r.status, { ...(r.body === undefined ? {} : { 'content-type': 'application/json' }), ...r.headers });
      res.end(r.body === undefined ? undefined : JSON.stringify(r.body));
    };
    if (rel === null) return send({ status: 404, body: { error: '404 Not Found' } });
    const failure = this.failures.find((f) => f.count > 0 && (!f.match || f.match(rec.method, rel)));
    if (failure) {
      failure.count--;
      return send({ status: failure.status, body: { message: `${failure.status} (injected by the test)` } });
    }
    // Path segments are matched raw, then decoded: a project path arrives as acme%2Focr-fields.
    const raw = rel.split('/');
    let route: Route | undefined;
    let params: Record<string, string> = {};
    for (const r of this.routes) {
      if (r.method !== rec.method) continue;
      const m = r.regex.exec(raw.join('/'));
      if (!m) continue;
      route = r;
      params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
      break;
    }
    if (!route) return send({ status: 404, body: { error: '404 Not Found' } });
    const user = token === null ? undefined : this.tokens[token];
    if (!user) return send({ status: 401, body: { message: '401 Unauthorized' } });
    if (route.scopes.length && !route.scopes.some((s) => user.scopes.includes(s))) {
      const description = 'The request requires higher privileges than provided by the access token.';
      return send({
        status: 403,
        body: { error: 'insufficient_scope', error_description: description, scope: route.scopes.join(' ') },
        headers: { 'www-authenticate': `Bearer realm="Protected by OAuth 2", error="insufficient_scope", error_description="${description}", scope="${route.scopes.join(' ')}"` },
      });
    }
    for (const [name, v] of Object.entries(params)) {
      if (name !== 'id' && !/^\d+$/.test(v)) return send({ status: 400, body: { error: `${name} is invalid` } });
    }
    for (const [k, v] of Object.entries(query)) {
      if (!route.query.includes(k)) return send({ status: 400, body: { error: `${k} is not a parameter of ${rec.method} ${route.template} (GitLab's documentation lists: ${route.query.join(', ') || 'none'})` } });
      if ((k === 'page' || k === 'per_page') && !/^[1-9]\d*$/.test(v)) return send({ status: 400, body: { error: `${k} is invalid` } });
      if (k === 'sort' && !['asc', 'desc'].includes(v)) return send({ status: 400, body: { error: 'sort does not have a valid value' } });
      if (k === 'order_by' && !['created_at', 'updated_at'].includes(v)) return send({ status: 400, body: { error: 'order_by does not have a valid value' } });
      if (k === 'activity_filter' && !['all_notes', 'only_comments', 'only_activity'].includes(v)) return send({ status: 400, body: { error: 'activity_filter does not have a valid value' } });
    }
    if (route.body) {
      if (bodyError) return send({ status: 400, body: { error: bodyError } });
      for (const f of route.body.required) if (body[f] === undefined || body[f] === null) return send({ status: 400, body: { error: `${f} is missing` } });
      for (const [k, v] of Object.entries(body)) {
        const type = route.body.fields[k];
        if (!type) return send({ status: 400, body: { error: `${k} is not a parameter of ${rec.method} ${route.template} (GitLab's documentation lists: ${Object.keys(route.body.fields).join(', ')})` } });
        const ok = type === 'boolean' ? typeof v === 'boolean' || v === 'true' || v === 'false' : typeof v === 'string';
        if (!ok) return send({ status: 400, body: { error: `${k} is invalid` } });
      }
    } else if (Object.keys(body).length > 0 || bodyError) return send({ status: 400, body: { error: `${rec.method} ${route.template} takes no body` } });
    if (route.write && user.readOnly) return send({ status: 403, body: { message: '403 Forbidden' } });
    send(route.handle({ s: this, p: params, q: query, body, user: this.user(user.username), token: user, req, fullPath: url.pathname }));
  }
}
