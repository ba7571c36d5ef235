import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Injectable, OnApplicationShutdown, Provider } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { rabbitMqConfig } from './rabbitmq.config';
import { RETRY_EXCHANGE, RETRY_TIERS_S, retryQueueName } from './topology';

/**
 * The process's AmqpConnection (golevelup: managed reconnects, confirm channels, per-channel
 * prefetch, topology assertion, graceful consumer cancel + wait). Created here rather than through
 * RabbitMQModule.forRoot, whose connection registry is a static shared by every Nest app in the
 * process: closing one app there closes the others' connections too (it bites any in-process
 * multi-role test and an embedder running two apps).
 */
export const amqpConnectionProvider: Provider = {
  provide: AmqpConnection,
  inject: [APP_CONFIG],
  useFactory: async (config: AppConfig) => {
    const connection = new AmqpConnection(rabbitMqConfig(config));
    await connection.init();
    await removeLegacyRetryBindings(connection);
    return connection;
  },
};

@Injectable()
export class AmqpConnectionCloser implements OnApplicationShutdown {
  constructor(private readonly connection: AmqpConnection) {}

  async onApplicationShutdown(): Promise<void> {
    await this.connection.close();
  }
}

/**
 * Early builds bound the delay queues on an `x-retry-tier` header, which RabbitMQ ignores when
 * matching (x- headers never count), so every retry landed in every delay queue. Unbinding a
 * binding that does not exist is a no-op, so this is safe to run at every boot.
 */
async function removeLegacyRetryBindings(connection: AmqpConnection): Promise<void> {
  await connection.managedChannel.addSetup(async (ch: import('amqplib').ConfirmChannel) => {
    for (const tier of RETRY_TIERS_S) {
      await ch.unbindQueue(retryQueueName(tier), RETRY_EXCHANGE, '', {
        'x-match': 'all',
        'x-retry-tier': `${tier}s`,
      });
    }
  });
}
