import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, Unique } from 'typeorm';

export const OAUTH_PROVIDERS = ['kakao', 'naver', 'google'] as const;
export type OAuthProvider = (typeof OAUTH_PROVIDERS)[number];

/** A social identity, keyed by (provider, provider user id): the same person always maps to one account. */
@Entity({ schema: 'auth', name: 'identities' })
@Unique('uq_identities_provider_user', ['provider', 'providerUserId'])
export class IdentityEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column('uuid', { name: 'user_id' })
  userId!: string;

  @Column('text')
  provider!: OAuthProvider;

  @Column('text', { name: 'provider_user_id' })
  providerUserId!: string;

  @Column('text', { nullable: true })
  email!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
