/**
 * The one proxy setting of every HTTP request mlloop makes itself (fetch calls, Octokit, Kubernetes):
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY (lowercase first) read with @actions/http-client's rules, so a command
 * goes through a corporate proxy exactly as @actions/artifact (built on that client) does. The CLI and the
 * action adapter call useProxyFrom(env) once; undici, which carries proxied requests, is loaded only when a
 * request is to be proxied, so a run without proxy variables pays nothing.
 */
type Env = Readonly<Record<string, string | undefined>>;

const VARIABLES = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY', 'no_proxy', 'NO_PROXY'] as const;

/** localhost, 127.x and ::1 never go through a proxy (@actions/http-client's isLoopbackAddress). */
function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h.startsWith('127.') || h.startsWith('[::1]') || h.startsWith('[0:0:0:0:0:0:0:1]');
}

/**
 * NO_PROXY as @actions/http-client's checkBypass reads it: comma-separated entries, case-insensitive; `*`
 * matches everything; an entry matches the host or host:port exactly, any subdomain of it, and with a
 * leading dot any host ending so. Loopback hosts are always bypassed.
 */
export function bypassesProxy(url: URL, env: Env): boolean {
  if (!url.hostname) return false;
  if (isLoopback(url.hostname)) return true;
  const noProxy = env.no_proxy || env.NO_PROXY || '';
  if (!noProxy) return false;
  const port = url.port ? Number(url.port) : url.protocol === 'http:' ? 80 : url.protocol === 'https:' ? 443 : undefined;
  const host = url.hostname.toUpperCase();
  const hosts = port === undefined ? [host] : [host, `${host}:${port}`];
  for (const entry of noProxy.split(',').map((x) => x.trim().toUpperCase()).filter(Boolean)) {
    if (entry === '*' || hosts.some((h) => h === entry || h.endsWith(`.${entry}`) || (entry.startsWith('.') && h.endsWith(entry)))) return true;
  }
  return false;
}

/** The proxy for a request to `target` under `env`, or undefined for a direct connection (@actions/http-client's getProxyUrl). */
export function proxyUrlFor(target: string | URL, env: Env): string | undefined {
  let url: URL;
  try {
    url = typeof target === 'string' ? new URL(target) : target;
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (bypassesProxy(url, env)) return undefined;
  const value = url.protocol === 'https:' ? env.https_proxy || env.HTTPS_PROXY : env.http_proxy || env.HTTP_PROXY;
  if (!value) return undefined;
  let proxy: URL;
  try {
    proxy = new URL(value);
  } catch {
    if (/^https?:\/\//.test(value)) return undefined;
    try {
      proxy = new URL(`http://${value}`);
    } catch {
      return undefined;
    }
  }
  // A value such as "proxy.corp:3128" parses with the scheme "proxy.corp:" and no host: @actions/http-client then connects directly.
  return proxy.hostname ? proxy.href : undefined;
}

let settings: Env | undefined;

/** Installs the proxy variables of `env` for every later request; without any of them requests go direct. */
export function useProxyFrom(env: Env): void {
  const picked: Record<string, string> = {};
  for (const k of VARIABLES) if (env[k]) picked[k] = env[k]!;
  settings = Object.keys(picked).some((k) => !/no_proxy/i.test(k)) ? picked : undefined;
}

/** The proxy for a request to `target` under the installed setting (the Kubernetes client's proxy-url). */
export function proxyFor(target: string | URL): string | undefined {
  return settings && proxyUrlFor(target, settings);
}

type Fetch = typeof globalThis.fetch;
const agents = new Map<string, import('undici').ProxyAgent>();

/**
 * fetch() under the installed proxy setting: the one fetch of src/core and the one Octokit is given. A
 * proxied request uses npm undici's own fetch with its ProxyAgent (the same undici version on both sides,
 * whatever undici the running Node bundles); any other request is the built-in fetch.
 */
export const httpFetch: Fetch = async (input, init) => {
  const target = typeof input === 'string' || input instanceof URL ? input : input.url;
  const proxy = proxyFor(target);
  if (!proxy) return globalThis.fetch(input, init);
  const undici = await import('undici');
  let dispatcher = agents.get(proxy);
  if (!dispatcher) agents.set(proxy, (dispatcher = new undici.ProxyAgent(proxy)));
  return (await undici.fetch(input as Parameters<typeof undici.fetch>[0], { ...(init as object), dispatcher })) as unknown as Response;
};
