// Reference servers for the per-request bench (bench/requests.bench.mjs), each run as its own
// process: `node bench/lib/hello.mjs <kind> <port>` answers GET / with {"hello":"world"}.
// kinds: node (bare node:http), fastify, nest-express, nest-fastify (NestJS 11, one controller,
// no logger); node-redis: bare node:http doing what a status poll does in Redis (one
// auto-pipelined write of ZMSCORE + GET, one read), the floor of that endpoint on the machine.
// Prints "ready" once listening.
import { createServer } from 'node:http';
import 'reflect-metadata';

const [kind, port] = process.argv.slice(2);
const body = JSON.stringify({ hello: 'world' });

async function nest(adapter) {
  const { Controller, Get, Module } = await import('@nestjs/common');
  const { NestFactory } = await import('@nestjs/core');
  class Hello {
    hello() {
      return { hello: 'world' };
    }
  }
  Get()(Hello.prototype, 'hello', Object.getOwnPropertyDescriptor(Hello.prototype, 'hello'));
  Controller()(Hello);
  class AppModule {}
  Module({ controllers: [Hello] })(AppModule);
  const app = await NestFactory.create(AppModule, adapter, { logger: false });
  await app.listen(Number(port), '127.0.0.1');
}

if (kind === 'node') {
  await new Promise((resolve) =>
    createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    }).listen(Number(port), '127.0.0.1', resolve),
  );
} else if (kind === 'node-redis') {
  const { default: Redis } = await import('ioredis');
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
    enableAutoPipelining: true,
  });
  await redis.set('bench:hello:job', body);
  await new Promise((resolve) =>
    createServer((req, res) => {
      const denied = redis.zmscore('bench:hello:deny', 'jti:a', 'fam:b', 'gen');
      redis
        .get('bench:hello:job')
        .then(async (json) => {
          await denied;
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(json);
        })
        .catch(() => res.writeHead(500).end());
    }).listen(Number(port), '127.0.0.1', resolve),
  );
} else if (kind === 'fastify') {
  const app = (await import('fastify')).default();
  app.get('/', async () => ({ hello: 'world' }));
  await app.listen({ port: Number(port), host: '127.0.0.1' });
} else if (kind === 'nest-express') {
  const { ExpressAdapter } = await import('@nestjs/platform-express');
  await nest(new ExpressAdapter());
} else if (kind === 'nest-fastify') {
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  await nest(new FastifyAdapter());
} else {
  console.error(`unknown kind ${kind}`);
  process.exit(2);
}
console.log('ready');
process.on('disconnect', () => process.exit(0));
