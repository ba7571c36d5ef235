import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ProblemException } from '../../../core/http/problem';
import { JwtAuthGuard } from '../../auth';
import { AuthUser, CurrentUser } from '../../auth';
import { regionUnknown } from '../../locations';
import { ScheduleQueryDto, ScheduleResponseDto } from './schedule.dto';
import { ScheduleAnswer, ScheduleService } from './schedule.service';

@ApiTags('recycling')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'No or invalid access token (problem details)' })
@UseGuards(JwtAuthGuard)
@Controller('recycling')
export class ScheduleController {
  constructor(private readonly schedules: ScheduleService) {}

  @Get('schedule')
  @ApiOperation({
    summary: 'District disposal days and hours, and the next put-out window (Asia/Seoul)',
    description:
      'For lat/lng, or a region name/code, or else the home region saved on the profile. A known ' +
      'region without district data is 200 with available=false. docs/schedules.md.',
  })
  @ApiOkResponse({ type: ScheduleResponseDto })
  @ApiBadRequestResponse({
    description:
      'VALIDATION_FAILED: bad lat/lng/region, lat without lng, both a point and a region, or ' +
      'nothing to go on (no home region saved); REGION_AMBIGUOUS: a name several districts share',
  })
  @ApiNotFoundResponse({
    description: 'REGION_UNKNOWN: no such 시군구, or the point lies in none (at sea, abroad)',
  })
  async schedule(
    @CurrentUser() user: AuthUser,
    @Query() q: ScheduleQueryDto,
  ): Promise<ScheduleAnswer> {
    if ((q.lat === undefined) !== (q.lng === undefined)) {
      throw ProblemException.validation([
        { field: q.lat === undefined ? 'lat' : 'lng', message: 'lat and lng go together' },
      ]);
    }
    const point = q.lat !== undefined && q.lng !== undefined;
    if (point && q.region !== undefined) {
      throw ProblemException.validation([
        { field: 'region', message: 'give either lat/lng or region, not both' },
      ]);
    }
    const region = point
      ? await this.schedules.regions.fromPoint(q.lat!, q.lng!)
      : q.region !== undefined
        ? {
            ...this.schedules.regions.fromText(q.region),
            source: 'query' as const,
            legalDong: null,
            adminDong: null,
          }
        : await this.schedules.homeRegion(user.id);
    if (!region) {
      if (point) throw regionUnknown(`${q.lat}, ${q.lng} is in no 시군구 of South Korea`);
      throw ProblemException.validation(
        [{ field: 'region', message: 'give lat/lng or region, or save homeRegion on the profile' }],
        'No location to look up',
      );
    }
    return this.schedules.forRegion(region, { locale: q.locale });
  }
}
