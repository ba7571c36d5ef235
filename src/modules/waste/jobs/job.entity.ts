import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { JobResult, JobStage, JobStatus, StageTimings } from './job.types';

/** One analysis: the source of truth for its state (Redis only mirrors it). */
@Entity({ schema: 'waste', name: 'jobs' })
@Index('jobs_user_created_idx', ['userId', 'createdAt'])
@Index('jobs_status_updated_idx', ['status', 'updatedAt'])
export class JobEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('uuid', { name: 'user_id' }) userId!: string;
  @Column('varchar', { length: 20 }) status!: JobStatus;
  @Column('varchar', { length: 20, nullable: true }) stage!: JobStage | null;
  @Column('smallint', { default: 0 }) progress!: number;
  /** Bumped on every change; the SSE event id (Last-Event-ID). */
  @Column('integer', { default: 1 }) version!: number;
  @Column('varchar', { name: 'content_type', length: 40 }) contentType!: string;
  @Column('integer', { name: 'content_length' }) contentLength!: number;
  @Column('varchar', { length: 200, nullable: true }) hint!: string | null;
  @Column('varchar', { length: 2, default: 'ko' }) locale!: 'ko' | 'en';
  @Column('double precision', { nullable: true }) lat!: number | null;
  @Column('double precision', { nullable: true }) lng!: number | null;
  @Column('varchar', { name: 'storage_key', length: 300 }) storageKey!: string;
  @Column('timestamptz', { name: 'upload_expires_at' }) uploadExpiresAt!: Date;
  @Column('varchar', { name: 'image_sha256', length: 64, nullable: true }) imageSha256!:
    string | null;
  /** dHash and colour thumbnail (image-processing's fingerprint). */
  @Column('varchar', { name: 'image_phash', length: 80, nullable: true }) imagePhash!:
    string | null;
  @Column('jsonb', { nullable: true }) result!: JobResult | null;
  @Column('varchar', { name: 'error_code', length: 40, nullable: true }) errorCode!: string | null;
  @Column('varchar', { name: 'error_message', length: 500, nullable: true }) errorMessage!:
    string | null;
  @Column('jsonb', { default: {} }) timings!: StageTimings;
  @Column('jsonb', { nullable: true }) correction!: unknown;
  @Column('timestamptz', { name: 'queued_at', nullable: true }) queuedAt!: Date | null;
  @Column('timestamptz', { name: 'finished_at', nullable: true }) finishedAt!: Date | null;
  /** Set once the completion side effects (history, caches, analytics) are done. */
  @Column('timestamptz', { name: 'finalized_at', nullable: true }) finalizedAt!: Date | null;
  @Column('timestamptz', { name: 'images_deleted_at', nullable: true })
  imagesDeletedAt!: Date | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
