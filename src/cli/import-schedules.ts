import { DisposalSchedulesRepository } from '../modules/recycling/schedules/disposal-schedules.repository';
import { importSchedules } from '../modules/recycling/schedules/schedule.importer';
import { runAsScript, runCsvImportCli } from './csv-import-cli';

const USAGE = `usage: node dist/cli/import-schedules.js <file.csv> [options]   (npm run import:schedules -- …)

Imports district disposal days and hours (전국생활쓰레기배출정보표준데이터: 시도명, 시군구명,
관리구역명, 관리구역대상지역명, 배출장소, …배출요일, …배출시작시각/종료시각, 미수거일, 관리부서명,
관리부서전화번호, 데이터기준일자) into DATABASE_URL. Idempotent: rows are keyed by 관리번호 when
the file has one, else by 시도 + 시군구 + 관리구역 + 대상지역 + 배출장소, so re-importing updates them.

options:
  --encoding auto|utf8|cp949   file encoding (default auto: UTF-8 if valid, else CP949)
  --dataset NAME               label stored with the rows (default: the file name)
  --json                       print the full report as JSON
`;

function main(argv: string[]): Promise<number> {
  return runCsvImportCli(argv, {
    usage: USAGE,
    run: (ds, bytes, common) => importSchedules(new DisposalSchedulesRepository(ds), bytes, common),
  });
}

runAsScript(module, main);

export { main as importSchedulesCli };
