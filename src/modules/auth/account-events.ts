import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';

/** Moves one account's data to another inside the login transaction. */
export type MergeListener = (
  fromUserId: string,
  toUserId: string,
  m: EntityManager,
) => Promise<void>;

/**
 * Hooks other modules register so that auth can fold a guest into an existing account without
 * depending on them (UsersModule moves the guest's history this way).
 */
@Injectable()
export class AccountEvents {
  private readonly mergeListeners: MergeListener[] = [];

  onMerge(listener: MergeListener): void {
    this.mergeListeners.push(listener);
  }

  async merge(fromUserId: string, toUserId: string, m: EntityManager): Promise<void> {
    for (const listener of this.mergeListeners) await listener(fromUserId, toUserId, m);
  }
}
