import type { Kysely } from 'kysely';
import type { Database, TpmAttestation, TpmEkCa, TpmEkPin } from './schema.js';

/** Accepted TPM endorsement CAs, pinned EK keys and pending attestation challenges (issue 16). */
export class TpmEkCas {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: TpmEkCa): Promise<void> {
    await this.db.insertInto('tpm_ek_cas').values(row).execute();
  }
  async all(): Promise<TpmEkCa[]> {
    return this.db.selectFrom('tpm_ek_cas').selectAll().orderBy('created_at', 'desc').orderBy('id').execute();
  }
  async get(id: string): Promise<TpmEkCa | undefined> {
    return this.db.selectFrom('tpm_ek_cas').selectAll().where('id', '=', id).executeTakeFirst();
  }
  async byFingerprint(fingerprint: string): Promise<TpmEkCa | undefined> {
    return this.db
      .selectFrom('tpm_ek_cas')
      .selectAll()
      .where('fingerprint_sha256', '=', fingerprint)
      .executeTakeFirst();
  }
  async delete(id: string): Promise<boolean> {
    const res = await this.db.deleteFrom('tpm_ek_cas').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }
}

export class TpmEkPins {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: TpmEkPin): Promise<void> {
    await this.db.insertInto('tpm_ek_pins').values(row).execute();
  }
  async all(): Promise<TpmEkPin[]> {
    return this.db
      .selectFrom('tpm_ek_pins')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .execute();
  }
  async get(id: string): Promise<TpmEkPin | undefined> {
    return this.db.selectFrom('tpm_ek_pins').selectAll().where('id', '=', id).executeTakeFirst();
  }
  async bySpki(hash: string): Promise<TpmEkPin | undefined> {
    return this.db.selectFrom('tpm_ek_pins').selectAll().where('spki_sha256', '=', hash).executeTakeFirst();
  }
  async delete(id: string): Promise<boolean> {
    const res = await this.db.deleteFrom('tpm_ek_pins').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }
}

export class TpmAttestations {
  constructor(private readonly db: Kysely<Database>) {}

  /** Stores a challenge; expired ones are purged first (so unanswered challenges cannot pile up). */
  async insert(row: TpmAttestation, now: string): Promise<void> {
    await this.db.deleteFrom('tpm_attestations').where('expires_at', '<=', now).execute();
    await this.db.insertInto('tpm_attestations').values(row).execute();
  }

  /** Takes a challenge: returned once, before it expires, and deleted whatever happens next. */
  async take(id: string, now: string): Promise<TpmAttestation | undefined> {
    const row = await this.db
      .selectFrom('tpm_attestations')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    const res = await this.db.deleteFrom('tpm_attestations').where('id', '=', id).executeTakeFirst();
    // Two concurrent takes: only the one whose delete removed the row may use it.
    if (Number(res.numDeletedRows) !== 1 || row.expires_at <= now) return undefined;
    return row;
  }
}
