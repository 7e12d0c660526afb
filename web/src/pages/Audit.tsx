import { Fragment, useState } from 'react';
import { api, type ResultInfo } from '../api';
import { Card, Empty, Field, fmtDate, LoadError, Page, Pager, useLoad } from '../components';
import type { AuditEntry } from '../types';

const PER_PAGE = 25;

export function AuditPage() {
  const [action, setAction] = useState('');
  const [resource, setResource] = useState('');
  const [page, setPage] = useState(1);
  const [open, setOpen] = useState<string | undefined>();
  const list = useLoad(async () => {
    const q = new URLSearchParams({ page: String(page), per_page: String(PER_PAGE) });
    if (action) q.set('action', action);
    if (resource) q.set('resource_id', resource);
    return api.list<AuditEntry>(`/audit?${q}`);
  }, [action, resource, page]);
  const info: ResultInfo | undefined = list.data?.info;
  return (
    <Page title="Audit log">
      <Card>
        <div className="filters">
          <Field label="Action">
            <input
              name="action"
              value={action}
              placeholder="client_certificate.revoke"
              onChange={(e) => {
                setAction(e.target.value);
                setPage(1);
              }}
            />
          </Field>
          <Field label="Resource id">
            <input
              name="resource_id"
              value={resource}
              onChange={(e) => {
                setResource(e.target.value);
                setPage(1);
              }}
            />
          </Field>
        </div>
        <LoadError error={list.error} />
        {list.data?.items.length === 0 ? (
          <Empty>No audit entries{action || resource ? ' match' : ''}.</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th>When</th>
                <th>Actor</th>
                <th>Action</th>
                <th>Resource</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.data?.items.map((e) => (
                <Fragment key={e.id}>
                  <tr>
                    <td>{fmtDate(e.at)}</td>
                    <td className="mono">{e.actor}</td>
                    <td>{e.action}</td>
                    <td>
                      {e.resource_type}
                      <span className="sub mono">{e.resource_id}</span>
                    </td>
                    <td>
                      <button
                        type="button"
                        className="small ghost"
                        onClick={() => setOpen(open === e.id ? undefined : e.id)}
                      >
                        {open === e.id ? 'Hide' : 'Details'}
                      </button>
                    </td>
                  </tr>
                  {open === e.id && (
                    <tr>
                      <td colSpan={5}>
                        <div className="grid2">
                          <div>
                            <strong>Before</strong>
                            <pre>{JSON.stringify(e.before, null, 2)}</pre>
                          </div>
                          <div>
                            <strong>After</strong>
                            <pre>{JSON.stringify(e.after, null, 2)}</pre>
                          </div>
                        </div>
                      </td>
                    </tr>
                  )}
                </Fragment>
              ))}
            </tbody>
          </table>
        )}
        {info && <Pager page={page} perPage={PER_PAGE} total={info.total_count} onPage={setPage} />}
      </Card>
    </Page>
  );
}
