import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ScheduleResponseDto } from '../../recycling';

class BoxDto {
  @ApiProperty() x!: number;
  @ApiProperty() y!: number;
  @ApiProperty() width!: number;
  @ApiProperty() height!: number;
}

class CategoryRefDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() bin!: string;
}

class ResultItemDto {
  @ApiProperty() label!: string;
  @ApiProperty({ minimum: 0, maximum: 1 }) confidence!: number;
  @ApiPropertyOptional({
    type: BoxDto,
    nullable: true,
    description: 'Top-left corner and size as fractions (0–1) of the image',
  })
  box!: BoxDto | null;
  @ApiProperty({ type: CategoryRefDto }) category!: CategoryRefDto;
  @ApiProperty({ type: [String] }) steps!: string[];
  @ApiProperty({ type: [String] }) cautions!: string[];
  @ApiProperty({ type: [String] }) dropOff!: string[];
}

class CoachingDto {
  @ApiProperty() message!: string;
  @ApiProperty({ enum: ['llm', 'rules'] }) source!: string;
}

class CacheDto {
  @ApiProperty() hit!: boolean;
  @ApiPropertyOptional({ enum: ['exact', 'similar'], nullable: true }) kind!: string | null;
  @ApiPropertyOptional({
    enum: ['vision', 'consensus', 'operator'],
    nullable: true,
    description:
      "A hit's origin: the vision provider, several accounts' agreeing corrections, or an operator",
  })
  source?: string | null;
}

class TimingsDto {
  @ApiPropertyOptional({ nullable: true }) totalMs!: number | null;
  @ApiPropertyOptional({ nullable: true }) visionMs!: number | null;
  @ApiPropertyOptional({ nullable: true }) coachingMs!: number | null;
}

class ResultDto {
  @ApiProperty({ type: [ResultItemDto] }) items!: ResultItemDto[];
  @ApiPropertyOptional({ type: CoachingDto, nullable: true }) coaching!: CoachingDto | null;
  @ApiProperty({ type: CacheDto }) cache!: CacheDto;
  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'object' },
    nullable: true,
    description: 'Location objects, when lat/lng were given',
  })
  nearby!: unknown[] | null;
  @ApiPropertyOptional({
    type: ScheduleResponseDto,
    nullable: true,
    description:
      'District disposal days for the kinds the items belong to (general/food/recyclable/bulky), ' +
      'for the lat/lng given or the home region saved on the profile; null without a region',
  })
  schedule!: ScheduleResponseDto | null;
  @ApiProperty({ type: TimingsDto }) timings!: TimingsDto;
}

class JobErrorDto {
  @ApiProperty({ example: 'INVALID_IMAGE' }) code!: string;
  @ApiProperty() message!: string;
}

export class JobDto {
  @ApiProperty({ format: 'uuid' }) jobId!: string;
  @ApiProperty({
    enum: ['awaiting_upload', 'queued', 'processing', 'completed', 'failed', 'expired'],
  })
  status!: string;
  @ApiPropertyOptional({
    enum: [
      'downloading',
      'hashing',
      'preprocessing',
      'classifying',
      'guiding',
      'coaching',
      'saving',
    ],
    nullable: true,
  })
  stage!: string | null;
  @ApiProperty({ minimum: 0, maximum: 100 }) progress!: number;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
  @ApiPropertyOptional({ type: ResultDto, nullable: true }) result!: ResultDto | null;
  @ApiPropertyOptional({ type: JobErrorDto, nullable: true }) error!: JobErrorDto | null;
}

class UploadDto {
  @ApiProperty({ enum: ['PUT'] }) method!: string;
  @ApiProperty() url!: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { 'Content-Type': 'image/jpeg' },
  })
  headers!: Record<string, string>;
  @ApiProperty({ format: 'date-time' }) expiresAt!: string;
}

export class AnalyzeResponseDto {
  @ApiProperty({ format: 'uuid' }) jobId!: string;
  @ApiProperty({ enum: ['awaiting_upload'] }) status!: string;
  @ApiProperty({ type: UploadDto }) upload!: UploadDto;
  @ApiProperty() statusUrl!: string;
  @ApiProperty() eventsUrl!: string;
}
