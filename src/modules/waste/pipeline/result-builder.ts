import { Injectable } from '@nestjs/common';
import { RecyclingService } from '../../recycling';
import { Locale } from '../../recycling';
import { ClassifiedItem, ResultItem } from '../jobs/job.types';

/** Deterministic guidance from the knowledge base: no LLM, so it is shown at once. */
@Injectable()
export class ResultBuilder {
  constructor(private readonly recycling: RecyclingService) {}

  items(classified: ClassifiedItem[], locale: Locale): ResultItem[] {
    return classified.flatMap((c) => {
      const g = this.recycling.getCategory(c.categoryId, locale);
      if (!g) return [];
      return [
        {
          label: c.label,
          confidence: c.confidence,
          box: c.box,
          category: { id: g.id, name: g.name, bin: g.bin },
          steps: g.steps,
          cautions: g.cautions,
          dropOff: g.dropOff,
        },
      ];
    });
  }

  classified(items: ResultItem[]): ClassifiedItem[] {
    return items.map((i) => ({
      label: i.label,
      confidence: i.confidence,
      box: i.box,
      categoryId: i.category.id,
    }));
  }

  /** Vision labels → categories for the model; labels nothing maps are dropped. */
  map(
    model: string,
    detections: { label: string; confidence: number; box: ClassifiedItem['box'] }[],
  ): ClassifiedItem[] {
    const out: ClassifiedItem[] = [];
    for (const d of detections) {
      const m = this.recycling.mapLabel(model, d.label);
      if (m)
        out.push({
          label: d.label,
          confidence: d.confidence,
          box: d.box,
          categoryId: m.categoryId,
        });
    }
    return out;
  }

  fromHint(hint: string | null | undefined): ClassifiedItem | undefined {
    if (!hint?.trim()) return undefined;
    const m = this.recycling.resolveHint(hint);
    return (
      m && { label: m.itemName ?? hint.trim(), confidence: 1, box: null, categoryId: m.categoryId }
    );
  }
}
