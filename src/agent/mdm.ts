// The MDM file: what a fleet's management tool pushes to every device so the agent enrols without
// anyone typing flags. A plist (see docs/agent.md):
//
//   <plist version="1.0"><dict>
//     <key>organization_configs</key>
//     <dict><key>Acme</key><dict><key>hardware_backed_registration</key><true/></dict></dict>
//     <key>configs</key>
//     <array><dict>
//       <key>organization</key><string>Acme</string>
//       <key>server_url</key><string>https://gatehouse.acme.example:7443</string>
//       <key>ca_file</key><string>/etc/gatehouse/acme-root.pem</string>
//       <key>auth_client_id</key><string>…</string>
//       <key>auth_client_secret</key><string>…</string>
//     </dict></array>
//   </dict></plist>
//
// Unknown keys are errors, not silently ignored: a misspelt hardware_backed_registration must not
// quietly turn the requirement off.
import { readFileSync, statSync } from 'node:fs';
import { GatehouseError } from '../errors/index.js';
import { PlistError, type PlistDict, type PlistValue, parsePlist } from './plist.js';

export const DEFAULT_MDM_FILE = '/var/lib/gatehouse/mdm.xml';

export interface MdmConfig {
  organization: string;
  displayName?: string;
  serverUrl?: string;
  caFile?: string;
  /** Service token for (re-)registration: both or neither. */
  authClientId?: string;
  authClientSecret?: string;
}

export interface MdmOrganizationConfig {
  hardwareBackedRegistration?: boolean;
}

export interface MdmDocument {
  configs: MdmConfig[];
  organizationConfigs: Map<string, MdmOrganizationConfig>;
}

/** What the MDM file says about one organization. */
export interface MdmForOrg {
  file: string;
  config?: MdmConfig;
  hardwareBackedRegistration?: boolean;
}

const invalid = (file: string, message: string) =>
  new GatehouseError('mdm_invalid', `MDM file ${file}: ${message}`);

const isDict = (v: PlistValue | undefined): v is PlistDict => v instanceof Map;

function checkKeys(file: string, dict: PlistDict, where: string, allowed: readonly string[]): void {
  for (const key of dict.keys())
    if (!allowed.includes(key))
      throw invalid(file, `unknown key ${JSON.stringify(key)} in ${where} (known: ${allowed.join(', ')})`);
}

function optionalString(file: string, dict: PlistDict, key: string, where: string): string | undefined {
  const v = dict.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.trim() === '')
    throw invalid(file, `${where}: ${key} must be a non-empty <string>`);
  return v.trim();
}

/** Parses and checks an MDM document; errors are `mdm_invalid` naming `file`. */
export function parseMdm(text: string, file = 'mdm.xml'): MdmDocument {
  let root: PlistValue;
  try {
    root = parsePlist(text);
  } catch (err) {
    if (err instanceof PlistError) throw invalid(file, `not a valid plist: ${err.message}`);
    throw err;
  }
  if (!isDict(root)) throw invalid(file, 'the <plist> must hold a <dict>');
  checkKeys(file, root, 'the top-level <dict>', ['configs', 'organization_configs']);

  const configs: MdmConfig[] = [];
  const rawConfigs = root.get('configs') ?? [];
  if (!Array.isArray(rawConfigs)) throw invalid(file, 'configs must be an <array> of <dict>');
  rawConfigs.forEach((item, i) => {
    const where = `configs[${i}]`;
    if (!isDict(item)) throw invalid(file, `${where} must be a <dict>`);
    checkKeys(file, item, where, [
      'organization',
      'display_name',
      'server_url',
      'ca_file',
      'auth_client_id',
      'auth_client_secret',
    ]);
    const organization = optionalString(file, item, 'organization', where);
    if (!organization) throw invalid(file, `${where} has no organization`);
    if (configs.some((c) => c.organization === organization))
      throw invalid(file, `organization ${JSON.stringify(organization)} has two configs`);
    const config: MdmConfig = { organization };
    const set = (field: Exclude<keyof MdmConfig, 'organization'>, key: string) => {
      const v = optionalString(file, item, key, where);
      if (v !== undefined) config[field] = v;
    };
    set('displayName', 'display_name');
    set('serverUrl', 'server_url');
    set('caFile', 'ca_file');
    set('authClientId', 'auth_client_id');
    set('authClientSecret', 'auth_client_secret');
    if ((config.authClientId === undefined) !== (config.authClientSecret === undefined))
      throw invalid(file, `${where}: auth_client_id and auth_client_secret go together`);
    configs.push(config);
  });

  const organizationConfigs = new Map<string, MdmOrganizationConfig>();
  const rawOrgs = root.get('organization_configs') ?? new Map();
  if (!isDict(rawOrgs)) throw invalid(file, 'organization_configs must be a <dict>');
  for (const [org, value] of rawOrgs) {
    const where = `organization_configs.${org}`;
    if (!isDict(value)) throw invalid(file, `${where} must be a <dict>`);
    checkKeys(file, value, where, ['hardware_backed_registration']);
    const hbr = value.get('hardware_backed_registration');
    if (hbr !== undefined && typeof hbr !== 'boolean')
      throw invalid(file, `${where}.hardware_backed_registration must be <true/> or <false/>`);
    organizationConfigs.set(org, hbr === undefined ? {} : { hardwareBackedRegistration: hbr });
  }
  return { configs, organizationConfigs };
}

/** Reads an MDM file. A missing file is undefined when `optional`, else `mdm_unreadable`. */
export function readMdmFile(file: string, { optional = false } = {}): MdmDocument | undefined {
  let text: string;
  try {
    if (statSync(file).size > 1024 * 1024) throw invalid(file, 'larger than 1 MiB');
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof GatehouseError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (optional && code === 'ENOENT') return undefined;
    throw new GatehouseError('mdm_unreadable', `cannot read the MDM file ${file}: ${code ?? String(err)}`);
  }
  return parseMdm(text, file);
}

/**
 * The MDM settings for `org`; without an org, the one organization the file configures (an error
 * when it configures several, or none).
 */
export function mdmForOrg(
  doc: MdmDocument,
  file: string,
  org: string | undefined,
): MdmForOrg & { org: string } {
  let name = org;
  if (name === undefined) {
    const names = new Set([...doc.configs.map((c) => c.organization), ...doc.organizationConfigs.keys()]);
    if (names.size !== 1)
      throw new GatehouseError(
        'org_required',
        names.size === 0
          ? `the MDM file ${file} names no organization: pass --org`
          : `the MDM file ${file} configures several organizations (${[...names].join(', ')}): pass --org`,
      );
    name = [...names][0] as string;
  }
  const result: MdmForOrg & { org: string } = { org: name, file };
  const config = doc.configs.find((c) => c.organization === name);
  if (config) result.config = config;
  const hbr = doc.organizationConfigs.get(name)?.hardwareBackedRegistration;
  if (hbr !== undefined) result.hardwareBackedRegistration = hbr;
  return result;
}
