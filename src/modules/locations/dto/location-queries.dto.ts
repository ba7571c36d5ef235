import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiPropertyOptions } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';
import { LOCATION_TYPES, LocationType, MAX_LIMIT, MAX_RADIUS_M } from '../location.types';

/**
 * Query strings are strings: convert to a number, but "" (and " ") to NaN rather than the 0 that
 * `@Type(() => Number)` would give, so an empty lat is rejected instead of meaning the equator.
 */
export const ToNumber = () =>
  Transform(({ obj, key }: { obj: Record<string, unknown>; key: string }) => {
    const raw = obj[key];
    if (typeof raw === 'string') return raw.trim() === '' ? NaN : Number(raw);
    return raw;
  });

/** An optional latitude (limit 90) or longitude (180) query parameter; "" is rejected. */
export const OptionalCoordinate = (limit: 90 | 180, doc: ApiPropertyOptions = {}) =>
  applyDecorators(
    ApiPropertyOptional({ minimum: -limit, maximum: limit, ...doc }),
    IsOptional(),
    ToNumber(),
    IsNumber({ allowNaN: false, allowInfinity: false }),
    Min(-limit),
    Max(limit),
  );

/** `types=battery,clothing` and `types=battery&types=clothing` both give ['battery','clothing']. */
const CommaList = () =>
  Transform(({ value }: { value: unknown }) =>
    (Array.isArray(value) ? value : [value])
      .flatMap((v) => String(v).split(','))
      .map((s) => s.trim())
      .filter(Boolean),
  );

export class NearbyQueryDto {
  @ApiProperty({ minimum: -90, maximum: 90, example: 37.5665 })
  @ToNumber()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(-90)
  @Max(90)
  lat!: number;

  @ApiProperty({ minimum: -180, maximum: 180, example: 126.978 })
  @ToNumber()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(-180)
  @Max(180)
  lng!: number;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_RADIUS_M, default: 1000, description: 'metres' })
  @IsOptional()
  @ToNumber()
  @IsInt()
  @Min(1)
  @Max(MAX_RADIUS_M)
  radius?: number;

  @ApiPropertyOptional({
    description: 'Comma-separated; a point matches when it accepts any of them',
    enum: LOCATION_TYPES,
    isArray: true,
    example: 'battery,clothing',
  })
  @IsOptional()
  @CommaList()
  @IsArray()
  @ArrayMaxSize(LOCATION_TYPES.length)
  @IsIn(LOCATION_TYPES, { each: true })
  types?: LocationType[];

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_LIMIT, default: 20 })
  @IsOptional()
  @ToNumber()
  @IsInt()
  @Min(1)
  @Max(MAX_LIMIT)
  limit?: number;
}

export class SearchQueryDto {
  @ApiProperty({ minLength: 1, maxLength: 100, example: '의류수거함' })
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  q!: string;

  @OptionalCoordinate(90, { description: 'with lng: nearest first' })
  lat?: number;

  @OptionalCoordinate(180)
  lng?: number;

  @ApiPropertyOptional({
    minimum: 1,
    maximum: MAX_RADIUS_M,
    default: MAX_RADIUS_M,
    description: 'metres, with lat/lng',
  })
  @IsOptional()
  @ToNumber()
  @IsInt()
  @Min(1)
  @Max(MAX_RADIUS_M)
  radius?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_LIMIT, default: 20 })
  @IsOptional()
  @ToNumber()
  @IsInt()
  @Min(1)
  @Max(MAX_LIMIT)
  limit?: number;
}
