import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { CATEGORY_IDS, LOCALES, LOCATION_TYPES, Locale } from '../recycling.types';

export class LocaleQueryDto {
  @ApiPropertyOptional({ enum: LOCALES, default: 'ko' })
  @IsOptional()
  @IsIn(LOCALES)
  locale?: Locale;
}

export class SearchQueryDto extends LocaleQueryDto {
  @ApiProperty({
    description: 'Item name in Korean or English; spacing, partial words and typos tolerated',
    example: '페트병',
  })
  @IsString()
  @Length(1, 100)
  q!: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 50, default: 10 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(50)
  limit?: number;
}

export class CategoryDto {
  @ApiProperty({ enum: CATEGORY_IDS, example: 'clear-pet' }) id!: string;
  @ApiProperty({ example: '투명 페트병' }) name!: string;
  @ApiProperty({ example: 'Clear PET bottles' }) nameEn!: string;
  @ApiProperty({ example: '투명 페트병 전용 수거함' }) bin!: string;
  @ApiProperty({ type: [String], description: 'What to do, in order' }) steps!: string[];
  @ApiProperty({ type: [String], description: 'What not to do' }) cautions!: string[];
  @ApiProperty({ type: [String], description: 'Example item names' }) examples!: string[];
  @ApiProperty({ enum: LOCATION_TYPES, isArray: true }) dropOff!: string[];
}

export class SearchItemDto {
  @ApiProperty({ example: '투명 페트병' }) name!: string;
  @ApiProperty({ type: [String] }) aliases!: string[];
  @ApiProperty({ enum: CATEGORY_IDS }) categoryId!: string;
  @ApiProperty() categoryName!: string;
  @ApiProperty() bin!: string;
  @ApiProperty({ type: [String] }) steps!: string[];
  @ApiProperty({ type: [String], description: "The item's own trap first, then the category's" })
  cautions!: string[];
}

export class SearchResponseDto {
  @ApiProperty({ type: [SearchItemDto] }) items!: SearchItemDto[];
}

export class FeedbackItemDto {
  @ApiProperty({ enum: CATEGORY_IDS })
  @IsIn(CATEGORY_IDS)
  categoryId!: string;

  @ApiPropertyOptional({ description: 'The label the item was detected as', maxLength: 100 })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  label?: string;
}

export class FeedbackRequestDto {
  @ApiProperty({
    type: [FeedbackItemDto],
    maxItems: 20,
    description: 'Empty: the "nothing recognised" answer',
  })
  @IsArray()
  @ArrayMaxSize(20)
  // ValidateNested alone accepts [[]]: it validates the elements of a nested array instead.
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => FeedbackItemDto)
  items!: FeedbackItemDto[];

  @ApiPropertyOptional({ maxLength: 200 })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  hint?: string;

  @ApiPropertyOptional({ enum: LOCALES, default: 'ko' })
  @IsOptional()
  @IsIn(LOCALES)
  locale?: Locale;
}

export class CoachingDto {
  @ApiProperty() message!: string;
  @ApiProperty({ enum: ['llm', 'rules'] }) source!: 'llm' | 'rules';
}

export class FeedbackResponseDto {
  @ApiProperty({ type: CoachingDto }) coaching!: CoachingDto;
}
