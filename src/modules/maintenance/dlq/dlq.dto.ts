import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  Equals,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
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

/** Exactly one of `ids` or `all: true` (checked in the controller); booleans are JSON booleans. */
export class DlqReplayDto {
  @ApiPropertyOptional({ type: [String], description: 'Message ids to replay' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  @MaxLength(200, { each: true })
  ids?: string[];

  @ApiPropertyOptional({ enum: [true], description: 'Replay every message in q.dlq' })
  @IsOptional()
  @IsBoolean()
  @Equals(true, { message: 'all must be true (or absent)' })
  all?: true;

  @ApiPropertyOptional({ description: 'Report what would be replayed, change nothing' })
  @IsOptional()
  @IsBoolean()
  dryRun?: boolean;
}

/** Exactly one of `ids` or `all=true`; `true`/`false` are the only boolean spellings. */
export class DlqPurgeQueryDto {
  @ApiPropertyOptional({ description: 'Comma-separated message ids to delete' })
  @IsOptional()
  @IsString()
  @MaxLength(20_000)
  ids?: string;

  @ApiPropertyOptional({ enum: ['true'], description: 'Delete every message in q.dlq' })
  @IsOptional()
  @IsIn(['true'], { message: 'all must be true (or absent)' })
  all?: 'true';

  @ApiPropertyOptional({
    enum: ['true', 'false'],
    description: 'Report what would be deleted, change nothing',
  })
  @IsOptional()
  @IsIn(['true', 'false'], { message: 'dryRun must be true or false' })
  dryRun?: 'true' | 'false';
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
  @ApiProperty({ description: 'A dry run: nothing was replayed; `replayed` is what would be' })
  dryRun!: boolean;
  @ApiProperty({ type: [ReplayedDto] }) replayed!: ReplayedDto[];
  @ApiProperty({ type: [SkippedDto] }) skipped!: SkippedDto[];
  @ApiProperty({ type: [String] }) notFound!: string[];
}

export class PurgeReportDto {
  @ApiProperty({ description: 'A dry run: nothing was deleted; `purged` is what would be' })
  dryRun!: boolean;
  @ApiProperty() purged!: number;
  @ApiProperty({ type: [String], description: 'Ids of the messages (up to 10,000)' })
  ids!: string[];
  @ApiProperty({ type: [String] }) notFound!: string[];
}
