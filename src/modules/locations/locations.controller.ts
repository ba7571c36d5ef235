import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ProblemException } from '../../core/http/problem';
import { JwtAuthGuard } from '../auth';
import { NearbyQueryDto, SearchQueryDto } from './dto/location-queries.dto';
import { LocationList, LocationView } from './dto/location.view';
import { LocationsService } from './locations.service';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@ApiTags('locations')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'No or invalid access token (problem details)' })
@UseGuards(JwtAuthGuard)
@Controller('locations')
export class LocationsController {
  constructor(private readonly locations: LocationsService) {}

  @Get('nearby')
  @ApiOperation({ summary: 'Collection points near a point, nearest first (radius ≤ 20 km)' })
  @ApiOkResponse({ type: LocationList })
  @ApiBadRequestResponse({ description: 'VALIDATION_FAILED: bad lat/lng, radius, types or limit' })
  async nearby(@Query() q: NearbyQueryDto): Promise<LocationList> {
    const items = await this.locations.nearby({
      lat: q.lat,
      lng: q.lng,
      radiusM: q.radius ?? 1000,
      types: q.types,
      limit: q.limit,
    });
    return { items };
  }

  @Get('search')
  @ApiOperation({
    summary: 'Keyword search over our collection points plus Kakao Local (merged within 50 m)',
  })
  @ApiOkResponse({ type: LocationList })
  @ApiBadRequestResponse({ description: 'VALIDATION_FAILED' })
  async search(@Query() q: SearchQueryDto): Promise<LocationList> {
    if ((q.lat === undefined) !== (q.lng === undefined)) {
      throw ProblemException.validation([
        { field: q.lat === undefined ? 'lat' : 'lng', message: 'lat and lng go together' },
      ]);
    }
    const items = await this.locations.search({
      q: q.q,
      lat: q.lat,
      lng: q.lng,
      radiusM: q.radius,
      limit: q.limit,
    });
    return { items };
  }

  @Get(':id')
  @ApiOperation({ summary: 'One of our collection points' })
  @ApiOkResponse({ type: LocationView })
  @ApiNotFoundResponse({ description: 'NOT_FOUND (also for ids that are not ours, e.g. kakao:…)' })
  async get(@Param('id') id: string): Promise<LocationView> {
    const found = UUID.test(id) ? await this.locations.findById(id) : null;
    if (!found) throw ProblemException.notFound('Location');
    return found;
  }
}
