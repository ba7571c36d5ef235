import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsObject,
  IsString,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';

export class CorrectionItemDto {
  @ApiProperty({ description: 'Index into result.items' })
  @IsInt()
  @Min(0)
  index!: number;

  @ApiProperty({ example: 'clear-pet' })
  @IsString()
  @MaxLength(64)
  categoryId!: string;
}

export class CorrectionDto {
  @ApiProperty({ type: [CorrectionItemDto] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(20)
  // ValidateNested alone accepts [[]]: it validates the elements of a nested array instead.
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => CorrectionItemDto)
  items!: CorrectionItemDto[];
}
