import {
  Body,
  Controller,
  HttpCode,
  HttpStatus,
  Inject,
  Param,
  ParseEnumPipe,
  Post,
  Req,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiParam,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { Request } from 'express';
import { APP_CONFIG, AppConfig } from '../../core/config/app-config';
import { ProblemException } from '../../core/http/problem';
import { RateLimitService } from '../../core/http/rate-limit.service';
import { JwtAuthGuard, OptionalJwtAuthGuard } from './auth.guard';
import { AuthService } from './auth.service';
import { AuthSession, AuthUser, CurrentSession, CurrentUser } from './current-user.decorator';
import { GuestLoginDto, OAuthLoginDto, RefreshDto } from './dto/auth-requests.dto';
import { OAuthTokensDto, TokensDto } from './dto/user.dto';
import { OAUTH_PROVIDERS, OAuthProvider } from './entities/identity.entity';

@ApiTags('auth')
@ApiTooManyRequestsResponse({ description: 'RATE_LIMITED, with Retry-After' })
@Controller('auth')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly limits: RateLimitService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  private async limitLogin(req: Request): Promise<void> {
    await this.limits.consume(
      'login:ip',
      this.limits.clientIp(req),
      this.config.RATE_LIMIT_LOGIN_PER_IP,
      this.config.RATE_LIMIT_WINDOW_SECONDS,
    );
  }

  @Post('guest')
  @ApiCreatedResponse({ type: TokensDto, description: 'A new guest account and its tokens' })
  async guest(@Req() req: Request, @Body() _body: GuestLoginDto): Promise<TokensDto> {
    await this.limitLogin(req);
    return this.auth.guest();
  }

  @Post('oauth/:provider')
  @HttpCode(HttpStatus.OK)
  @UseGuards(OptionalJwtAuthGuard)
  @ApiBearerAuth()
  @ApiParam({ name: 'provider', enum: OAUTH_PROVIDERS })
  @ApiOkResponse({
    type: OAuthTokensDto,
    description: "With a guest's bearer token, the guest is upgraded and keeps its history",
  })
  @ApiUnauthorizedResponse({ description: 'The provider rejected the token or code' })
  async oauth(
    @Req() req: Request,
    @Param(
      'provider',
      new ParseEnumPipe(OAUTH_PROVIDERS, {
        exceptionFactory: () =>
          ProblemException.validation([
            { field: 'provider', message: `provider must be one of ${OAUTH_PROVIDERS.join(', ')}` },
          ]),
      }),
    )
    provider: OAuthProvider,
    @Body() body: OAuthLoginDto,
    @CurrentUser() user?: AuthUser,
    @CurrentSession() session?: AuthSession,
  ): Promise<OAuthTokensDto> {
    await this.limitLogin(req);
    return this.auth.oauth(provider, body, user, session);
  }

  @Post('refresh')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: TokensDto, description: 'The next pair; the presented token is spent' })
  @ApiUnauthorizedResponse({ description: 'Invalid, expired, revoked or already used' })
  async refresh(@Req() req: Request, @Body() body: RefreshDto): Promise<TokensDto> {
    await this.limits.consume(
      'refresh:ip',
      this.limits.clientIp(req),
      this.config.RATE_LIMIT_REFRESH_PER_IP,
      this.config.RATE_LIMIT_WINDOW_SECONDS,
    );
    return this.auth.refresh(body.refreshToken);
  }

  @Post('logout')
  @HttpCode(HttpStatus.NO_CONTENT)
  @UseGuards(JwtAuthGuard)
  @ApiBearerAuth()
  @ApiNoContentResponse({ description: 'The login is revoked; the access token stops working' })
  async logout(
    @CurrentUser() user: AuthUser,
    @CurrentSession() session: AuthSession,
    @Body() body: RefreshDto,
  ): Promise<void> {
    await this.auth.logout(user, session, body.refreshToken);
  }
}
