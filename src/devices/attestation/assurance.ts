/**
 * Device assurance levels (docs/devices.md), ordered: software < hardware_claimed < tpm_attested.
 * Pure and dependency-free, so that the access policy model can name the levels too.
 */

export const DEVICE_ASSURANCES = ['software', 'hardware_claimed', 'tpm_attested'] as const;
export type DeviceAssuranceLevel = (typeof DEVICE_ASSURANCES)[number];

const RANK: Readonly<Record<DeviceAssuranceLevel, number>> = {
  software: 0,
  hardware_claimed: 1,
  tpm_attested: 2,
};

/** Whether `value` is exactly one of the levels (no case folding, no trimming). */
export const isDeviceAssurance = (value: unknown): value is DeviceAssuranceLevel =>
  typeof value === 'string' && Object.hasOwn(RANK, value);

/**
 * Whether `level` meets `required` (software < hardware_claimed < tpm_attested); no requirement
 * is met by anything. A level that is not exactly one of the three (a stored value spelled
 * differently) meets no requirement.
 */
export const meetsAssurance = (level: string, required: DeviceAssuranceLevel | null | undefined) =>
  !required || (isDeviceAssurance(level) && RANK[level] >= RANK[required]);
