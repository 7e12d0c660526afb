import { type FormEvent, useState } from 'react';
import { api, confirmDelete, errorFor, saveResource } from '../api';
import {
  Badge,
  Card,
  Empty,
  Field,
  fmtDate,
  FormButtons,
  FormError,
  LoadError,
  Modal,
  Page,
  Pager,
  useLoad,
} from '../components';
import { PLATFORMS, type PostureInput, TRUST_STORES } from '../api/contract';
import type {
  Device,
  ExtendedKeyUsage,
  MtlsCertificate,
  Platform,
  PostureReason,
  PostureResult,
  PostureRule,
  TrustStore,
} from '../types';

// Device posture (issue #6): client-certificate rules and Logs > Posture.

/** What each failure reason means, for the Logs › Posture table. */
const REASON_TEXT: Record<PostureReason, string> = {
  not_found: 'no certificate found',
  untrusted: 'not issued by the rule’s CA',
  expired: 'certificate expired',
  not_yet_valid: 'certificate not yet valid',
  cn_mismatch: 'common name does not match',
  eku_missing: 'extended key usage missing',
  no_private_key: 'private key not on the device',
  key_mismatch: 'private key is not the certificate’s',
  key_proof_invalid: 'key proof did not verify',
  unsupported_platform: 'platform not evaluated',
  evaluation_error: 'the agent could not evaluate',
  location_not_allowed: 'found outside the rule’s locations',
  fact_not_registered: 'the device did not register that fact',
  policy_required: 'valid for none of the required policies',
};

export async function listPostureRules(): Promise<PostureRule[]> {
  return api.get<PostureRule[]>('/devices/posture');
}

/**
 * Pass rate per UTC day over the last `days` days, null on days without results. Two counts per
 * day from the logs' `total_count` (all, and passes): exact however many results there are.
 */
export async function postureDailyPassRate(days: number): Promise<{ day: string; rate: number | null }[]> {
  const DAY = 86_400_000;
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  const count = async (query: string) =>
    (await api.list<PostureResult>(`/devices/posture/logs?per_page=1&${query}`)).info?.total_count ?? 0;
  return Promise.all(
    Array.from({ length: days }, async (_, i) => {
      const from = new Date(today - (days - 1 - i) * DAY);
      const q = `since=${from.toISOString()}&until=${new Date(from.getTime() + DAY).toISOString()}`;
      const [all, passed] = await Promise.all([count(q), count(`${q}&result=pass`)]);
      return { day: from.toISOString().slice(0, 10), rate: all ? (100 * passed) / all : null };
    }),
  );
}

const EKUS: { id: ExtendedKeyUsage; label: string }[] = [
  { id: 'clientAuth', label: 'Client authentication' },
  { id: 'emailProtection', label: 'E-mail protection' },
];

export function PosturePage() {
  const rules = useLoad(listPostureRules);
  const cas = useLoad(() => api.list<MtlsCertificate>('/mtls_certificates?per_page=1000'));
  const [editing, setEditing] = useState<PostureRule | 'new' | undefined>();
  const caName = (id: string) => cas.data?.items.find((c) => c.id === id)?.name ?? id;
  return (
    <Page
      title="Posture"
      actions={
        <button type="button" className="primary" onClick={() => setEditing('new')}>
          Add client certificate rule
        </button>
      }
    >
      <LoadError error={rules.error ?? cas.error} />
      <Card title="Device posture rules" testId="posture-rules">
        {rules.data?.length === 0 ? (
          <Empty>
            No posture rule. A rule checks that devices hold a certificate signed by a CA you trust.
          </Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Certificate (CA)</th>
                <th>Common name</th>
                <th>Platforms</th>
                <th>Checks</th>
                <th>Schedule</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {rules.data
                ?.map((r) => [r, r.input as PostureInput] as const)
                .map(([r, input]) => (
                  <tr key={r.id} data-testid={`rule-${r.name}`}>
                    <td>
                      {r.name}
                      <span className="sub mono">{r.id}</span>
                    </td>
                    <td>{caName(input.certificate_id)}</td>
                    <td className="mono">{input.cn ?? '—'}</td>
                    <td>{r.match.map((m) => m.platform).join(', ') || 'all'}</td>
                    <td>
                      {input.check_private_key && <Badge tone="info">private key</Badge>}{' '}
                      {(input.extended_key_usage ?? []).map((e) => (
                        <Badge key={e}>{e}</Badge>
                      ))}
                    </td>
                    <td>
                      every {r.schedule}
                      <span className="sub">
                        {r.expiration ? `valid for ${r.expiration}` : 'valid until replaced'}
                      </span>
                    </td>
                    <td>
                      <button type="button" className="small secondary" onClick={() => setEditing(r)}>
                        Edit
                      </button>
                    </td>
                  </tr>
                ))}
            </tbody>
          </table>
        )}
      </Card>
      {editing && (
        <RuleForm
          rule={editing === 'new' ? undefined : editing}
          cas={cas.data?.items ?? []}
          onClose={() => setEditing(undefined)}
          onSaved={() => {
            setEditing(undefined);
            rules.reload();
          }}
        />
      )}
    </Page>
  );
}

function RuleForm(props: {
  rule: PostureRule | undefined;
  cas: MtlsCertificate[];
  onClose: () => void;
  onSaved: () => void;
}) {
  const r = props.rule;
  const input: PostureInput | undefined = r?.input;
  const [type, setType] = useState<PostureRule['type']>(r?.type ?? 'client_certificate_v2');
  const legacy = type === 'client_certificate';
  const [name, setName] = useState(r?.name ?? '');
  const [description, setDescription] = useState(r?.description ?? '');
  const [schedule, setSchedule] = useState(r?.schedule ?? '5m');
  const [expiration, setExpiration] = useState(r ? (r.expiration ?? '') : '1h');
  const [platforms, setPlatforms] = useState<Platform[]>(r ? r.match.map((m) => m.platform) : ['linux']);
  const [certificateId, setCertificateId] = useState(input?.certificate_id ?? '');
  const [os, setOs] = useState<Platform>(input?.operating_system ?? 'linux');
  const [cn, setCn] = useState(input?.cn ?? '');
  const [checkKey, setCheckKey] = useState(input?.check_private_key ?? true);
  const [ekus, setEkus] = useState<ExtendedKeyUsage[]>(input?.extended_key_usage ?? []);
  const [paths, setPaths] = useState((input?.locations?.paths ?? []).join('\n'));
  const [stores, setStores] = useState<TrustStore[]>(input?.locations?.trust_stores ?? []);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const toggle = <T,>(list: T[], v: T, on: boolean) => (on ? [...list, v] : list.filter((x) => x !== v));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const pathList = paths
      .split('\n')
      .map((p) => p.trim())
      .filter(Boolean);
    const body = {
      name,
      type,
      ...(description ? { description } : {}),
      schedule,
      ...(expiration ? { expiration } : {}),
      match: platforms.map((platform) => ({ platform })),
      // The older client_certificate type takes only the CA and the common name.
      input: legacy
        ? { certificate_id: certificateId, cn }
        : {
            certificate_id: certificateId,
            operating_system: os,
            check_private_key: checkKey,
            ...(cn ? { cn } : {}),
            ...(ekus.length ? { extended_key_usage: ekus } : {}),
            ...(pathList.length || stores.length
              ? {
                  locations: {
                    ...(pathList.length ? { paths: pathList } : {}),
                    ...(stores.length ? { trust_stores: stores } : {}),
                  },
                }
              : {}),
          },
    };
    const failed = await saveResource('/devices/posture', r?.id, body, {
      unknown_certificate: 'input/certificate_id',
      certificate_not_found: 'input/certificate_id',
    });
    if (failed) setErrors(failed);
    else props.onSaved();
  };
  const remove = async () => {
    if (!r) return;
    const done = await confirmDelete(`Delete the posture rule ${r.name}?`, `/devices/posture/${r.id}`);
    if (done.errors) setErrors(done.errors);
    else if (done.deleted) props.onSaved();
  };
  return (
    <Modal title={r ? `Edit ${r.name}` : 'Client certificate rule'} onClose={props.onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <FormError error={errors._form} />
        <div className="row">
          <Field label="Name" error={errorFor(errors, 'name')}>
            <input name="rule-name" value={name} onChange={(e) => setName(e.target.value)} />
          </Field>
          <Field label="Description" error={errorFor(errors, 'description')}>
            <input name="description" value={description} onChange={(e) => setDescription(e.target.value)} />
          </Field>
        </div>
        <div className="row">
          <Field label="Type" error={errorFor(errors, 'type')}>
            <select name="type" value={type} onChange={(e) => setType(e.target.value as PostureRule['type'])}>
              <option value="client_certificate_v2">client certificate (v2)</option>
              <option value="client_certificate">client certificate (legacy: CA and common name)</option>
            </select>
          </Field>
          {!legacy && (
            <Field label="Operating system" error={errorFor(errors, 'input/operating_system')}>
              <select name="operating_system" value={os} onChange={(e) => setOs(e.target.value as Platform)}>
                {PLATFORMS.map((p) => (
                  <option key={p}>{p}</option>
                ))}
              </select>
            </Field>
          )}
          <Field label="Certificate (CA)" error={errorFor(errors, 'input/certificate_id')}>
            <select
              name="certificate_id"
              value={certificateId}
              onChange={(e) => setCertificateId(e.target.value)}
            >
              <option value="">choose a CA…</option>
              {props.cas.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <Field
          label="Common name"
          error={errorFor(errors, 'input/cn')}
          hint={`${legacy ? 'Required' : 'Optional'}. \${serial_number} and \${hostname} are replaced with the device's.`}
        >
          <input
            name="cn"
            value={cn}
            placeholder="${hostname}.example.com"
            onChange={(e) => setCn(e.target.value)}
          />
        </Field>
        {!legacy && (
          <>
            <Field label="Extended key usage" error={errorFor(errors, 'input/extended_key_usage')}>
              <div className="checks">
                {EKUS.map((k) => (
                  <label key={k.id}>
                    <input
                      type="checkbox"
                      checked={ekus.includes(k.id)}
                      onChange={(e) => setEkus(toggle(ekus, k.id, e.target.checked))}
                    />
                    {k.label}
                  </label>
                ))}
              </div>
            </Field>
            <label className="checks">
              <input
                type="checkbox"
                name="check_private_key"
                checked={checkKey}
                onChange={(e) => setCheckKey(e.target.checked)}
              />
              Check for private key (the device proves it holds the certificate&apos;s key)
            </label>
            <Field
              label="Locations: certificate paths"
              error={errorFor(errors, 'input/locations')}
              hint="One absolute path per line (PEM). Empty: the NSS database."
            >
              <textarea
                name="paths"
                value={paths}
                onChange={(e) => setPaths(e.target.value)}
                style={{ minHeight: 60 }}
              />
            </Field>
            <Field label="Locations: trust stores" error={errorFor(errors, 'input/locations/trust_stores')}>
              <div className="checks">
                {TRUST_STORES.map((s) => (
                  <label key={s}>
                    <input
                      type="checkbox"
                      checked={stores.includes(s)}
                      onChange={(e) => setStores(toggle(stores, s, e.target.checked))}
                    />
                    {s}
                  </label>
                ))}
              </div>
            </Field>
          </>
        )}
        <div className="row">
          <Field label="Platforms" error={errorFor(errors, 'match')}>
            <div className="checks">
              {PLATFORMS.map((p) => (
                <label key={p}>
                  <input
                    type="checkbox"
                    checked={platforms.includes(p)}
                    onChange={(e) => setPlatforms(toggle(platforms, p, e.target.checked))}
                  />
                  {p}
                </label>
              ))}
            </div>
          </Field>
          <Field label="Schedule" error={errorFor(errors, 'schedule')}>
            <input name="schedule" value={schedule} onChange={(e) => setSchedule(e.target.value)} />
          </Field>
          <Field label="Expiration" error={errorFor(errors, 'expiration')}>
            <input name="expiration" value={expiration} onChange={(e) => setExpiration(e.target.value)} />
          </Field>
        </div>
        <FormButtons save="Save rule" onDelete={r ? () => void remove() : undefined} />
      </form>
    </Modal>
  );
}

const PER_PAGE = 25;

export function PostureLogsPage() {
  const [deviceId, setDeviceId] = useState('');
  const [ruleId, setRuleId] = useState('');
  const [result, setResult] = useState('');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [page, setPage] = useState(1);
  const devices = useLoad(() => api.get<Device[]>('/devices'));
  const rules = useLoad(() => listPostureRules().catch(() => [] as PostureRule[]));
  const logs = useLoad(async () => {
    const q = new URLSearchParams({ page: String(page), per_page: String(PER_PAGE) });
    if (deviceId) q.set('device_id', deviceId);
    if (ruleId) q.set('rule_id', ruleId);
    if (result) q.set('result', result);
    if (since) q.set('since', new Date(since).toISOString());
    if (until) q.set('until', new Date(until).toISOString());
    return api.list<PostureResult>(`/devices/posture/logs?${q}`);
  }, [deviceId, ruleId, result, since, until, page]);
  const reset =
    <T,>(set: (v: T) => void) =>
    (v: T) => {
      set(v);
      setPage(1);
    };
  return (
    <Page title="Logs › Posture">
      <Card>
        <div className="filters">
          <Field label="Device">
            <select name="device" value={deviceId} onChange={(e) => reset(setDeviceId)(e.target.value)}>
              <option value="">all</option>
              {devices.data?.map((d) => (
                <option key={d.id} value={d.id}>
                  {d.name}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Rule">
            <select name="rule" value={ruleId} onChange={(e) => reset(setRuleId)(e.target.value)}>
              <option value="">all</option>
              {rules.data?.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.name}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Result">
            <select name="result" value={result} onChange={(e) => reset(setResult)(e.target.value)}>
              <option value="">all</option>
              <option value="pass">pass</option>
              <option value="fail">fail</option>
            </select>
          </Field>
          <Field label="Since">
            <input
              name="since"
              type="datetime-local"
              value={since}
              onChange={(e) => reset(setSince)(e.target.value)}
            />
          </Field>
          <Field label="Until">
            <input
              name="until"
              type="datetime-local"
              value={until}
              onChange={(e) => reset(setUntil)(e.target.value)}
            />
          </Field>
        </div>
        <LoadError error={logs.error} />
        {logs.data?.items.length === 0 ? (
          <Empty>
            No posture results
            {deviceId || ruleId || result || since || until ? ' match these filters' : ' yet'}.
          </Empty>
        ) : (
          <table data-testid="posture-logs">
            <thead>
              <tr>
                <th>Time</th>
                <th>Device</th>
                <th>Rule</th>
                <th>Result</th>
                <th>Reasons</th>
                <th>Certificate</th>
              </tr>
            </thead>
            <tbody>
              {logs.data?.items.map((l) => (
                <tr key={l.id} data-testid="posture-result">
                  <td>
                    {fmtDate(l.reported_on)}
                    {l.expires_on && <span className="sub">valid until {fmtDate(l.expires_on)}</span>}
                  </td>
                  <td>{l.device_name}</td>
                  <td>{l.rule_name}</td>
                  <td>
                    <Badge tone={l.success ? 'good' : 'bad'}>{l.success ? 'pass' : 'fail'}</Badge>{' '}
                    {l.key_proved && <Badge tone="info">key proved</Badge>}
                  </td>
                  <td>
                    {l.reasons.length
                      ? l.reasons.map((r) => (
                          <div key={r}>
                            <code>{r}</code> <span className="muted">{REASON_TEXT[r] ?? ''}</span>
                          </div>
                        ))
                      : '—'}
                  </td>
                  <td>
                    {l.certificate?.subject ?? '—'}
                    {l.certificate && (
                      <span className="sub mono" title={l.certificate.fingerprint_sha256}>
                        serial {l.certificate.serial_number}
                      </span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {logs.data?.info && (
          <Pager page={page} perPage={PER_PAGE} total={logs.data.info.total_count} onPage={setPage} />
        )}
      </Card>
    </Page>
  );
}
