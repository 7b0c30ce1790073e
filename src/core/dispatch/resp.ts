import * as net from 'node:net';
import * as tls from 'node:tls';

/**
 * A small Redis client for the decision's read (`dispatch --state redis://…`): one connection, commands sent in
 * pipelines (optionally as one MULTI/EXEC), RESP2 replies. The full client (the `redis` package) takes longer to
 * load than the whole read takes; the collector keeps using it.
 */
export type Reply = string | number | null | Reply[];

export class ReplyError extends Error {}

interface Pending {
  resolve(r: Reply | ReplyError): void;
}

export class RespClient {
  private buf: Buffer = Buffer.alloc(0);
  private readonly pending: Pending[] = [];
  private failure: Error | undefined;
  private corked = false;

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => this.data(d));
    const fail = (e: Error) => {
      this.failure ??= e;
      for (const p of this.pending.splice(0)) p.resolve(new ReplyError(e.message));
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('connection closed')));
  }

  /** Connects and authenticates (user and password of the URL) and selects the URL's database. */
  static async connect(url: string, timeoutMs = 5000): Promise<RespClient> {
    const u = new URL(url);
    const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
    const port = Number(u.port || 6379);
    const secure = u.protocol === 'rediss:';
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = secure ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host }) : net.connect({ host, port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error('Connection timeout'));
      }, timeoutMs);
      s.once(secure ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    sock.setNoDelay(true);
    const client = new RespClient(sock);
    const setup: string[][] = [];
    const password = decodeURIComponent(u.password);
    if (password) setup.push(u.username ? ['AUTH', decodeURIComponent(u.username), password] : ['AUTH', password]);
    const db = Number(u.pathname.slice(1) || 0);
    if (db) setup.push(['SELECT', String(db)]);
    if (setup.length) {
      try {
        await client.run(setup);
      } catch (e) {
        client.close();
        throw e;
      }
    }
    return client;
  }

  /** Sends the commands in one pipeline; a reply that is an error throws. With `atomic`, as one MULTI/EXEC. */
  async run(commands: readonly (readonly string[])[], atomic = false): Promise<Reply[]> {
    const list = atomic ? [['MULTI'], ...commands, ['EXEC']] : commands;
    const replies = await this.send(list);
    const errors = replies.filter((r): r is ReplyError => r instanceof ReplyError);
    if (errors.length) throw errors[0];
    if (!atomic) return replies as Reply[];
    const exec = replies[replies.length - 1];
    if (!Array.isArray(exec)) throw new ReplyError('transaction aborted');
    const failed = exec.find((r) => r instanceof ReplyError);
    if (failed) throw failed;
    return exec;
  }

  /** Writes the commands at once; each reply (or error) in order. */
  private send(commands: readonly (readonly string[])[]): Promise<(Reply | ReplyError)[]> {
    if (this.failure) return Promise.resolve(commands.map(() => new ReplyError(this.failure!.message)));
    let out = '';
    for (const args of commands) {
      out += `*${args.length}\r\n`;
      for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
    }
    const replies = commands.map(() => new Promise<Reply | ReplyError>((resolve) => this.pending.push({ resolve })));
    // Pipelines sent in one tick (one per cluster) leave in one write.
    if (!this.corked) {
      this.corked = true;
      this.sock.cork();
      process.nextTick(() => {
        this.corked = false;
        this.sock.uncork();
      });
    }
    this.sock.write(out);
    return Promise.all(replies);
  }

  private data(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    let pos = 0;
    while (pos < this.buf.length && this.pending.length) {
      const r = parse(this.buf, pos);
      if (!r) break;
      pos = r[1];
      this.pending.shift()!.resolve(r[0]);
    }
    this.buf = pos >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
  }

  async quit(): Promise<void> {
    await this.run([['QUIT']]).catch(() => undefined);
    this.close();
  }

  close(): void {
    this.sock.destroy();
  }
}

/** One RESP2 reply from `pos`: the reply and where the next starts, or undefined when incomplete. */
function parse(b: Buffer, pos: number): [Reply | ReplyError, number] | undefined {
  const end = b.indexOf('\r\n', pos);
  if (end < 0) return undefined;
  const type = b[pos];
  const line = b.toString('utf8', pos + 1, end);
  const next = end + 2;
  switch (type) {
    case 0x2b: // +
      return [line, next];
    case 0x2d: // -
      return [new ReplyError(line), next];
    case 0x3a: // :
      return [Number(line), next];
    case 0x24: {
      // $
      const n = Number(line);
      if (n < 0) return [null, next];
      if (b.length < next + n + 2) return undefined;
      return [b.toString('utf8', next, next + n), next + n + 2];
    }
    case 0x2a: {
      // *
      const n = Number(line);
      if (n < 0) return [null, next];
      const out: (Reply | ReplyError)[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parse(b, p);
        if (!r) return undefined;
        out.push(r[0]);
        p = r[1];
      }
      return [out as Reply[], p];
    }
    default:
      return [new ReplyError(`unexpected reply from Redis: ${line.slice(0, 40)}`), next];
  }
}
