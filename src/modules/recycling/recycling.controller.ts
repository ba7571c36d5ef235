import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { ProblemException } from '../../core/http/problem';
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

@ApiTags('recycling')
@Controller('recycling')
export class RecyclingController {
  constructor(
    private readonly recycling: RecyclingService,
    private readonly coaching: CoachingService,
  ) {}

  @Get('categories')
  @ApiOkResponse({ type: [CategoryDto] })
  categories(@Query() query: LocaleQueryDto): CategoryDto[] {
    return this.recycling.listCategoryViews(query.locale);
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
  @ApiOkResponse({ type: SearchResponseDto })
  search(@Query() query: SearchQueryDto): SearchResponseDto {
    return { items: this.recycling.search(query.q, query.limit ?? 10, query.locale) };
  }

  @Post('feedback')
  @HttpCode(200)
  @ApiOkResponse({ type: FeedbackResponseDto })
  async feedback(@Body() body: FeedbackRequestDto): Promise<FeedbackResponseDto> {
    const { message, source } = await this.coaching.coach({
      items: body.items.map((i) => ({ categoryId: i.categoryId, label: i.label })),
      hint: body.hint,
      locale: body.locale,
    });
    return { coaching: { message, source } };
  }
}
