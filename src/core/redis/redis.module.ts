import { Global, Module } from '@nestjs/common';
import { RedisSubscriber } from './redis-subscriber';
import { RedisService } from './redis.service';

@Global()
@Module({
  providers: [RedisService, RedisSubscriber],
  exports: [RedisService, RedisSubscriber],
})
export class RedisModule {}
