import { useState } from 'react';
import { api } from '../../api';
import { Badge, Card, Empty, Field, fmtDate, LoadError, Page, Pager, useLoad } from '../../components';
import type { Device, PostureReason, PostureResult, PostureRule } from '../../types';
import { listPostureRules } from './data';

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
