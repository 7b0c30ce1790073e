import type { Logger } from '../log.js';
import type { RelayConfig } from './config.js';
import type { EventStore, StoredEvent } from './spool.js';

type Client = ReturnType<typeof import('redis').createClient>;
type Raw = string | number | null | Raw[];

/**
 * Accepts only events whose dedup key is new (SET NX PX, shared by every replica) and appends them to the
 * stream in the same step, so a duplicate check can never pass without its event being recorded.
 */
const ACCEPT = `
local out = {}
for i = 3, #ARGV, 2 do
  if redis.call('SET', ARGV[2] .. ARGV[i], '1', 'NX', 'PX', ARGV[1]) then
    out[#out + 1] = redis.call('XADD', KEYS[1], '*', 'e', ARGV[i + 1])
  else
    out[#out + 1] = ''
  end
end
return out`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/**
 * Accepted events in a Redis stream read through a consumer group, so several relay replicas share one
 * queue: each entry is delivered by the replica that read it, acknowledged (XACK) and deleted only after
 * GitHub answered 2xx; entries a replica read and did not acknowledge for `claim_idle` (it stopped or
 * crashed) are taken over by another with XAUTOCLAIM. Events are as durable as the Redis server's
 * persistence makes them (appendonly yes, appendfsync always for no loss on a Redis crash).
 */
export class RedisQueue implements EventStore {
  private client?: Client;
  private reader?: Client;
  private readonly streamKey: string;
  private readonly dedupPrefix: string;
  private readonly consumer: string;
  private readonly held = new Set<string>();
  private stopped = false;
  private loop?: Promise<void>;

  constructor(
    private readonly cfg: NonNullable<RelayConfig['redis']>,
    private readonly windowMs: number,
    private readonly log: Logger,
    private readonly maxHeld = 1000,
  ) {
    this.streamKey = `${cfg.stream}:events`;
    this.dedupPrefix = `${cfg.stream}:dedup:`;
    this.consumer = cfg.consumer ?? 'mlloop-relay';
  }

  get describe(): string {
    return `Redis stream ${this.streamKey} (group ${this.cfg.group}, consumer ${this.consumer})`;
  }

  async open(take: (events: StoredEvent[]) => void): Promise<void> {
    const { createClient } = await import('redis');
    // Unreachable at start: fail (exit 3) after a few tries; once connected, reconnect for as long as it takes.
    let connected = false;
    const client = createClient({
      url: this.cfg.url,
      socket: { reconnectStrategy: (n: number, cause: Error) => (connected ? Math.min(100 * 2 ** n, 2000) : n >= 3 ? new Error(`Redis is unreachable: ${cause.message}`) : 200) },
    });
    let lastError = '';
    client.on('error', (e: Error) => {
      if (e.message !== lastError) this.log.warn(`relay: Redis: ${(lastError = e.message)}`);
    });
    await client.connect();
    connected = true;
    this.client = client as Client;
    this.reader = this.client.duplicate();
    this.reader.on('error', () => {});
    await this.reader.connect();
    try {
      await this.cmd(['XGROUP', 'CREATE', this.streamKey, this.cfg.group, '0', 'MKSTREAM']);
    } catch (e) {
      if (!/BUSYGROUP/.test((e as Error).message)) throw e;
    }
    // What this consumer read before a restart and never acknowledged comes first.
    for (let from = '0'; ; ) {
      const events = this.parseRead(await this.cmd(['XREADGROUP', 'GROUP', this.cfg.group, this.consumer, 'COUNT', '100', 'STREAMS', this.streamKey, from]));
      if (events.length === 0) break;
      from = events.at(-1)!.id;
      this.hand(events, take);
    }
    this.loop = this.run(take);
  }

  async accept(events: StoredEvent[]): Promise<StoredEvent[]> {
    const args: string[] = [String(this.windowMs), this.dedupPrefix];
    for (const e of events) args.push(e.d.dedupKey, JSON.stringify({ d: e.d, acceptedAt: e.acceptedAt }));
    const ids = (await this.cmd(['EVAL', ACCEPT, '1', this.streamKey, ...args])) as string[];
    return events.flatMap((e, i) => (ids[i] ? [{ ...e, id: ids[i]! }] : []));
  }

  async backlog(): Promise<number> {
    return Number(await this.cmd(['XLEN', this.streamKey]));
  }

  async delivered(events: StoredEvent[]): Promise<void> {
    await this.remove(events, false);
  }

  async dropped(events: StoredEvent[]): Promise<void> {
    await this.remove(events, true);
  }

  async touch(events: StoredEvent[]): Promise<void> {
    // Resets the entries' idle time while this replica retries them, so no other replica claims them.
    await this.cmd(['XCLAIM', this.streamKey, this.cfg.group, this.consumer, '0', ...events.map((e) => e.id), 'JUSTID']);
  }

  dedupKeys(): number {
    return 0;
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.reader?.destroy();
    await this.loop;
    await this.client?.close().catch(() => this.client?.destroy());
  }

  private async remove(events: StoredEvent[], forget: boolean): Promise<void> {
    const ids = events.map((e) => e.id);
    const multi = this.client!.multi();
    multi.addCommand(['XACK', this.streamKey, this.cfg.group, ...ids]);
    multi.addCommand(['XDEL', this.streamKey, ...ids]);
    if (forget) multi.addCommand(['DEL', ...events.map((e) => this.dedupPrefix + e.d.dedupKey)]);
    await multi.exec();
    for (const id of ids) this.held.delete(id);
  }

  private cmd(args: string[]): Promise<Raw> {
    return this.client!.sendCommand(args) as unknown as Promise<Raw>;
  }

  private hand(events: StoredEvent[], take: (events: StoredEvent[]) => void) {
    const fresh = events.filter((e) => !this.held.has(e.id));
    for (const e of fresh) this.held.add(e.id);
    if (fresh.length) take(fresh);
  }

  /**
   * Reads new entries for this consumer (blocking up to a second); every claim_idle/3 resets the idle time of
   * the entries it holds (a live replica's entries are never claimed, even while GitHub is slow) and every
   * claim_idle/2 claims entries idle longer than claim_idle (their replica stopped).
   */
  private async run(take: (events: StoredEvent[]) => void): Promise<void> {
    let nextClaim = 0;
    let nextTouch = 0;
    let failing = '';
    while (!this.stopped) {
      try {
        if (Date.now() >= nextTouch) {
          nextTouch = Date.now() + this.cfg.claimIdleMs / 3;
          const ids = [...this.held];
          for (let i = 0; i < ids.length; i += 500) await this.cmd(['XCLAIM', this.streamKey, this.cfg.group, this.consumer, '0', ...ids.slice(i, i + 500), 'JUSTID']);
        }
        if (Date.now() >= nextClaim) {
          nextClaim = Date.now() + Math.max(200, this.cfg.claimIdleMs / 2);
          for (let cursor = '0-0'; ; ) {
            const reply = (await this.cmd(['XAUTOCLAIM', this.streamKey, this.cfg.group, this.consumer, String(Math.round(this.cfg.claimIdleMs)), cursor, 'COUNT', '100'])) as Raw[];
            const events = this.parseEntries(reply[1] as Raw[]);
            if (events.length) this.log.info(`relay: claimed ${events.length} event(s) another replica read and did not deliver within ${this.cfg.claimIdleMs} ms`);
            this.hand(events, take);
            cursor = String(reply[0]);
            if (cursor === '0-0' || this.held.size >= this.maxHeld) break;
          }
        }
        const room = this.maxHeld - this.held.size;
        if (room <= 0) {
          await sleep(200);
          continue;
        }
        const block = Math.round(Math.max(20, Math.min(1000, nextClaim - Date.now(), nextTouch - Date.now())));
        const reply = await this.reader!.sendCommand(['XREADGROUP', 'GROUP', this.cfg.group, this.consumer, 'COUNT', String(Math.min(room, 100)), 'BLOCK', String(block), 'STREAMS', this.streamKey, '>']);
        this.hand(this.parseRead(reply as unknown as Raw), take);
        failing = '';
      } catch (e) {
        if (this.stopped) break;
        // Once per distinct error while Redis is unreachable, not every second.
        if ((e as Error).message !== failing) this.log.warn(`relay: ${this.describe}: ${(failing = (e as Error).message)}; reading again every second`);
        await sleep(1000);
      }
    }
  }

  private parseRead(reply: Raw): StoredEvent[] {
    if (!Array.isArray(reply) || reply.length === 0) return [];
    return this.parseEntries((reply[0] as Raw[])[1] as Raw[]);
  }

  private parseEntries(entries: Raw[]): StoredEvent[] {
    const out: StoredEvent[] = [];
    for (const entry of entries ?? []) {
      if (!Array.isArray(entry) || !Array.isArray(entry[1])) continue; // deleted meanwhile
      const id = String(entry[0]);
      const fields = entry[1] as string[];
      const at = fields.indexOf('e');
      try {
        const v = JSON.parse(fields[at + 1]!) as { d: StoredEvent['d']; acceptedAt: number };
        out.push({ id, d: v.d, acceptedAt: v.acceptedAt });
      } catch {
        this.log.warn(`relay: ${this.describe}: entry ${id} is not an mlloop relay event; left in the stream`);
      }
    }
    return out;
  }
}
