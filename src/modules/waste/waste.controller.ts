import {
  Body,
  Controller,
  Get,
  Header,
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
  ApiParam,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OutgoingHttpHeaders } from 'node:http';
import { Inject } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../core/config/app-config';
import { ProblemException } from '../../core/http/problem';
import { RateLimited } from '../../core/http/rate-limit.guard';
import { RateLimitService } from '../../core/http/rate-limit.service';
import { JwtAuthGuard, PrefetchWithAuth } from '../auth';
import { AuthenticatedRequest, AuthSession, AuthUser, CurrentSession, CurrentUser } from '../auth';
import { AnalysisService } from './analysis.service';
import { AnalyzeDto } from './dto/analyze.dto';
import { CorrectionDto } from './dto/correction.dto';
import { AnalyzeResponseDto, JobDto } from './dto/job.response';
import { JobEventsHub } from './jobs/job-events';
import { StatusSnapshots } from './jobs/status-snapshots';
import { JobView, TERMINAL } from './jobs/job.types';
import { isJobId, JobsService, SnapshotHead, toView } from './jobs/jobs.service';

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
    private readonly limits: RateLimitService,
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
    @Req() req: FastifyRequest,
  ) {
    return this.analysis.uploadComplete(jobId, user.id, req.id ? String(req.id) : undefined);
  }

  @Get('status/:jobId')
  @ApiOperation({ summary: 'The job (cheap enough to poll every 0.5 s)' })
  @ApiOkResponse({ type: JobDto })
  // The Job's JSON as the snapshot stores it (JobsService.readView): not parsed and re-serialized.
  @Header('Content-Type', 'application/json; charset=utf-8')
  // The snapshot kept in memory, else read in the same Redis round trip as the guard's.
  @PrefetchWithAuth({
    provider: StatusSnapshots,
    read: (snapshots, req) => snapshots.read((req.params as { jobId?: unknown }).jobId),
  })
  @ApiParam({ name: 'jobId', type: String })
  status(
    // Everything from the request itself (the guard's prefetch included), not through @Param()
    // and @CurrentUser(): each decorated parameter goes through Nest's pipe chain, a handful of
    // promises, on the route every phone polls (docs/benchmarks.md → Per request, round 3).
    // The job id gets ParseUUIDPipe's check and answer (404 Job) here.
    @Req()
    req: AuthenticatedRequest & {
      user: AuthUser;
      params: { jobId: string };
      prefetched?: Promise<Buffer | SnapshotHead | null>;
    },
  ): Promise<string | Buffer> {
    const { jobId } = req.params;
    if (!isJobId(jobId)) throw ProblemException.notFound('Job');
    return this.jobs.readView(jobId, req.user.id, req.prefetched);
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
      'Event ids are the job version; Last-Event-ID resumes (a value that is not an integer ' +
      '0…2147483647, or is beyond the current version, counts as 0). A finished job always ' +
      'sends its final event, then the stream ends. A comment heartbeat every 15 s. The stream ' +
      'ends when the access token expires (reconnect with a fresh one).',
  })
  @ApiProduces('text/event-stream')
  async events(
    @CurrentUser() user: AuthUser,
    @CurrentSession() session: AuthSession,
    @Param('jobId', uuid) jobId: string,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
    @Headers('last-event-id') lastEventId?: string,
  ): Promise<void> {
    await this.jobs.getOwned(jobId, user.id); // 404 before any stream starts
    let closed = false;
    const timers: { heartbeat?: NodeJS.Timeout; expiry?: NodeJS.Timeout } = {};
    let unsubscribe = () => {};
    let release = () => {};
    const res = reply.raw;
    const finish = () => {
      if (closed) return;
      closed = true;
      clearInterval(timers.heartbeat);
      clearTimeout(timers.expiry);
      unsubscribe();
      release();
      res.end();
    };
    // 429 before any stream starts, too; logout (any replica) closes it through `close`, and so
    // does a newer stream of the same user on a job at its cap.
    release = this.hub.openStream({
      userId: user.id,
      jobId,
      ip: this.limits.clientIp(req),
      familyId: session.familyId,
      close: finish,
    });
    // The stream is ours from here: Fastify sends nothing for this reply (its onResponse hooks
    // still run when the stream ends). Headers set on the reply (X-Request-Id) go out with ours.
    reply.hijack();
    res.writeHead(200, {
      ...(reply.getHeaders() as OutgoingHttpHeaders),
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    // The token authorised this stream only until its expiry: then the client must come back
    // with a fresh one, so an expired (or revoked and then expired) login holds nothing.
    // (setTimeout's limit is ~24.8 days; ending earlier only costs a reconnect.)
    timers.expiry = setTimeout(finish, Math.min(session.exp * 1000 - Date.now(), 2 ** 31 - 1));
    let sent = lastEventIdOf(lastEventId);
    const send = (version: number, job: JobView) => {
      if (closed || version <= sent) return;
      sent = version;
      const terminal = TERMINAL.includes(job.status);
      const event = terminal ? (job.status === 'completed' ? 'completed' : 'failed') : 'progress';
      res.write(`id: ${version}\nevent: ${event}\ndata: ${JSON.stringify(job)}\n\n`);
      if (terminal) finish();
    };
    unsubscribe = this.hub.subscribe(jobId, (e) => send(e.version, e.job));
    timers.heartbeat = setInterval(
      () => res.write(': heartbeat\n\n'),
      this.config.SSE_HEARTBEAT_MS,
    );
    req.raw.on('close', finish);
    // Subscribed first, then the current state: no change can fall between the two.
    const latest = await this.jobs.get(jobId);
    if (!latest) return;
    // A finished job always sends its final event and ends, whatever id the client resumes
    // from (an EventSource reconnects with the final id after the server ends the stream); an
    // id beyond the current version did not come from us and would hide every later event.
    if (TERMINAL.includes(latest.status) || sent > latest.version) sent = 0;
    send(latest.version, toView(latest));
  }
}

/** Last-Event-ID as a resume point: our ids are job versions; anything else resumes from 0. */
function lastEventIdOf(header: string | undefined): number {
  if (!header || !/^\d{1,10}$/.test(header.trim())) return 0;
  const n = Number(header.trim());
  return n <= 2 ** 31 - 1 ? n : 0;
}
