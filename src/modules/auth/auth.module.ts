import { Global, Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { createSecretKey } from 'node:crypto';
import { TypeOrmModule } from '@nestjs/typeorm';
import { APP_CONFIG, AppConfig } from '../../core/config/app-config';
import { RateLimitModule } from '../../core/http/rate-limit.module';
import { AccountEvents } from './account-events';
import { AccountsRepository } from './accounts.repository';
import { AccountsService } from './accounts.service';
import { JwtAuthGuard, OptionalJwtAuthGuard } from './auth.guard';
import { AuthService } from './auth.service';
import { IdentityEntity } from './entities/identity.entity';
import { RefreshTokenEntity } from './entities/refresh-token.entity';
import { UserEntity } from './entities/user.entity';
import { GoogleProvider } from './providers/google-login.client';
import { KakaoProvider } from './providers/kakao-login.client';
import { NaverProvider } from './providers/naver-login.client';
import { OAuthVerifier } from './providers/oauth.verifier';
import { RefreshTokensRepository } from './refresh-tokens.repository';
import { TokenDenyList } from './token-deny-list';
import { TokenService } from './token.service';

/**
 * The auth module (docs/architecture.md → Modules). Global, so that any module's controller can
 * say `@UseGuards(JwtAuthGuard)` and inject RateLimitService without importing auth internals.
 * Static: which roles serve AuthController is decided in src/app/app.module.ts.
 */
@Global()
@Module({
  imports: [
    // A KeyObject, made once: given a string, jsonwebtoken first tries to parse it as a PEM
    // public key on every verify (an exception each time: a third of a status poll's CPU).
    JwtModule.registerAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        secret: createSecretKey(Buffer.from(config.JWT_SECRET, 'utf8')),
      }),
    }),
    TypeOrmModule.forFeature([UserEntity, IdentityEntity, RefreshTokenEntity]),
    RateLimitModule,
  ],
  providers: [
    AccountsRepository,
    RefreshTokensRepository,
    TokenDenyList,
    TokenService,
    JwtAuthGuard,
    OptionalJwtAuthGuard,
    AccountEvents,
    AccountsService,
    AuthService,
    KakaoProvider,
    NaverProvider,
    GoogleProvider,
    OAuthVerifier,
  ],
  exports: [
    TokenService,
    JwtAuthGuard,
    OptionalJwtAuthGuard,
    AccountEvents,
    AccountsService,
    AuthService,
    RateLimitModule,
  ],
})
export class AuthModule {}
