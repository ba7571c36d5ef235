import { DynamicModule, Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { createSecretKey } from 'node:crypto';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../../core/config/app-config';
import { servesHttp } from '../../core/config/roles';
import { RateLimitModule } from '../../core/http/rate-limit.module';
import { AccountEvents } from './account-events';
import { AccountsService } from './accounts.service';
import { AuthController } from './auth.controller';
import { JwtAuthGuard, OptionalJwtAuthGuard } from './auth.guard';
import { AuthService } from './auth.service';
import { IdentityEntity } from './entities/identity.entity';
import { RefreshTokenEntity } from './entities/refresh-token.entity';
import { UserEntity } from './entities/user.entity';
import { GoogleProvider } from './providers/google.provider';
import { KakaoProvider } from './providers/kakao.provider';
import { NaverProvider } from './providers/naver.provider';
import { OAuthVerifier } from './providers/oauth.verifier';
import { TokenDenyList } from './token-deny-list';
import { TokenService } from './token.service';

/**
 * The auth module (see DESIGN.md → Modules). Global, so that any module's controller can say
 * `@UseGuards(JwtAuthGuard)` and inject RateLimitService without importing auth internals.
 */
@Module({})
export class AuthModule {
  static forRole(config: AppConfig): DynamicModule {
    const http = servesHttp(config.APP_ROLE) && config.API_MODULES.includes('auth');
    return {
      module: AuthModule,
      global: true,
      imports: [
        // A KeyObject, made once: given a string, jsonwebtoken first tries to parse it as a PEM
        // public key on every verify (an exception each time: a third of a status poll's CPU).
        JwtModule.register({ secret: createSecretKey(Buffer.from(config.JWT_SECRET, 'utf8')) }),
        TypeOrmModule.forFeature([UserEntity, IdentityEntity, RefreshTokenEntity]),
        RateLimitModule,
      ],
      controllers: http ? [AuthController] : [],
      providers: [
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
        RateLimitModule,
      ],
    };
  }
}
