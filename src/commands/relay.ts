import * as path from 'node:path';
import { hostname } from 'node:os';
import { defineCommand } from './define.js';

export const command = defineCommand({
  name: 'relay',
  summary: 'a small service: Alertmanager and Argo notification webhooks in, GitHub repository_dispatch out (deduplicated, retried)',
  description:
    'Runs an HTTP service that closes the loop from the cluster back to GitHub. POST /v1/alertmanager takes Alertmanager ' +
    'webhooks (payload version 4); POST /v1/notifications takes {event_type, client_payload} bodies from Argo CD / Argo ' +
    'Rollouts notification templates (manifests/rollouts/notifications.yaml). Every request must carry the bearer token ' +
    '(Authorization: Bearer …) or an HMAC-SHA256 signature of its body (X-Mlloop-Signature-256: sha256=<hex>); anything else ' +
    'gets 401 and is logged without its body. Bodies over the limit get 413; when the delivery queue is full, 503 (the ' +
    'sender retries). Routes in relay.yaml decide which alerts become which repository_dispatch event (ct-retrain, ' +
    'rollout-aborted) in which repository; the same alert group or notification within the dedup window is forwarded ' +
    'once. An accepted event is written to the spool (a folder, fsynced) or a Redis stream before the 202, and removed ' +
    'only after GitHub answered 2xx; a restart delivers what is left. Waiting events for the same target are merged into ' +
    'one dispatch (client_payload.events). Deliveries are retried with backoff. GET /healthz, /readyz and /metrics ' +
    '(Prometheus). On SIGTERM it stops accepting, delivers what it can within limits.shutdown_grace, keeps the rest ' +
    'in the spool and exits.',
  options: {
    config: { type: 'path', default: 'relay.yaml', help: 'relay configuration (schemas/relay.schema.json)' },
    port: { type: 'integer', min: 0, max: 65535, help: 'port to listen on [default: listen.port of the config, else 8080; 0 picks a free port]' },
    host: { type: 'string', help: 'address to bind [default: listen.host of the config, else 127.0.0.1; 0.0.0.0 in a pod]', placeholder: 'ADDRESS' },
  },
  examples: [
    {
      command: 'RELAY_BEARER_TOKEN=… GITHUB_TOKEN=… mlloop relay --config manifests/relay/relay.yaml --host 0.0.0.0 --port 8080',
      explain: 'what the Deployment in manifests/relay runs',
    },
    {
      command: "curl -H \"Authorization: Bearer $RELAY_BEARER_TOKEN\" -d '{\"event_type\":\"rollout-aborted\",\"client_payload\":{\"app\":\"ocr\",\"env\":\"prod\"}}' localhost:8080/v1/notifications",
      explain: 'send a notification by hand (202: accepted for delivery; 200 with suppressed: 1 for a repeat)',
    },
  ],
  async run(o, ctx) {
    const [{ loadRelayConfig }, { Relay, githubDeliver }] = await Promise.all([import('../core/relay/config.js'), import('../core/relay/server.js')]);
    const cfg = await loadRelayConfig(path.resolve(ctx.cwd, o.config), ctx.env, (v) => ctx.secret(v));
    if (o.port !== undefined) cfg.port = o.port;
    if (o.host !== undefined) cfg.host = o.host;
    cfg.spoolDir = path.resolve(ctx.cwd, cfg.spoolDir);
    // The pod name in Kubernetes: a restarted container resumes what it had read.
    if (cfg.redis) cfg.redis.consumer ??= `${hostname()}-${process.pid}`;
    const relay = new Relay(cfg, githubDeliver(cfg.apiUrl, ctx.log), ctx.log);
    let url: string;
    try {
      url = await relay.start();
    } catch (e) {
      const { ExternalError } = await import('../core/errors.js');
      const storeFailed = (e as { store?: boolean }).store === true;
      throw new ExternalError(storeFailed ? (e as Error).message : `cannot listen on ${cfg.host}:${cfg.port}: ${(e as Error).message}`, {
        hint: storeFailed ? (cfg.redis ? 'check that Redis is reachable at the URL in redis.url_env' : 'make spool.dir a writable folder (in Kubernetes: the PersistentVolumeClaim)') : 'pick another --port, or stop what holds this one',
      });
    }
    ctx.log.info(`relay listening on ${url} (${cfg.routes.length} route(s): ${cfg.routes.map((r) => `${r.name} → ${r.eventType} ${r.owner}/${r.repo}`).join(', ')})`);
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) return resolve();
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    ctx.log.info(`relay: shutting down; delivering ${relay.snapshot().queued + relay.snapshot().inFlight} accepted event(s)`);
    const stats = await relay.stop();
    const text = `relay stopped: ${stats.accepted} accepted, ${stats.delivered} delivered in ${stats.dispatches} dispatch(es), ${stats.failed} failed, ${stats.suppressed} duplicates suppressed, ${stats.unauthorized} unauthorized${stats.undelivered ? `; ${stats.undelivered} not delivered yet, kept in the ${relay.storeName} for the next start` : ''}`;
    return { exitCode: 0, data: { schema: 'mlloop/relay-stats@1', url, ...stats }, text };
  },
});
