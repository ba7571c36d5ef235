import { ApiPropertyOptional, ApiProperty } from '@nestjs/swagger';
import { IsNotEmpty, IsOptional, IsString, IsUrl, MaxLength } from 'class-validator';

export class GuestLoginDto {
  @ApiPropertyOptional({ description: 'The app install id (informational)', maxLength: 128 })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  deviceId?: string;
}

export class RefreshDto {
  @ApiProperty()
  @IsString()
  @IsNotEmpty()
  @MaxLength(4096)
  refreshToken!: string;
}

/**
 * One of three forms: `accessToken` (Kakao/Naver native SDK), `idToken` (Google), or
 * `code` + `redirectUri` (+ `codeVerifier` for PKCE, `state` for Naver) exchanged by the backend.
 */
export class OAuthLoginDto {
  @ApiPropertyOptional({ description: 'Kakao or Naver SDK access token' })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(4096)
  accessToken?: string;

  @ApiPropertyOptional({ description: 'Google ID token (JWT)' })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(8192)
  idToken?: string;

  @ApiPropertyOptional({ description: 'Authorization code' })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(2048)
  code?: string;

  @ApiPropertyOptional({ description: 'The redirect URI the code was issued for' })
  @IsOptional()
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  @MaxLength(2048)
  redirectUri?: string;

  @ApiPropertyOptional({ description: 'PKCE code verifier' })
  @IsOptional()
  @IsString()
  @MaxLength(256)
  codeVerifier?: string;

  @ApiPropertyOptional({ description: 'Naver: the state the authorization request used' })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  state?: string;
}
