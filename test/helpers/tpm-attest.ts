// swtpm with an EK certificate for attestation tests: `swtpm_setup --create-ek-cert` signs the
// EK certificate with swtpm's local CA (swtpm_localca), configured here to live in a temp dir so
// each test file has its own CA (its root is then the "accepted EK root").
//
//   const ca = await createEkCa(t);                 // config only; the CA is made on first use
//   const tpm = await startAttestedTpm(ca);        // startSoftTpm + a manufactured EK and cert
//   ca.roots() → [root PEM], ca.intermediates() → [issuer PEM]

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { requireTool, runOk, tempDir } from './tools.js';
import {
  certifyCreation,
  createAttestationKey,
  createEndorsement,
  type Endorsement,
  type TpmToolsOptions,
  tpm2,
} from '../../src/agent/attestation/tpm-tools.js';
import { SOFT_TPM_TOOLS, type SoftTpm, startSoftTpm } from './tpm.js';

export const ATTEST_TPM_TOOLS = [
  ...SOFT_TPM_TOOLS,
  'swtpm_setup',
  'swtpm_localca',
  'tpm2_createek',
  'tpm2_createak',
  'tpm2_createprimary',
  'tpm2_create',
  'tpm2_load',
  'tpm2_nvread',
  'tpm2_certifycreation',
  'tpm2_activatecredential',
  'tpm2_startauthsession',
  'tpm2_policysecret',
  'tpm2_flushcontext',
];

export interface EkCa {
  dir: string;
  setupConfig: string;
  roots(): Promise<string[]>;
  intermediates(): Promise<string[]>;
}

export async function createEkCa(t: Pick<TestContext, 'after'>): Promise<EkCa> {
  const dir = await tempDir(t, 'gatehouse-ekca-');
  const caDir = join(dir, 'ca');
  await mkdir(caDir, { mode: 0o700 });
  const localca = join(dir, 'localca.conf');
  await writeFile(
    localca,
    [
      `statedir = ${caDir}`,
      `signingkey = ${join(caDir, 'signkey.pem')}`,
      `issuercert = ${join(caDir, 'issuercert.pem')}`,
      `certserial = ${join(caDir, 'certserial')}`,
      '',
    ].join('\n'),
  );
  const options = join(dir, 'localca.options');
  await writeFile(
    options,
    '--platform-manufacturer Gatehouse\n--platform-version 2.1\n--platform-model test\n',
  );
  const setupConfig = join(dir, 'swtpm_setup.conf');
  await writeFile(
    setupConfig,
    [
      `create_certs_tool = ${requireTool('swtpm_localca')}`,
      `create_certs_tool_config = ${localca}`,
      `create_certs_tool_options = ${options}`,
      'active_pcr_banks = sha256',
      '',
    ].join('\n'),
  );
  return {
    dir,
    setupConfig,
    roots: async () => [await readFile(join(caDir, 'swtpm-localca-rootca-cert.pem'), 'utf8')],
    intermediates: async () => [await readFile(join(caDir, 'issuercert.pem'), 'utf8')],
  };
}

/** A soft TPM whose RSA EK certificate (NV 0x01c00002) is signed by `ca`; without `ca`, no EK certificate. */
export function startAttestedTpm(ca?: EkCa): Promise<SoftTpm> {
  return startSoftTpm({
    prepareState: async (state) => {
      if (!ca) return;
      await runOk(requireTool('swtpm_setup'), [
        '--tpm2',
        '--tpmstate',
        state,
        '--create-ek-cert',
        '--config',
        ca.setupConfig,
        '--overwrite',
      ]);
    },
  });
}

export const DEVICE_KEY_ATTRS = 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign';

export interface AttestTpm {
  soft: SoftTpm;
  opts: TpmToolsOptions;
  ek: Endorsement;
  ak: { akPublic: Buffer; akContext: string };
  primary?: string;
}

/** A soft TPM (EK certificate from `ca`, or none) with its RSA EK and an AK; stopped after the test. */
export async function bootAttestTpm(
  t: Pick<TestContext, 'after'>,
  ca: EkCa | undefined,
  name: string,
): Promise<AttestTpm> {
  const soft = await startAttestedTpm(ca);
  t.after(() => soft.stop());
  const workDir = await tempDir(t, `gatehouse-attest-${name}-`);
  const opts = { tcti: soft.tcti, workDir, env: soft.env };
  const ek = await createEndorsement(opts, 'rsa');
  const ak = await createAttestationKey(opts, ek.ekContext);
  return { soft, opts, ek, ak };
}

/** A key made by tpm2_create under an owner primary, loaded, with its creation hash and ticket. */
export async function tpmDeviceKey(tpm: AttestTpm, name: string, attrs = DEVICE_KEY_ATTRS) {
  const w = (f: string) => join(tpm.opts.workDir, `${name}.${f}`);
  if (!tpm.primary) {
    tpm.primary = join(tpm.opts.workDir, 'primary.ctx');
    await tpm2(tpm.opts, 'tpm2_createprimary', ['-C', 'o', '-g', 'sha256', '-G', 'ecc', '-c', tpm.primary]);
  }
  await tpm2(tpm.opts, 'tpm2_create', [
    '-C',
    tpm.primary,
    '-G',
    'ecc256:ecdsa-sha256',
    '-a',
    attrs,
    '-u',
    w('pub'),
    '-r',
    w('priv'),
    '-d',
    w('hash'),
    '-t',
    w('ticket'),
  ]);
  await tpm2(tpm.opts, 'tpm2_load', ['-C', tpm.primary, '-u', w('pub'), '-r', w('priv'), '-c', w('ctx')]);
  return {
    public: await readFile(w('pub')),
    context: w('ctx'),
    creationHash: w('hash'),
    creationTicket: w('ticket'),
  };
}

/** TPM2_CertifyCreation of a tpmDeviceKey by the TPM's AK over `nonce`. */
export function certifyTpmKey(tpm: AttestTpm, key: Awaited<ReturnType<typeof tpmDeviceKey>>, nonce: Buffer) {
  return certifyCreation(tpm.opts, {
    akContext: tpm.ak.akContext,
    keyContext: key.context,
    creationHash: key.creationHash,
    creationTicket: key.creationTicket,
    nonce,
  });
}
