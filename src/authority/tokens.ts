import { createHash, randomBytes } from 'node:crypto';

const ADMIN_TOKEN_PREFIX = 'gha_';

/** A new bearer secret; only its hash is ever stored. The prefix makes leaked tokens greppable. */
export function generateAdminToken(): string {
  return ADMIN_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
