// What the device says about itself when it registers. The serial number matters most: the server
// treats two registrations with the same serial number as the same device (the newer replaces the
// older), so placeholder values firmware vendors leave in DMI must never be sent as one.
import { readFileSync } from 'node:fs';
import { hostname, platform, release } from 'node:os';

export interface DeviceFacts {
  name: string;
  serial_number?: string;
  hostname?: string;
  os?: string;
  os_version?: string;
  model?: string;
}

const PLACEHOLDERS = new Set([
  '',
  '0',
  '0123456789',
  'default string',
  'none',
  'not applicable',
  'not specified',
  'n/a',
  'na',
  'o.e.m.',
  'oem',
  'system product name',
  'system serial number',
  'to be filled by o.e.m.',
  'unknown',
]);

/** A usable fact: trimmed, at most `max` characters, no control characters, no placeholder. */
export function cleanFact(value: string | undefined, max: number): string | undefined {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is stripped
  const v = value?.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  if (!v || PLACEHOLDERS.has(v.toLowerCase()) || /^(.)\1*$/.test(v.replace(/[\s-]/g, ''))) return undefined;
  return v.slice(0, max);
}

function readDmi(field: string, root: string): string | undefined {
  try {
    return readFileSync(`${root}/${field}`, 'utf8');
  } catch {
    return undefined; // absent (VMs, containers, non-Linux) or root-only
  }
}

export interface FactOverrides {
  name?: string;
  serialNumber?: string;
  /** Where DMI lives (tests). */
  dmiDir?: string;
}

/** Flag values are taken as given (trimmed); only what the machine reports is filtered. */
const given = (value: string | undefined, max: number) => value?.trim().slice(0, max) || undefined;

export function collectFacts(overrides: FactOverrides = {}): DeviceFacts {
  const dmi = overrides.dmiDir ?? '/sys/class/dmi/id';
  const host = cleanFact(hostname(), 253);
  const facts: DeviceFacts = { name: given(overrides.name, 200) ?? host ?? 'device' };
  const entries: [keyof Omit<DeviceFacts, 'name'>, string | undefined][] = [
    ['serial_number', given(overrides.serialNumber, 200) ?? cleanFact(readDmi('product_serial', dmi), 200)],
    ['hostname', host],
    ['os', cleanFact(platform(), 50)],
    ['os_version', cleanFact(release(), 100)],
    ['model', cleanFact(readDmi('product_name', dmi), 200)],
  ];
  for (const [key, value] of entries) if (value !== undefined) facts[key] = value;
  return facts;
}
