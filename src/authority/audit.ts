import type { Repositories } from '../store/index.js';
import { newId } from './ids.js';

/** Who made a change, as written to the audit log: `token:<id>` for API calls, `cli:<command>` locally. */
export type Actor = string;

/** What running edges reload after a change: their configuration, or device posture and assurance. */
export type Reload = 'config' | 'posture';

/** A change as the audit log records it. */
export interface Change {
  actor: Actor;
  action: string;
  /** Defaults to the action up to its last dot: `access_app.create` → `access_app`. */
  resourceType?: string;
  resourceId: string;
  before: object | null;
  after: object | null;
  /** The version to bump so edges load the change; without it the change is only audited. */
  reload?: Reload;
}

/**
 * Records a change inside the caller's transaction: bumps the version edges reload on (when
 * `reload` says so), then appends the audit entry. The write, the reload and the record land
 * together, or none does. The one way services audit.
 */
export async function recordChange(tx: Repositories, change: Change, at: Date): Promise<void> {
  if (change.reload === 'config') await tx.configVersion.bump();
  else if (change.reload === 'posture') await tx.postureVersion.bump();
  await tx.audit.append({
    id: newId(),
    at: at.toISOString(),
    actor: change.actor,
    action: change.action,
    resource_type: change.resourceType ?? change.action.slice(0, change.action.lastIndexOf('.')),
    resource_id: change.resourceId,
    before: change.before,
    after: change.after,
  });
}
