import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsIn,
  IsInt,
  IsLatitude,
  IsLongitude,
  IsNumber,
  IsOptional,
  IsString,
  MaxLength,
  Min,
} from 'class-validator';

export const ACCEPTED_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;

export class AnalyzeDto {
  @ApiProperty({
    enum: ACCEPTED_TYPES,
    example: 'image/jpeg',
    description: 'Other types answer 415 UNSUPPORTED_MEDIA_TYPE',
  })
  @IsString()
  contentType!: string;

  @ApiProperty({
    example: 245_000,
    description: 'Exact size of the photo in bytes; over the limit answers 413',
  })
  @IsInt()
  @Min(1)
  contentLength!: number;

  @ApiPropertyOptional({
    maxLength: 200,
    example: '페트병',
    description: 'What the user says it is (used when vision is unsure or off)',
  })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  hint?: string;

  @ApiPropertyOptional({ enum: ['ko', 'en'], default: 'ko' })
  @IsOptional()
  @IsIn(['ko', 'en'])
  locale?: 'ko' | 'en';

  @ApiPropertyOptional({ example: 37.5665 })
  @IsOptional()
  @IsNumber()
  @IsLatitude()
  lat?: number;

  @ApiPropertyOptional({ example: 126.978 })
  @IsOptional()
  @IsNumber()
  @IsLongitude()
  lng?: number;
}
