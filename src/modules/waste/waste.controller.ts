import {
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Inject } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../core/config/app-config';
import { ProblemException } from '../../core/http/problem';
import { RateLimited } from '../../core/http/rate-limit.guard';
import { JwtAuthGuard } from '../auth';
import { AuthSession, AuthUser, CurrentSession, CurrentUser } from '../auth';
import { AnalysisService } from './analysis.service';
import { AnalyzeDto } from './dto/analyze.dto';
import { CorrectionDto } from './dto/correction.dto';
import { AnalyzeResponseDto, JobDto } from './dto/job.response';
import { JobEventsHub } from './jobs/job-events';
import { JobView, TERMINAL } from './jobs/job.types';
import { JobsService, toView } from './jobs/jobs.service';

const uuid = new ParseUUIDPipe({ exceptionFactory: () => ProblemException.notFound('Job') });

@ApiTags('waste')
@ApiBearerAuth()
@UseGuards(JwtAuthGuard)
@Controller('waste')
export class WasteController {
  constructor(
    private readonly analysis: AnalysisService,
    private readonly jobs: JobsService,
    private readonly hub: JobEventsHub,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post('analyze')
  @ApiOperation({
    summary: 'Start an analysis: creates the job and a presigned upload for the photo',
  })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'Same key from the same user within 24 h returns the same job',
  })
  @ApiCreatedResponse({ type: AnalyzeResponseDto })
  @RateLimited(
    { bucket: 'analyze:user', by: 'user', limit: 'RATE_LIMIT_ANALYZE_PER_USER' },
    { bucket: 'analyze:ip', by: 'ip', limit: 'RATE_LIMIT_ANALYZE_PER_IP' },
  )
  analyze(
    @CurrentUser() user: AuthUser,
    @Body() dto: AnalyzeDto,
    @Headers('idempotency-key') idempotencyKey?: string,
  ) {
    return this.analysis.analyze(user.id, dto, idempotencyKey);
  }

  @Post('upload-complete/:jobId')
  @HttpCode(202)
  @ApiOperation({ summary: 'The photo is uploaded: verify it and queue the analysis (repeatable)' })
  @ApiAcceptedResponse({ type: JobDto })
  uploadComplete(
    @CurrentUser() user: AuthUser,
    @Param('jobId', uuid) jobId: string,
    @Req() req: Request & { id?: string },
  ) {
    return this.analysis.uploadComplete(jobId, user.id, req.id ? String(req.id) : undefined);
  }

  @Get('status/:jobId')
  @ApiOperation({ summary: 'The job (cheap enough to poll every 0.5 s)' })
  @ApiOkResponse({ type: JobDto })
  status(@CurrentUser() user: AuthUser, @Param('jobId', uuid) jobId: string): Promise<JobView> {
    return this.jobs.readView(jobId, user.id);
  }

  @Post('jobs/:jobId/correction')
  @HttpCode(200)
  @RateLimited(
    { bucket: 'correction:user', by: 'user', limit: 'RATE_LIMIT_CORRECTION_PER_USER' },
    { bucket: 'correction:ip', by: 'ip', limit: 'RATE_LIMIT_CORRECTION_PER_IP' },
  )
  @ApiOperation({ summary: 'Correct the categories of a completed analysis' })
  @ApiOkResponse({ type: JobDto })
  correct(
    @CurrentUser() user: AuthUser,
    @Param('jobId', uuid) jobId: string,
    @Body() dto: CorrectionDto,
  ): Promise<JobView> {
    return this.analysis.correct(jobId, user, dto);
  }

  @Get('jobs/:jobId/events')
  @ApiOperation({
    summary:
      'Server-sent events: `progress` with the Job at every change, then `completed` or `failed`',
    description:
      'Event ids are the job version; Last-Event-ID resumes. A comment heartbeat every 15 s.',
  })
  @ApiProduces('text/event-stream')
  async events(
    @CurrentUser() user: AuthUser,
    @CurrentSession() session: AuthSession,
    @Param('jobId', uuid) jobId: string,
    @Req() req: Request,
    @Res() res: Response,
    @Headers('last-event-id') lastEventId?: string,
  ): Promise<void> {
    await this.jobs.getOwned(jobId, user.id); // 404 before any stream starts
    let closed = false;
    // 429 before any stream starts, too; logout (any replica) closes it through `close`.
    const release = this.hub.openStream({
      userId: user.id,
      jobId,
      familyId: session.familyId,
      close: () => finish(),
    });
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    let sent = Number.parseInt(lastEventId ?? '', 10);
    if (!Number.isFinite(sent)) sent = 0;
    const finish = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
      release();
      res.end();
    };
    const send = (version: number, job: JobView) => {
      if (closed || version <= sent) return;
      sent = version;
      const terminal = TERMINAL.includes(job.status);
      const event = terminal ? (job.status === 'completed' ? 'completed' : 'failed') : 'progress';
      res.write(`id: ${version}\nevent: ${event}\ndata: ${JSON.stringify(job)}\n\n`);
      if (terminal) finish();
    };
    const unsubscribe = this.hub.subscribe(jobId, (e) => send(e.version, e.job));
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), this.config.SSE_HEARTBEAT_MS);
    req.on('close', finish);
    // Subscribed first, then the current state: no change can fall between the two.
    const latest = await this.jobs.get(jobId);
    if (latest) send(latest.version, toView(latest));
  }
}
