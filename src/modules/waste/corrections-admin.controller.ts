import {
  Controller,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { ProblemException } from '../../core/http/problem';
import { AdminGuard } from '../maintenance';
import { CorrectionGroup, CorrectionSignals } from './pipeline/correction-signals.service';

class CorrectionsQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;
}

class CorrectionGroupDto {
  @ApiProperty() imageSha256!: string;
  @ApiProperty({ type: [String], description: 'The corrected category ids, in item order' })
  categoryIds!: string[];
  @ApiProperty({ description: 'Distinct registered accounts with this answer' }) accounts!: number;
  @ApiProperty({ description: "All corrections with this answer, guests' included" })
  signals!: number;
  @ApiProperty() lastAt!: string;
  @ApiProperty({ description: 'The latest job with this answer (what accept takes)' })
  jobId!: string;
}

const uuid = new ParseUUIDPipe({
  exceptionFactory: () => ProblemException.notFound('Correction'),
});

/** The operators' review of corrections (docs/pipeline.md → Corrections). */
@ApiTags('admin')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'Missing or wrong admin token' })
@UseGuards(AdminGuard)
@Controller('admin/corrections')
export class CorrectionsAdminController {
  constructor(private readonly signals: CorrectionSignals) {}

  @Get()
  @ApiOkResponse({
    type: [CorrectionGroupDto],
    description: 'Answers per photo, most agreed first',
  })
  list(@Query() q: CorrectionsQueryDto): Promise<CorrectionGroup[]> {
    return this.signals.pending(q.limit ?? 50);
  }

  @Post(':jobId/accept')
  @HttpCode(200)
  @ApiOkResponse({
    type: CorrectionGroupDto,
    description: "This job's correction is now the shared answer for its photo (source operator)",
  })
  @ApiNotFoundResponse({ description: 'No correction for that job' })
  async accept(@Param('jobId', uuid) jobId: string): Promise<CorrectionGroup> {
    const group = await this.signals.accept(jobId);
    if (!group) throw ProblemException.notFound('Correction');
    return group;
  }
}
