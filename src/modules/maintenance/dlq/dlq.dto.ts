import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  Equals,
  IsArray,
  IsBoolean,
  IsInt,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';

export class DlqListQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}

export class DlqIdParam {
  @ApiProperty({ description: 'properties.messageId, or sha256:<hex> for a message without one' })
  @IsString()
  @MaxLength(200)
  messageId!: string;
}

/** Either `ids` or `all: true`. */
export class DlqReplayDto {
  @ApiPropertyOptional({ type: [String], description: 'Message ids to replay' })
  @ValidateIf((o: DlqReplayDto) => o.all === undefined)
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  @MaxLength(200, { each: true })
  ids?: string[];

  @ApiPropertyOptional({ enum: [true], description: 'Replay every message in q.dlq' })
  @ValidateIf((o: DlqReplayDto) => o.ids === undefined)
  @IsBoolean()
  @Equals(true)
  all?: true;
}

export class DlqPurgeQueryDto {
  @ApiPropertyOptional({ description: 'Comma-separated message ids to delete' })
  @ValidateIf((o: DlqPurgeQueryDto) => o.all === undefined)
  @IsString()
  @MaxLength(20_000)
  ids?: string;

  @ApiPropertyOptional({ enum: ['true'], description: 'Delete every message in q.dlq' })
  @ValidateIf((o: DlqPurgeQueryDto) => o.ids === undefined)
  @Transform(({ value }) => (value === 'true' ? true : value))
  @Equals(true, { message: 'all must be true' })
  all?: true;
}

export class DlqEntryDto {
  @ApiProperty() id!: string;
  @ApiProperty({ nullable: true, type: String, example: 'analytics.low.save' })
  routingKey!: string | null;
  @ApiProperty({ enum: ['dispatcher', 'broker'] }) source!: string;
  @ApiProperty({
    example: 'INVALID_MESSAGE',
    description: 'Error code, or expired/maxlen/rejected',
  })
  reason!: string;
  @ApiProperty({ nullable: true, type: String }) error!: string | null;
  @ApiProperty({
    nullable: true,
    type: String,
    description: 'Role that gave up, or queue it died in',
  })
  where!: string | null;
  @ApiProperty({ nullable: true, type: String }) failedAt!: string | null;
  @ApiProperty({ nullable: true, type: Number }) attempts!: number | null;
  @ApiProperty({ nullable: true, type: Number }) priority!: number | null;
  @ApiProperty() size!: number;
  @ApiProperty({ description: 'The JSON body ({ base64 } when not JSON)' }) payload!: unknown;
}

export class DlqEntryDetailDto extends DlqEntryDto {
  @ApiProperty({ type: 'object', additionalProperties: true }) headers!: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: true }) properties!: Record<string, unknown>;
}

export class DlqListDto {
  @ApiProperty({ description: 'Messages in q.dlq' }) depth!: number;
  @ApiProperty({ type: [DlqEntryDto], description: 'Oldest first' }) messages!: DlqEntryDto[];
}

class ReplayedDto {
  @ApiProperty() id!: string;
  @ApiProperty() routingKey!: string;
}

class SkippedDto {
  @ApiProperty() id!: string;
  @ApiProperty() reason!: string;
}

export class ReplayReportDto {
  @ApiProperty({ type: [ReplayedDto] }) replayed!: ReplayedDto[];
  @ApiProperty({ type: [SkippedDto] }) skipped!: SkippedDto[];
  @ApiProperty({ type: [String] }) notFound!: string[];
}

export class PurgeReportDto {
  @ApiProperty() purged!: number;
  @ApiProperty({ type: [String] }) notFound!: string[];
}
