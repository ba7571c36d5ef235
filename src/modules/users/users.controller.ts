import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Patch,
  Query,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { AccountsService } from '../auth';
import { JwtAuthGuard } from '../auth';
import { AuthSession, AuthUser, CurrentSession, CurrentUser } from '../auth';
import {
  HistoryPageDto,
  HistoryQueryDto,
  JobIdParam,
  MeDto,
  ProfileDto,
  UpdateMeDto,
} from './dto/users.dto';
import { HistoryPage, HistoryService } from './history.service';
import { UsersService } from './users.service';

/** Everything here is the caller's own: there is no way to name another user's resources. */
@ApiTags('users')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'Missing, invalid, expired or revoked access token' })
@UseGuards(JwtAuthGuard)
@Controller('users/me')
export class UsersController {
  constructor(
    private readonly users: UsersService,
    private readonly accounts: AccountsService,
    private readonly history: HistoryService,
  ) {}

  @Get()
  @ApiOkResponse({ type: MeDto })
  me(@CurrentUser() user: AuthUser): Promise<MeDto> {
    return this.users.me(user.id);
  }

  @Patch()
  @ApiOkResponse({ type: ProfileDto })
  @ApiBadRequestResponse({
    description:
      'VALIDATION_FAILED: bad nickname or URL, a homeRegion no 시군구 has or several share',
  })
  async update(@CurrentUser() user: AuthUser, @Body() body: UpdateMeDto): Promise<ProfileDto> {
    if (body.homeRegion !== undefined) await this.users.setHomeRegion(user.id, body.homeRegion);
    const [profile, homeRegion] = await Promise.all([
      this.accounts.updateProfile(user.id, {
        nickname: body.nickname?.trim(),
        profileImageUrl: body.profileImageUrl,
      }),
      this.users.homeRegion(user.id),
    ]);
    return { ...profile, homeRegion };
  }

  @Delete()
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({
    description: 'Account, tokens and history deleted; stored images are purged asynchronously',
  })
  async remove(
    @CurrentUser() user: AuthUser,
    @CurrentSession() session: AuthSession,
  ): Promise<void> {
    await this.users.deleteAccount(user.id, session);
  }

  @Get('history')
  @ApiOkResponse({ type: HistoryPageDto, description: 'Newest first' })
  list(@CurrentUser() user: AuthUser, @Query() query: HistoryQueryDto): Promise<HistoryPage> {
    return this.history.list(user.id, query.limit ?? 20, query.cursor);
  }

  @Get('history/:jobId')
  @ApiOkResponse({ description: 'The Job (docs/api.md) as it was when the analysis ended' })
  @ApiNotFoundResponse({ description: 'No such job in your history' })
  detail(
    @CurrentUser() user: AuthUser,
    @Param() params: JobIdParam,
  ): Promise<Record<string, unknown>> {
    return this.history.get(user.id, params.jobId);
  }

  @Delete('history/:jobId')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: 'No such job in your history' })
  async removeHistory(@CurrentUser() user: AuthUser, @Param() params: JobIdParam): Promise<void> {
    await this.history.remove(user.id, params.jobId);
  }
}
