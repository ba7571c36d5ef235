import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export const PROVIDER_NAMES = ['guest', 'kakao', 'naver', 'google'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** docs/api.md `User`. */
export class UserDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty({ example: '게스트-1a2b' })
  nickname!: string;

  @ApiPropertyOptional({ example: 'me@example.com' })
  email?: string;

  @ApiPropertyOptional({ example: 'https://example.com/me.png' })
  profileImageUrl?: string;

  @ApiProperty({ enum: PROVIDER_NAMES, isArray: true, example: ['kakao'] })
  providers!: ProviderName[];

  @ApiProperty({ type: String, format: 'date-time' })
  createdAt!: string;
}

/** docs/api.md `Tokens`. */
export class TokensDto {
  @ApiProperty({ description: 'Short-lived HS256 JWT; send as `Authorization: Bearer …`' })
  accessToken!: string;

  @ApiProperty({ description: 'Single-use; POST /auth/refresh returns the next one' })
  refreshToken!: string;

  @ApiProperty({ enum: ['Bearer'] })
  tokenType!: 'Bearer';

  @ApiProperty({ description: 'Access token lifetime in seconds', example: 900 })
  expiresIn!: number;

  @ApiProperty({ type: UserDto })
  user!: UserDto;
}

export class OAuthTokensDto extends TokensDto {
  @ApiProperty({ description: 'True when this login created the account' })
  isNewUser!: boolean;
}
