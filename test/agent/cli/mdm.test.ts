// The MDM file: the strict plist parser and what the agent reads from it.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { mdmForOrg, parseMdm, readMdmFile } from '../../../src/agent/mdm.js';
import { PlistError, parsePlist } from '../../../src/agent/plist.js';
import { GatehouseError } from '../../../src/errors/index.js';
import { tempDir } from '../../helpers/tools.js';

const plist = (body: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
${body}
</plist>
`;

const SEED = plist(`<dict>
  <!-- what the fleet's MDM pushes -->
  <key>organization_configs</key>
  <dict>
    <key>Acme</key>
    <dict>
      <key>hardware_backed_registration</key>
      <true/>
    </dict>
    <key>Beta &amp; Co</key>
    <dict/>
  </dict>
  <key>configs</key>
  <array>
    <dict>
      <key>organization</key>
      <string>Acme</string>
      <key>display_name</key>
      <string>Acme (production)</string>
      <key>server_url</key>
      <string>https://gatehouse.acme.example:7443</string>
      <key>ca_file</key>
      <string>/etc/gatehouse/acme-root.pem</string>
      <key>auth_client_id</key>
      <string>0123.access</string>
      <key>auth_client_secret</key>
      <string><![CDATA[s3cr<e>t&]]></string>
    </dict>
    <dict>
      <key>organization</key>
      <string>Beta &amp; Co</string>
    </dict>
  </array>
</dict>`);

/** The PlistError for `text`. */
function plistError(text: string): PlistError {
  try {
    parsePlist(text);
  } catch (err) {
    assert.ok(err instanceof PlistError, String(err));
    return err;
  }
  assert.fail(`parsed: ${text}`);
}

describe('plist parser', () => {
  test('values: dict, array, string (entities, character references, CDATA), integer, booleans', () => {
    const v = parsePlist(
      plist(`<dict>
        <key>s</key><string>a &lt;b&gt; &quot;c&quot; &apos;d&apos; &#65;&#x42; <![CDATA[<raw & text>]]></string>
        <key>empty</key><string/>
        <key>n</key><integer> -42 </integer>
        <key>t</key><true/>
        <key>f</key><false></false>
        <key>a</key><array><string>x</string><integer>1</integer><array/></array>
      </dict>`),
    );
    assert.deepEqual(
      v,
      new Map<string, unknown>([
        ['s', 'a <b> "c" \'d\' AB <raw & text>'],
        ['empty', ''],
        ['n', -42],
        ['t', true],
        ['f', false],
        ['a', ['x', 1, []]],
      ]),
    );
  });

  test('a byte-order mark, no declaration, no DOCTYPE and comments everywhere are fine', () => {
    assert.equal(
      parsePlist('\ufeff<!-- a --><plist><!-- b --><string>ok</string><!-- c --></plist>\n<!-- d -->'),
      'ok',
    );
  });

  const cases: [string, string, RegExp][] = [
    ['an unclosed element', plist('<dict><key>a</key><string>x</string>'), /<\/plist> does not close <dict>/],
    [
      'a mismatched closing tag',
      plist('<dict><key>a</key><string>x</integer></dict>'),
      /<\/integer> does not close <string>/,
    ],
    ['an unknown element', plist('<dict><key>a</key><bool>1</bool></dict>'), /unknown element <bool>/],
    ['a date (unsupported)', plist('<date>2026-01-01T00:00:00Z</date>'), /<date> values are not supported/],
    ['a duplicate key', plist('<dict><key>a</key><true/><key>a</key><false/></dict>'), /duplicate key "a"/],
    ['a key without a value', plist('<dict><key>a</key></dict>'), /key "a" has no value/],
    [
      'a value without a key',
      plist('<dict><string>x</string></dict>'),
      /expected <key> in <dict>, found <string>/,
    ],
    ['a key outside a dict', plist('<key>a</key>'), /<key> outside a <dict>/],
    [
      'text between elements',
      plist('<dict>junk<key>a</key><true/></dict>'),
      /unexpected text between elements/,
    ],
    ['an element inside a string', plist('<string>a<b/>c</string>'), /<string> holds text only/],
    ['an unknown entity', plist('<string>&nbsp;</string>'), /unknown entity &nbsp;/],
    ['a bare ampersand', plist('<string>a & b</string>'), /'&' that does not start an entity reference/],
    ['a non-character reference', plist('<string>&#0;</string>'), /not an XML character/],
    [
      'a DOCTYPE with entity definitions',
      '<!DOCTYPE plist [<!ENTITY x "y">]><plist><string>&x;</string></plist>',
      /internal subset/,
    ],
    [
      'a processing instruction',
      '<?xml version="1.0"?><?evil?><plist><true/></plist>',
      /processing instructions/,
    ],
    ['attributes on values', plist('<string id="1">x</string>'), /unexpected attribute id on <string>/],
    ['another plist version', '<plist version="2.0"><true/></plist>', /unsupported plist version "2.0"/],
    ['another root element', '<dict></dict>', /root element must be <plist>/],
    ['two values in plist', plist('<true/><false/>'), /expected <\/plist>/],
    ['content after the root', `${plist('<true/>')}<plist/>`, /content after <\/plist>/],
    ['an empty document', '', /unexpected end of document/],
    ['a non-integer integer', plist('<integer>1.5</integer>'), /must hold a whole number/],
    ['an unsafe integer', plist('<integer>9007199254740993</integer>'), /must hold a whole number/],
    ['text inside true', plist('<true>yes</true>'), /expected <\/true>/],
    ['"--" inside a comment', plist('<!-- a -- b --><true/>'), /'--' inside a comment/],
    ['an unterminated comment', plist('<!-- a <true/>'), /unterminated comment/],
    ['a truncated tag', '<plist><dict', /unterminated <dict> tag/],
    ['deep nesting', plist('<array>'.repeat(40) + '</array>'.repeat(40)), /nested deeper than 32 levels/],
  ];
  for (const [name, text, message] of cases) {
    test(`refuses ${name}`, () => {
      const err = plistError(text);
      assert.match(err.message, message);
      assert.match(err.message, /^line \d+, column \d+: /);
    });
  }

  test('errors point at the line and column', () => {
    const err = plistError('<plist>\n  <dict>\n    <key>a</key>\n    <bool/>\n  </dict>\n</plist>');
    assert.equal(err.line, 4);
    assert.equal(err.column, 5);
  });
});

describe('MDM document', () => {
  test('the seed format: organization_configs and configs', () => {
    const doc = parseMdm(SEED);
    assert.deepEqual(doc.configs, [
      {
        organization: 'Acme',
        displayName: 'Acme (production)',
        serverUrl: 'https://gatehouse.acme.example:7443',
        caFile: '/etc/gatehouse/acme-root.pem',
        authClientId: '0123.access',
        authClientSecret: 's3cr<e>t&',
      },
      { organization: 'Beta & Co' },
    ]);
    assert.deepEqual(
      doc.organizationConfigs,
      new Map([
        ['Acme', { hardwareBackedRegistration: true }],
        ['Beta & Co', {}],
      ]),
    );
    assert.deepEqual(mdmForOrg(doc, 'f', 'Acme').hardwareBackedRegistration, true);
    assert.equal(mdmForOrg(doc, 'f', 'Beta & Co').hardwareBackedRegistration, undefined);
    const unknown = mdmForOrg(doc, 'f', 'Other');
    assert.equal(unknown.config, undefined);
    assert.equal(unknown.hardwareBackedRegistration, undefined);
  });

  test('without --org: the one organization the file names, else org_required', () => {
    const one = parseMdm(
      plist('<dict><key>organization_configs</key><dict><key>Solo</key><dict/></dict></dict>'),
    );
    assert.equal(mdmForOrg(one, 'f', undefined).org, 'Solo');
    assert.throws(() => mdmForOrg(parseMdm(SEED), 'f', undefined), { code: 'org_required' });
    assert.throws(() => mdmForOrg(parseMdm(plist('<dict/>')), 'f', undefined), { code: 'org_required' });
  });

  const invalid: [string, string, RegExp][] = [
    ['a root that is not a dict', '<array/>', /must hold a <dict>/],
    [
      'an unknown top-level key',
      '<dict><key>config</key><array/></dict>',
      /unknown key "config" in the top-level/,
    ],
    [
      'a misspelt hardware_backed_registration',
      '<dict><key>organization_configs</key><dict><key>A</key><dict><key>hardware_backed_registraton</key><true/></dict></dict></dict>',
      /unknown key "hardware_backed_registraton" in organization_configs.A/,
    ],
    [
      'a string where a boolean belongs',
      '<dict><key>organization_configs</key><dict><key>A</key><dict><key>hardware_backed_registration</key><string>true</string></dict></dict></dict>',
      /hardware_backed_registration must be <true\/> or <false\/>/,
    ],
    ['configs that is not an array', '<dict><key>configs</key><dict/></dict>', /configs must be an <array>/],
    [
      'a config without organization',
      '<dict><key>configs</key><array><dict/></array></dict>',
      /configs\[0\] has no organization/,
    ],
    [
      'two configs for one organization',
      '<dict><key>configs</key><array><dict><key>organization</key><string>A</string></dict><dict><key>organization</key><string>A</string></dict></array></dict>',
      /two configs/,
    ],
    [
      'half a service token',
      '<dict><key>configs</key><array><dict><key>organization</key><string>A</string><key>auth_client_id</key><string>x</string></dict></array></dict>',
      /auth_client_id and auth_client_secret go together/,
    ],
    [
      'an empty server_url',
      '<dict><key>configs</key><array><dict><key>organization</key><string>A</string><key>server_url</key><string> </string></dict></array></dict>',
      /server_url must be a non-empty <string>/,
    ],
  ];
  for (const [name, body, message] of invalid) {
    test(`refuses ${name} (mdm_invalid)`, () => {
      assert.throws(
        () => parseMdm(plist(body), '/etc/mdm.xml'),
        (err: unknown) =>
          err instanceof GatehouseError &&
          err.code === 'mdm_invalid' &&
          err.message.startsWith('MDM file /etc/mdm.xml: ') &&
          message.test(err.message),
      );
    });
  }

  test('malformed XML is mdm_invalid with the position', () => {
    assert.throws(() => parseMdm('<plist><dict>\n<key>a</key>', 'x.xml'), {
      code: 'mdm_invalid',
      message: /^MDM file x\.xml: not a valid plist: line 2, column \d+: /,
    });
  });

  test('files: a missing default file is no MDM, a missing named file is an error', async (t) => {
    const dir = await tempDir(t);
    assert.equal(readMdmFile(join(dir, 'none.xml'), { optional: true }), undefined);
    assert.throws(() => readMdmFile(join(dir, 'none.xml')), { code: 'mdm_unreadable' });
    const file = join(dir, 'mdm.xml');
    writeFileSync(file, SEED);
    assert.equal(readMdmFile(file)?.configs.length, 2);
    writeFileSync(file, 'not xml');
    assert.throws(() => readMdmFile(file, { optional: true }), { code: 'mdm_invalid' });
  });
});
