import { Injectable, Logger } from '@nestjs/common';
import { ProblemException } from '../../core/http/problem';
import { PublishFailedError, TaskPublisher } from '../../core/messaging/task-publisher';
import { RoutingKey } from '../../core/messaging/topology';
import { AccountsService } from '../auth';
import { AuthSession } from '../auth';
import { TokenService } from '../auth';
import { RegionsService } from '../locations';
import { HomeRegionDto, MeDto } from './dto/users.dto';
import { HistoryService } from './history.service';
import { HomeRegionRepository } from './home-region.repository';

/** The profile, its stats, and account deletion. */
@Injectable()
export class UsersService {
  private readonly logger = new Logger(UsersService.name);
  constructor(
    private readonly homeRegions: HomeRegionRepository,
    private readonly accounts: AccountsService,
    private readonly history: HistoryService,
    private readonly tokens: TokenService,
    private readonly publisher: TaskPublisher,
    private readonly regions: RegionsService,
  ) {}

  /** Two statements on the pool at once: the account, and the stats with the home region. */
  async me(userId: string): Promise<MeDto> {
    const [user, { stats, homeRegionCode }] = await Promise.all([
      this.accounts.get(userId),
      this.history.statsWithHomeRegion(userId),
    ]);
    return { ...user, homeRegion: this.regionDto(homeRegionCode), stats };
  }

  async homeRegion(userId: string): Promise<HomeRegionDto | null> {
    return this.regionDto(await this.homeRegions.get(userId));
  }

  private regionDto(code: string | null): HomeRegionDto | null {
    const r = code ? this.regions.byCode(code) : undefined;
    return r ? { code: r.code, sido: r.sido, sigungu: r.sigungu, name: r.name } : null;
  }

  /**
   * Saves (or with null removes) the home region. A name no 시군구 has, or one several share
   * ("중구"), is a 400 on the homeRegion field.
   */
  async setHomeRegion(userId: string, text: string | null): Promise<void> {
    if (text === null) return this.homeRegions.set(userId, null);
    let code: string;
    try {
      code = this.regions.fromText(text).code;
    } catch (err) {
      if (err instanceof ProblemException && err.status < 500) {
        throw ProblemException.validation([
          { field: 'homeRegion', message: err.extra.errors?.[0]?.message ?? err.detail },
        ]);
      }
      throw err;
    }
    await this.homeRegions.set(userId, code);
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
      await this.accounts.transaction(async (m) => {
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
