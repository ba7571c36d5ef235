import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Injectable, OnApplicationShutdown, Provider } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { rabbitMqConfig } from './rabbitmq.config';

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
