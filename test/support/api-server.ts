import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/**
 * The HTTP side shared by the in-repo API test servers (GitHub, GitLab): a loopback server whose handler errors
 * become a JSON 500 naming the test server, and whose clients may hang up early (an aborted download must not
 * crash the test run). Resolves with the server and its base URL (`http://127.0.0.1:<port><prefix>`).
 */
export async function listenApi(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>, prefix: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.on('error', () => {});
    res.on('error', () => {});
    handle(req, res).catch((e: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `mlloop test server error: ${e.message}` }));
    });
  });
  server.on('clientError', (_e, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}${prefix}` };
}

/** Closes the server and every connection still open. */
export function closeApi(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}
