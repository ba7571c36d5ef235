import { Controller, Get, HttpCode, HttpStatus, Post, Query, UseGuards } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';
import { TaskPublisher } from '../../../core/messaging/task-publisher';
import { RoutingKey } from '../../../core/messaging/topology';
import { ProblemException } from '../../../core/http/problem';
import { AdminGuard } from '../admin.guard';
import { DailyStatsService } from './daily-stats.service';
import { StoredDailyStats } from './daily-stats.types';
import { isDay, previousSeoulDay } from './seoul-day.util';

export class DailyStatsQueryDto {
  @ApiPropertyOptional({ example: '2026-11-25', description: 'Asia/Seoul day; default yesterday' })
  @IsOptional()
  @Matches(/^\d{4}-\d{2}-\d{2}$/, { message: 'date must be YYYY-MM-DD' })
  date?: string;
}

export class DailyStatsDto {
  @ApiProperty({ example: '2026-11-25' }) day!: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'jobs, completionRate, failureRate, failuresByCode, cache, latencyMs, items',
  })
  stats!: Record<string, unknown>;
  @ApiProperty({ nullable: true, type: String }) computedAt!: string | null;
  @ApiProperty({ description: 'False: computed for this request, not saved yet' }) stored!: boolean;
}

export class RecomputeDto {
  @ApiProperty() day!: string;
  @ApiProperty() messageId!: string;
}

function dayOf(q: DailyStatsQueryDto): string {
  const day = q.date ?? previousSeoulDay(new Date());
  if (!isDay(day)) {
    throw ProblemException.validation([{ field: 'date', message: 'date is not a calendar day' }]);
  }
  return day;
}

/** Daily analytics for operators (docs/operations.md → Analytics). */
@ApiTags('admin')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'Missing or wrong admin token' })
@ApiNotFoundResponse({ description: 'ADMIN_API_TOKEN is not set (admin endpoints are off)' })
@UseGuards(AdminGuard)
@Controller('admin/stats/daily')
export class DailyStatsController {
  constructor(
    private readonly stats: DailyStatsService,
    private readonly publisher: TaskPublisher,
  ) {}

  @Get()
  @ApiOkResponse({ type: DailyStatsDto })
  read(@Query() q: DailyStatsQueryDto): Promise<StoredDailyStats> {
    return this.stats.read(dayOf(q));
  }

  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiAcceptedResponse({ type: RecomputeDto, description: 'A bulk worker recomputes and saves it' })
  async recompute(@Query() q: DailyStatsQueryDto): Promise<RecomputeDto> {
    const day = dayOf(q);
    const messageId = await this.publisher.publish(RoutingKey.ReportDaily, { day });
    return { day, messageId };
  }
}
