// A TCP forwarder in front of one shared service (PostgreSQL or RabbitMQ) for this run only:
// cut() resets every connection and refuses new ones — what a client sees when the server is
// down — and restore() listens again on the same port. The shared service is never touched.
import { connect, createServer } from 'node:net';

export class TcpProxy {
  constructor(host, port) {
    this.host = host;
    this.port = port;
    this.listenPort = 0;
    this.sockets = new Set();
  }

  async start() {
    const server = createServer((client) => {
      // Accepted from the backlog after cut(): refused like the rest.
      if (this.server !== server) return void client.destroy();
      const upstream = connect(this.port, this.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise((resolve) => server.listen(this.listenPort, '127.0.0.1', resolve));
    this.listenPort = server.address().port;
    this.server = server;
    return this;
  }

  /** `url` through this proxy. */
  url(url) {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.listenPort);
    return u.toString();
  }

  async cut() {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise((r) => server.close(r));
  }

  async restore() {
    if (!this.server) await this.start();
  }
}
