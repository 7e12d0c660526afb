import type { Repositories } from '../store/index.js';
import { newId } from './ids.js';

/** Who made a change, as written to the audit log: `token:<id>` for API calls, `cli:<command>` locally. */
export type Actor = string;

export interface AuditRecord {
  actor: Actor;
  action: string;
  resourceType: string;
  resourceId: string;
  before: object | null;
  after: object | null;
}

/** Appends an audit entry inside the caller's transaction, so a change and its record land together. */
export async function appendAudit(tx: Repositories, record: AuditRecord, at: Date): Promise<void> {
  await tx.audit.append({
    id: newId(),
    at: at.toISOString(),
    actor: record.actor,
    action: record.action,
    resource_type: record.resourceType,
    resource_id: record.resourceId,
    before: record.before ? JSON.stringify(record.before) : null,
    after: record.after ? JSON.stringify(record.after) : null,
  });
}
