import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ProblemException } from '../../../core/http/problem';
import { AdminGuard } from '../admin.guard';
import {
  DlqEntryDetailDto,
  DlqIdParam,
  DlqListDto,
  DlqListQueryDto,
  DlqPurgeQueryDto,
  DlqReplayDto,
  PurgeReportDto,
  ReplayReportDto,
} from './dlq.dto';
import { DlqEntryDetail } from './dlq-message';
import { DlqList, DlqSelection, DlqService, PurgeReport, ReplayReport } from './dlq.service';

/** q.dlq for operators; the same operations as `npm run dlq` (docs/operations.md). */
@ApiTags('admin')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'Missing or wrong admin token' })
@ApiNotFoundResponse({ description: 'ADMIN_API_TOKEN is not set (admin endpoints are off)' })
@UseGuards(AdminGuard)
@Controller('admin/dlq')
export class DlqController {
  constructor(private readonly dlq: DlqService) {}

  @Get()
  @ApiOkResponse({ type: DlqListDto, description: 'Looks without removing anything' })
  list(@Query() q: DlqListQueryDto): Promise<DlqList> {
    return broker(this.dlq.list(q.limit ?? 100));
  }

  @Get(':messageId')
  @ApiOkResponse({ type: DlqEntryDetailDto })
  async show(@Param() p: DlqIdParam): Promise<DlqEntryDetail> {
    const entry = await broker(this.dlq.show(p.messageId));
    if (!entry) throw ProblemException.notFound('Dead-lettered message');
    return entry;
  }

  @Post('replay')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: ReplayReportDto })
  replay(@Body() body: DlqReplayDto): Promise<ReplayReport> {
    const sel = selection(body.ids, body.all === true);
    return broker(this.dlq.replay(sel, { dryRun: body.dryRun === true }));
  }

  @Delete()
  @ApiOkResponse({ type: PurgeReportDto, description: '?all=true, or ?ids=a,b' })
  purge(@Query() q: DlqPurgeQueryDto): Promise<PurgeReport> {
    const sel = selection(q.ids === undefined ? undefined : splitIds(q.ids), q.all === 'true');
    return broker(this.dlq.purge(sel, { dryRun: q.dryRun === 'true' }));
  }

  @Delete(':messageId')
  @ApiOkResponse({ type: PurgeReportDto })
  async purgeOne(@Param() p: DlqIdParam): Promise<PurgeReport> {
    const report = await broker(this.dlq.purge({ ids: [p.messageId] }));
    if (!report.purged) throw ProblemException.notFound('Dead-lettered message');
    return report;
  }
}

/** The broker down or refusing: 503 with Retry-After, not a 500. */
async function broker<T>(op: Promise<T>): Promise<T> {
  try {
    return await op;
  } catch (err) {
    if (err instanceof ProblemException) throw err;
    throw ProblemException.unavailable(
      `RabbitMQ did not answer: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

function splitIds(ids: string): string[] {
  const list = ids
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!list.length) {
    throw ProblemException.validation([{ field: 'ids', message: 'ids must name a message' }]);
  }
  return list;
}

/**
 * Exactly one of the two: an operator who names ids must never touch everything because a
 * second parameter slipped in (`?ids=x&all=false` once purged the whole queue).
 */
function selection(ids: string[] | undefined, all: boolean): DlqSelection {
  if (ids !== undefined && all) {
    throw ProblemException.validation([
      { field: 'all', message: 'ids and all are mutually exclusive' },
    ]);
  }
  if (ids === undefined && !all) {
    throw ProblemException.validation([{ field: 'ids', message: 'ids or all=true is required' }]);
  }
  return all ? { all: true } : { ids };
}
