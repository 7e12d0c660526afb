import { randomBytes, randomUUID } from 'node:crypto';
import { parseDuration } from '../access/index.js';
import { type Actor, type Clock, ORG_CA_ID, recordChange } from '../authority/index.js';
import { badRequest, conflict, GatehouseError, notFound } from '../errors/index.js';
import { checkRequiredPolicies } from '../pki/index.js';
import type {
  Device,
  Page,
  PageResult,
  PostureLogFilter,
  PostureResultRow,
  PostureRuleRow,
  Registration,
  Repositories,
  StoreFor,
} from '../store/index.js';
import {
  certificateBlocks,
  checkOf,
  evaluateCertificates,
  type KeyEvidence,
  locationAllowed,
  locationsOf,
} from './evaluate.js';
import { verifyKeyProof } from './proof.js';
import {
  type CertificateSummary,
  type DevicePostureRule,
  platformOf,
  type PostureReason,
  type PostureReport,
  type PostureResultInput,
  type PostureRule,
  type PostureRuleInput,
  type StoredResult,
} from './schema.js';

export const DEFAULT_SCHEDULE = '5m';
const MIN_SCHEDULE_MS = 5_000;
const MAX_DURATION_MS = 30 * 86_400_000;
/** A nonce is good for one report, within this time. */
export const NONCE_LIFETIME_MS = 5 * 60_000;

export function ruleView(row: PostureRuleRow): PostureRule {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    description: row.description,
    schedule: row.schedule,
    expiration: row.expiration,
    match: row.match as PostureRule['match'],
    input: row.input as PostureRule['input'],
    created_on: row.created_at,
    updated_on: row.updated_at,
  };
}

export function resultView(row: PostureResultRow): StoredResult {
  return {
    id: row.id,
    device_id: row.device_id,
    device_name: row.device_name,
    registration_id: row.registration_id,
    rule_id: row.rule_id,
    rule_name: row.rule_name,
    success: row.success === 1,
    reasons: row.reasons as PostureReason[],
    certificate: row.certificate,
    key_proved: row.key_proved === 1,
    reported_on: row.reported_at,
    expires_on: row.expires_at,
  };
}

/**
 * Device posture: rules (control plane), the device's reports with the private-key proof, and
 * the logs. The server does not take a device's "pass" on trust: it re-checks the reported
 * certificate against the rule's CA, CN and EKUs, and the key by the nonce signature.
 */
export interface PostureDeps {
  store: StoreFor<'postureRules' | 'postureResults' | 'postureNonces' | 'authorities'>;
  now: Clock;
}

export class PostureService {
  constructor(private readonly deps: PostureDeps) {}

  private get store() {
    return this.deps.store;
  }

  async listRules(): Promise<PostureRule[]> {
    return (await this.store.postureRules.all()).map(ruleView);
  }

  async getRule(id: string): Promise<PostureRule> {
    const row = await this.store.postureRules.get(id);
    if (!row) throw notFound('posture rule', id);
    return ruleView(row);
  }

  /** The CA a rule names must exist: an uploaded CA or the organization's issuing CA. */
  async #caCertificates(repos: Pick<Repositories, 'authorities'>, certificateId: string): Promise<string[]> {
    const ca = await repos.authorities.get(certificateId);
    if (!ca || (ca.source !== 'uploaded' && ca.id !== ORG_CA_ID)) {
      throw badRequest(
        'unknown_certificate',
        `input.certificate_id ${certificateId} is not an uploaded CA (mTLS certificate) or the organization CA`,
      );
    }
    return certificateBlocks(ca.certificates_pem);
  }

  #rowFrom(input: PostureRuleInput, id: string, createdAt: string): PostureRuleRow {
    const scheduleMs = parseDuration(input.schedule ?? DEFAULT_SCHEDULE, MAX_DURATION_MS);
    if (scheduleMs < MIN_SCHEDULE_MS) throw badRequest('invalid_duration', 'schedule must be at least 5s');
    if (input.expiration !== undefined && parseDuration(input.expiration, MAX_DURATION_MS) < 1000)
      throw badRequest('invalid_duration', 'expiration must be at least 1s');
    if ('required_policies' in input.input)
      checkRequiredPolicies(input.input.required_policies, 'input.required_policies');
    return {
      id,
      name: input.name,
      type: input.type,
      description: input.description ?? '',
      schedule: input.schedule ?? DEFAULT_SCHEDULE,
      expiration: input.expiration ?? null,
      match: input.match ?? [],
      input: input.input,
      certificate_id: input.input.certificate_id,
      created_at: createdAt,
      updated_at: this.deps.now().toISOString(),
    };
  }

  async createRule(input: PostureRuleInput, actor: Actor): Promise<PostureRule> {
    const row = this.#rowFrom(input, randomUUID(), this.deps.now().toISOString());
    await this.store.transaction(async (tx) => {
      // Checked inside the transaction so a concurrent CA deletion cannot leave a dangling id.
      await this.#caCertificates(tx, row.certificate_id);
      await tx.postureRules.insert(row);
      await recordChange(
        tx,
        { actor, action: 'posture_rule.create', resourceId: row.id, before: null, after: ruleView(row) },
        this.deps.now(),
      );
    });
    return ruleView(row);
  }

  async replaceRule(id: string, input: PostureRuleInput, actor: Actor): Promise<PostureRule> {
    const current = await this.store.postureRules.get(id);
    if (!current) throw notFound('posture rule', id);
    const row = this.#rowFrom(input, id, current.created_at);
    await this.store.transaction(async (tx) => {
      await this.#caCertificates(tx, row.certificate_id);
      await tx.postureRules.update(row);
      // Results were judged under the old requirements: they stop counting (the logs keep them),
      // and the version bump makes the edges drop them; the device reports under the new rule.
      await tx.postureResults.forgetRule(id);
      await recordChange(
        tx,
        {
          actor,
          action: 'posture_rule.update',
          resourceId: id,
          before: ruleView(current),
          after: ruleView(row),
          reload: 'posture',
        },
        this.deps.now(),
      );
    });
    return ruleView(row);
  }

  async deleteRule(id: string, actor: Actor): Promise<void> {
    await this.store.transaction(async (tx) => {
      const current = await tx.postureRules.get(id);
      if (!current) throw notFound('posture rule', id);
      await tx.postureRules.delete(id);
      // Its statuses are gone: access policies naming the rule stop passing.
      await recordChange(
        tx,
        {
          actor,
          action: 'posture_rule.delete',
          resourceId: id,
          before: ruleView(current),
          after: null,
          reload: 'posture',
        },
        this.deps.now(),
      );
    });
  }

  /** The rules for a device's platform (rules without `match` apply everywhere), with their CAs. */
  async rulesForDevice(device: Pick<Device, 'os'>): Promise<DevicePostureRule[]> {
    const platform = platformOf(device.os);
    const rules = (await this.listRules()).filter(
      (r) => r.match.length === 0 || (platform !== undefined && r.match.some((m) => m.platform === platform)),
    );
    return Promise.all(
      rules.map(async (r) => ({
        ...r,
        ca_certificates: (await this.#caCertificates(this.store, r.input.certificate_id)).join(''),
        schedule_seconds: Math.round(parseDuration(r.schedule, MAX_DURATION_MS) / 1000),
      })),
    );
  }

  async issueNonce(registration: Registration): Promise<{ nonce: string; expires_on: string }> {
    const nonce = randomBytes(32).toString('base64url');
    const expires = new Date(this.deps.now().getTime() + NONCE_LIFETIME_MS).toISOString();
    await this.store.postureNonces.insert(nonce, registration.id, expires);
    return { nonce, expires_on: expires };
  }

  /**
   * Stores a device's results, all or none. A reported pass is re-checked here; a reported
   * failure is taken as is (a device can always fail). Key proofs must all sign the same nonce,
   * issued to this registration, unexpired and unused: it is consumed by this report.
   */
  async report(
    principal: { registration: Registration; device: Device },
    report: PostureReport,
  ): Promise<StoredResult[]> {
    const { registration, device } = principal;
    const now = this.deps.now();
    const rules = new Map((await this.store.postureRules.all()).map((r) => [r.id, r]));
    const seen = new Set<string>();
    for (const r of report.results) {
      if (!rules.has(r.rule_id)) throw badRequest('unknown_rule', `posture rule ${r.rule_id} does not exist`);
      if (seen.has(r.rule_id)) throw badRequest('duplicate_rule', `rule ${r.rule_id} is reported twice`);
      seen.add(r.rule_id);
    }
    const nonces = new Set(report.results.flatMap((r) => (r.key_proof ? [r.key_proof.nonce] : [])));
    if (nonces.size > 1)
      throw badRequest('invalid_nonce', 'every key proof of a report must sign the same nonce');
    const nonce = [...nonces][0];

    const context = {
      // Only the facts the device registered with: a device reporting its own serial number
      // could name whatever its certificate says. A fact not registered fails the rule.
      serialNumber: device.serial_number ?? undefined,
      hostname: device.hostname ?? undefined,
      now,
    };
    const rows: PostureResultRow[] = [];
    for (const r of report.results) {
      const rule = rules.get(r.rule_id) as PostureRuleRow;
      const judged = await this.#judge(rule, r, context);
      const expiresAt = rule.expiration
        ? new Date(now.getTime() + parseDuration(rule.expiration, MAX_DURATION_MS)).toISOString()
        : null;
      rows.push({
        seq: 0,
        id: randomUUID(),
        device_id: device.id,
        device_name: device.name,
        registration_id: registration.id,
        rule_id: rule.id,
        rule_name: rule.name,
        success: judged.success ? 1 : 0,
        reasons: judged.reasons,
        certificate: judged.certificate ?? null,
        key_proved: judged.keyProved ? 1 : 0,
        reported_at: now.toISOString(),
        expires_at: expiresAt,
      });
    }
    await this.store.transaction(async (tx) => {
      if (nonce !== undefined && !(await tx.postureNonces.consume(nonce, registration.id, now.toISOString())))
        throw badRequest(
          'invalid_nonce',
          'the key-proof nonce is unknown, used, expired or not this device’s',
        );
      // Judged outside the transaction: a rule replaced meanwhile must not get a result judged
      // under its old requirements (the replacement has just dropped its statuses).
      for (const row of rows)
        if ((await tx.postureRules.get(row.rule_id))?.updated_at !== rules.get(row.rule_id)?.updated_at)
          throw conflict(
            'rule_changed',
            `posture rule ${row.rule_id} changed during the report: report again`,
          );
      for (const { seq: _seq, ...row } of rows) await tx.postureResults.record(row);
      await tx.postureVersion.bump();
    });
    return rows.map(resultView);
  }

  async #judge(
    rule: PostureRuleRow,
    result: PostureResultInput,
    context: { serialNumber?: string; hostname?: string; now: Date },
  ): Promise<{
    success: boolean;
    reasons: PostureReason[];
    certificate?: CertificateSummary;
    keyProved: boolean;
  }> {
    if (!result.certificate) {
      const reasons: PostureReason[] = result.reasons.length > 0 ? result.reasons : ['not_found'];
      return { success: false, reasons: [...new Set(reasons)].sort(), keyProved: false };
    }
    const [leaf, ...besides] = this.#blocks(result.certificate.pem, 'certificate.pem');
    if (!leaf || besides.length > 0)
      throw badRequest('invalid_pem', 'certificate.pem must hold exactly one certificate');
    const intermediates = result.certificate.intermediates
      ? this.#blocks(result.certificate.intermediates, 'certificate.intermediates')
      : [];
    const proof = result.key_proof;
    const key: KeyEvidence = !proof
      ? { kind: 'absent' }
      : verifyKeyProof(leaf, proof.nonce, proof.signature)
        ? { kind: 'proved' }
        : { kind: 'proof_invalid' };
    const check = checkOf(ruleView(rule), await this.#caCertificates(this.store, rule.certificate_id));
    const evaluation = evaluateCertificates(
      [{ source: 'report', pem: leaf, intermediates, key }],
      check,
      context,
    );
    const certificate = evaluation.considered?.certificate;
    const keyProved = key.kind === 'proved';
    if (!result.success) {
      // A device can always fail: its reasons stand (the server cannot see its key stores).
      const reasons: PostureReason[] = result.reasons.length > 0 ? result.reasons : ['evaluation_error'];
      return { success: false, reasons: [...new Set(reasons)].sort(), certificate, keyProved };
    }
    // A pass counts only from a place the rule names (a rule naming PEM paths is not met by
    // a certificate in the NSS database).
    if (!locationAllowed(locationsOf(ruleView(rule)), result.certificate.location)) {
      const reasons: PostureReason[] = [...new Set([...evaluation.reasons, 'location_not_allowed' as const])];
      return { success: false, reasons: reasons.sort(), certificate, keyProved };
    }
    return { success: evaluation.success, reasons: evaluation.reasons, certificate, keyProved };
  }

  #blocks(text: string, field: string): string[] {
    try {
      return certificateBlocks(text);
    } catch (err) {
      if (err instanceof GatehouseError) throw badRequest(err.code, `${field}: ${err.message}`);
      throw err;
    }
  }

  async logs(filter: PostureLogFilter, page: Page): Promise<PageResult<StoredResult>> {
    const { items, total } = await this.store.postureResults.list(filter, page);
    return { items: items.map(resultView), total };
  }

  /** The device's current status per rule (expired results count as failing). */
  async statusFor(
    deviceId: string,
  ): Promise<{ rule_id: string; success: boolean; reported_on: string; expires_on: string | null }[]> {
    const now = this.deps.now().toISOString();
    return (await this.store.postureResults.statusFor(deviceId)).map((s) => ({
      rule_id: s.rule_id,
      success: s.success === 1 && (s.expires_at === null || s.expires_at > now),
      reported_on: s.reported_at,
      expires_on: s.expires_at,
    }));
  }
}
