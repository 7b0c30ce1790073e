/**
 * An in-repo stand-in for the two services `@actions/artifact` v6 talks to inside a workflow run, so the
 * real client can be used end to end:
 *
 * - the results service at ACTIONS_RESULTS_URL: Twirp JSON RPCs of `github.actions.results.api.v1.ArtifactService`
 *   (CreateArtifact, FinalizeArtifact, ListArtifacts, GetSignedArtifactURL, DeleteArtifact) under
 *   `POST /twirp/<service>/<method>`, authorised by the runner's ACTIONS_RUNTIME_TOKEN (a JWT whose `scp`
 *   claim holds `Actions.Results:<workflowRunBackendId>:<workflowJobRunBackendId>`);
 * - Azure Blob Storage behind the SAS URLs it signs: Put Block (`PUT ?comp=block&blockid=…`), Put Block List
 *   (`PUT ?comp=blocklist`, XML), Put Blob and Get Blob, with the service's status codes and XML errors.
 *
 * Both listen on 127.0.0.1 (two ports, as two hosts), check every request the way the real services do
 * (auth, required fields and headers, block ids, sizes, hashes), record what they saw, and can be told to fail.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { inflateRawSync, crc32 } from 'node:zlib';
import type { AddressInfo } from 'node:net';

export const ARTIFACT_SERVICE = 'github.actions.results.api.v1.ArtifactService';
const METHODS = ['CreateArtifact', 'FinalizeArtifact', 'ListArtifacts', 'GetSignedArtifactURL', 'DeleteArtifact'] as const;
type Method = (typeof METHODS)[number];
type BlobOp = 'PutBlock' | 'PutBlockList' | 'PutBlob' | 'GetBlob';
/** Operations a test can make fail. */
export type Operation = Method | BlobOp;

const ACCOUNT = 'mlloopresults';
const CONTAINER = 'actions-results';
const SAS_VERSION = '2025-01-05';
/** Characters the service refuses in artifact names (as the client's own validation lists them). */
const INVALID_NAME_CHARS = ['"', ':', '<', '>', '|', '*', '?', '\r', '\n', '\\', '/'];

export interface StoredArtifact {
  id: number;
  name: string;
  workflowRunBackendId: string;
  workflowJobRunBackendId: string;
  version: number;
  mimeType: string | null;
  expiresAt: string | null;
  createdAt: Date;
  finalized: boolean;
  size: number | null;
  digest: string | null;
  blobPath: string;
}

export interface RecordedRequest {
  host: 'results' | 'blob';
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** The RPC or blob operation, when the request was routed. */
  operation?: Operation;
  status: number;
  /** Twirp error code or Azure error code of a failed request. */
  error?: string;
  bytes: number;
}

interface Blob {
  committed: { bytes: Buffer; contentType: string; etag: string; lastModified: Date; blocks: Map<string, Buffer> } | null;
  uncommitted: Map<string, Buffer>;
}

interface Fault {
  status: number;
  times: number;
  message?: string;
}

class TwirpError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

class StorageError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TWIRP_STATUS: Record<string, number> = {
  invalid_argument: 400,
  malformed: 400,
  out_of_range: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  bad_route: 404,
  already_exists: 409,
  failed_precondition: 412,
  resource_exhausted: 429,
  internal: 500,
  unavailable: 503,
};
const STATUS_TWIRP: Record<number, string> = { 400: 'invalid_argument', 401: 'unauthenticated', 403: 'permission_denied', 404: 'not_found', 409: 'already_exists', 412: 'failed_precondition', 429: 'resource_exhausted', 500: 'internal', 502: 'unavailable', 503: 'unavailable', 504: 'unavailable' };

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

/** Reads a protobuf JSON field by its proto name or its lowerCamelCase JSON name, as protojson accepts both. */
function field(body: Record<string, unknown>, protoName: string): unknown {
  if (protoName in body) return body[protoName];
  const json = protoName.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return body[json];
}

function str(body: Record<string, unknown>, name: string): string {
  const v = field(body, name);
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new TwirpError('malformed', `the json request could not be decoded: ${name} must be a string`);
  return v;
}

/** int64 in protobuf JSON: a decimal string (or a number). */
function int64(body: Record<string, unknown>, name: string): bigint | undefined {
  const v = field(body, name);
  if (v === undefined || v === null) return undefined;
  if ((typeof v === 'string' && /^-?\d+$/.test(v)) || (typeof v === 'number' && Number.isInteger(v))) return BigInt(v);
  throw new TwirpError('malformed', `the json request could not be decoded: ${name} must be an int64`);
}

function required(value: string, name: string): string {
  if (!value) throw new TwirpError('invalid_argument', `${name} is required`);
  return value;
}

export interface ArtifactServiceOptions {
  /** Lifetime of the runtime token (a run's token lasts the job; tests may expire it). */
  tokenTtlSeconds?: number;
  /** First artifact id handed out. */
  firstId?: number;
}

export class ArtifactService {
  readonly workflowRunBackendId = randomUUID();
  readonly workflowJobRunBackendId = randomUUID();
  readonly requests: RecordedRequest[] = [];
  readonly artifacts: StoredArtifact[] = [];
  /** The runner's ACTIONS_RUNTIME_TOKEN for this job. */
  readonly token: string;
  resultsUrl = '';
  blobUrl = '';
  private readonly key = randomBytes(32);
  private readonly blobs = new Map<string, Blob>();
  private readonly faults = new Map<Operation, Fault>();
  private readonly servers: Server[] = [];
  private nextId: number;

  constructor(opts: ArtifactServiceOptions = {}) {
    this.nextId = opts.firstId ?? 1_000_001;
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'HS256' };
    const claims = {
      nameid: randomUUID(),
      scp: `Actions.ExampleScope Actions.Results:${this.workflowRunBackendId}:${this.workflowJobRunBackendId}`,
      IdentityTypeClaim: 'System:ServiceIdentity',
      iss: 'vstoken.actions.githubusercontent.com',
      aud: 'vso:' + randomUUID(),
      nbf: now - 60,
      iat: now - 60,
      exp: now + (opts.tokenTtlSeconds ?? 6 * 3600),
    };
    const unsigned = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    this.token = `${unsigned}.${b64url(createHmac('sha256', this.key).update(unsigned).digest())}`;
  }

  async start(): Promise<this> {
    const results = createServer((req, res) => void this.handle('results', req, res));
    const blob = createServer((req, res) => void this.handle('blob', req, res));
    this.servers.push(results, blob);
    [this.resultsUrl, this.blobUrl] = await Promise.all([listen(results), listen(blob)]);
    return this;
  }

  /** The variables the runner gives a JavaScript action for artifacts. */
  env(): Record<string, string> {
    return { ACTIONS_RUNTIME_TOKEN: this.token, ACTIONS_RESULTS_URL: `${this.resultsUrl}/` };
  }

  /** Makes the next `times` calls of an operation fail with `status` (Twirp JSON or Azure XML error). */
  fail(op: Operation, status: number, times = Infinity, message?: string): void {
    this.faults.set(op, { status, times, message });
  }

  /** The committed bytes behind an artifact (the zip the client uploaded). */
  content(name: string): Buffer {
    const a = this.artifacts.find((x) => x.name === name && x.finalized);
    if (!a) throw new Error(`no finalized artifact named ${name} (have: ${this.artifacts.map((x) => x.name).join(', ') || 'none'})`);
    const blob = this.blobs.get(a.blobPath)?.committed;
    if (!blob) throw new Error(`artifact ${name} has no committed blob`);
    return blob.bytes;
  }

  /**
   * Stores a finalized artifact directly, as an earlier job of this run would have left it (e.g. a baseline
   * for a later step to download with the real client).
   */
  seed(name: string, bytes: Buffer, mimeType = 'application/zip'): StoredArtifact {
    const created = this.createArtifact({ workflow_run_backend_id: this.workflowRunBackendId, workflow_job_run_backend_id: this.workflowJobRunBackendId, name, version: 7, mime_type: mimeType }) as { signed_upload_url: string };
    const blobPath = new URL(created.signed_upload_url).pathname;
    this.commit(this.blobs.get(blobPath)!, bytes, { 'x-ms-blob-content-type': mimeType }, new Map());
    this.finalizeArtifact({ name, size: String(bytes.length), hash: `sha256:${createHash('sha256').update(bytes).digest('hex')}` });
    return this.artifacts.find((a) => a.name === name)!;
  }

  /** A read-only signed URL of a finalized artifact's content (what GitHub's REST download redirects to). */
  downloadUrl(name: string): string {
    const a = this.artifacts.find((x) => x.name === name && x.finalized);
    if (!a) throw new Error(`no finalized artifact named ${name}`);
    return this.sign(a.blobPath, 'r');
  }

  close(): Promise<void> {
    return Promise.all(this.servers.map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r()))))).then(() => undefined);
  }

  // ---------------------------------------------------------------- routing

  private async handle(host: 'results' | 'blob', req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const body = await readBody(req);
    const rec: RecordedRequest = { host, method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, status: 0, bytes: body.length };
    this.requests.push(rec);
    const send = (status: number, headers: Record<string, string>, payload: Buffer | string = '') => {
      rec.status = status;
      res.writeHead(status, { 'content-length': String(Buffer.byteLength(payload)), ...headers });
      res.end(payload);
    };
    if (host === 'results') this.handleTwirp(req, url, body, rec, send);
    else this.handleBlob(req, url, body, rec, send);
  }

  private injected(op: Operation): Fault | undefined {
    const f = this.faults.get(op);
    if (!f || f.times <= 0) return undefined;
    f.times--;
    return f;
  }

  // ---------------------------------------------------------------- Twirp results service

  private handleTwirp(req: IncomingMessage, url: URL, body: Buffer, rec: RecordedRequest, send: (s: number, h: Record<string, string>, p?: string) => void): void {
    const reply = (status: number, payload: unknown) => send(status, { 'content-type': 'application/json' }, JSON.stringify(payload));
    const error = (e: TwirpError) => {
      rec.error = e.code;
      reply(TWIRP_STATUS[e.code] ?? 500, { code: e.code, msg: e.message });
    };
    try {
      const m = /^\/twirp\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      if (!m) throw new TwirpError('bad_route', `no handler for path "${url.pathname}"`);
      if (req.method !== 'POST') throw new TwirpError('bad_route', `unsupported method "${req.method}" (only POST is allowed)`);
      const [, service, method] = m;
      if (service !== ARTIFACT_SERVICE || !METHODS.includes(method as Method)) throw new TwirpError('bad_route', `no handler for path "${url.pathname}"`);
      rec.operation = method as Method;
      const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (contentType !== 'application/json') throw new TwirpError('bad_route', `unexpected Content-Type: "${req.headers['content-type'] ?? ''}"`);
      this.authenticate(req.headers.authorization);
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        throw new TwirpError('malformed', 'the json request could not be decoded');
      }
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new TwirpError('malformed', 'the json request could not be decoded');
      const fault = this.injected(method as Method);
      if (fault) throw new TwirpError(STATUS_TWIRP[fault.status] ?? 'internal', fault.message ?? 'internal server error');
      reply(200, this.rpc(method as Method, parsed as Record<string, unknown>));
    } catch (e) {
      if (e instanceof TwirpError) error(e);
      else error(new TwirpError('internal', (e as Error).message));
    }
  }

  private authenticate(authorization: string | undefined): void {
    const m = /^Bearer (.+)$/.exec(authorization ?? '');
    if (!m) throw new TwirpError('unauthenticated', 'missing bearer token');
    const parts = m[1]!.split('.');
    if (parts.length !== 3) throw new TwirpError('unauthenticated', 'invalid token');
    const expected = createHmac('sha256', this.key).update(`${parts[0]}.${parts[1]}`).digest();
    const got = Buffer.from(parts[2]!, 'base64url');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw new TwirpError('unauthenticated', 'invalid token signature');
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { exp: number; nbf: number };
    const now = Date.now() / 1000;
    if (now >= claims.exp || now < claims.nbf) throw new TwirpError('unauthenticated', 'token expired');
  }

  /** The backend ids of a request must be the ones of the job the token was issued for. */
  private checkIds(body: Record<string, unknown>): void {
    const run = required(str(body, 'workflow_run_backend_id'), 'workflow_run_backend_id');
    const job = required(str(body, 'workflow_job_run_backend_id'), 'workflow_job_run_backend_id');
    if (run !== this.workflowRunBackendId || job !== this.workflowJobRunBackendId) throw new TwirpError('permission_denied', 'the token does not grant access to this workflow job run');
  }

  private rpc(method: Method, body: Record<string, unknown>): unknown {
    this.checkIds(body);
    switch (method) {
      case 'CreateArtifact':
        return this.createArtifact(body);
      case 'FinalizeArtifact':
        return this.finalizeArtifact(body);
      case 'ListArtifacts':
        return this.listArtifacts(body);
      case 'GetSignedArtifactURL':
        return this.getSignedArtifactUrl(body);
      case 'DeleteArtifact':
        return this.deleteArtifact(body);
    }
  }

  private createArtifact(body: Record<string, unknown>): unknown {
    const name = required(str(body, 'name'), 'name');
    const bad = INVALID_NAME_CHARS.find((c) => name.includes(c));
    if (bad) throw new TwirpError('invalid_argument', `artifact name contains an invalid character: ${JSON.stringify(bad)}`);
    const version = field(body, 'version');
    if (typeof version !== 'number' || !Number.isInteger(version)) throw new TwirpError('invalid_argument', 'version is required');
    if (version < 4) throw new TwirpError('invalid_argument', `unsupported artifact version ${version}`);
    let expiresAt: string | null = null;
    const exp = field(body, 'expires_at');
    if (exp !== undefined && exp !== null) {
      const t = typeof exp === 'string' ? Date.parse(exp) : NaN;
      if (Number.isNaN(t)) throw new TwirpError('malformed', 'the json request could not be decoded: expires_at must be an RFC 3339 timestamp');
      if (t <= Date.now()) throw new TwirpError('invalid_argument', 'expires_at must be in the future');
      if (t > Date.now() + 91 * 86_400_000) throw new TwirpError('invalid_argument', 'expires_at is beyond the maximum retention of 90 days');
      expiresAt = new Date(t).toISOString();
    }
    const mime = field(body, 'mime_type');
    if (mime !== undefined && mime !== null && typeof mime !== 'string') throw new TwirpError('malformed', 'the json request could not be decoded: mime_type must be a string');
    if (this.artifacts.some((a) => a.name === name && a.workflowRunBackendId === this.workflowRunBackendId)) {
      throw new TwirpError('already_exists', 'an artifact with this name already exists on the workflow run');
    }
    const blobPath = `/${ACCOUNT}/${CONTAINER}/${this.workflowRunBackendId}/workflow-job-run-${this.workflowJobRunBackendId}/artifacts/${createHash('sha256').update(`${name}\0${randomUUID()}`).digest('hex')}.zip`;
    this.artifacts.push({
      id: 0,
      name,
      workflowRunBackendId: this.workflowRunBackendId,
      workflowJobRunBackendId: this.workflowJobRunBackendId,
      version,
      mimeType: (mime as string | undefined) ?? null,
      expiresAt,
      createdAt: new Date(),
      finalized: false,
      size: null,
      digest: null,
      blobPath,
    });
    this.blobs.set(blobPath, { committed: null, uncommitted: new Map() });
    return { ok: true, signed_upload_url: this.sign(blobPath, 'cw') };
  }

  private finalizeArtifact(body: Record<string, unknown>): unknown {
    const name = required(str(body, 'name'), 'name');
    const size = int64(body, 'size');
    if (size === undefined) throw new TwirpError('invalid_argument', 'size is required');
    const a = this.artifacts.find((x) => x.name === name && !x.finalized);
    if (!a) throw new TwirpError('not_found', `no artifact named ${name} awaiting upload on this workflow job run`);
    const blob = this.blobs.get(a.blobPath)?.committed;
    if (!blob) throw new TwirpError('failed_precondition', 'the artifact content was not uploaded');
    if (BigInt(blob.bytes.length) !== size) throw new TwirpError('invalid_argument', `size ${size} does not match the uploaded content (${blob.bytes.length} bytes)`);
    const hash = field(body, 'hash');
    let digest: string | null = null;
    if (hash !== undefined && hash !== null) {
      if (typeof hash !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(hash)) throw new TwirpError('invalid_argument', 'hash must be "sha256:<64 hex digits>"');
      const actual = `sha256:${createHash('sha256').update(blob.bytes).digest('hex')}`;
      if (hash !== actual) throw new TwirpError('invalid_argument', `hash ${hash} does not match the uploaded content (${actual})`);
      digest = hash;
    }
    a.finalized = true;
    a.size = blob.bytes.length;
    a.digest = digest;
    a.id = this.nextId++;
    return { ok: true, artifact_id: String(a.id) };
  }

  private listArtifacts(body: Record<string, unknown>): unknown {
    const nameFilter = field(body, 'name_filter');
    const idFilter = int64(body, 'id_filter');
    const artifacts = this.artifacts
      .filter((a) => a.finalized && a.workflowRunBackendId === this.workflowRunBackendId)
      .filter((a) => nameFilter === undefined || nameFilter === null || a.name === nameFilter)
      .filter((a) => idFilter === undefined || BigInt(a.id) === idFilter)
      .map((a) => ({
        workflow_run_backend_id: a.workflowRunBackendId,
        workflow_job_run_backend_id: a.workflowJobRunBackendId,
        database_id: String(a.id),
        name: a.name,
        size: String(a.size ?? 0),
        created_at: a.createdAt.toISOString(),
        ...(a.digest ? { digest: a.digest } : {}),
      }));
    return { artifacts };
  }

  private getSignedArtifactUrl(body: Record<string, unknown>): unknown {
    const name = required(str(body, 'name'), 'name');
    const a = this.artifacts.find((x) => x.name === name && x.finalized);
    if (!a) throw new TwirpError('not_found', `artifact ${name} not found`);
    return { signed_url: this.sign(a.blobPath, 'r') };
  }

  private deleteArtifact(body: Record<string, unknown>): unknown {
    const name = required(str(body, 'name'), 'name');
    const i = this.artifacts.findIndex((x) => x.name === name && x.finalized);
    if (i < 0) throw new TwirpError('not_found', `artifact ${name} not found`);
    const [a] = this.artifacts.splice(i, 1);
    this.blobs.delete(a!.blobPath);
    return { ok: true, artifact_id: String(a!.id) };
  }

  // ---------------------------------------------------------------- Azure Blob Storage (SAS)

  /** A service SAS for one blob: `sp` permissions, valid for an hour, signed with the server's key. */
  private sign(blobPath: string, permissions: string): string {
    const st = new Date(Date.now() - 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const se = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const q = new URLSearchParams({ sv: SAS_VERSION, st, se, sr: 'b', sp: permissions, spr: 'http' });
    q.set('sig', this.sasSignature(blobPath, q));
    return `${this.blobUrl}${blobPath}?${q}`;
  }

  private sasSignature(blobPath: string, q: URLSearchParams): string {
    const toSign = [q.get('sp'), q.get('st'), q.get('se'), `/blob${blobPath}`, q.get('spr'), q.get('sv'), q.get('sr')].join('\n');
    return createHmac('sha256', this.key).update(toSign).digest('base64');
  }

  private handleBlob(req: IncomingMessage, url: URL, body: Buffer, rec: RecordedRequest, send: (s: number, h: Record<string, string>, p?: Buffer | string) => void): void {
    const requestId = randomUUID();
    const common = { 'x-ms-request-id': requestId, 'x-ms-version': SAS_VERSION, date: new Date().toUTCString() };
    const q = url.searchParams;
    try {
      const comp = q.get('comp');
      const op: BlobOp | undefined =
        req.method === 'PUT' ? (comp === 'block' ? 'PutBlock' : comp === 'blocklist' ? 'PutBlockList' : comp === null ? 'PutBlob' : undefined) : req.method === 'GET' && comp === null ? 'GetBlob' : undefined;
      if (!op) throw new StorageError(400, 'UnsupportedHttpVerb', `The resource doesn't support the specified HTTP verb or comp=${comp}.`);
      rec.operation = op;
      this.authorizeSas(req, url, op);
      const blob = this.blobs.get(url.pathname);
      if (op !== 'GetBlob') {
        const declared = req.headers['content-length'];
        if (declared === undefined) throw new StorageError(411, 'MissingContentLengthHeader', 'Content-Length HTTP header is missing.');
        if (Number(declared) !== body.length) throw new StorageError(400, 'InvalidHeaderValue', 'The value for one of the HTTP headers is not in the correct format.');
        const md5 = req.headers['content-md5'];
        if (md5 && md5 !== createHash('md5').update(body).digest('base64')) throw new StorageError(400, 'Md5Mismatch', 'The MD5 value specified in the request did not match with the MD5 value calculated by the server.');
      }
      const fault = this.injected(op);
      if (fault) throw new StorageError(fault.status, fault.status >= 500 ? 'InternalError' : 'InvalidInput', fault.message ?? 'Server encountered an internal error. Please try again after some time.');
      if (!blob) {
        // The service signs URLs only for artifacts it created: anything else is not a blob of this container.
        throw new StorageError(404, op === 'GetBlob' ? 'BlobNotFound' : 'ContainerNotFound', op === 'GetBlob' ? 'The specified blob does not exist.' : 'The specified container does not exist.');
      }
      const md5Header = { 'content-md5': createHash('md5').update(body).digest('base64') };
      switch (op) {
        case 'PutBlock': {
          const id = this.blockId(q.get('blockid'), blob);
          if (blob.uncommitted.size >= 100_000 && !blob.uncommitted.has(id)) throw new StorageError(409, 'BlockCountExceedsLimit', 'The uncommitted block count cannot exceed the maximum limit of 100,000 blocks.');
          blob.uncommitted.set(id, body);
          send(201, { ...common, ...md5Header, 'x-ms-request-server-encrypted': 'true' });
          return;
        }
        case 'PutBlockList': {
          const list = parseBlockList(body.toString('utf8'));
          const parts: [string, Buffer][] = list.map(([kind, id]) => {
            const fromUncommitted = kind !== 'Committed' ? blob.uncommitted.get(id) : undefined;
            const fromCommitted = kind !== 'Uncommitted' ? blob.committed?.blocks.get(id) : undefined;
            const part = kind === 'Latest' ? (fromUncommitted ?? fromCommitted) : kind === 'Uncommitted' ? fromUncommitted : fromCommitted;
            if (!part) throw new StorageError(400, 'InvalidBlockList', 'The specified block list is invalid.');
            return [id, part];
          });
          this.commit(blob, Buffer.concat(parts.map((p) => p[1])), req.headers, new Map(parts));
          send(201, { ...common, etag: blob.committed!.etag, 'last-modified': blob.committed!.lastModified.toUTCString(), 'x-ms-request-server-encrypted': 'true' });
          return;
        }
        case 'PutBlob': {
          const type = req.headers['x-ms-blob-type'];
          if (!type) throw new StorageError(400, 'MissingRequiredHeader', 'An HTTP header that\'s mandatory for this request is not specified: x-ms-blob-type.');
          if (type !== 'BlockBlob') throw new StorageError(400, 'InvalidHeaderValue', 'The value for one of the HTTP headers is not in the correct format: x-ms-blob-type.');
          if (body.length > 5000 * 1024 * 1024) throw new StorageError(413, 'RequestBodyTooLarge', 'The request body is too large.');
          this.commit(blob, body, req.headers, new Map());
          send(201, { ...common, ...md5Header, etag: blob.committed!.etag, 'last-modified': blob.committed!.lastModified.toUTCString(), 'x-ms-request-server-encrypted': 'true' });
          return;
        }
        case 'GetBlob': {
          const c = blob.committed;
          if (!c) throw new StorageError(404, 'BlobNotFound', 'The specified blob does not exist.');
          send(
            200,
            {
              ...common,
              'content-type': c.contentType,
              'content-md5': createHash('md5').update(c.bytes).digest('base64'),
              etag: c.etag,
              'last-modified': c.lastModified.toUTCString(),
              'x-ms-blob-type': 'BlockBlob',
              'accept-ranges': 'bytes',
            },
            c.bytes,
          );
          return;
        }
      }
    } catch (e) {
      const err = e instanceof StorageError ? e : new StorageError(500, 'InternalError', (e as Error).message);
      rec.error = err.code;
      const xml = `\uFEFF<?xml version="1.0" encoding="utf-8"?><Error><Code>${err.code}</Code><Message>${escapeXml(err.message)}\nRequestId:${requestId}\nTime:${new Date().toISOString()}</Message></Error>`;
      send(err.status, { ...common, 'content-type': 'application/xml', 'x-ms-error-code': err.code }, xml);
    }
  }

  /** Checks the SAS in the query as Azure does: present, signed by us, in its time window, with the needed permission. */
  private authorizeSas(req: IncomingMessage, url: URL, op: BlobOp): void {
    const q = url.searchParams;
    if (req.headers.authorization) throw new StorageError(400, 'InvalidAuthenticationInfo', 'Authentication information is not given in the correct format: a SAS request must not carry an Authorization header.');
    const sig = q.get('sig');
    if (!sig) throw new StorageError(401, 'NoAuthenticationInformation', 'Server failed to authenticate the request. Please refer to the information in the www-authenticate header.');
    const expected = Buffer.from(this.sasSignature(url.pathname, q));
    const got = Buffer.from(sig);
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw new StorageError(403, 'AuthenticationFailed', 'Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.');
    const now = Date.now();
    if (now > Date.parse(q.get('se') ?? '')) throw new StorageError(403, 'AuthenticationFailed', `Signed expiry time [${q.get('se')}] must be after signed start time [${q.get('st')}] and current time.`);
    if (now < Date.parse(q.get('st') ?? '')) throw new StorageError(403, 'AuthenticationFailed', 'Signed start time is in the future.');
    const need = op === 'GetBlob' ? 'r' : 'w';
    if (!(q.get('sp') ?? '').includes(need)) throw new StorageError(403, 'AuthorizationPermissionMismatch', 'This request is not authorized to perform this operation using this permission.');
  }

  /** A block id: valid Base64 of at most 64 bytes, the same length as the other blocks of the blob. */
  private blockId(raw: string | null, blob: Blob): string {
    if (!raw) throw new StorageError(400, 'MissingRequiredQueryParameter', 'A query parameter that\'s mandatory for this request is not specified: blockid.');
    const decoded = Buffer.from(raw, 'base64');
    if (decoded.toString('base64') !== raw || decoded.length === 0 || decoded.length > 64) {
      throw new StorageError(400, 'InvalidQueryParameterValue', 'Value for one of the query parameters specified in the request URI is invalid: blockid.');
    }
    const other = blob.uncommitted.keys().next().value;
    if (other !== undefined && Buffer.from(other, 'base64').length !== decoded.length) throw new StorageError(400, 'InvalidBlobOrBlock', 'The specified blob or block content is invalid.');
    return raw;
  }

  private commit(blob: Blob, bytes: Buffer, headers: IncomingHttpHeaders, blocks: Map<string, Buffer>): void {
    const md5 = headers['x-ms-blob-content-md5'];
    if (typeof md5 === 'string' && md5 !== createHash('md5').update(bytes).digest('base64')) throw new StorageError(400, 'Md5Mismatch', 'The MD5 value specified in the request did not match with the MD5 value calculated by the server.');
    const contentType = (headers['x-ms-blob-content-type'] as string | undefined) ?? 'application/octet-stream';
    blob.committed = { bytes, contentType, etag: `"0x${randomBytes(8).toString('hex').toUpperCase()}"`, lastModified: new Date(), blocks };
    blob.uncommitted.clear();
  }
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** `<BlockList><Latest>id</Latest><Committed>id</Committed>…</BlockList>` → [kind, id] in order. */
function parseBlockList(xml: string): ['Latest' | 'Committed' | 'Uncommitted', string][] {
  const m = /<BlockList>([\s\S]*)<\/BlockList>/.exec(xml.replace(/^\uFEFF/, ''));
  if (!m) throw new StorageError(400, 'InvalidXmlDocument', 'XML specified is not syntactically valid.');
  const out: ['Latest' | 'Committed' | 'Uncommitted', string][] = [];
  const rest = m[1]!.replace(/<(Latest|Committed|Uncommitted)>([^<]*)<\/\1>/g, (_, kind: 'Latest' | 'Committed' | 'Uncommitted', id: string) => {
    out.push([kind, id.trim()]);
    return '';
  });
  if (rest.trim()) throw new StorageError(400, 'InvalidXmlDocument', 'XML specified is not syntactically valid.');
  return out;
}

/** Starts the results service and blob storage on loopback ports. */
export function startArtifactService(opts: ArtifactServiceOptions = {}): Promise<ArtifactService> {
  return new ArtifactService(opts).start();
}

/**
 * The entries of a zip archive (stored or deflated), read from its central directory, each checked
 * against its CRC-32: what a user gets when they download and unpack the artifact.
 */
export function unzip(zip: Buffer): Map<string, Buffer> {
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65_535); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip archive: no end of central directory record');
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  const out = new Map<string, Buffer>();
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = zip.readUInt16LE(p + 10);
    const crc = zip.readUInt32LE(p + 16);
    const compressed = zip.readUInt32LE(p + 20);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const name = zip.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    p += 46 + nameLen + extraLen + commentLen;
    if (zip.readUInt32LE(local) !== 0x04034b50) throw new Error(`corrupt local header for ${name}`);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(start, start + compressed);
    const data = method === 0 ? Buffer.from(raw) : method === 8 ? inflateRawSync(raw) : null;
    if (!data) throw new Error(`${name}: unsupported compression method ${method}`);
    if (crc32(data) !== crc) throw new Error(`${name}: CRC-32 mismatch`);
    if (!name.endsWith('/')) out.set(name, data);
  }
  return out;
}
