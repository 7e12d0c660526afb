import { randomUUID } from 'node:crypto';

/** The org's issuing CA answers to this fixed id wherever an uploaded CA's UUID is accepted. */
export const ORG_CA_ID = '00000000-0000-4000-8000-000000000001';
/** The org's root CA (not listed among mTLS certificates; it signs the issuing CA and its CRL). */
export const ORG_ROOT_CA_ID = '00000000-0000-4000-8000-000000000000';
export const CONTROL_PLANE_TLS_ID = 'control_plane';

export const newId = (): string => randomUUID();
