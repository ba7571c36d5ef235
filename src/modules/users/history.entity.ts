import { Column, Entity, PrimaryColumn } from 'typeorm';

export interface HistoryItemSummary {
  label: string;
  categoryId: string;
  categoryName: string;
}

/** One analysis in a user's history; `job` is the docs/api.md Job snapshot at the time it ended. */
@Entity({ schema: 'users', name: 'history' })
export class HistoryEntity {
  @PrimaryColumn('uuid', { name: 'job_id' })
  jobId!: string;

  @Column('uuid', { name: 'user_id' })
  userId!: string;

  @Column('timestamptz', { name: 'created_at' })
  createdAt!: Date;

  @Column('text')
  status!: 'completed' | 'failed';

  @Column('jsonb', { default: () => "'[]'" })
  items!: HistoryItemSummary[];

  @Column('jsonb')
  job!: Record<string, unknown>;

  @Column('timestamptz', { name: 'recorded_at', default: () => 'now()' })
  recordedAt!: Date;
}
