import { Global, Module } from '@nestjs/common';
import { RateLimitService } from './rate-limit.service';

/** Global: any module can inject RateLimitService (it needs only Redis and Metrics). */
@Global()
@Module({ providers: [RateLimitService], exports: [RateLimitService] })
export class RateLimitModule {}
