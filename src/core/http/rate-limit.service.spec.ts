import type { FastifyRequest as Request } from 'fastify';
import { AppConfig } from '../config/app-config';
import { Metrics } from '../observability/metrics';
import { RedisService } from '../redis/redis.service';
import { RateLimitService } from './rate-limit.service';

function service(hops: number): RateLimitService {
  return new RateLimitService({} as RedisService, new Metrics(), {
    TRUSTED_PROXY_HOPS: hops,
  } as AppConfig);
}

const req = (xff: string | undefined, socket = '10.0.0.9') =>
  ({
    headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
    socket: { remoteAddress: socket },
  }) as unknown as Request;

describe('RateLimitService.clientIp', () => {
  it('takes the entry our own proxy appended, not what the client wrote', () => {
    expect(service(1).clientIp(req('1.1.1.1, 203.0.113.7'))).toBe('203.0.113.7');
    expect(service(2).clientIp(req('1.1.1.1, 203.0.113.7, 10.1.1.1'))).toBe('203.0.113.7');
  });

  it('uses the socket address without a proxy header or without trusted proxies', () => {
    expect(service(1).clientIp(req(undefined))).toBe('10.0.0.9');
    expect(service(0).clientIp(req('1.1.1.1'))).toBe('10.0.0.9');
  });

  it('never reads past the left end of a short chain', () => {
    expect(service(3).clientIp(req('203.0.113.7'))).toBe('203.0.113.7');
  });
});
