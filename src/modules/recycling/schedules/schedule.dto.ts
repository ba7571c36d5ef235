import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { OptionalCoordinate } from '../../locations';
import { LOCALES, Locale } from '../recycling.types';
import { WEEKDAY_IDS } from './put-out-window';
import { WASTE_KINDS } from './waste-kinds';

export class ScheduleQueryDto {
  @OptionalCoordinate(90, { example: 37.5172, description: 'with lng' })
  lat?: number;

  @OptionalCoordinate(180, { example: 127.0473, description: 'with lat' })
  lng?: number;

  @ApiPropertyOptional({
    description:
      'Instead of lat/lng: "서울특별시 강남구", "서울 강남구", "강남구", "수원시 장안구" or a 5-digit 시군구 code. ' +
      'Without lat/lng and region, the home region saved on the profile is used.',
    example: '서울 강남구',
    maxLength: 40,
  })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  @Matches(/^[\p{L}\p{N} ]+$/u, { message: 'region must be letters, digits and spaces' })
  region?: string;

  @ApiPropertyOptional({ enum: LOCALES, default: 'ko' })
  @IsOptional()
  @IsIn(LOCALES)
  locale?: Locale;
}

class RegionViewDto {
  @ApiProperty({ example: '11680', description: '5-digit 시군구 code' }) code!: string;
  @ApiProperty({ example: '서울특별시' }) sido!: string;
  @ApiProperty({ example: '강남구' }) sigungu!: string;
  @ApiProperty({ example: '서울특별시 강남구' }) name!: string;
  @ApiProperty({ enum: ['kakao', 'offline', 'query', 'profile'] }) source!: string;
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    example: '역삼1동',
    description: '행정동 (or 법정동), known when Kakao answered',
  })
  dong!: string | null;
}

class NextWindowDto {
  @ApiProperty({ example: '2026-12-01T20:00:00+09:00' }) start!: string;
  @ApiProperty({ example: '2026-12-02T00:00:00+09:00' }) end!: string;
  @ApiProperty({ description: 'The window is open now' }) open!: boolean;
  @ApiProperty({ example: '오늘 밤 20:00–24:00', description: 'In the requested locale' })
  text!: string;
}

class HoursDto {
  @ApiPropertyOptional({ type: String, nullable: true, example: '20:00' }) start!: string | null;
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    example: '24:00',
    description: 'Before the start: the next morning',
  })
  end!: string | null;
}

class KindScheduleDto {
  @ApiProperty({ enum: WASTE_KINDS }) kind!: string;
  @ApiProperty({ enum: WEEKDAY_IDS, isArray: true, example: ['sun', 'tue', 'thu'] })
  days!: string[];
  @ApiPropertyOptional({ type: String, nullable: true, example: '일+화+목' })
  daysText!: string | null;
  @ApiProperty({ type: HoursDto }) hours!: HoursDto;
  @ApiPropertyOptional({ type: String, nullable: true }) method!: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) place!: string | null;
  @ApiPropertyOptional({ type: NextWindowDto, nullable: true }) next!: NextWindowDto | null;
}

class ZoneScheduleDto {
  @ApiPropertyOptional({ type: String, nullable: true, description: '관리구역명' })
  zone!: string | null;
  @ApiPropertyOptional({ type: String, nullable: true, description: '관리구역대상지역명' })
  targetArea!: string | null;
  @ApiPropertyOptional({ type: String, nullable: true, example: '문전수거' })
  placeType!: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) place!: string | null;
  @ApiPropertyOptional({ type: String, nullable: true, description: '미수거일, as written' })
  noCollectionDays!: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) department!: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) phone!: string | null;
  @ApiPropertyOptional({ type: String, nullable: true, example: '2025-01-01' })
  dataDate!: string | null;
  @ApiProperty({ type: [KindScheduleDto] }) kinds!: KindScheduleDto[];
}

export class ScheduleResponseDto {
  @ApiProperty({ type: RegionViewDto }) region!: RegionViewDto;
  @ApiProperty({ description: 'False: the region is known but no district data is loaded for it' })
  available!: boolean;
  @ApiProperty() message!: string;
  @ApiPropertyOptional({ enum: ['dong', 'sigungu'], nullable: true }) matchedBy!: string | null;
  @ApiProperty({ type: [ZoneScheduleDto] }) zones!: ZoneScheduleDto[];
  @ApiProperty({ example: '2026-12-01T11:00:00.000Z' }) asOf!: string;
}
