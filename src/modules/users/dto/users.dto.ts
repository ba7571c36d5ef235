import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateIf,
} from 'class-validator';
import { UserDto } from '../../auth';

export class StatsDto {
  @ApiProperty({ description: 'Completed analyses' })
  analyses!: number;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'number' },
    example: { plastic: 3, paper: 1 },
  })
  itemsByCategory!: Record<string, number>;

  @ApiProperty({ description: 'Consecutive days (Asia/Seoul) with at least one analysis' })
  streakDays!: number;
}

export class HomeRegionDto {
  @ApiProperty({ example: '11440', description: '5-digit 시군구 code' }) code!: string;
  @ApiProperty({ example: '서울특별시' }) sido!: string;
  @ApiProperty({ example: '마포구' }) sigungu!: string;
  @ApiProperty({ example: '서울특별시 마포구' }) name!: string;
}

export class ProfileDto extends UserDto {
  @ApiPropertyOptional({
    type: HomeRegionDto,
    nullable: true,
    description: 'Used for disposal days when a request carries no coordinates (docs/schedules.md)',
  })
  homeRegion!: HomeRegionDto | null;
}

export class MeDto extends ProfileDto {
  @ApiProperty({ type: StatsDto })
  stats!: StatsDto;
}

export class UpdateMeDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 30, example: '분리수거왕' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(30)
  @Matches(/\S/, { message: 'nickname must not be blank' })
  nickname?: string;

  @ApiPropertyOptional({ nullable: true, description: 'https URL, or null to remove' })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsUrl({ protocols: ['https'], require_protocol: true })
  @MaxLength(2048)
  profileImageUrl?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    example: '서울 마포구',
    description:
      '"서울특별시 마포구", "마포구", "수원시 장안구" or a 5-digit 시군구 code; null to remove',
  })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsString()
  @MaxLength(40)
  @Matches(/^[\p{L}\p{N} ]+$/u, { message: 'homeRegion must be letters, digits and spaces' })
  homeRegion?: string | null;
}

export class HistoryQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}

/** Not validated as a UUID on purpose: any id that is not one of yours is simply 404. */
export class JobIdParam {
  @ApiProperty({ format: 'uuid' })
  @IsString()
  @MaxLength(100)
  jobId!: string;
}

export class HistoryItemSummaryDto {
  @ApiProperty() label!: string;
  @ApiProperty() categoryId!: string;
  @ApiProperty() categoryName!: string;
}

export class HistoryItemDto {
  @ApiProperty({ format: 'uuid' }) jobId!: string;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt!: string;
  @ApiProperty({ enum: ['completed', 'failed'] }) status!: 'completed' | 'failed';
  @ApiProperty({ type: [HistoryItemSummaryDto] }) items!: HistoryItemSummaryDto[];
}

export class HistoryPageDto {
  @ApiProperty({ type: [HistoryItemDto] }) items!: HistoryItemDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor!: string | null;
}
