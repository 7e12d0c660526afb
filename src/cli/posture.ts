// `gatehouse posture …`: the admin's view of device posture (Logs > Posture), on the data directory.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { createServices } from '../api/index.js';
import { DEFAULT_DATA_DIR, withDataDir } from './context.js';
import { printJson, printTable } from './output.js';

const dataDirOption = () => new Option('--data-dir <dir>', 'data directory').default(DEFAULT_DATA_DIR);

const instant = (name: string) => (value: string) => {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidArgumentError(`${name} must be a date/time (ISO-8601)`);
  return new Date(ms).toISOString();
};
const count = (name: string, max: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`${name} must be 1 to ${max}`);
  return n;
};

export function registerPostureCommands(program: Command): void {
  const posture = program
    .command('posture')
    .description('device posture: rules and the results devices report');

  posture
    .command('logs')
    .description('posture results reported by devices, newest first')
    .addOption(dataDirOption())
    .option('--device <id>', 'only this device')
    .option('--rule <id>', 'only this rule')
    .addOption(new Option('--result <result>', 'only passes or failures').choices(['pass', 'fail']))
    .option('--since <time>', 'reported at or after (ISO-8601)', instant('--since'))
    .option('--until <time>', 'reported before (ISO-8601)', instant('--until'))
    .option('--limit <n>', 'rows per page (default 50)', count('--limit', 1000), 50)
    .option('--page <n>', 'page (default 1)', count('--page', 1_000_000), 1)
    .option('--json', 'print JSON')
    .action(
      async (o: {
        dataDir: string;
        device?: string;
        rule?: string;
        result?: 'pass' | 'fail';
        since?: string;
        until?: string;
        limit: number;
        page: number;
        json?: boolean;
      }) => {
        await withDataDir(o.dataDir, async ({ authority }) => {
          const { items, total } = await createServices(authority).posture.logs(
            {
              deviceId: o.device,
              ruleId: o.rule,
              success: o.result === undefined ? undefined : o.result === 'pass',
              from: o.since,
              to: o.until,
            },
            { page: o.page, perPage: o.limit },
          );
          if (o.json) {
            printJson({ results: items, total });
            return;
          }
          const now = authority.now().toISOString();
          printTable(
            ['TIME', 'DEVICE', 'RULE', 'RESULT', 'REASONS', 'CERTIFICATE', 'EXPIRES'],
            items.map((r) => [
              r.reported_on,
              r.device_name,
              r.rule_name,
              r.success ? 'pass' : 'fail',
              r.reasons.join(',') || '-',
              r.certificate
                ? `${r.certificate.subject} ${r.certificate.fingerprint_sha256.slice(0, 16)}`
                : '-',
              r.expires_on ? (r.expires_on <= now ? `expired ${r.expires_on}` : r.expires_on) : 'never',
            ]),
          );
          process.stdout.write(`${items.length} of ${total}\n`);
        });
      },
    );

  posture
    .command('rules')
    .description('list the posture rules')
    .addOption(dataDirOption())
    .option('--json', 'print JSON')
    .action(async (o: { dataDir: string; json?: boolean }) => {
      await withDataDir(o.dataDir, async ({ authority }) => {
        const rules = await createServices(authority).posture.listRules();
        if (o.json) printJson(rules);
        else
          printTable(
            ['ID', 'NAME', 'TYPE', 'CA', 'CN', 'SCHEDULE', 'EXPIRATION', 'PLATFORMS'],
            rules.map((r) => [
              r.id,
              r.name,
              r.type,
              r.input.certificate_id,
              r.input.cn ?? '-',
              r.schedule,
              r.expiration ?? '-',
              r.match.map((m) => m.platform).join(',') || 'all',
            ]),
          );
      });
    });
}
