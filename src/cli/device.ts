// `gatehouse device …`: the device agent. See docs/agent.md.
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  checkIn,
  defaultMdmFile,
  prepareStateDir,
  register,
  renew,
  runAgent,
  status,
  type Status,
  unregister,
  type RegisterOptions,
  KEY_PROTECTIONS,
  type DeviceAuthorization,
  DEFAULT_NSSDB,
  posture,
  type PostureOptions,
  type RuleOutcome,
} from '../agent/index.js';
import { GatehouseError } from '../errors/index.js';
import { createLogger } from '../observability/index.js';
import { printJson } from './output.js';
import { rootProgram } from './root.js';

const DEFAULT_INTERVAL_MS = 300_000;

/** GATEHOUSE_AGENT_INTERVAL_MS: how often `run` checks in (default 5 minutes). */
function intervalMs(): number {
  const raw = process.env.GATEHOUSE_AGENT_INTERVAL_MS;
  if (raw === undefined || raw === '') return DEFAULT_INTERVAL_MS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 10 || n > 86_400_000)
    throw new GatehouseError(
      'invalid_argument',
      `GATEHOUSE_AGENT_INTERVAL_MS must be a whole number of milliseconds from 10 to 86400000, not ${JSON.stringify(raw)}`,
    );
  return n;
}

const nonEmpty = (name: string) => (value: string) => {
  if (value.trim() === '') throw new InvalidArgumentError(`${name} must not be empty`);
  return value;
};

const stateDirOption = () =>
  new Option('--state-dir <dir>', "the agent's state directory (0700)").makeOptionMandatory();

function printStatus(s: Status): void {
  const rows: [string, string][] = [
    ['organization', s.org],
    ['server', s.server_url],
    ['device', s.device_id],
    ['registration', s.registration_id],
    ['mode', s.mode],
    ['key protection', s.key_protection],
    ['assurance', s.assurance ?? 'unknown (registered before the server recorded levels)'],
    ['certificate expires', s.certificate_expires_on ?? '-'],
    ['renews after', s.certificate_renews_after ?? '-'],
    ['last successful call', s.last_successful_call ?? 'never'],
    ['state', s.state_dir],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}\n`).join(''));
}

/** What a person must do to approve an identity registration (RFC 8628 §3.3). */
function deviceLoginPrompt(login: DeviceAuthorization): string {
  return (
    `To register this device, open this address in a browser and sign in:\n\n` +
    `    ${login.verification_uri_complete}\n\n` +
    `(or open ${login.verification_uri} and enter the code ${login.user_code}).\n` +
    `Check that the page shows the code ${login.user_code}. It expires in ${Math.round(login.expires_in / 60)} minutes.\n` +
    'Waiting for the approval…\n'
  );
}

function printPosture(outcomes: RuleOutcome[]): void {
  if (outcomes.length === 0) {
    process.stdout.write('no posture rules for this device\n');
    return;
  }
  for (const o of outcomes) {
    process.stdout.write(
      `${o.success ? 'PASS' : 'FAIL'}  ${o.rule_name} (${o.rule_id})${o.success ? '' : `: ${o.reasons.join(', ')}`}\n`,
    );
    if (o.certificate)
      process.stdout.write(
        `      certificate ${o.certificate.subject}, serial ${o.certificate.serial_number}, sha256 ${o.certificate.fingerprint_sha256}${o.source ? ` (${o.source})` : ''}\n`,
      );
    for (const d of o.details) process.stdout.write(`      ${d}\n`);
  }
}

/** The trust stores (NSS databases) and their password file, shared by `posture` and `run`. */
const postureOptions = (o: {
  nssdb?: string;
  userNssdb?: string;
  nssdbPasswordFile?: string;
}): PostureOptions => ({
  ...(o.nssdb ? { nssdb: o.nssdb } : {}),
  ...(o.userNssdb ? { userNssdb: o.userNssdb } : {}),
  ...(o.nssdbPasswordFile ? { nssdbPasswordFile: o.nssdbPasswordFile } : {}),
});

/** --nssdb, --user-nssdb, --nssdb-password-file. */
function trustStoreOptions(command: Command): Command {
  return command
    .option('--nssdb <dir>', `the system trust store: an NSS database (default ${DEFAULT_NSSDB})`)
    .option('--user-nssdb <dir>', 'the user trust store: an NSS database (default ~/.pki/nssdb)')
    .option('--nssdb-password-file <file>', "file holding the NSS databases' password, if they have one");
}

export function registerDeviceCommands(program: Command): void {
  const device = program
    .command('device')
    .description('the device agent: register this device, keep its certificate fresh, unregister');

  device
    .command('register')
    .description(
      'register this device with a service token (or --identity: a person signs in); keeps the registration in --state-dir',
    )
    .addOption(stateDirOption())
    .option(
      '--server <url>',
      'control-plane URL, e.g. https://gatehouse.example:7443 (or server_url in the MDM file)',
    )
    .option('--org <name>', "the organization's name (its CA's O=)", nonEmpty('--org'))
    .addOption(
      new Option(
        '--key-provider <provider>',
        'where the device key lives (hardware-backed registration); without it the registration is standard (no key)',
      ).choices(KEY_PROTECTIONS),
    )
    .option('--tpm-tcti <tcti>', 'TPM TCTI (tpm2; default device:/dev/tpmrm0)')
    .option(
      '--tpm2-pkcs11-store <dir>',
      "tpm2-pkcs11's store directory (tpm2; default: the library's search)",
    )
    .option('--pkcs11-module <path>', 'PKCS#11 module (.so)')
    .option('--pkcs11-token <label>', 'PKCS#11 token label')
    .option('--pkcs11-pin-file <file>', 'file holding the token user PIN (never pass a PIN as an argument)')
    .option('--service-token-id <id>', 'service token client id (Gatehouse-Access-Client-Id)')
    .option('--service-token-secret-file <file>', 'file holding the service token client secret')
    .option(
      '--identity',
      "no service token: register by signing in through the organization's identity provider in a browser (shows a URL and a code)",
    )
    .option('--mdm <file>', `MDM file (default: ${defaultMdmFile()} when present)`)
    .option('--ca-file <file>', "the organization's root CA (PEM): trust only it for the server")
    .option('--attest', 'tpm2: prove to the server that the key lives in this TPM (TPM attestation)')
    .option(
      '--insecure-software-key',
      'allow --key-provider software (a plain key file, not hardware-protected)',
    )
    .option(
      '--serial-number <serial>',
      "the device's serial number (default: from DMI)",
      nonEmpty('--serial-number'),
    )
    .option('--name <name>', 'device name (default: the hostname)', nonEmpty('--name'))
    .option('--json', 'print the result as JSON')
    .action(async (o: RegisterOptions & { json?: boolean }) => {
      const { json, ...opts } = o;
      // On stderr: stdout stays the result (--json).
      if (opts.identity) opts.onDeviceLogin = (login) => process.stderr.write(deviceLoginPrompt(login));
      const loaded = await register(opts);
      const s = status(loaded.dir);
      if (json) printJson(s);
      else {
        process.stdout.write(
          `Registered device ${s.device_id} with ${s.org} (registration ${s.registration_id}, ${s.mode}, key ${s.key_protection})\n`,
        );
        printStatus(s);
      }
    });

  device
    .command('status')
    .description('what the state directory holds (no network; `run --once` checks in)')
    .addOption(stateDirOption())
    .option('--json', 'print JSON')
    .action((o: { stateDir: string; json?: boolean }) => {
      const s = status(o.stateDir);
      if (o.json) printJson(s);
      else printStatus(s);
    });

  device
    .command('renew')
    .description('renew the certificate now, with the same key')
    .addOption(stateDirOption())
    .option('--json', 'print JSON')
    .action(async (o: { stateDir: string; json?: boolean }) => {
      await prepareStateDir(o.stateDir);
      const r = await renew(o.stateDir);
      if (o.json) printJson(r);
      else process.stdout.write(`renewed: the certificate now expires on ${r.certificate_expires_on}\n`);
    });

  trustStoreOptions(
    device
      .command('posture')
      .description('evaluate every device posture rule now, report the results to the server, print them')
      .addOption(stateDirOption()),
  )
    .option('--json', 'print JSON: one entry per rule with rule_id, success, reasons, certificate')
    .action(
      async (o: {
        stateDir: string;
        json?: boolean;
        nssdb?: string;
        userNssdb?: string;
        nssdbPasswordFile?: string;
      }) => {
        await prepareStateDir(o.stateDir);
        const outcomes = await posture(o.stateDir, postureOptions(o));
        if (o.json) printJson(outcomes);
        else printPosture(outcomes);
      },
    );

  trustStoreOptions(
    device
      .command('run')
      .description(
        'the agent daemon: check in, renew the certificate when a third of its lifetime is left, register again when needed',
      )
      .addOption(stateDirOption())
      .option('--once', 'one check-in, then exit (1 on failure)'),
  )
    .option('--json', 'with --once: print the result as JSON')
    .action(
      async (o: {
        stateDir: string;
        once?: boolean;
        json?: boolean;
        nssdb?: string;
        userNssdb?: string;
        nssdbPasswordFile?: string;
      }) => {
        const interval = intervalMs();
        await prepareStateDir(o.stateDir);
        const logger = createLogger({ name: 'gatehouse-agent' });
        if (o.once) {
          const r = await checkIn(o.stateDir, interval, logger);
          if (o.json) printJson(r);
          else if (r.action === 'reregistered')
            process.stdout.write(
              `registered again (${r.reason}): registration ${r.registration_id} replaces ${r.previous_registration_id}\n`,
            );
          else process.stdout.write(`${r.action.replace('_', ' ')}: registration ${r.registration_id}\n`);
          return;
        }
        const stop = new AbortController();
        const onSignal = (signal: NodeJS.Signals) => {
          logger.info({ signal }, 'stopping');
          stop.abort();
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
        try {
          logger.info({ state_dir: o.stateDir, interval_ms: interval }, 'agent started');
          await runAgent(o.stateDir, {
            intervalMs: interval,
            logger,
            signal: stop.signal,
            posture: postureOptions(o),
          });
        } finally {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
        }
      },
    );

  device
    .command('unregister')
    .description('unregister this device on the server, then remove the local state and delete the key')
    .addOption(stateDirOption())
    .option('--force', 'remove the local state even when the server cannot be told')
    .option('--json', 'print JSON')
    .action(async (o: { stateDir: string; force?: boolean; json?: boolean }) => {
      await prepareStateDir(o.stateDir);
      const r = await unregister(o.stateDir, { force: o.force ?? false });
      if (o.json) printJson(r);
      else {
        process.stdout.write(
          r.server === 'not_told'
            ? `removed the local state; the server could not be told: an admin should revoke registration ${r.registration_id}\n`
            : `unregistered ${r.registration_id}${r.server === 'already_ended' ? ' (it had already ended on the server)' : ''}; local state removed\n`,
        );
        if (r.key === 'kept')
          process.stderr.write(`warning: the device key could not be deleted: ${r.reason}\n`);
      }
    });
}

/** `gatehouse` with only the device commands (what `gatehouse device …` needs). */
export function buildDeviceProgram(): Command {
  const program = rootProgram();
  registerDeviceCommands(program);
  return program;
}
