import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { createServices } from '../api/index.js';
import { CA_ALGORITHMS, type CaKeyAlgorithm } from '../authority/index.js';
import { DataDir, DEFAULT_API_LISTEN, parseListen } from '../config/index.js';
import { startEdgeCluster } from '../edge/index.js';
import { createLogger } from '../observability/index.js';
import { CRL_REASONS, type CrlReason } from '../pki/index.js';
import { issueBatch } from './batch.js';
import { DEFAULT_DATA_DIR, readInput, withDataDir } from './context.js';
import {
  DEFAULT_EDGE_LISTEN,
  EDGE_WORKER_SCRIPT,
  onShutdown,
  parseServeConfig,
  serve,
  type ServeOptions,
} from './serve.js';
import { registerDeviceCommands } from './device.js';
import { registerPostureCommands } from './posture.js';
import { registerSessionCommands } from './sessions.js';
import { runInit } from './init.js';
import { runJoin } from './join.js';
import { printJson, printTable } from './output.js';
import { rootProgram } from './root.js';

const intArg = (name: string, min: number, max: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
  return n;
};

const collect = (value: string, previous: string[]) => [...previous, value];
const dataDirOption = () => new Option('--data-dir <dir>', 'data directory').default(DEFAULT_DATA_DIR);

export function buildProgram(): Command {
  const program = rootProgram();

  program
    .command('init')
    .description('create the organization, its CA, the control-plane certificate and an admin token')
    .addOption(dataDirOption())
    .requiredOption('--org <name>', 'organization name')
    .addOption(
      new Option('--algorithm <alg>', 'CA key algorithm').choices(CA_ALGORITHMS).default('ecdsa-p256'),
    )
    .option(
      '--san <name>',
      'extra DNS name or IP for the control-plane certificate (repeatable)',
      collect,
      [],
    )
    .option('--api-listen <host:port>', 'where `serve` listens by default', DEFAULT_API_LISTEN)
    .option('--public-url <url>', 'base URL clients use to reach the control plane (CRL locations)')
    .option('--json', 'print the result as JSON')
    .action(
      async (o: {
        dataDir: string;
        org: string;
        algorithm: CaKeyAlgorithm;
        san: string[];
        apiListen: string;
        publicUrl?: string;
        json?: boolean;
      }) => {
        const out = await runInit(o);
        if (o.json) {
          printJson({
            org: out.org,
            org_id: out.org_id,
            admin_token: out.admin_token,
            api_url: out.api_url,
            root_ca_pem: out.root_ca_pem,
          });
          return;
        }
        process.stdout.write(
          `Initialised organization "${out.org}" in ${out.data_dir}\n\n` +
            `  Admin URL:    ${out.api_url}\n` +
            `  Admin token:  ${out.admin_token}\n\n` +
            'The admin token is shown only once: store it in your password manager now.\n' +
            `Start the server with: gatehouse serve --data-dir ${o.dataDir}\n`,
        );
      },
    );

  program
    .command('join')
    .description('make a data directory for another node of an organization on a shared PostgreSQL')
    .addOption(dataDirOption())
    .option('--org-id <id>', 'refuse unless the database holds this organization')
    .option(
      '--master-key-file <file>',
      'the master key (else GATEHOUSE_MASTER_KEY); copied into the data dir',
    )
    .option('--api-listen <host:port>', 'where `serve` listens by default', DEFAULT_API_LISTEN)
    .option('--json', 'print the result as JSON')
    .action(
      async (o: {
        dataDir: string;
        orgId?: string;
        masterKeyFile?: string;
        apiListen: string;
        json?: boolean;
      }) => {
        const out = await runJoin(o);
        if (o.json) printJson(out);
        else
          process.stdout.write(
            `Joined organization "${out.org}" (${out.org_id}) in ${out.data_dir}\n` +
              `Start this node with: gatehouse serve --data-dir ${o.dataDir}\n`,
          );
      },
    );

  program
    .command('serve')
    .description('serve the control-plane API (HTTPS) and the edge')
    .addOption(dataDirOption())
    .option(
      '--api-listen <host:port>',
      'API listen address (default: the one recorded by init, 127.0.0.1:7443)',
    )
    .option('--edge-listen <host:port>', 'edge listen address', DEFAULT_EDGE_LISTEN)
    .option('--workers <n>', 'edge worker processes', intArg('--workers', 1, 256), availableParallelism())
    .option('--no-access-log', 'do not log one JSON line per edge request')
    .option(
      '--background-interval <seconds>',
      'how often background work (renewals, CRL re-signing, lease) runs; a dead node hands over within 3×',
      intArg('--background-interval', 1, 3600),
      30,
    )
    .option('--tls-cert <file>', 'PEM certificate chain for the API listener instead of the org-issued one')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .addOption(
      new Option('--admin-idp <id>', 'identity provider admins sign in to the console with').env(
        'GATEHOUSE_ADMIN_IDP',
      ),
    )
    .addOption(
      new Option(
        '--admin-email <emails...>',
        'e-mail addresses allowed to sign in as admins (comma list)',
      ).env('GATEHOUSE_ADMIN_EMAILS'),
    )
    .addOption(
      new Option(
        '--admin-group <groups...>',
        'IdP groups whose members may sign in as admins (comma list)',
      ).env('GATEHOUSE_ADMIN_GROUPS'),
    )
    .action((o: ServeOptions) => serve(parseServeConfig(o)));

  program
    .command('edge')
    .description('run only the edge against the same store (scale it apart from the API)')
    .addOption(dataDirOption())
    .option('--edge-listen <host:port>', 'edge listen address', DEFAULT_EDGE_LISTEN)
    .option('--workers <n>', 'worker processes', intArg('--workers', 1, 256), availableParallelism())
    .option('--no-access-log', 'do not log one JSON line per request')
    .option('--metrics-listen <host:port>', "serve the workers' Prometheus metrics over plain HTTP here")
    .action(
      async (o: {
        dataDir: string;
        edgeListen: string;
        workers: number;
        accessLog: boolean;
        metricsListen?: string;
      }) => {
        const logger = createLogger({ name: 'gatehouse-edge' });
        const dataDir = new DataDir(o.dataDir);
        dataDir.readConfig(); // fail fast on an uninitialised or broken data dir
        const edge = await startEdgeCluster({
          dataDir: dataDir.path,
          ...parseListen(o.edgeListen),
          accessLog: o.accessLog,
          workers: o.workers,
          workerScript: EDGE_WORKER_SCRIPT,
          logger,
        });
        let metricsServer: Server | undefined;
        if (o.metricsListen) {
          const { host, port } = parseListen(o.metricsListen);
          const aggregator = new AggregatorRegistry();
          metricsServer = createServer((req, res) => {
            if (req.url !== '/metrics') return void res.writeHead(404).end();
            aggregator.clusterMetrics().then(
              (text) => res.writeHead(200, { 'content-type': aggregator.contentType }).end(text),
              () => res.writeHead(500).end(),
            );
          }).listen(port, host);
        }
        onShutdown(logger, async () => {
          metricsServer?.close();
          await edge.stop();
        });
        process.stdout.write(
          `Gatehouse edge listening on ${edge.url} (${o.workers} worker${o.workers === 1 ? '' : 's'})\n`,
        );
      },
    );

  const cert = program.command('cert').description('client certificates issued by the organization CA');

  cert
    .command('issue')
    .description('issue a client certificate from a CSR (PEM file, or - for stdin)')
    .addOption(dataDirOption())
    .requiredOption('--csr <file>', 'PKCS#10 CSR in PEM')
    .option('--days <n>', 'validity in days', intArg('--days', 1, 3650), 90)
    .option('--cn <name>', 'common name (default: the certificate id)')
    .option('--out <file>', 'write the certificate PEM here instead of stdout')
    .option('--json', 'print the certificate record as JSON')
    .action(
      async (o: {
        dataDir: string;
        csr: string;
        days: number;
        cn?: string;
        out?: string;
        json?: boolean;
      }) => {
        const csrPem = readInput(o.csr, 'CSR');
        await withDataDir(o.dataDir, async ({ authority }) => {
          const issued = await authority.issueFromCsr(
            { csrPem, validityDays: o.days, commonName: o.cn },
            'cli:cert-issue',
          );
          if (o.out) writeFileSync(o.out, issued.certificate_pem);
          if (o.json)
            printJson({
              id: issued.id,
              serial_number: issued.serial_number,
              fingerprint_sha256: issued.fingerprint_sha256,
              ski: issued.ski,
              expires_on: issued.not_after,
              certificate: issued.certificate_pem,
            });
          else if (o.out)
            process.stderr.write(`issued ${issued.id} (serial ${issued.serial_number}) → ${o.out}\n`);
          else process.stdout.write(issued.certificate_pem);
        });
      },
    );

  cert
    .command('issue-batch')
    .description('generate keys and issue certificates for a fleet, one directory per certificate')
    .addOption(dataDirOption())
    .requiredOption('--count <n>', 'how many', intArg('--count', 1, 100_000))
    .requiredOption('--out <dir>', 'output directory')
    .option('--days <n>', 'validity in days', intArg('--days', 1, 3650), 90)
    .option('--cn-prefix <prefix>', 'common names PREFIX-0001… (default: each certificate id)')
    .addOption(
      new Option('--key-algorithm <alg>', 'key algorithm')
        .choices(['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'ed25519'])
        .default('ecdsa-p256'),
    )
    .option('--json', 'print the summary as JSON')
    .action(
      async (o: {
        dataDir: string;
        count: number;
        out: string;
        days: number;
        cnPrefix?: string;
        keyAlgorithm: 'ecdsa-p256';
        json?: boolean;
      }) => {
        let stop = false;
        const onSignal = () => {
          stop = true;
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        try {
          await withDataDir(o.dataDir, async ({ authority }) => {
            const summary = await issueBatch({
              authority,
              count: o.count,
              outDir: o.out,
              validityDays: o.days,
              algorithm: o.keyAlgorithm,
              cnPrefix: o.cnPrefix,
              actor: 'cli:cert-issue-batch',
              shouldStop: () => stop,
              progress: !o.json && Boolean(process.stderr.isTTY),
            });
            if (o.json) printJson(summary);
            else {
              process.stdout.write(
                `${summary.interrupted ? 'Interrupted: ' : ''}issued ${summary.issued} of ${summary.requested} certificates in ${summary.seconds.toFixed(1)}s ` +
                  `(${(summary.issued / Math.max(summary.seconds, 0.001)).toFixed(1)}/s) into ${summary.out_dir}\n`,
              );
            }
            if (summary.interrupted) process.exitCode = 130;
          });
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      },
    );

  cert
    .command('list')
    .description('list client certificates')
    .addOption(dataDirOption())
    .addOption(new Option('--status <status>', 'filter').choices(['active', 'revoked', 'expired']))
    .option('--json', 'print JSON')
    .action(async (o: { dataDir: string; status?: 'active' | 'revoked' | 'expired'; json?: boolean }) => {
      await withDataDir(o.dataDir, async ({ authority }) => {
        const { items } = await authority.listClientCertificates(o.status, { page: 1, perPage: 1000 });
        const now = authority.now();
        const status = (c: (typeof items)[number]) =>
          c.status === 'revoked' ? 'revoked' : new Date(c.not_after) <= now ? 'expired' : 'active';
        if (o.json)
          printJson(
            items.map((c) => ({
              id: c.id,
              status: status(c),
              common_name: c.common_name,
              serial_number: c.serial_number,
              expires_on: c.not_after,
            })),
          );
        else
          printTable(
            ['ID', 'STATUS', 'COMMON NAME', 'SERIAL', 'EXPIRES'],
            items.map((c) => [c.id, status(c), c.common_name, c.serial_number, c.not_after]),
          );
      });
    });

  cert
    .command('revoke <id>')
    .description('revoke a client certificate and re-sign the CRL')
    .addOption(dataDirOption())
    .addOption(new Option('--reason <reason>', 'CRL reason code').choices(CRL_REASONS).default('unspecified'))
    .action(async (id: string, o: { dataDir: string; reason: CrlReason }) => {
      await withDataDir(o.dataDir, async ({ authority }) => {
        const revoked = await authority.revokeClientCertificate(id, o.reason, 'cli:cert-revoke');
        process.stdout.write(`revoked ${revoked.id} (serial ${revoked.serial_number}, reason ${o.reason})\n`);
      });
    });

  const ca = program
    .command('ca')
    .description('CAs that client certificates may chain to (uploaded, and the org CA)');

  ca.command('upload')
    .description('upload a CA certificate chain (PEM)')
    .addOption(dataDirOption())
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--file <file>', 'PEM chain, or - for stdin')
    .option('--json', 'print JSON')
    .action(async (o: { dataDir: string; name: string; file: string; json?: boolean }) => {
      const pem = readInput(o.file, 'CA chain');
      await withDataDir(o.dataDir, async ({ authority }) => {
        const row = await authority.uploadCa({ name: o.name, certificatesPem: pem }, 'cli:ca-upload');
        if (o.json)
          printJson({
            id: row.id,
            name: row.name,
            fingerprint_sha256: row.fingerprint_sha256,
            expires_on: row.not_after,
          });
        else process.stdout.write(`${row.id}\n`);
      });
    });

  ca.command('list')
    .description('list CAs')
    .addOption(dataDirOption())
    .action(async (o: { dataDir: string }) => {
      await withDataDir(o.dataDir, async ({ authority }) => {
        const { items } = await authority.listCas({ page: 1, perPage: 1000 });
        printTable(
          ['ID', 'NAME', 'SOURCE', 'EXPIRES', 'SHA-256'],
          items.map((c) => [c.id, c.name, c.source, c.not_after, c.fingerprint_sha256]),
        );
      });
    });

  ca.command('delete <id>')
    .description('delete an uploaded CA (refused while referenced)')
    .addOption(dataDirOption())
    .action(async (id: string, o: { dataDir: string }) => {
      await withDataDir(o.dataDir, async ({ authority }) => {
        await authority.deleteCa(id, 'cli:ca-delete');
        process.stdout.write(`deleted ${id}\n`);
      });
    });

  program
    .command('keys')
    .description('access-token signing keys')
    .command('rotate')
    .description('start signing with a new key; old keys verify until their longest session has expired')
    .addOption(dataDirOption())
    .option('--json', 'print JSON')
    .action(async (o: { dataDir: string; json?: boolean }) => {
      await withDataDir(o.dataDir, async ({ authority }) => {
        const result = await createServices(authority).access.rotateSigningKeys('cli:keys-rotate');
        if (o.json) printJson(result);
        else
          process.stdout.write(
            `signing with ${result.kid}${result.retired.length ? ` (removed retired: ${result.retired.join(', ')})` : ''}\n`,
          );
      });
    });

  registerDeviceCommands(program);
  registerPostureCommands(program);
  registerSessionCommands(program);
  return program;
}
