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
  ApiBearerAuth,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { AccountsService } from '../auth/accounts.service';
import { JwtAuthGuard } from '../auth/auth.guard';
import { AuthSession, AuthUser, CurrentSession, CurrentUser } from '../auth/current-user.decorator';
import { UserDto } from '../auth/dto/user.dto';
import { HistoryPageDto, HistoryQueryDto, JobIdParam, MeDto, UpdateMeDto } from './dto/users.dto';
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
  @ApiOkResponse({ type: UserDto })
  update(@CurrentUser() user: AuthUser, @Body() body: UpdateMeDto): Promise<UserDto> {
    return this.accounts.updateProfile(user.id, {
      nickname: body.nickname?.trim(),
      profileImageUrl: body.profileImageUrl,
    });
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
  @ApiOkResponse({ description: 'The Job (API.md) as it was when the analysis ended' })
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
