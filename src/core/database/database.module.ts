import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { dataSourceOptions } from './data-source.options';
import { usePreparedStatements } from './prepared';

@Module({})
export class DatabaseModule {
  static forRoot(): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig) => {
            usePreparedStatements(config.DATABASE_PREPARED_STATEMENTS);
            return {
              ...dataSourceOptions(config),
              autoLoadEntities: true,
              // The one-process developer role migrates itself; deployed roles rely on the
              // migration hook Job (`npm run migration:run`).
              migrationsRun: config.APP_ROLE === 'all',
              retryAttempts: 3,
              retryDelay: 1000,
            };
          },
        }),
      ],
    };
  }
}
