// The TypeBox schemas (the API's validation and OpenAPI) and write-time validation of an
// application. Table-driven: each row is a value and whether the schema accepts it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import {
  AccessAppInput,
  Policy,
  Rule,
  RULE_TYPES,
  validateAccessApp,
} from '../../../src/access/policy/index.js';
import { ANY_POLICY, PIV_AUTH, PIV_CARD_AUTH, POSTURE_DISK, policy, rule, TOKEN_A } from './helpers.js';

function expectSchema(schema: TSchema, value: unknown, ok: boolean) {
  const errors = [...Value.Errors(schema, value)];
  assert.equal(
    Value.Check(schema, value),
    ok,
    JSON.stringify(errors.slice(0, 3).map((e) => `${e.path} ${e.message}`)),
  );
  if (!ok) assert.ok(errors.length > 0);
}

describe('Rule schema', () => {
  const valid: unknown[] = [
    rule.certificate,
    rule.commonName('build-agent-7'),
    rule.email('alice@example.com'),
    rule.emailDomain('Example.COM'),
    rule.group('ops team'),
    rule.serviceToken(TOKEN_A),
    rule.anyServiceToken,
    rule.ip('10.0.0.0/8'),
    rule.ip('2001:db8::/32'),
    rule.ip('192.0.2.7'),
    rule.everyone,
    rule.posture(POSTURE_DISK),
    rule.assurance('tpm_attested'),
    rule.certPolicy(PIV_AUTH, PIV_CARD_AUTH),
  ];
  test('one valid example per rule type', () => {
    assert.deepEqual(
      [...new Set(valid.map((r) => Object.keys(r as object)[0]))].sort(),
      [...RULE_TYPES].sort(),
    );
  });
  for (const r of valid) test(`accepts ${JSON.stringify(r)}`, () => expectSchema(Rule, r, true));

  const invalid: [string, unknown][] = [
    ['an unknown rule type', { login_method: { id: TOKEN_A } }],
    ['a misspelt rule type', { emails: { email: 'a@b.c' } }],
    ['a known type in the wrong case', { Everyone: {} }],
    ['two rule types in one object', { everyone: {}, certificate: {} }],
    ['an empty object', {}],
    ['a known type plus an extra key', { everyone: {}, note: 'x' }],
    ['an extra key inside', { email: { email: 'a@b.c', verified: true } }],
    ['a missing inner key', { email: {} }],
    ['an inner key of another rule type', { email: { domain: 'b.c' } }],
    ['certificate with content', { certificate: { ca: 'x' } }],
    ['device_assurance without a level', { device_assurance: {} }],
    ['device_assurance with a number', { device_assurance: { level: 2 } }],
    ['device_assurance with an empty level', { device_assurance: { level: '' } }],
    ['certificate_policy without OIDs', { certificate_policy: { oids: [] } }],
    ['certificate_policy with a repeated OID', { certificate_policy: { oids: [PIV_AUTH, PIV_AUTH] } }],
    ['certificate_policy with a string', { certificate_policy: { oids: PIV_AUTH } }],
    ['certificate_policy with an OID number', { certificate_policy: { oids: [2.5] } }],
    ['everyone: true', { everyone: true }],
    ['everyone: null', { everyone: null }],
    ['a string', 'everyone'],
    ['null', null],
    ['an array', [{ everyone: {} }]],
    ['email without @', { email: { email: 'alice' } }],
    ['email with spaces', { email: { email: 'a lice@example.com' } }],
    ['email_domain with @', { email_domain: { domain: '@example.com' } }],
    ['email_domain with a wildcard', { email_domain: { domain: '*.example.com' } }],
    ['email_domain empty', { email_domain: { domain: '' } }],
    ['group empty', { group: { name: '' } }],
    ['group with a newline', { group: { name: 'a\nb' } }],
    ['common_name too long', { common_name: { common_name: 'x'.repeat(65) } }],
    ['service token id not a UUID', { service_token: { token_id: 'ci' } }],
    ['service token id in upper case', { service_token: { token_id: TOKEN_A.toUpperCase() } }],
    ['posture id not a UUID', { device_posture: { integration_uid: 'disk-encryption' } }],
    ['ip not an address', { ip: { ip: 'ten/8' } }],
    ['ip with a zone', { ip: { ip: 'fe80::1%eth0' } }],
    ['ip as a number', { ip: { ip: 10 } }],
  ];
  for (const [name, value] of invalid) test(`rejects ${name}`, () => expectSchema(Rule, value, false));
});

describe('Policy schema', () => {
  const base = policy('staff', 'allow', [rule.everyone]);
  const rows: [string, unknown, boolean][] = [
    ['a minimal policy', base, true],
    [
      'with exclude, require and session_duration',
      { ...base, exclude: [rule.ip('10.0.0.0/8')], require: [rule.certificate], session_duration: '30m' },
      true,
    ],
    ['every decision', { ...base, decision: 'non_identity' }, true],
    ['an unknown decision', { ...base, decision: 'block' }, false],
    ['no include', { name: 'x', decision: 'allow' }, false],
    ['an empty include', { ...base, include: [] }, false],
    ['include not an array', { ...base, include: rule.everyone }, false],
    ['an unknown rule type in require', { ...base, require: [{ country: { country_code: 'US' } }] }, false],
    ['an unknown rule type in exclude', { ...base, exclude: [{ geo: {} }] }, false],
    ['an extra key', { ...base, precedence: 1 }, false],
    ['an empty name', { ...base, name: '' }, false],
    ['a name of 200 characters', { ...base, name: 'n'.repeat(200) }, true],
    ['a name of 201 characters', { ...base, name: 'n'.repeat(201) }, false],
    ['200 include rules', { ...base, include: Array(200).fill(rule.everyone) }, true],
    ['201 include rules', { ...base, include: Array(201).fill(rule.everyone) }, false],
    ['a malformed session_duration', { ...base, session_duration: '1 day' }, false],
  ];
  for (const [name, value, ok] of rows)
    test(`${ok ? 'accepts' : 'rejects'} ${name}`, () => expectSchema(Policy, value, ok));
});

describe('AccessAppInput schema', () => {
  const base = {
    name: 'Admin',
    domain: 'app.example.com/admin',
    session_duration: '24h',
    policies: [policy('staff', 'allow', [rule.everyone])],
  };
  const rows: [string, unknown, boolean][] = [
    ['a full application', { ...base, allowed_idps: [TOKEN_A] }, true],
    ['without session_duration (defaults to 24h)', { ...base, session_duration: undefined }, true],
    ['a whole hostname', { ...base, domain: 'app.example.com' }, true],
    ['no policies (denies everything)', { ...base, policies: [] }, true],
    ['an upper-case hostname', { ...base, domain: 'App.example.com' }, false],
    ['a query', { ...base, domain: 'app.example.com/a?b' }, false],
    ['a fragment', { ...base, domain: 'app.example.com/a#b' }, false],
    ['a scheme', { ...base, domain: 'https://app.example.com' }, false],
    ['a space', { ...base, domain: 'app.example.com/a b' }, false],
    ['an empty name', { ...base, name: '' }, false],
    ['a name of 201 characters', { ...base, name: 'n'.repeat(201) }, false],
    ['a malformed session_duration', { ...base, session_duration: 'a day' }, false],
    ['allowed_idps with a non-UUID', { ...base, allowed_idps: ['google'] }, false],
    ['allowed_idps with duplicates', { ...base, allowed_idps: [TOKEN_A, TOKEN_A] }, false],
    ['an extra key', { ...base, type: 'self_hosted' }, false],
    [
      'a malformed policy',
      { ...base, policies: [{ name: 'x', decision: 'allow', include: [{ foo: {} }] }] },
      false,
    ],
    ['51 policies', { ...base, policies: Array(51).fill(base.policies[0]) }, false],
  ];
  for (const [name, value, ok] of rows) {
    test(`${ok ? 'accepts' : 'rejects'} ${name}`, () => {
      const v = JSON.parse(JSON.stringify(value)) as unknown;
      expectSchema(AccessAppInput, v, ok);
    });
  }
});

describe('validateAccessApp', () => {
  const input = {
    name: 'Admin',
    domain: 'app.example.com/admin/',
    policies: [
      { ...policy('office', 'non_identity', [rule.ip('10.0.0.0/8')]), session_duration: '0s' },
      policy('staff', 'allow', [rule.emailDomain('example.com')], { require: [rule.certificate] }),
    ],
  };

  test('normalises and derives', () => {
    const app = validateAccessApp(input);
    assert.equal(app.domain, 'app.example.com/admin');
    assert.equal(app.hostname, 'app.example.com');
    assert.equal(app.pathPrefix, '/admin');
    assert.equal(app.session_duration, '24h');
    assert.equal(app.sessionDurationMs, 86_400_000);
    assert.equal(app.policies.length, 2);
    assert.equal(app.allowed_idps, undefined);
  });

  const rejects: [string, unknown, string, RegExp][] = [
    [
      'an unknown rule type',
      { ...input, policies: [{ name: 'x', decision: 'allow', include: [{ foo: {} }] }] },
      'invalid_request',
      /\/policies\/0\/include\/0/,
    ],
    [
      'a dot segment in the domain',
      { ...input, domain: 'app.example.com/a/../b' },
      'invalid_domain',
      /"\.\."/,
    ],
    [
      'an application session over 30 days',
      { ...input, session_duration: '31d' },
      'invalid_duration',
      /^session_duration: .*30d/,
    ],
    [
      'a policy session over 30 days',
      { ...input, policies: [{ ...input.policies[1], session_duration: '40d' }] },
      'invalid_duration',
      /^policies\[0\]\.session_duration: /,
    ],
    [
      'a CIDR with host bits',
      { ...input, policies: [policy('n', 'deny', [rule.ip('2001:db8::1/32')])] },
      'invalid_cidr',
      /policies\[0\]\.include\[0\]: .*2001:db8::\/32/,
    ],
    [
      'a prefix over 128',
      { ...input, policies: [policy('n', 'deny', [rule.ip('2001:db8::/129')])] },
      'invalid_cidr',
      /0 to 128/,
    ],
    [
      'an IPv4 prefix over 32',
      { ...input, policies: [policy('n', 'deny', [rule.ip('10.0.0.0/33')])] },
      'invalid_cidr',
      /0 to 32/,
    ],
    [
      'a malformed IPv4 address',
      { ...input, policies: [policy('n', 'deny', [rule.ip('10.0.0/8')])] },
      'invalid_cidr',
      /not a CIDR/,
    ],
    [
      'a malformed IPv6 address',
      { ...input, policies: [policy('n', 'deny', [rule.ip('2001:db8:::/32')])] },
      'invalid_cidr',
      /not a CIDR/,
    ],
    [
      'leading zeros',
      { ...input, policies: [policy('n', 'deny', [rule.ip('010.0.0.0/8')])] },
      'invalid_cidr',
      /not a CIDR/,
    ],
    [
      'an identity rule in a bypass policy',
      { ...input, policies: [policy('b', 'bypass', [rule.email('a@example.com')])] },
      'identity_rule_not_allowed',
      /bypass/,
    ],
    [
      'an identity rule in a non_identity policy',
      {
        ...input,
        policies: [
          policy('n', 'non_identity', [rule.everyone], { require: [rule.emailDomain('example.com')] }),
        ],
      },
      'identity_rule_not_allowed',
      /non_identity.*"email_domain"/,
    ],
    ...(
      [
        ['TPM_ATTESTED', /did you mean "tpm_attested"/],
        [' tpm_attested', /did you mean "tpm_attested"/],
        ['tpm-attested', /did you mean "tpm_attested"/],
        ['attested', /software, hardware_claimed, tpm_attested/],
        ['__proto__', /not a device assurance level/],
        ['hasOwnProperty', /not a device assurance level/],
      ] as const
    ).map(([level, message]): [string, unknown, string, RegExp] => [
      `device_assurance level ${JSON.stringify(level)}`,
      {
        ...input,
        policies: [policy('d', 'non_identity', [rule.certificate], { require: [rule.assurance(level)] })],
      },
      'invalid_assurance_level',
      new RegExp(`^policies\\[0\\]\\.require\\[0\\]: .*${message.source}`),
    ]),
    ...(
      [
        ['2.16.840.01.101', /arc 4 \(01\) has a leading zero/],
        ['2.16.840.1.abc', /arc 5 \("abc"\) is not a decimal number/],
        ['2.16..840', /arc 3 is empty/],
        ['2.16.840.', /arc 4 is empty/],
        [' 2.16.840', /arc 1 \(" 2"\) is not a decimal number/],
        ['2.-5', /arc 2 \("-5"\) is not a decimal number/],
        ['3.1.2', /first arc must be 0, 1 or 2/],
        ['1.40.1', /second arc must be at most 39/],
        ['2', /at least two arcs/],
        ['2.16.1234567890123456789', /more than 18 digits/],
        [ANY_POLICY, /anyPolicy .* which cannot be required/],
      ] as const
    ).map(([oid, message]): [string, unknown, string, RegExp] => [
      `certificate_policy OID ${JSON.stringify(oid)}`,
      { ...input, policies: [policy('p', 'deny', [rule.certPolicy(PIV_AUTH, oid)])] },
      'invalid_policy_oid',
      new RegExp(`^policies\\[0\\]\\.include\\[0\\]: oids\\[1\\]: .*${message.source}`),
    ]),
  ];
  for (const [name, value, code, message] of rejects) {
    test(`rejects ${name} with ${code}`, () => {
      assert.throws(
        () => validateAccessApp(value),
        (err: Error & { code?: string; status?: number }) => {
          assert.equal(err.code, code);
          assert.equal(err.status, 400);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }

  test('device_assurance and certificate_policy are non-identity rules, allowed in every decision', () => {
    const certRules = [rule.assurance('hardware_claimed'), rule.certPolicy(PIV_AUTH, '1.3.6.1.4.1.99999.1')];
    const app = validateAccessApp({
      ...input,
      policies: (['bypass', 'deny', 'non_identity', 'allow'] as const).map((d) =>
        policy(d, d, [certRules[0]!], { exclude: [certRules[1]!], require: certRules }),
      ),
    });
    assert.equal(app.policies.length, 4);
  });

  test('identity rules are fine in deny and allow policies', () => {
    const app = validateAccessApp({
      ...input,
      policies: [
        policy('d', 'deny', [rule.group('contractors')]),
        policy('a', 'allow', [rule.email('a@example.com')], { exclude: [rule.emailDomain('partner.io')] }),
      ],
    });
    assert.equal(app.policies.length, 2);
  });
});
