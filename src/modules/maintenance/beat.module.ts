import { BullModule } from '@nestjs/bull';
import { Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../core/config/app-config';
import { BeatService } from './beat.service';
import { SCHEDULE_QUEUE } from './schedule';

/** The beat role: owns the Bull schedule queue. */
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        url: config.REDIS_URL,
        prefix: `${config.REDIS_PREFIX}:bull`,
      }),
    }),
    BullModule.registerQueue({ name: SCHEDULE_QUEUE }),
  ],
  providers: [BeatService],
  exports: [BeatService],
})
export class BeatModule {}
