import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ProblemException } from '../../core/http/problem';
import { PublishFailedError, TaskPublisher } from '../../core/messaging/task-publisher';
import { RoutingKey } from '../../core/messaging/topology';
import { AccountsService } from '../auth/accounts.service';
import { AuthSession } from '../auth/current-user.decorator';
import { TokenService } from '../auth/token.service';
import { MeDto } from './dto/users.dto';
import { HistoryService } from './history.service';

/** The profile, its stats, and account deletion. */
@Injectable()
export class UsersService {
  private readonly logger = new Logger(UsersService.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly accounts: AccountsService,
    private readonly history: HistoryService,
    private readonly tokens: TokenService,
    private readonly publisher: TaskPublisher,
  ) {}

  async me(userId: string): Promise<MeDto> {
    const [user, stats] = await Promise.all([
      this.accounts.get(userId),
      this.history.stats(userId),
    ]);
    return { ...user, stats };
  }

  /**
   * Deletes the account with its identities, refresh tokens and history (one transaction,
   * ON DELETE CASCADE), and asks the bulk worker to purge its jobs and stored images. The purge
   * message is published (and confirmed) inside the transaction: if the broker refuses it, the
   * account stays and the caller gets 503 to retry, so no image is ever orphaned.
   */
  async deleteAccount(userId: string, session: AuthSession): Promise<void> {
    const families = await this.tokens.familiesOf(userId);
    try {
      await this.dataSource.transaction(async (m) => {
        if (!(await this.accounts.delete(userId, m))) throw ProblemException.notFound('User');
        await this.publisher.publish(RoutingKey.AccountPurge, { userId });
      });
    } catch (err) {
      if (err instanceof PublishFailedError) {
        this.logger.error(`account ${userId} not deleted: ${err.message}`);
        throw ProblemException.unavailable('Account deletion is unavailable right now');
      }
      throw err;
    }
    await this.tokens.denySession(session);
    for (const family of families) await this.tokens.revokeFamily(family);
  }
}
