import { CollectionPointsRepository } from '../modules/locations/collection-points.repository';
import { importCollectionPoints } from '../modules/locations/import/collection-point.importer';
import { LocationType, typesFromCell } from '../modules/locations/location.types';
import { runAsScript, runCsvImportCli } from './csv-import-cli';

const USAGE = `usage: node dist/cli/import-locations.js <file.csv> [options]

Imports collection points from a public-data CSV (Korean district open-data headers such as
시설명, 소재지도로명주소, 위도, 경도, 수거품목, 운영시간, 전화번호, 관리번호) into DATABASE_URL.
Idempotent: rows are keyed by 관리번호 (or name + address), so re-importing updates them.

options:
  --encoding auto|utf8|cp949   file encoding (default auto: UTF-8 if valid, else CP949)
  --dataset NAME               label stored with the rows (default: the file name)
  --type TYPES                 types for files without a type column, e.g. battery or 폐건전지
  --json                       print the full report as JSON
`;

function main(argv: string[]): Promise<number> {
  let defaultTypes: LocationType[] | undefined;
  return runCsvImportCli(argv, {
    usage: USAGE,
    options: { type: { type: 'string' } },
    prepare: (values) => {
      if (typeof values.type !== 'string') return undefined;
      const parsed = typesFromCell(values.type);
      if (parsed.unknown.length || !parsed.types.length) {
        console.error(`--type: unknown type(s) ${parsed.unknown.join(', ') || values.type}`);
        return 2;
      }
      defaultTypes = parsed.types;
      return undefined;
    },
    run: (ds, bytes, common) =>
      importCollectionPoints(new CollectionPointsRepository(ds), bytes, {
        ...common,
        defaultTypes,
      }),
  });
}

runAsScript(module, main);

export { main as importLocationsCli };
