// `gatehouse sessions …`: revoke Access sessions on the data directory (edges pick it up with
// their next configuration poll, as with an API call).
import { type Command, Option } from 'commander';
import { Value } from '@sinclair/typebox/value';
import { SessionRevocationInput, sessionRevocationView } from '../access/index.js';
import { createServices } from '../api/index.js';
import { badRequest } from '../errors/index.js';
import { DEFAULT_DATA_DIR, withDataDir } from './context.js';
import { printJson } from './output.js';

const dataDirOption = () => new Option('--data-dir <dir>', 'data directory').default(DEFAULT_DATA_DIR);

export function registerSessionCommands(program: Command): void {
  program
    .command('sessions')
    .description('Access sessions')
    .command('revoke')
    .description('refuse every session issued until now that matches all the given selectors')
    .addOption(dataDirOption())
    .option('--app <id>', "this application's sessions")
    .option('--user <email-or-subject>', "this user's sessions")
    .option('--device <id>', "sessions bound to this device's certificates")
    .option('--registration <id>', "sessions bound to this registration's certificate")
    .option('--certificate <sha256>', 'sessions bound to this certificate (SHA-256 of the DER, hex)')
    .option('--json', 'print JSON')
    .action(
      async (o: {
        dataDir: string;
        app?: string;
        user?: string;
        device?: string;
        registration?: string;
        certificate?: string;
        json?: boolean;
      }) => {
        const input = {
          ...(o.app !== undefined ? { app_id: o.app } : {}),
          ...(o.user !== undefined ? { user: o.user } : {}),
          ...(o.device !== undefined ? { device_id: o.device } : {}),
          ...(o.registration !== undefined ? { registration_id: o.registration } : {}),
          ...(o.certificate !== undefined ? { certificate_sha256: o.certificate } : {}),
        };
        // The API's schema, so the CLI accepts exactly what the API does.
        if (!Value.Check(SessionRevocationInput, input)) {
          const first = Value.Errors(SessionRevocationInput, input).First();
          throw badRequest(
            'invalid_request',
            first ? `${first.path || 'selectors'}: ${first.message}` : 'invalid selectors',
          );
        }
        await withDataDir(o.dataDir, async ({ authority }) => {
          const row = await createServices(authority).access.revokeSessions(input, 'cli:sessions-revoke');
          if (o.json) printJson(sessionRevocationView(row));
          else process.stdout.write(`revoked sessions issued until ${row.revoked_at} (${row.id})\n`);
        });
      },
    );
}
