/** Binding and closing an `http.Server` at a `host:port` config value (proxy port, admin port, cluster primary). */
import type { Server } from 'node:http';

/** Listens on `host:port` (`[::1]:8080` for IPv6); rejects when the address cannot be bound. */
export function listenOn(server: Server, hostPort: string): Promise<void> {
  const i = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(hostPort.slice(i + 1));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.removeListener('error', reject); resolve(); });
  });
}

/** Closes the server (once its connections are gone); resolves at once when it is not listening. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => { if (!server.listening) resolve(); else server.close(() => resolve()); });
}
