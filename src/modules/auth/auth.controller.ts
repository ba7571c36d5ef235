import {
  Body,
  Controller,
  HttpCode,
  HttpStatus,
  Param,
  ParseEnumPipe,
  Post,
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
import { ProblemException } from '../../core/http/problem';
import { RateLimitRule, RateLimited } from '../../core/http/rate-limit.guard';
import { JwtAuthGuard, OptionalJwtAuthGuard } from './auth.guard';
import { AuthService } from './auth.service';
import { AuthSession, AuthUser, CurrentSession, CurrentUser } from './current-user.decorator';
import { GuestLoginDto, OAuthLoginDto, RefreshDto } from './dto/auth-requests.dto';
import { OAuthTokensDto, TokensDto } from './dto/user.dto';
import { OAUTH_PROVIDERS, OAuthProvider } from './entities/identity.entity';

/** Guest and OAuth logins share one per-IP bucket (docs/auth.md → Rate limits). */
const LOGIN_PER_IP: RateLimitRule = {
  bucket: 'login:ip',
  by: 'ip',
  limit: 'RATE_LIMIT_LOGIN_PER_IP',
};

@ApiTags('auth')
@ApiTooManyRequestsResponse({ description: 'RATE_LIMITED, with Retry-After' })
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('guest')
  @RateLimited(LOGIN_PER_IP)
  @ApiCreatedResponse({ type: TokensDto, description: 'A new guest account and its tokens' })
  guest(@Body() _body: GuestLoginDto): Promise<TokensDto> {
    return this.auth.guest();
  }

  @Post('oauth/:provider')
  @HttpCode(HttpStatus.OK)
  @UseGuards(OptionalJwtAuthGuard)
  // Below UseGuards on purpose: applied first, so the limit is counted before the token is checked.
  @RateLimited(LOGIN_PER_IP)
  @ApiBearerAuth()
  @ApiParam({ name: 'provider', enum: OAUTH_PROVIDERS })
  @ApiOkResponse({
    type: OAuthTokensDto,
    description: "With a guest's bearer token, the guest is upgraded and keeps its history",
  })
  @ApiUnauthorizedResponse({ description: 'The provider rejected the token or code' })
  oauth(
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
    return this.auth.oauth(provider, body, user, session);
  }

  @Post('refresh')
  @HttpCode(HttpStatus.OK)
  @RateLimited({ bucket: 'refresh:ip', by: 'ip', limit: 'RATE_LIMIT_REFRESH_PER_IP' })
  @ApiOkResponse({ type: TokensDto, description: 'The next pair; the presented token is spent' })
  @ApiUnauthorizedResponse({ description: 'Invalid, expired, revoked or already used' })
  refresh(@Body() body: RefreshDto): Promise<TokensDto> {
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
