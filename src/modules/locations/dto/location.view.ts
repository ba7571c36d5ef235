import { ApiProperty } from '@nestjs/swagger';
import { LOCATION_SOURCES, LOCATION_TYPES, LocationDto, LocationType } from '../location.types';

/** docs/api.md's `Location`, for the OpenAPI document. */
export class LocationView implements LocationDto {
  @ApiProperty({ description: 'uuid for our points; "kakao:<id>" for Kakao Local places' })
  id!: string;

  @ApiProperty()
  name!: string;

  @ApiProperty({ enum: LOCATION_TYPES, isArray: true })
  types!: LocationType[];

  @ApiProperty()
  address!: string;

  @ApiProperty()
  lat!: number;

  @ApiProperty()
  lng!: number;

  @ApiProperty({ type: Number, nullable: true, description: 'metres from the query point' })
  distanceM!: number | null;

  @ApiProperty({ type: String, nullable: true })
  openingHours!: string | null;

  @ApiProperty({ type: String, nullable: true })
  phone!: string | null;

  @ApiProperty({ enum: LOCATION_SOURCES })
  source!: 'public-data' | 'kakao' | 'user';

  @ApiProperty({ type: String, nullable: true })
  placeUrl!: string | null;
}

export class LocationList {
  @ApiProperty({ type: LocationView, isArray: true })
  items!: LocationView[];
}
