// The policy evaluator, table-driven: each row is (policies, request facts) → expected outcome.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  compilePolicies,
  evaluatePolicies,
  type Policy,
  type PolicyOutcome,
  policiesNeedCertificate,
  type RequestFacts,
} from '../../../src/access/policy/index.js';
import {
  ANY_POLICY,
  deviceCert,
  PIV_AUTH,
  PIV_CARD_AUTH,
  POSTURE_DISK,
  POSTURE_OS,
  policy,
  policyCert,
  rule,
  TOKEN_A,
  TOKEN_B,
  user,
  validCert,
} from './helpers.js';

/** What a row expects: the outcome, and the deciding policy's name, kind or reason when relevant. */
type Expected =
  | { outcome: 'bypass'; policy: string }
  | { outcome: 'allow'; policy: string; kind: 'identity' | 'non_identity' }
  | { outcome: 'deny'; policy?: string; reason: 'deny_policy' | 'no_matching_policy' | 'invalid_client_ip' }
  | { outcome: 'login_required' };

interface Row {
  name: string;
  policies: Policy[];
  facts: Partial<RequestFacts>;
  expect: Expected;
}

const ALLOW = (policy: string): Expected => ({ outcome: 'allow', policy, kind: 'identity' });
const ALLOW_NI = (policy: string): Expected => ({ outcome: 'allow', policy, kind: 'non_identity' });
const BYPASS = (policy: string): Expected => ({ outcome: 'bypass', policy });
const DENIED_BY = (policy: string): Expected => ({ outcome: 'deny', policy, reason: 'deny_policy' });
const NO_MATCH: Expected = { outcome: 'deny', reason: 'no_matching_policy' };
const LOGIN: Expected = { outcome: 'login_required' };

function project(result: PolicyOutcome): Expected {
  switch (result.outcome) {
    case 'bypass':
      return { outcome: 'bypass', policy: result.policy.name };
    case 'allow':
      return { outcome: 'allow', policy: result.policy.name, kind: result.kind };
    case 'deny':
      return result.policy
        ? { outcome: 'deny', policy: result.policy.name, reason: result.reason }
        : { outcome: 'deny', reason: result.reason };
    case 'login_required':
      return { outcome: 'login_required' };
  }
}

const facts = (f: Partial<RequestFacts>): RequestFacts => ({ ip: '203.0.113.9', ...f });

function runTable(rows: Row[]) {
  for (const row of rows) {
    test(row.name, () => {
      assert.deepEqual(project(evaluatePolicies(row.policies, facts(row.facts))), row.expect);
    });
  }
}

describe('rule types', () => {
  const cert = [policy('cert', 'non_identity', [rule.certificate])];
  const cn = [policy('cn', 'non_identity', [rule.commonName('build-agent-7')])];
  const email = [policy('alice', 'allow', [rule.email('Alice@Example.com')])];
  const domain = [policy('example.com', 'allow', [rule.emailDomain('example.com')])];
  const group = [policy('ops', 'allow', [rule.group('ops')])];
  const token = [policy('token-a', 'non_identity', [rule.serviceToken(TOKEN_A)])];
  const anyToken = [policy('any-token', 'non_identity', [rule.anyServiceToken])];
  const everyone = [policy('everyone', 'non_identity', [rule.everyone])];
  const posture = [policy('disk', 'non_identity', [rule.posture(POSTURE_DISK)])];

  runTable([
    {
      name: 'certificate: a valid certificate matches',
      policies: cert,
      facts: { certificate: validCert() },
      expect: ALLOW_NI('cert'),
    },
    {
      name: 'certificate: an invalid certificate does not',
      policies: cert,
      facts: { certificate: { valid: false, sha256: 'ab' } },
      expect: NO_MATCH,
    },
    { name: 'certificate: no certificate does not', policies: cert, facts: {}, expect: NO_MATCH },

    {
      name: 'common_name: exact CN of a valid certificate',
      policies: cn,
      facts: { certificate: validCert('build-agent-7') },
      expect: ALLOW_NI('cn'),
    },
    {
      name: 'common_name: case-sensitive',
      policies: cn,
      facts: { certificate: validCert('Build-Agent-7') },
      expect: NO_MATCH,
    },
    {
      name: 'common_name: no prefix match',
      policies: cn,
      facts: { certificate: validCert('build-agent-70') },
      expect: NO_MATCH,
    },
    {
      name: 'common_name: the CN of an invalid certificate does not count',
      policies: cn,
      facts: { certificate: { valid: false, commonName: 'build-agent-7', sha256: 'ab' } },
      expect: NO_MATCH,
    },
    {
      name: 'common_name: a certificate without CN',
      policies: cn,
      facts: { certificate: validCert() },
      expect: NO_MATCH,
    },

    {
      name: 'email: same address',
      policies: email,
      facts: { identity: user('alice@example.com') },
      expect: ALLOW('alice'),
    },
    {
      name: 'email: case-insensitive',
      policies: email,
      facts: { identity: user('ALICE@EXAMPLE.COM') },
      expect: ALLOW('alice'),
    },
    {
      name: 'email: another address',
      policies: email,
      facts: { identity: user('alice@example.org') },
      expect: NO_MATCH,
    },
    { name: 'email: no identity → login_required', policies: email, facts: {}, expect: LOGIN },

    {
      name: 'email_domain: the domain part',
      policies: domain,
      facts: { identity: user('bob@example.com') },
      expect: ALLOW('example.com'),
    },
    {
      name: 'email_domain: case-insensitive',
      policies: domain,
      facts: { identity: user('Bob@EXAMPLE.Com') },
      expect: ALLOW('example.com'),
    },
    {
      name: 'email_domain: evil-example.com is not example.com',
      policies: domain,
      facts: { identity: user('bob@evil-example.com') },
      expect: NO_MATCH,
    },
    {
      name: 'email_domain: subdomains do not match',
      policies: domain,
      facts: { identity: user('bob@mail.example.com') },
      expect: NO_MATCH,
    },
    {
      name: 'email_domain: example.com.evil.net does not match',
      policies: domain,
      facts: { identity: user('bob@example.com.evil.net') },
      expect: NO_MATCH,
    },
    {
      name: 'email_domain: "example.com" in the local part does not match',
      policies: domain,
      facts: { identity: user('example.com@evil.net') },
      expect: NO_MATCH,
    },
    {
      name: 'email_domain: the domain is after the last @',
      policies: domain,
      facts: { identity: user('"a@evil.net"@example.com') },
      expect: ALLOW('example.com'),
    },

    {
      name: 'group: one of the groups',
      policies: group,
      facts: { identity: user('c@x.io', ['eng', 'ops']) },
      expect: ALLOW('ops'),
    },
    {
      name: 'group: case-sensitive',
      policies: group,
      facts: { identity: user('c@x.io', ['Ops']) },
      expect: NO_MATCH,
    },
    { name: 'group: no groups', policies: group, facts: { identity: user('c@x.io') }, expect: NO_MATCH },

    {
      name: 'service_token: that token',
      policies: token,
      facts: { serviceToken: { id: TOKEN_A } },
      expect: ALLOW_NI('token-a'),
    },
    {
      name: 'service_token: another token',
      policies: token,
      facts: { serviceToken: { id: TOKEN_B } },
      expect: NO_MATCH,
    },
    { name: 'service_token: no token', policies: token, facts: {}, expect: NO_MATCH },
    {
      name: 'any_valid_service_token: any token',
      policies: anyToken,
      facts: { serviceToken: { id: TOKEN_B } },
      expect: ALLOW_NI('any-token'),
    },
    {
      name: 'any_valid_service_token: no token',
      policies: anyToken,
      facts: { certificate: validCert() },
      expect: NO_MATCH,
    },

    {
      name: 'everyone (non_identity): anyone, no login',
      policies: everyone,
      facts: {},
      expect: ALLOW_NI('everyone'),
    },
    {
      name: 'everyone (allow): any logged-in user',
      policies: [policy('users', 'allow', [rule.everyone])],
      facts: { identity: user('x@y.z') },
      expect: ALLOW('users'),
    },
    {
      name: 'everyone (allow): without identity → login_required',
      policies: [policy('users', 'allow', [rule.everyone])],
      facts: {},
      expect: LOGIN,
    },
    {
      name: 'everyone (bypass): anyone',
      policies: [policy('public', 'bypass', [rule.everyone])],
      facts: {},
      expect: BYPASS('public'),
    },

    {
      name: 'device_posture: passing',
      policies: posture,
      facts: { passingPosture: new Set([POSTURE_OS, POSTURE_DISK]) },
      expect: ALLOW_NI('disk'),
    },
    {
      name: 'device_posture: another rule passing',
      policies: posture,
      facts: { passingPosture: new Set([POSTURE_OS]) },
      expect: NO_MATCH,
    },
    { name: 'device_posture: unknown posture', policies: posture, facts: {}, expect: NO_MATCH },
  ]);
});

describe('device_assurance rules', () => {
  const tpm = [policy('tpm', 'non_identity', [rule.assurance('tpm_attested')])];
  const hw = [
    policy('hw', 'non_identity', [rule.certificate], { require: [rule.assurance('hardware_claimed')] }),
  ];
  const revokedCert = { ...deviceCert('tpm_attested')!, valid: false };

  runTable([
    {
      name: 'tpm_attested meets tpm_attested',
      policies: tpm,
      facts: { certificate: deviceCert('tpm_attested') },
      expect: ALLOW_NI('tpm'),
    },
    {
      name: 'hardware_claimed does not meet tpm_attested',
      policies: tpm,
      facts: { certificate: deviceCert('hardware_claimed') },
      expect: NO_MATCH,
    },
    {
      name: 'software does not meet tpm_attested',
      policies: tpm,
      facts: { certificate: deviceCert('software') },
      expect: NO_MATCH,
    },
    {
      name: 'tpm_attested meets hardware_claimed',
      policies: hw,
      facts: { certificate: deviceCert('tpm_attested') },
      expect: ALLOW_NI('hw'),
    },
    {
      name: 'hardware_claimed meets hardware_claimed',
      policies: hw,
      facts: { certificate: deviceCert('hardware_claimed') },
      expect: ALLOW_NI('hw'),
    },
    {
      name: 'software does not meet hardware_claimed',
      policies: hw,
      facts: { certificate: deviceCert('software') },
      expect: NO_MATCH,
    },
    {
      name: 'a valid certificate of no active registration (plain issued, or the registration ended) has no level',
      policies: tpm,
      facts: { certificate: validCert('laptop-1') },
      expect: NO_MATCH,
    },
    { name: 'no certificate', policies: tpm, facts: {}, expect: NO_MATCH },
    {
      name: 'an invalid (revoked) certificate never counts, whatever its level',
      policies: tpm,
      facts: { certificate: revokedCert },
      expect: NO_MATCH,
    },
    {
      name: 'a level spelled in upper case counts for nothing',
      policies: tpm,
      facts: { certificate: deviceCert('TPM_ATTESTED') },
      expect: NO_MATCH,
    },
    {
      name: 'a level with a leading space counts for nothing',
      policies: tpm,
      facts: { certificate: deviceCert(' tpm_attested') },
      expect: NO_MATCH,
    },
    {
      name: 'a prototype key as a level counts for nothing',
      policies: hw,
      facts: { certificate: deviceCert('__proto__') },
      expect: NO_MATCH,
    },
    {
      name: 'include (OR): the lower of two levels admits, whatever their order',
      policies: [
        policy('either', 'non_identity', [rule.assurance('tpm_attested'), rule.assurance('software')]),
      ],
      facts: { certificate: deviceCert('software') },
      expect: ALLOW_NI('either'),
    },
    {
      name: 'require (AND): every level must be met',
      policies: [
        policy('both', 'non_identity', [rule.certificate], {
          require: [rule.assurance('software'), rule.assurance('tpm_attested')],
        }),
      ],
      facts: { certificate: deviceCert('hardware_claimed') },
      expect: NO_MATCH,
    },
    {
      name: 'deny unless attested: a hardware_claimed device is denied',
      policies: [
        policy('unattested', 'deny', [rule.everyone], { exclude: [rule.assurance('tpm_attested')] }),
        policy('cert', 'non_identity', [rule.certificate]),
      ],
      facts: { certificate: deviceCert('hardware_claimed') },
      expect: DENIED_BY('unattested'),
    },
    {
      name: 'deny unless attested: an attested device passes',
      policies: [
        policy('unattested', 'deny', [rule.everyone], { exclude: [rule.assurance('tpm_attested')] }),
        policy('cert', 'non_identity', [rule.certificate]),
      ],
      facts: { certificate: deviceCert('tpm_attested') },
      expect: ALLOW_NI('cert'),
    },
    {
      name: 'allow requiring attestation, attested device without a login: log in',
      policies: [policy('staff', 'allow', [rule.everyone], { require: [rule.assurance('tpm_attested')] })],
      facts: { certificate: deviceCert('tpm_attested') },
      expect: LOGIN,
    },
    {
      name: 'allow requiring attestation, claimed device without a login: a login would not help',
      policies: [policy('staff', 'allow', [rule.everyone], { require: [rule.assurance('tpm_attested')] })],
      facts: { certificate: deviceCert('hardware_claimed') },
      expect: NO_MATCH,
    },
    {
      name: 'allow requiring attestation, attested device with a login (a session judged again)',
      policies: [policy('staff', 'allow', [rule.everyone], { require: [rule.assurance('tpm_attested')] })],
      facts: { certificate: deviceCert('tpm_attested'), identity: user('alice@example.com') },
      expect: ALLOW('staff'),
    },
    {
      name: 'allow requiring attestation, a session whose registration ended (no level any more)',
      policies: [policy('staff', 'allow', [rule.everyone], { require: [rule.assurance('tpm_attested')] })],
      facts: { certificate: validCert(), identity: user('alice@example.com') },
      expect: NO_MATCH,
    },
  ]);
});

describe('certificate_policy rules', () => {
  const piv = [policy('piv', 'non_identity', [rule.certPolicy(PIV_AUTH)])];
  const either = [policy('either', 'non_identity', [rule.certPolicy(PIV_CARD_AUTH, PIV_AUTH)])];

  runTable([
    {
      name: 'the path is valid for the policy',
      policies: piv,
      facts: { certificate: policyCert(PIV_AUTH) },
      expect: ALLOW_NI('piv'),
    },
    {
      name: 'the path is valid for another policy only',
      policies: piv,
      facts: { certificate: policyCert(PIV_CARD_AUTH) },
      expect: NO_MATCH,
    },
    {
      name: 'the path is valid for several, one of them required',
      policies: piv,
      facts: { certificate: policyCert(PIV_CARD_AUTH, PIV_AUTH) },
      expect: ALLOW_NI('piv'),
    },
    {
      name: 'one of several required OIDs',
      policies: either,
      facts: { certificate: policyCert(PIV_AUTH) },
      expect: ALLOW_NI('either'),
    },
    {
      name: 'an anyPolicy branch down to the leaf is valid for every policy (RFC 5280 §6.1.5 (g)(iii))',
      policies: piv,
      facts: { certificate: policyCert(ANY_POLICY) },
      expect: ALLOW_NI('piv'),
    },
    {
      name: 'a NULL policy tree (no certificatePolicies)',
      policies: piv,
      facts: { certificate: policyCert() },
      expect: NO_MATCH,
    },
    {
      name: 'policies unknown',
      policies: piv,
      facts: { certificate: validCert('laptop-1') },
      expect: NO_MATCH,
    },
    { name: 'no certificate', policies: piv, facts: {}, expect: NO_MATCH },
    {
      name: 'an invalid certificate never counts',
      policies: piv,
      facts: { certificate: { ...policyCert(PIV_AUTH)!, valid: false } },
      expect: NO_MATCH,
    },
    {
      name: 'OIDs are compared whole, not by prefix',
      policies: piv,
      facts: { certificate: policyCert('2.16.840.1.101.3.2.1.3.1', '2.16.840.1.101.3.2.1.3.130') },
      expect: NO_MATCH,
    },
    {
      name: 'include (OR): two rules merge',
      policies: [
        policy('merged', 'non_identity', [rule.certPolicy(PIV_CARD_AUTH), rule.certPolicy(PIV_AUTH)]),
      ],
      facts: { certificate: policyCert(PIV_AUTH) },
      expect: ALLOW_NI('merged'),
    },
    {
      name: 'require (AND): both policies needed',
      policies: [
        policy('both', 'non_identity', [rule.certificate], {
          require: [rule.certPolicy(PIV_CARD_AUTH), rule.certPolicy(PIV_AUTH)],
        }),
      ],
      facts: { certificate: policyCert(PIV_AUTH) },
      expect: NO_MATCH,
    },
    {
      name: 'deny a policy',
      policies: [
        policy('no-test-certs', 'deny', [rule.certPolicy('1.3.6.1.4.1.99999.9')]),
        policy('cert', 'non_identity', [rule.certificate]),
      ],
      facts: { certificate: policyCert('1.3.6.1.4.1.99999.9') },
      expect: DENIED_BY('no-test-certs'),
    },
  ]);
});

describe('ip rules', () => {
  const net = (cidr: string) => [policy(cidr, 'non_identity', [rule.ip(cidr)])];
  const row = (cidr: string, ip: string, matches: boolean): Row => ({
    name: `${cidr} ${matches ? 'contains' : 'does not contain'} ${ip}`,
    policies: net(cidr),
    facts: { ip },
    expect: matches ? ALLOW_NI(cidr) : NO_MATCH,
  });
  runTable([
    row('10.0.0.0/8', '10.200.3.4', true),
    row('10.0.0.0/8', '11.0.0.1', false),
    row('10.0.0.0/8', '::ffff:10.1.2.3', true),
    row('10.0.0.0/8', '::ffff:a01:203', true),
    row('10.0.0.0/8', '::ffff:11.1.2.3', false),
    row('10.0.0.0/8', '::a01:203', false),
    row('192.0.2.7', '192.0.2.7', true),
    row('192.0.2.7', '192.0.2.8', false),
    row('192.0.2.7/32', '::ffff:192.0.2.7', true),
    row('198.51.100.128/25', '198.51.100.128', true),
    row('198.51.100.128/25', '198.51.100.127', false),
    row('0.0.0.0/0', '255.255.255.255', true),
    row('0.0.0.0/0', '::1', false),
    row('2001:db8::/32', '2001:db8:1234::5', true),
    row('2001:db8::/32', '2001:DB8::1', true),
    row('2001:db8::/32', '2001:db9::1', false),
    row('2001:db8::/32', '10.0.0.1', false),
    row('2001:db8:0:1::/64', '2001:db8::1:0:0:0:42', true),
    row('2001:db8:0:1::/64', '2001:db8:0:2::42', false),
    row('::1', '::1', true),
    row('::1', '::2', false),
    row('::1/128', '0:0:0:0:0:0:0:1', true),
    row('fe80::/10', 'fe80::1%eth0', true),
    row('::/0', '2001:db8::1', true),
    row('::/0', '127.0.0.1', false),
    row('::/0', '::ffff:127.0.0.1', false),
    row('::ffff:10.0.0.0/104', '10.9.8.7', true),
    row('::ffff:10.0.0.0/104', '::ffff:10.9.8.7', true),
    row('::ffff:10.0.0.0/104', '11.9.8.7', false),
    {
      name: 'several ranges in include: any of them',
      policies: [
        policy('lans', 'non_identity', [
          rule.ip('10.0.0.0/8'),
          rule.ip('192.168.0.0/16'),
          rule.ip('fd00::/8'),
        ]),
      ],
      facts: { ip: 'fd12::1' },
      expect: ALLOW_NI('lans'),
    },
    {
      name: 'an unparsable client address fails closed when ip rules exist',
      policies: [
        policy('outside', 'deny', [rule.ip('10.0.0.0/8')], {}),
        policy('all', 'non_identity', [rule.everyone]),
      ],
      facts: { ip: '' },
      expect: { outcome: 'deny', reason: 'invalid_client_ip' },
    },
    {
      name: 'an unparsable client address is irrelevant without ip rules',
      policies: [policy('all', 'non_identity', [rule.everyone])],
      facts: { ip: 'garbage' },
      expect: ALLOW_NI('all'),
    },
  ]);
});

describe('include, exclude, require', () => {
  runTable([
    {
      name: 'include: ANY rule matches',
      policies: [policy('team', 'allow', [rule.email('a@x.io'), rule.email('b@x.io'), rule.group('ops')])],
      facts: { identity: user('B@x.io') },
      expect: ALLOW('team'),
    },
    {
      name: 'include: none matches',
      policies: [policy('team', 'allow', [rule.email('a@x.io'), rule.group('ops')])],
      facts: { identity: user('c@x.io', ['eng']) },
      expect: NO_MATCH,
    },
    {
      name: 'exclude: a matching exclude rule removes the request',
      policies: [
        policy('not-office', 'non_identity', [rule.everyone], {
          exclude: [rule.ip('10.0.0.0/8'), rule.anyServiceToken],
        }),
      ],
      facts: { ip: '10.1.1.1' },
      expect: NO_MATCH,
    },
    {
      name: 'exclude: any exclude rule is enough',
      policies: [
        policy('not-office', 'non_identity', [rule.everyone], {
          exclude: [rule.ip('10.0.0.0/8'), rule.anyServiceToken],
        }),
      ],
      facts: { serviceToken: { id: TOKEN_A } },
      expect: NO_MATCH,
    },
    {
      name: 'exclude: no exclude rule matches',
      policies: [
        policy('not-office', 'non_identity', [rule.everyone], {
          exclude: [rule.ip('10.0.0.0/8'), rule.anyServiceToken],
        }),
      ],
      facts: { ip: '192.0.2.1' },
      expect: ALLOW_NI('not-office'),
    },
    {
      name: 'exclude: identity rule (allow policy)',
      policies: [
        policy('eng', 'allow', [rule.emailDomain('x.io')], { exclude: [rule.email('mallory@x.io')] }),
      ],
      facts: { identity: user('Mallory@X.io') },
      expect: NO_MATCH,
    },
    {
      name: 'require: EVERY rule must match (one missing)',
      policies: [
        policy('managed', 'non_identity', [rule.everyone], {
          require: [rule.certificate, rule.posture(POSTURE_DISK)],
        }),
      ],
      facts: { certificate: validCert() },
      expect: NO_MATCH,
    },
    {
      name: 'require: EVERY rule must match (all there)',
      policies: [
        policy('managed', 'non_identity', [rule.everyone], {
          require: [rule.certificate, rule.posture(POSTURE_DISK)],
        }),
      ],
      facts: { certificate: validCert(), passingPosture: new Set([POSTURE_DISK]) },
      expect: ALLOW_NI('managed'),
    },
    {
      name: 'require: two posture rules are both required (not merged into an OR)',
      policies: [
        policy('managed', 'non_identity', [rule.everyone], {
          require: [rule.posture(POSTURE_DISK), rule.posture(POSTURE_OS)],
        }),
      ],
      facts: { passingPosture: new Set([POSTURE_DISK]) },
      expect: NO_MATCH,
    },
    {
      name: 'require: identity rule in an allow policy',
      policies: [
        policy('admins', 'allow', [rule.emailDomain('x.io')], {
          require: [rule.group('admins'), rule.certificate],
        }),
      ],
      facts: { identity: user('a@x.io', ['admins']), certificate: validCert() },
      expect: ALLOW('admins'),
    },
    {
      name: 'require: identity rule not met',
      policies: [
        policy('admins', 'allow', [rule.emailDomain('x.io')], {
          require: [rule.group('admins'), rule.certificate],
        }),
      ],
      facts: { identity: user('a@x.io', ['eng']), certificate: validCert() },
      expect: NO_MATCH,
    },
    {
      name: 'all three together',
      policies: [
        policy('contractors', 'allow', [rule.group('contractors'), rule.email('x@partner.io')], {
          exclude: [rule.ip('198.51.100.0/24')],
          require: [rule.commonName('laptop-42')],
        }),
      ],
      facts: { identity: user('x@partner.io'), certificate: validCert('laptop-42'), ip: '192.0.2.1' },
      expect: ALLOW('contractors'),
    },
  ]);
});

describe('decision order', () => {
  runTable([
    {
      name: 'no policies → deny',
      policies: [],
      facts: { identity: user('a@x.io') },
      expect: NO_MATCH,
    },
    {
      name: 'bypass wins over deny, even listed after it',
      policies: [
        policy('block-all', 'deny', [rule.everyone]),
        policy('health', 'bypass', [rule.ip('10.0.0.0/8')]),
      ],
      facts: { ip: '10.0.0.5' },
      expect: BYPASS('health'),
    },
    {
      name: 'deny applies where the bypass does not match',
      policies: [
        policy('block-all', 'deny', [rule.everyone]),
        policy('health', 'bypass', [rule.ip('10.0.0.0/8')]),
      ],
      facts: { ip: '192.0.2.5', identity: user('a@x.io') },
      expect: DENIED_BY('block-all'),
    },
    {
      name: 'deny wins over allow, even listed after it',
      policies: [
        policy('staff', 'allow', [rule.emailDomain('x.io')]),
        policy('no-bob', 'deny', [rule.email('bob@x.io')]),
      ],
      facts: { identity: user('bob@x.io') },
      expect: DENIED_BY('no-bob'),
    },
    {
      name: 'allow when the deny does not match',
      policies: [
        policy('staff', 'allow', [rule.emailDomain('x.io')]),
        policy('no-bob', 'deny', [rule.email('bob@x.io')]),
      ],
      facts: { identity: user('alice@x.io') },
      expect: ALLOW('staff'),
    },
    {
      name: 'deny wins over non_identity',
      policies: [
        policy('ci', 'non_identity', [rule.anyServiceToken]),
        policy('bad-net', 'deny', [rule.ip('192.0.2.0/24')]),
      ],
      facts: { serviceToken: { id: TOKEN_A }, ip: '192.0.2.77' },
      expect: DENIED_BY('bad-net'),
    },
    {
      name: 'non_identity allows without a login',
      policies: [
        policy('staff', 'allow', [rule.everyone]),
        policy('ci', 'non_identity', [rule.serviceToken(TOKEN_A)]),
      ],
      facts: { serviceToken: { id: TOKEN_A } },
      expect: ALLOW_NI('ci'),
    },
    {
      name: 'non_identity is checked before allow, also for a logged-in user',
      policies: [
        policy('staff', 'allow', [rule.everyone]),
        policy('office', 'non_identity', [rule.ip('10.0.0.0/8')]),
      ],
      facts: { ip: '10.1.2.3', identity: user('a@x.io') },
      expect: ALLOW_NI('office'),
    },
    {
      name: 'non_identity policies ignore the identity (everyone still means everyone)',
      policies: [policy('open', 'non_identity', [rule.everyone])],
      facts: { identity: user('a@x.io', ['ops']) },
      expect: ALLOW_NI('open'),
    },
    {
      name: 'within one decision the first matching policy in list order wins',
      policies: [
        policy('ops', 'allow', [rule.group('ops')]),
        policy('staff', 'allow', [rule.emailDomain('x.io')]),
        policy('everyone', 'allow', [rule.everyone]),
      ],
      facts: { identity: user('a@x.io', ['ops']) },
      expect: ALLOW('ops'),
    },
    {
      name: 'first matching policy: later ones when earlier do not match',
      policies: [
        policy('ops', 'allow', [rule.group('ops')]),
        policy('staff', 'allow', [rule.emailDomain('x.io')]),
        policy('everyone', 'allow', [rule.everyone]),
      ],
      facts: { identity: user('a@x.io', ['eng']) },
      expect: ALLOW('staff'),
    },
    {
      name: 'first matching deny is reported',
      policies: [policy('d1', 'deny', [rule.ip('10.0.0.0/8')]), policy('d2', 'deny', [rule.everyone])],
      facts: { ip: '10.0.0.1' },
      expect: DENIED_BY('d1'),
    },
    {
      name: 'first matching bypass',
      policies: [policy('b1', 'bypass', [rule.ip('10.0.0.0/8')]), policy('b2', 'bypass', [rule.everyone])],
      facts: { ip: '10.0.0.1' },
      expect: BYPASS('b1'),
    },
    {
      name: 'bypass with exclude falls through to the other policies',
      policies: [
        policy('public', 'bypass', [rule.everyone], { exclude: [rule.ip('192.0.2.0/24')] }),
        policy('staff', 'allow', [rule.everyone]),
      ],
      facts: { ip: '192.0.2.9' },
      expect: LOGIN,
    },
  ]);
});

describe('requests without a login', () => {
  const denyAllButAlice = policy('only-alice', 'deny', [rule.everyone], {
    exclude: [rule.email('alice@x.io')],
  });
  runTable([
    {
      name: 'an allow policy that could match → login_required',
      policies: [policy('staff', 'allow', [rule.emailDomain('x.io')])],
      facts: {},
      expect: LOGIN,
    },
    {
      name: 'an allow policy whose non-identity part matches still needs a login',
      policies: [policy('office', 'allow', [rule.ip('10.0.0.0/8')])],
      facts: { ip: '10.0.0.1' },
      expect: LOGIN,
    },
    {
      name: 'no login when the non-identity parts of every allow policy already exclude the request',
      policies: [policy('office', 'allow', [rule.ip('10.0.0.0/8')])],
      facts: { ip: '192.0.2.1' },
      expect: NO_MATCH,
    },
    {
      name: 'no login when a required certificate is missing',
      policies: [policy('managed', 'allow', [rule.everyone], { require: [rule.certificate] })],
      facts: {},
      expect: NO_MATCH,
    },
    {
      name: 'no login when an exclude rule already matches',
      policies: [
        policy('staff', 'allow', [rule.emailDomain('x.io')], { exclude: [rule.ip('198.51.100.0/24')] }),
      ],
      facts: { ip: '198.51.100.1' },
      expect: NO_MATCH,
    },
    {
      name: 'login when a required certificate is there',
      policies: [policy('managed', 'allow', [rule.everyone], { require: [rule.certificate] })],
      facts: { certificate: validCert() },
      expect: LOGIN,
    },
    {
      name: 'a deny on an identity rule waits for the login',
      policies: [
        policy('no-bob', 'deny', [rule.email('bob@x.io')]),
        policy('staff', 'allow', [rule.everyone]),
      ],
      facts: {},
      expect: LOGIN,
    },
    {
      name: 'a deny that does not depend on the identity refuses before the login',
      policies: [
        policy('bad-net', 'deny', [rule.ip('192.0.2.0/24')], { exclude: [rule.certificate] }),
        policy('staff', 'allow', [rule.everyone]),
      ],
      facts: { ip: '192.0.2.1' },
      expect: DENIED_BY('bad-net'),
    },
    {
      name: '"deny everyone except alice": login_required (alice can still log in)',
      policies: [denyAllButAlice, policy('staff', 'allow', [rule.everyone])],
      facts: {},
      expect: LOGIN,
    },
    {
      name: '"deny everyone except alice": alice after the login',
      policies: [denyAllButAlice, policy('staff', 'allow', [rule.everyone])],
      facts: { identity: user('Alice@x.io') },
      expect: ALLOW('staff'),
    },
    {
      name: '"deny everyone except alice": bob after the login',
      policies: [denyAllButAlice, policy('staff', 'allow', [rule.everyone])],
      facts: { identity: user('bob@x.io') },
      expect: DENIED_BY('only-alice'),
    },
    {
      name: '"deny everyone except alice" keeps a service token out (it is not alice)',
      policies: [denyAllButAlice, policy('ci', 'non_identity', [rule.anyServiceToken])],
      facts: { serviceToken: { id: TOKEN_A } },
      expect: DENIED_BY('only-alice'),
    },
    {
      name: '"deny everyone except alice" with a service token and an allow policy → login_required',
      policies: [
        denyAllButAlice,
        policy('ci', 'non_identity', [rule.anyServiceToken]),
        policy('staff', 'allow', [rule.everyone]),
      ],
      facts: { serviceToken: { id: TOKEN_A } },
      expect: LOGIN,
    },
    {
      name: 'a deny naming users does not stop a service token',
      policies: [
        policy('no-contractors', 'deny', [rule.group('contractors')]),
        policy('ci', 'non_identity', [rule.serviceToken(TOKEN_A)]),
      ],
      facts: { serviceToken: { id: TOKEN_A } },
      expect: ALLOW_NI('ci'),
    },
    {
      name: 'but it does when the request also carries a session of that user',
      policies: [
        policy('no-contractors', 'deny', [rule.group('contractors')]),
        policy('ci', 'non_identity', [rule.serviceToken(TOKEN_A)]),
      ],
      facts: { serviceToken: { id: TOKEN_A }, identity: user('c@x.io', ['contractors']) },
      expect: DENIED_BY('no-contractors'),
    },
    {
      name: 'a deny that requires an identity rule waits for the login',
      policies: [
        policy('no-ext', 'deny', [rule.everyone], { require: [rule.emailDomain('partner.io')] }),
        policy('staff', 'allow', [rule.everyone]),
      ],
      facts: {},
      expect: LOGIN,
    },
    {
      name: 'nothing to log in to → deny',
      policies: [policy('ci', 'non_identity', [rule.serviceToken(TOKEN_A)])],
      facts: {},
      expect: NO_MATCH,
    },
  ]);
});

describe('compiled policies', () => {
  test('compile once, evaluate many times; outcomes are shared frozen objects', () => {
    const compiled = compilePolicies([
      policy('alice', 'allow', [rule.email('alice@x.io')]),
      policy('office', 'non_identity', [rule.ip('10.0.0.0/8')]),
    ]);
    const a = compiled.evaluate(facts({ identity: user('alice@x.io') }));
    const b = compiled.evaluate(facts({ identity: user('ALICE@x.io') }));
    assert.equal(a, b);
    assert.ok(Object.isFrozen(a));
    // No state leaks from one request to the next.
    assert.deepEqual(project(compiled.evaluate(facts({}))), LOGIN);
    assert.deepEqual(project(compiled.evaluate(facts({ ip: '10.0.0.1' }))), ALLOW_NI('office'));
    assert.deepEqual(project(compiled.evaluate(facts({ identity: user('bob@x.io') }))), NO_MATCH);
    assert.equal(
      evaluatePolicies(compiled, facts({ ip: '10.0.0.1' })),
      compiled.evaluate(facts({ ip: '10.9.9.9' })),
    );
  });

  test('the outcome carries the caller’s policy object (with its extra fields)', () => {
    const stored = { ...policy('staff', 'allow', [rule.everyone]), id: 'p-1' };
    const result = compilePolicies([stored]).evaluate(facts({ identity: user('a@x.io') }));
    assert.equal(result.outcome, 'allow');
    assert.equal(result.outcome === 'allow' && result.policy.id, 'p-1');
  });

  const rejects: { name: string; policies: unknown[]; code: string; message: RegExp }[] = [
    {
      name: 'an identity rule in a bypass policy',
      policies: [policy('b', 'bypass', [rule.everyone], { exclude: [rule.email('a@x.io')] })],
      code: 'identity_rule_not_allowed',
      message: /policies\[0\].*bypass.*"email"/,
    },
    {
      name: 'an identity rule in a non_identity policy',
      policies: [policy('ok', 'allow', [rule.everyone]), policy('n', 'non_identity', [rule.group('ops')])],
      code: 'identity_rule_not_allowed',
      message: /policies\[1\].*non_identity.*"group"/,
    },
    {
      name: 'a CIDR with host bits',
      policies: [policy('n', 'non_identity', [rule.everyone], { require: [rule.ip('10.1.0.0/8')] })],
      code: 'invalid_cidr',
      message: /policies\[0\]\.require\[0\]: .*did you mean 10\.0\.0\.0\/8/,
    },
    {
      name: 'an unknown rule type (stored data that bypassed the API)',
      policies: [{ name: 'x', decision: 'allow', include: [{ login_method: { id: 'x' } }] }],
      code: 'invalid_policy',
      message: /policies\[0\]\/include\/0/,
    },
    {
      name: 'a rule whose only key is undefined',
      policies: [{ name: 'x', decision: 'allow', include: [{ everyone: undefined }] }],
      code: 'invalid_policy',
      message: /policies\[0\]\.include\[0\]: not a rule/,
    },
    {
      name: 'an unknown decision',
      policies: [{ name: 'x', decision: 'block', include: [rule.everyone] }],
      code: 'invalid_policy',
      message: /policies\[0\]\/decision/,
    },
  ];
  for (const row of rejects) {
    test(`compilePolicies rejects ${row.name}`, () => {
      assert.throws(
        () => compilePolicies(row.policies as Policy[]),
        (err: Error & { code?: string; status?: number }) => {
          assert.equal(err.code, row.code);
          assert.equal(err.status, 400);
          assert.match(err.message, row.message);
          return true;
        },
      );
    });
  }

  const certRows: [string, Policy[], boolean][] = [
    [
      'no certificate rules',
      [policy('a', 'allow', [rule.everyone], { require: [rule.ip('10.0.0.0/8')] })],
      false,
    ],
    ['a certificate rule', [policy('a', 'allow', [rule.everyone], { require: [rule.certificate] })], true],
    [
      'a common_name rule in an exclude',
      [policy('a', 'allow', [rule.everyone], { exclude: [rule.commonName('x')] })],
      true,
    ],
    [
      'a certificate rule in a later policy',
      [policy('a', 'bypass', [rule.ip('10.0.0.0/8')]), policy('b', 'non_identity', [rule.certificate])],
      true,
    ],
    [
      'a device_assurance rule',
      [policy('a', 'non_identity', [rule.everyone], { require: [rule.assurance('software')] })],
      true,
    ],
    ['a certificate_policy rule', [policy('a', 'deny', [rule.certPolicy(PIV_AUTH)])], true],
    ['no policies', [], false],
  ];
  for (const [name, policies, expected] of certRows) {
    test(`needs a certificate: ${name} → ${expected}`, () => {
      assert.equal(policiesNeedCertificate(policies), expected);
      assert.equal(compilePolicies(policies).needsCertificate, expected);
    });
  }
});
