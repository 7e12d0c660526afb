import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

/**
 * Versioned migrations, applied in name order at start. Never edit a released migration: add a
 * new one. Column types are the portable subset (text, integer) so one definition serves both
 * dialects; only auto-increment differs.
 */
function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '0001_initial': {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run before the schema type exists
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('organizations')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('public_url', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('certificate_authorities')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('certificates_pem', 'text', (c) => c.notNull())
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('issuer', 'text', (c) => c.notNull())
          .addColumn('serial_number', 'text', (c) => c.notNull())
          .addColumn('fingerprint_sha256', 'text', (c) => c.notNull())
          .addColumn('ski', 'text')
          .addColumn('not_before', 'text', (c) => c.notNull())
          .addColumn('not_after', 'text', (c) => c.notNull())
          .addColumn('key_algorithm', 'text')
          .addColumn('sealed_private_key', 'text')
          .addColumn('parent_id', 'text', (c) => c.references('certificate_authorities.id'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('crls')
          .addColumn('ca_id', 'text', (c) => c.primaryKey().references('certificate_authorities.id'))
          .addColumn('crl_number', 'integer', (c) => c.notNull())
          .addColumn('this_update', 'text', (c) => c.notNull())
          .addColumn('next_update', 'text', (c) => c.notNull())
          .addColumn('der_base64', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('client_certificates')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('ca_id', 'text', (c) => c.notNull().references('certificate_authorities.id'))
          .addColumn('serial_number', 'text', (c) => c.notNull())
          .addColumn('fingerprint_sha256', 'text', (c) => c.notNull().unique())
          .addColumn('ski', 'text', (c) => c.notNull())
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('common_name', 'text', (c) => c.notNull())
          .addColumn('certificate_pem', 'text', (c) => c.notNull())
          .addColumn('not_before', 'text', (c) => c.notNull())
          .addColumn('not_after', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('revoked_at', 'text')
          .addColumn('revocation_reason', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('client_certificates_issuer_serial', ['ca_id', 'serial_number'])
          .execute();
        await db.schema
          .createIndex('client_certificates_status')
          .on('client_certificates')
          .columns(['ca_id', 'status'])
          .execute();

        await db.schema
          .createTable('tls_identities')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('certificate_pem', 'text', (c) => c.notNull())
          .addColumn('chain_pem', 'text', (c) => c.notNull())
          .addColumn('sealed_private_key', 'text', (c) => c.notNull())
          .addColumn('not_after', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('api_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('last_used_at', 'text')
          .execute();

        await db.schema
          .createTable('audit_log')
          .addColumn('seq', dialect === 'postgres' ? 'serial' : 'integer', (c) =>
            dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('resource_type', 'text', (c) => c.notNull())
          .addColumn('resource_id', 'text')
          .addColumn('before', 'text')
          .addColumn('after', 'text')
          .execute();
        await db.schema.createIndex('audit_log_resource').on('audit_log').columns(['resource_id']).execute();
      },
    },
    '0002_edge': {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('hostnames')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('hostname', 'text', (c) => c.notNull().unique())
          .addColumn('origin', 'text', (c) => c.notNull())
          .addColumn('tls_source', 'text', (c) => c.notNull())
          .addColumn('certificate_pem', 'text', (c) => c.notNull())
          .addColumn('chain_pem', 'text', (c) => c.notNull())
          .addColumn('sealed_private_key', 'text', (c) => c.notNull())
          .addColumn('client_auth', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();

        // Which CAs a hostname trusts; also what makes a CA "in use" (deletion refused).
        await db.schema
          .createTable('hostname_cas')
          .addColumn('hostname_id', 'text', (c) => c.notNull().references('hostnames.id').onDelete('cascade'))
          .addColumn('ca_id', 'text', (c) => c.notNull().references('certificate_authorities.id'))
          .addPrimaryKeyConstraint('hostname_cas_pk', ['hostname_id', 'ca_id'])
          .execute();
        await db.schema.createIndex('hostname_cas_ca').on('hostname_cas').column('ca_id').execute();

        // CRLs an admin attached to an uploaded CA (the org CA's own revocations live in client_certificates).
        await db.schema
          .createTable('attached_crls')
          .addColumn('ca_id', 'text', (c) =>
            c.primaryKey().references('certificate_authorities.id').onDelete('cascade'),
          )
          .addColumn('issuer_fingerprint_sha256', 'text', (c) => c.notNull())
          .addColumn('der_base64', 'text', (c) => c.notNull())
          .addColumn('this_update', 'text', (c) => c.notNull())
          .addColumn('next_update', 'text')
          .addColumn('revoked_count', 'integer', (c) => c.notNull())
          .addColumn('attached_at', 'text', (c) => c.notNull())
          .execute();

        // One row, bumped in every transaction that changes what the edge enforces; edges poll it.
        await db.schema
          .createTable('config_version')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('version', 'integer', (c) => c.notNull())
          .execute();
        await db.insertInto('config_version').values({ id: 1, version: 1 }).execute();
      },
    },
    '0003_access': {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('access_apps')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('hostname', 'text', (c) => c.notNull())
          .addColumn('path_prefix', 'text', (c) => c.notNull())
          .addColumn('aud', 'text', (c) => c.notNull().unique())
          .addColumn('session_duration', 'text', (c) => c.notNull())
          .addColumn('policies', 'text', (c) => c.notNull())
          .addColumn('allowed_idps', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('access_apps_domain', ['hostname', 'path_prefix'])
          .execute();

        await db.schema
          .createTable('service_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('client_id', 'text', (c) => c.notNull().unique())
          .addColumn('secret_hash', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('rotated_at', 'text')
          .execute();

        await db.schema
          .createTable('signing_keys')
          .addColumn('kid', 'text', (c) => c.primaryKey())
          .addColumn('algorithm', 'text', (c) => c.notNull())
          .addColumn('public_jwk', 'text', (c) => c.notNull())
          .addColumn('sealed_private_jwk', 'text', (c) => c.notNull())
          .addColumn('active', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('retire_after', 'text')
          .execute();

        await db.schema
          .createTable('identity_providers')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('issuer', 'text', (c) => c.notNull())
          .addColumn('client_id', 'text', (c) => c.notNull())
          .addColumn('sealed_client_secret', 'text', (c) => c.notNull())
          .addColumn('scopes', 'text', (c) => c.notNull())
          .addColumn('claims', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0004_devices': {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('organization_settings')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('device_certificate_validity', 'text', (c) => c.notNull())
          .addColumn('require_hardware_backed_registration', 'integer', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db
          .insertInto('organization_settings')
          .values({
            id: 1,
            device_certificate_validity: '90d',
            require_hardware_backed_registration: 0,
            updated_at: new Date().toISOString(),
          })
          .execute();

        await db.schema
          .createTable('devices')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('serial_number', 'text')
          .addColumn('hostname', 'text')
          .addColumn('os', 'text')
          .addColumn('os_version', 'text')
          .addColumn('model', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('last_seen_at', 'text')
          .execute();
        await db.schema.createIndex('devices_serial').on('devices').column('serial_number').execute();

        await db.schema
          .createTable('registrations')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
          .addColumn('mode', 'text', (c) => c.notNull())
          .addColumn('key_protection', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('certificate_id', 'text', (c) => c.references('client_certificates.id'))
          .addColumn('certificate_fingerprint', 'text')
          .addColumn('public_key_sha256', 'text')
          .addColumn('enrolled_by', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('last_seen_at', 'text')
          .addColumn('ended_at', 'text')
          .execute();
        await db.schema.createIndex('registrations_device').on('registrations').column('device_id').execute();
      },
    },
    '0005_device_logins': {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
      async up(db: Kysely<any>) {
        // Identity registration (RFC 8628 style): a device login waits here until a user signs in
        // and approves it in a browser. Codes are stored hashed; a row goes once its registration
        // is made (single use), and expired rows are purged.
        await db.schema
          .createTable('device_logins')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('device_code_hash', 'text', (c) => c.notNull().unique())
          .addColumn('user_code_hash', 'text', (c) => c.notNull().unique())
          .addColumn('request', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('interval_s', 'integer', (c) => c.notNull())
          .addColumn('last_polled_at', 'text')
          .addColumn('identity', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('device_logins_expiry')
          .on('device_logins')
          .column('expires_at')
          .execute();
        // Who registered a device by identity login: { issuer, subject, email } (JSON).
        await db.schema.alterTable('registrations').addColumn('enrolled_identity', 'text').execute();
      },
    },
    '0006_posture': {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
      async up(db: Kysely<any>) {
        // Device posture rules. certificate_id is a real column (not only inside `input`) so that
        // a CA a rule uses counts as referenced and cannot be deleted.
        await db.schema
          .createTable('posture_rules')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('schedule', 'text', (c) => c.notNull())
          .addColumn('expiration', 'text')
          .addColumn('match', 'text', (c) => c.notNull())
          .addColumn('input', 'text', (c) => c.notNull())
          .addColumn('certificate_id', 'text', (c) => c.notNull().references('certificate_authorities.id'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('posture_rules_ca')
          .on('posture_rules')
          .column('certificate_id')
          .execute();

        // Every reported result: the "Logs > Posture" view. Rule name and device name are copied
        // so the log still reads after a rule or device is gone.
        await db.schema
          .createTable('posture_results')
          .addColumn('seq', dialect === 'postgres' ? 'serial' : 'integer', (c) =>
            dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('device_name', 'text', (c) => c.notNull())
          .addColumn('registration_id', 'text', (c) => c.notNull())
          .addColumn('rule_id', 'text', (c) => c.notNull())
          .addColumn('rule_name', 'text', (c) => c.notNull())
          .addColumn('success', 'integer', (c) => c.notNull())
          .addColumn('reasons', 'text', (c) => c.notNull())
          .addColumn('certificate', 'text')
          .addColumn('key_proved', 'integer', (c) => c.notNull())
          .addColumn('reported_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text')
          .execute();
        await db.schema
          .createIndex('posture_results_at')
          .on('posture_results')
          .column('reported_at')
          .execute();
        await db.schema
          .createIndex('posture_results_device')
          .on('posture_results')
          .columns(['device_id', 'reported_at'])
          .execute();
        await db.schema
          .createIndex('posture_results_rule')
          .on('posture_results')
          .columns(['rule_id', 'reported_at'])
          .execute();

        // The latest result per device and rule: what access decisions read (through the edge's cache).
        await db.schema
          .createTable('posture_status')
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('rule_id', 'text', (c) => c.notNull().references('posture_rules.id').onDelete('cascade'))
          .addColumn('registration_id', 'text', (c) => c.notNull())
          .addColumn('result_id', 'text', (c) => c.notNull())
          .addColumn('success', 'integer', (c) => c.notNull())
          .addColumn('reported_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text')
          .addPrimaryKeyConstraint('posture_status_pk', ['device_id', 'rule_id'])
          .execute();

        // Single-use challenges for the private-key proof.
        await db.schema
          .createTable('posture_nonces')
          .addColumn('nonce', 'text', (c) => c.primaryKey())
          .addColumn('registration_id', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .execute();

        // Bumped when posture status changes; edges poll it apart from config_version so that
        // frequent reports reload only the small posture cache, never the TLS snapshot.
        await db.schema
          .createTable('posture_version')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('version', 'integer', (c) => c.notNull())
          .execute();
        await db.insertInto('posture_version').values({ id: 1, version: 1 }).execute();
      },
    },
    '0007_session_revocations': {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
      async up(db: Kysely<any>) {
        // Admin revocations of Access sessions, compiled into every edge's snapshot.
        await db.schema
          .createTable('session_revocations')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('app_id', 'text')
          .addColumn('principal', 'text')
          .addColumn('device_id', 'text')
          .addColumn('registration_id', 'text')
          .addColumn('certificates', 'text')
          .addColumn('revoked_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('session_revocations_at')
          .on('session_revocations')
          .column('revoked_at')
          .execute();
      },
    },
    '0008_device_uniqueness': {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
      async up(db: Kysely<any>) {
        // Concurrent registrations could make two devices with one serial number, or two active
        // registrations of one device. Existing duplicates are settled first: the oldest device
        // keeps the serial number (the others keep their registrations, without it), and a
        // device's newest active registration stays active (older ones become `replaced`).
        const serials = (await db
          .selectFrom('devices')
          .select('serial_number')
          .where('serial_number', 'is not', null)
          .groupBy('serial_number')
          .having((eb) => eb.fn.countAll(), '>', 1)
          .execute()) as { serial_number: string }[];
        for (const { serial_number } of serials) {
          const rows = (await db
            .selectFrom('devices')
            .select('id')
            .where('serial_number', '=', serial_number)
            .orderBy('created_at')
            .orderBy('id')
            .execute()) as { id: string }[];
          const later = rows.slice(1).map((r) => r.id);
          await db.updateTable('devices').set({ serial_number: null }).where('id', 'in', later).execute();
        }
        const devices = (await db
          .selectFrom('registrations')
          .select('device_id')
          .where('status', '=', 'active')
          .groupBy('device_id')
          .having((eb) => eb.fn.countAll(), '>', 1)
          .execute()) as { device_id: string }[];
        const now = new Date().toISOString();
        for (const { device_id } of devices) {
          const rows = (await db
            .selectFrom('registrations')
            .select('id')
            .where('device_id', '=', device_id)
            .where('status', '=', 'active')
            .orderBy('created_at', 'desc')
            .orderBy('id', 'desc')
            .execute()) as { id: string }[];
          await db
            .updateTable('registrations')
            .set({ status: 'replaced', ended_at: now })
            .where(
              'id',
              'in',
              rows.slice(1).map((r) => r.id),
            )
            .execute();
        }
        await db.schema.dropIndex('devices_serial').execute();
        await db.schema
          .createIndex('devices_serial_unique')
          .on('devices')
          .column('serial_number')
          .unique()
          .execute();
        // One active registration per device (partial index: SQLite and PostgreSQL both have them).
        await db.schema
          .createIndex('registrations_one_active')
          .on('registrations')
          .column('device_id')
          .unique()
          .where(sql.ref('status'), '=', 'active')
          .execute();
      },
    },
    '0009_cluster': {
      async up(db: Kysely<unknown>) {
        // One row per kind of background work (renewals, CRL re-signing): the node that holds
        // it and until when. ISO-8601 UTC text compares in time order on both dialects.
        await db.schema
          .createTable('leases')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .execute();
        // Idempotency-Key: the answer to a write, kept so that a client that lost it can retry
        // without the write happening twice. `status` is null while the first request runs.
        await db.schema
          .createTable('idempotency_keys')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('request_hash', 'text', (c) => c.notNull())
          .addColumn('status', 'integer')
          .addColumn('body', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('idempotency_keys_created')
          .on('idempotency_keys')
          .column('created_at')
          .execute();
      },
    },
    '0010_ca_legacy_allowances': {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
      async up(db: Kysely<any>) {
        // Per uploaded CA, never global: see docs/pkits.md "Legacy allowances".
        for (const column of ['allow_sha1_signatures', 'allow_rsa_1024']) {
          await db.schema
            .alterTable('certificate_authorities')
            .addColumn(column, 'integer', (c) => c.notNull().defaultTo(0))
            .execute();
        }
      },
    },
    '0011_tpm_attestation': {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
      async up(db: Kysely<any>) {
        // TPM attestation (issue 16): accepted EK CAs, pinned EK keys, pending challenges, and the
        // assurance level of each registration (existing ones: what their agent claimed).
        await db.schema
          .createTable('tpm_ek_cas')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('certificates_pem', 'text', (c) => c.notNull())
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('fingerprint_sha256', 'text', (c) => c.notNull().unique())
          .addColumn('not_after', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('tpm_ek_pins')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('spki_sha256', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('tpm_attestations')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('nonce', 'text', (c) => c.notNull())
          .addColumn('secret_sha256', 'text', (c) => c.notNull())
          .addColumn('ak_public', 'text', (c) => c.notNull())
          .addColumn('ek_spki_sha256', 'text', (c) => c.notNull())
          .addColumn('ek_via', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .alterTable('registrations')
          .addColumn('assurance', 'text', (c) => c.notNull().defaultTo('software'))
          .execute();
        await db
          .updateTable('registrations')
          .set({ assurance: 'hardware_claimed' })
          .where('key_protection', '!=', 'software')
          .where('mode', '=', 'hardware_backed')
          .execute();
        await db.schema
          .alterTable('organization_settings')
          .addColumn('required_device_assurance', 'text')
          .execute();
      },
    },
  };
}

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) };
}
