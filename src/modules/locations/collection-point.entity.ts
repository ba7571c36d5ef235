import {
  Column,
  CreateDateColumn,
  Entity,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';
import type { LocationType } from './location.types';

/**
 * A collection point we hold (public data or user-submitted). The `earth` column (cube-based
 * geographic point, GiST-indexed) is maintained by a trigger from lat/lng and is deliberately not
 * mapped here: TypeORM does not know the type and only SQL in CollectionPointsRepository uses it.
 */
@Entity({ schema: 'locations', name: 'collection_points' })
@Unique('collection_points_source_uq', ['source', 'sourceId'])
export class CollectionPoint {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  /** 'public-data' (CSV import) or 'user'. */
  @Column('text')
  source!: 'public-data' | 'user';

  /** Stable id inside the source (관리번호, or a hash of name + address). */
  @Column('text', { name: 'source_id' })
  sourceId!: string;

  /** Which file/dataset the row came from; 'sample' marks the bundled sample data. */
  @Column('text', { nullable: true })
  dataset!: string | null;

  @Column('text')
  name!: string;

  @Column('text', { array: true })
  types!: LocationType[];

  @Column('text', { default: '' })
  address!: string;

  @Column('double precision')
  lat!: number;

  @Column('double precision')
  lng!: number;

  @Column('text', { name: 'opening_hours', nullable: true })
  openingHours!: string | null;

  @Column('text', { nullable: true })
  phone!: string | null;

  @Column('text', { name: 'place_url', nullable: true })
  placeUrl!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
