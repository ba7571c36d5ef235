import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { DynamicModule, Global, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { AppRole } from '../config/roles';
import { CONSUMED_QUEUES } from './consumed-queues.token';
import { AmqpConnectionCloser, amqpConnectionProvider } from './amqp-connection.provider';
import { TaskConsumer } from './task-consumer';
import { TaskPublisher } from './task-publisher';
import { MESSAGE_SCHEMAS, MESSAGES, MessageSchemas } from './messages';
import { QueueName } from './topology';

/** The queues each role consumes (docs/architecture.md → Roles). */
export const ROLE_QUEUES: Record<AppRole, QueueName[]> = {
  api: [],
  fast: [QueueName.Fast],
  external: [QueueName.External],
  bulk: [QueueName.Bulk, QueueName.Sched],
  beat: [],
  workers: [QueueName.Fast, QueueName.External, QueueName.Bulk, QueueName.Sched],
  all: [QueueName.Fast, QueueName.External, QueueName.Bulk, QueueName.Sched],
};

@Global()
@Module({})
export class MessagingModule {
  /** `schemas`: the payload of each routing key (tests with probe handlers pass their own). */
  static forRole(role: AppRole, schemas: MessageSchemas = MESSAGES): DynamicModule {
    const consumes = ROLE_QUEUES[role];
    return {
      module: MessagingModule,
      imports: [DiscoveryModule],
      providers: [
        amqpConnectionProvider,
        AmqpConnectionCloser,
        TaskPublisher,
        { provide: CONSUMED_QUEUES, useValue: consumes },
        { provide: MESSAGE_SCHEMAS, useValue: schemas },
        ...(consumes.length ? [TaskConsumer] : []),
      ],
      exports: [AmqpConnection, TaskPublisher, CONSUMED_QUEUES],
    };
  }
}
