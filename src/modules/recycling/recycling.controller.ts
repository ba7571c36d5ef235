import {
  Body,
  Controller,
  Get,
  Header,
  HttpCode,
  Param,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ProblemException } from '../../core/http/problem';
import { RateLimited } from '../../core/http/rate-limit.guard';
import { JwtAuthGuard } from '../auth';
import { CoachingService } from './coaching.service';
import {
  CategoryDto,
  FeedbackRequestDto,
  FeedbackResponseDto,
  LocaleQueryDto,
  SearchQueryDto,
  SearchResponseDto,
} from './dto/recycling.dto';
import { RecyclingService } from './recycling.service';

/** Coaching may call the LLM: a per-user budget keeps one client from running up the bill. */
const FEEDBACK_PER_MINUTE = 30;

@ApiTags('recycling')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'No or invalid access token (problem details)' })
@UseGuards(JwtAuthGuard)
@Controller('recycling')
export class RecyclingController {
  constructor(
    private readonly recycling: RecyclingService,
    private readonly coaching: CoachingService,
  ) {}

  @Get('categories')
  @ApiOperation({ summary: 'Every disposal category with its bin, ordered steps and cautions' })
  @ApiOkResponse({ type: [CategoryDto] })
  @Header('Content-Type', 'application/json; charset=utf-8')
  categories(@Query() query: LocaleQueryDto): Buffer {
    // The same answer every time: serialized and encoded once (RecyclingService.categoriesJson).
    return this.recycling.categoriesJson(query.locale);
  }

  @Get('categories/:id')
  @ApiOkResponse({ type: CategoryDto })
  @ApiNotFoundResponse({ description: 'Unknown category id (problem details, code NOT_FOUND)' })
  category(@Param('id') id: string, @Query() query: LocaleQueryDto): CategoryDto {
    const view = this.recycling.getCategoryView(id, query.locale);
    if (!view) throw ProblemException.notFound('Category');
    return view;
  }

  @Get('search')
  @ApiOperation({
    summary: 'Items by Korean or English name; spacing, partial words and typos tolerated',
  })
  @ApiOkResponse({ type: SearchResponseDto })
  @ApiBadRequestResponse({
    description: 'VALIDATION_FAILED: missing/too long q, bad limit or locale',
  })
  search(@Query() query: SearchQueryDto): SearchResponseDto {
    return { items: this.recycling.search(query.q, query.limit ?? 10, query.locale) };
  }

  @Post('feedback')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Coaching text for a classification (LLM grounded on the rules, or rule text)',
  })
  @RateLimited({
    bucket: 'recycling:feedback',
    by: 'user',
    limit: FEEDBACK_PER_MINUTE,
    windowSeconds: 60,
  })
  @ApiOkResponse({ type: FeedbackResponseDto })
  @ApiBadRequestResponse({ description: 'VALIDATION_FAILED: unknown category, unknown fields' })
  @ApiTooManyRequestsResponse({
    description: `RATE_LIMITED: more than ${FEEDBACK_PER_MINUTE} a minute`,
  })
  async feedback(@Body() body: FeedbackRequestDto): Promise<FeedbackResponseDto> {
    const { message, source } = await this.coaching.coach({
      items: body.items.map((i) => ({ categoryId: i.categoryId, label: i.label })),
      hint: body.hint,
      locale: body.locale,
    });
    return { coaching: { message, source } };
  }
}
