import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { admin, type Schemas, unwrap } from './api/client';
import { t } from './i18n';
import {
  ActionButton,
  BASE,
  ErrorLine,
  Link,
  navigate,
  Pager,
  query,
  Status,
  Table,
  Time,
  useLoad,
  withQuery,
} from './ui';

type Entitlement = Schemas['Entitlement'];
type Activation = Schemas['Activation'];
type AuditEntry = Schemas['AuditEntry'];
type OutboxItem = Schemas['OutboxItem'];

/** Query-string filters of a list page, as the admin API takes them (only the ones the URL carries). */
function filters(names: string[]): Record<string, string> {
  const q = query();
  const out: Record<string, string> = {};
  for (const n of [...names, 'cursor']) {
    const v = q.get(n);
    if (v) out[n] = v;
  }
  return out;
}

function SearchBox(props: { name?: string; placeholder: string; testid?: string }) {
  const name = props.name ?? 'q';
  const [value, setValue] = useState(query().get(name) ?? '');
  return (
    <form
      class="search"
      onSubmit={(e) => {
        e.preventDefault();
        navigate(withQuery({ [name]: value.trim(), cursor: undefined }));
      }}
    >
      <input
        type="search"
        value={value}
        placeholder={props.placeholder}
        aria-label={props.placeholder}
        data-testid={props.testid}
        onInput={(e) => setValue((e.target as HTMLInputElement).value)}
      />
      <button type="submit">{t('search')}</button>
    </form>
  );
}

function Exports(props: { what: 'entitlements' | 'activations' | 'messages'; params: Record<string, string> }) {
  const { cursor: _cursor, ...rest } = props.params;
  const href = (format: string) =>
    `/api/admin/v1/export/${props.what}?${new URLSearchParams({ ...rest, format }).toString()}`;
  return (
    <span class="exports">
      <a href={href('csv')} download>
        {t('exportCsv')}
      </a>
      <a href={href('json')} download>
        {t('exportJson')}
      </a>
    </span>
  );
}

// ------------------------------------------------------------------------------------------- overview

export function Overview() {
  const { data, error } = useLoad(async () => unwrap(await admin.GET('/summary')), []);
  const link = (href: string, n: number | undefined) => <Link href={href}>{n ?? 0}</Link>;
  return (
    <section>
      <h1>{t('overview')}</h1>
      <ErrorLine error={error} />
      {data ? (
        <div class="cards">
          <div class="card">
            <h2>{t('licenses')}</h2>
            <p class="big">{link(`${BASE}/licenses`, data.entitlements.total)}</p>
          </div>
          <div class="card">
            <h2>{t('byStatus')}</h2>
            <dl>
              {Object.entries(data.entitlements.byStatus).map(([s, n]) => (
                <div key={s}>
                  <dt>
                    <Status value={s} />
                  </dt>
                  <dd>{link(`${BASE}/licenses?status=${s}`, n)}</dd>
                </div>
              ))}
            </dl>
          </div>
          <div class="card">
            <h2>{t('byFamily')}</h2>
            <dl>
              {Object.entries(data.entitlements.byFamily).map(([f, n]) => (
                <div key={f}>
                  <dt>{f}</dt>
                  <dd>{link(`${BASE}/licenses?family=${f}`, n)}</dd>
                </div>
              ))}
            </dl>
          </div>
          <div class="card">
            <h2>{t('calls24h')}</h2>
            <p class="big">{link(`${BASE}/messages`, data.messagesLastDay)}</p>
            <h2>{t('failed24h')}</h2>
            <p class={`big ${data.failedMessagesLastDay ? 'bad' : ''}`}>
              {link(`${BASE}/messages?failed=true`, data.failedMessagesLastDay)}
            </p>
          </div>
          <div class="card">
            <h2>{t('outboxDepth')}</h2>
            <dl>
              {Object.entries(data.outbox).map(([s, n]) => (
                <div key={s}>
                  <dt>
                    <Status value={s} />
                  </dt>
                  <dd>{link(`${BASE}/messages?outbox=${s}`, n)}</dd>
                </div>
              ))}
            </dl>
          </div>
        </div>
      ) : null}
    </section>
  );
}

// ------------------------------------------------------------------------------------------- licenses

const LICENSE_FILTERS = ['q', 'status', 'family', 'productId', 'expiresBefore', 'includeTest'];

export function Licenses() {
  const params = filters(LICENSE_FILTERS);
  const { data, error } = useLoad(
    async () => unwrap(await admin.GET('/entitlements', { params: { query: params } })),
    [location.search],
  );
  return (
    <section>
      <h1>{t('licenses')}</h1>
      <div class="toolbar">
        <SearchBox placeholder={t('searchLicenses')} testid="license-search" />
        <select
          aria-label={t('status')}
          value={params.status ?? ''}
          onChange={(e) => navigate(withQuery({ status: (e.target as HTMLSelectElement).value, cursor: undefined }))}
        >
          <option value="">
            {t('status')}: {t('all')}
          </option>
          {['active', 'suspended', 'revoked', 'expired', 'frozen', 'released', 'provisioning'].map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <Exports what="entitlements" params={params} />
      </div>
      <ErrorLine error={error} />
      {data ? (
        <>
          <Table<Entitlement>
            testid="licenses"
            rows={data.items}
            columns={[
              {
                title: t('code'),
                cell: (e) => (
                  <Link href={`${BASE}/licenses/${encodeURIComponent(e.id)}`}>
                    <code>{e.code ?? e.id}</code>
                  </Link>
                ),
              },
              { title: t('status'), cell: (e) => <Status value={e.status} /> },
              { title: t('family'), cell: (e) => e.family },
              { title: t('product'), cell: (e) => e.productId },
              { title: t('sku'), cell: (e) => e.skuCode },
              { title: t('seats'), cell: (e) => e.seats },
              { title: t('customer'), cell: (e) => e.customerName ?? e.customerId },
              { title: t('order'), cell: (e) => e.orderId },
              { title: t('expires'), cell: (e) => <Time iso={e.expiresAt} /> },
            ]}
          />
          <Pager total={data.total} shown={data.items.length} nextCursor={data.nextCursor} />
        </>
      ) : null}
    </section>
  );
}

function Usage(props: { usage: { day: string; devices: number }[] }) {
  const max = Math.max(1, ...props.usage.map((u) => u.devices));
  const days: { day: string; devices: number }[] = [];
  for (let i = 29; i >= 0; i--) {
    const day = new Date(Date.now() - i * 86_400_000).toISOString().slice(0, 10);
    days.push({ day, devices: props.usage.find((u) => u.day === day)?.devices ?? 0 });
  }
  return (
    <div class="usage" role="img" aria-label={t('usage')}>
      {days.map((d) => (
        <span
          key={d.day}
          class="bar"
          title={`${d.day}: ${d.devices}`}
          // A height class instead of an inline style: the CSP allows no inline styles.
          data-level={Math.round((d.devices / max) * 10)}
        />
      ))}
    </div>
  );
}

function OfflineResponse(props: { done: () => void }) {
  const [text, setText] = useState('');
  const [license, setLicense] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  return (
    <details class="offline">
      <summary>{t('offline')}</summary>
      <p>{t('offlineHint')}</p>
      <textarea rows={5} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
      <input
        type="file"
        accept=".txt,.req,.licreq,text/plain"
        onChange={async (e) => {
          const file = (e.target as HTMLInputElement).files?.[0];
          if (file) setText(await file.text());
        }}
      />
      <button
        type="button"
        onClick={async () => {
          setError(undefined);
          try {
            const r = unwrap(
              await admin.POST('/offline-responses', { body: { request: text }, params: { header: {} } }),
            );
            setLicense(r.license);
            props.done();
          } catch (err) {
            setError(err instanceof Error ? err.message : String(err));
          }
        }}
      >
        {t('issueResponse')}
      </button>
      <ErrorLine error={error} />
      {license ? (
        <p>
          <a href={URL.createObjectURL(new Blob([license], { type: 'text/plain' }))} download="license.lic">
            {t('download')}
          </a>
        </p>
      ) : null}
    </details>
  );
}

export function LicensePage(props: { id: string }) {
  const { data, error, reload } = useLoad(
    async () => unwrap(await admin.GET('/entitlements/{id}', { params: { path: { id: props.id } } })),
    [props.id],
  );
  const act = (action: 'suspend' | 'reinstate' | 'revoke') => async (reason: string | undefined) =>
    unwrap(
      await admin.POST(`/entitlements/{id}/${action}`, {
        params: { path: { id: props.id }, header: {} },
        body: reason ? { reason } : {},
      }),
    );
  if (error) return <ErrorLine error={error} />;
  if (!data) return null;
  const e = data.entitlement;
  return (
    <section>
      <h1>
        <code data-testid="license-code">{e.code ?? e.id}</code> <Status value={e.status} />
      </h1>
      <div class="actions" data-testid="license-actions">
        {e.status === 'active' ? (
          <ActionButton label={t('suspend')} needsReason run={act('suspend')} done={reload} testid="suspend" />
        ) : null}
        {e.status === 'suspended' ? (
          <ActionButton label={t('reinstate')} needsReason run={act('reinstate')} done={reload} testid="reinstate" />
        ) : null}
        {e.status !== 'revoked' ? (
          <ActionButton label={t('revoke')} needsReason danger run={act('revoke')} done={reload} testid="revoke" />
        ) : null}
      </div>
      <dl class="facts">
        <dt>{t('family')}</dt>
        <dd>{e.family}</dd>
        <dt>{t('product')}</dt>
        <dd>{e.productId}</dd>
        <dt>{t('sku')}</dt>
        <dd>{e.skuCode ?? '—'}</dd>
        <dt>{t('customer')}</dt>
        <dd>{e.customerName ?? e.customerId ?? '—'}</dd>
        <dt>{t('order')}</dt>
        <dd>{e.orderId ?? '—'}</dd>
        <dt>{t('seats')}</dt>
        <dd data-testid="seats">
          {data.seats.used} / {data.seats.limit ?? '∞'}
        </dd>
        <dt>{t('expires')}</dt>
        <dd>
          <Time iso={e.expiresAt} />
        </dd>
      </dl>
      <h2>{t('policy')}</h2>
      <pre class="policy">{JSON.stringify(data.policy, null, 2)}</pre>
      <h2>{t('usage')}</h2>
      <Usage usage={data.usage} />
      <h2>{t('devicesOf')}</h2>
      <DeviceTable rows={data.activations} reload={reload} />
      <OfflineResponse done={reload} />
      <h2>{t('auditTrail')}</h2>
      <AuditTable rows={data.audit} testid="license-audit" />
    </section>
  );
}

// -------------------------------------------------------------------------------------------- devices

function DeviceTable(props: { rows: Activation[]; reload: () => void }) {
  return (
    <Table<Activation>
      testid="devices"
      rows={props.rows}
      columns={[
        { title: t('host'), cell: (a) => a.hostname ?? a.label ?? a.id },
        { title: t('platform'), cell: (a) => a.platform },
        { title: t('status'), cell: (a) => <Status value={a.status} /> },
        {
          title: t('code'),
          cell: (a) => <Link href={`${BASE}/licenses/${encodeURIComponent(a.entitlementId)}`}>{a.code ?? '…'}</Link>,
        },
        { title: t('created'), cell: (a) => <Time iso={a.createdAt} /> },
        { title: t('lastSeen'), cell: (a) => <Time iso={a.lastSeenAt} /> },
        {
          title: '',
          cell: (a) =>
            a.status === 'active' ? (
              <ActionButton
                label={t('freeSeat')}
                needsReason
                testid={`free-${a.id}`}
                run={async (reason) =>
                  unwrap(
                    await admin.POST('/activations/{id}/free', {
                      params: { path: { id: a.id }, header: {} },
                      body: reason ? { reason } : {},
                    }),
                  )
                }
                done={props.reload}
              />
            ) : null,
        },
      ]}
    />
  );
}

export function Devices() {
  const params = filters(['q', 'status', 'code', 'entitlementId', 'includeTest']);
  const { data, error, reload } = useLoad(
    async () => unwrap(await admin.GET('/activations', { params: { query: params } })),
    [location.search],
  );
  return (
    <section>
      <h1>{t('devices')}</h1>
      <div class="toolbar">
        <SearchBox placeholder={`${t('host')}, ${t('code')}`} />
        <Exports what="activations" params={params} />
      </div>
      <ErrorLine error={error} />
      {data ? (
        <>
          <DeviceTable rows={data.items} reload={reload} />
          <Pager total={data.total} shown={data.items.length} nextCursor={data.nextCursor} />
        </>
      ) : null}
    </section>
  );
}

// --------------------------------------------------------------------------------------------- orders

export function Orders() {
  const params = filters(['q', 'includeTest']);
  const { data, error } = useLoad(
    async () => unwrap(await admin.GET('/orders', { params: { query: params } })),
    [location.search],
  );
  return (
    <section>
      <h1>{t('orders')}</h1>
      <div class="toolbar">
        <SearchBox placeholder={t('order')} />
      </div>
      <ErrorLine error={error} />
      {data ? (
        <>
          <Table<Schemas['Order']>
            rows={data.items}
            columns={[
              { title: t('order'), cell: (o) => `${o.orderId} / ${o.orderLineId}` },
              { title: t('kind'), cell: (o) => o.orderType },
              { title: t('outcome'), cell: (o) => o.outcome },
              {
                title: t('licenses'),
                cell: (o) =>
                  o.entitlementId ? (
                    <Link href={`${BASE}/licenses/${encodeURIComponent(o.entitlementId)}`}>{o.entitlementId}</Link>
                  ) : null,
              },
              { title: t('received'), cell: (o) => <Time iso={o.receivedAt} /> },
            ]}
          />
          <Pager total={data.total} shown={data.items.length} nextCursor={data.nextCursor} />
        </>
      ) : null}
    </section>
  );
}

// ------------------------------------------------------------------------------- messages and outbox

export function Messages() {
  const params = filters(['q', 'failed', 'direction', 'includeTest']);
  const outboxStatus = query().get('outbox') ?? 'failed,pending';
  const messages = useLoad(
    async () => unwrap(await admin.GET('/messages', { params: { query: params } })),
    [location.search],
  );
  // Failed calls first: on the unfiltered first page they get their own table above the whole log.
  const showFailedFirst = !params.failed && !params.cursor && !params.q;
  const failedMessages = useLoad(
    async () =>
      showFailedFirst
        ? unwrap(await admin.GET('/messages', { params: { query: { failed: 'true', limit: 20 } } }))
        : undefined,
    [location.search],
  );
  const outbox = useLoad(
    async () => unwrap(await admin.GET('/outbox', { params: { query: { status: outboxStatus } } })),
    [outboxStatus],
  );
  // Failed items first, then the rest (each group newest first, as the API pages them).
  const items = outbox.data
    ? [...outbox.data.items].sort((a, b) => Number(b.status === 'failed') - Number(a.status === 'failed'))
    : [];
  return (
    <section>
      <h1>{t('outbox')}</h1>
      <ErrorLine error={outbox.error} />
      <Table<OutboxItem>
        testid="outbox"
        rows={items}
        rowClass={(o) => (o.status === 'failed' ? 'failed' : '')}
        columns={[
          { title: '#', cell: (o) => o.id },
          { title: t('kind'), cell: (o) => o.kind },
          { title: t('status'), cell: (o) => <Status value={o.status} /> },
          { title: t('attempts'), cell: (o) => o.attempts },
          { title: t('lastError'), cell: (o) => <span class="clip">{o.lastError}</span> },
          { title: t('created'), cell: (o) => <Time iso={o.createdAt} /> },
          {
            title: '',
            cell: (o) =>
              o.status === 'failed' || o.status === 'pending' ? (
                <ActionButton
                  label={t('retry')}
                  testid={`retry-${o.id}`}
                  run={async () =>
                    unwrap(
                      await admin.POST('/outbox/{id}/retry', { params: { path: { id: String(o.id) }, header: {} } }),
                    )
                  }
                  done={outbox.reload}
                />
              ) : null,
          },
        ]}
      />
      <h1>{t('messages')}</h1>
      <div class="toolbar">
        <SearchBox placeholder={t('activity')} />
        <Link href={withQuery({ failed: params.failed ? undefined : 'true', cursor: undefined })}>
          {params.failed ? t('all') : t('failedOnly')}
        </Link>
        <Exports what="messages" params={params} />
      </div>
      <ErrorLine error={messages.error ?? failedMessages.error} />
      {failedMessages.data && failedMessages.data.items.length > 0 ? (
        <>
          <h2>{t('failedCalls')}</h2>
          <MessageTable rows={failedMessages.data.items} testid="failed-messages" />
          <h2>{t('allCalls')}</h2>
        </>
      ) : null}
      {messages.data ? (
        <>
          <MessageTable rows={messages.data.items} testid="messages" />
          <Pager total={messages.data.total} shown={messages.data.items.length} nextCursor={messages.data.nextCursor} />
        </>
      ) : null}
    </section>
  );
}

function MessageTable(props: { rows: Schemas['Message'][]; testid: string }) {
  return (
    <Table<Schemas['Message']>
      testid={props.testid}
      rows={props.rows}
      rowClass={(m) => (m.failed ? 'failed' : '')}
      columns={[
        { title: t('at'), cell: (m) => <Time iso={m.at} /> },
        { title: t('direction'), cell: (m) => m.direction },
        { title: t('activity'), cell: (m) => m.activity },
        { title: t('result'), cell: (m) => `${m.resultCode ?? ''} ${m.httpStatus ?? ''}` },
        { title: t('lastError'), cell: (m) => <span class="clip">{m.error}</span> },
        { title: 'ms', cell: (m) => m.latencyMs },
      ]}
    />
  );
}

// ---------------------------------------------------------------------------------------------- audit

function AuditTable(props: { rows: AuditEntry[]; testid?: string }) {
  return (
    <Table<AuditEntry>
      testid={props.testid}
      rows={props.rows}
      columns={[
        { title: t('at'), cell: (a) => <Time iso={a.at} /> },
        { title: t('actor'), cell: (a) => a.actor },
        { title: t('action'), cell: (a) => a.action },
        {
          title: t('detail'),
          cell: (a) => <code class="clip">{JSON.stringify(a.detail ?? a.after ?? null)}</code>,
        },
      ]}
    />
  );
}

export function Audit() {
  const params = filters(['q', 'actor', 'action', 'entitlementId']);
  const { data, error } = useLoad(
    async () => unwrap(await admin.GET('/audit', { params: { query: params } })),
    [location.search],
  );
  return (
    <section>
      <h1>{t('audit')}</h1>
      <div class="toolbar">
        <SearchBox placeholder={t('search')} />
        <SearchBox name="actor" placeholder={t('actor')} />
      </div>
      <ErrorLine error={error} />
      {data ? (
        <>
          <AuditTable rows={data.items} testid="audit" />
          <Pager total={data.total} shown={data.items.length} nextCursor={data.nextCursor} />
        </>
      ) : null}
    </section>
  );
}

// --------------------------------------------------------------------------------- tokens, operators

export function Tokens() {
  const { data, error } = useLoad(async () => unwrap(await admin.GET('/tokens')), []);
  return (
    <section>
      <h1>{t('tokens')}</h1>
      <ErrorLine error={error} />
      {data ? (
        <Table<Schemas['Token']>
          rows={data.items}
          columns={[
            { title: 'ID', cell: (k) => <code>{k.id}</code> },
            { title: t('name'), cell: (k) => k.name },
            { title: t('scope'), cell: (k) => k.scope },
            { title: t('created'), cell: (k) => <Time iso={k.createdAt} /> },
            { title: t('lastUsed'), cell: (k) => <Time iso={k.lastUsedAt} /> },
            { title: t('revoked'), cell: (k) => <Time iso={k.revokedAt} /> },
          ]}
        />
      ) : null}
    </section>
  );
}

export function Operators() {
  const { data, error, reload } = useLoad(async () => unwrap(await admin.GET('/operators')), []);
  return (
    <section>
      <h1>{t('operators')}</h1>
      <ErrorLine error={error} />
      {data ? (
        <Table<Schemas['Operator']>
          testid="operators"
          rows={data.items}
          columns={[
            { title: t('name'), cell: (o) => o.name },
            { title: t('role'), cell: (o) => o.role },
            { title: t('lastLogin'), cell: (o) => <Time iso={o.lastLoginAt} /> },
            { title: t('disabled'), cell: (o) => <Time iso={o.disabledAt} /> },
            {
              title: '',
              cell: (o) =>
                o.disabledAt ? null : (
                  <ActionButton
                    label={t('disable')}
                    danger
                    run={async () =>
                      unwrap(
                        await admin.POST('/operators/{name}/disable', {
                          params: { path: { name: o.name }, header: {} },
                        }),
                      )
                    }
                    done={reload}
                  />
                ),
            },
          ]}
        />
      ) : null}
    </section>
  );
}

// ------------------------------------------------------------------------------------ go-live readiness

type DialReport = Awaited<ReturnType<typeof runDial>>;
async function runDial(family: 'A' | 'B' | 'C' | 'notify') {
  return unwrap(await admin.POST('/readiness/dial-test', { body: { family }, params: { header: {} } }));
}

const INTERFACES: { key: string; label: string }[] = [
  { key: 'familyA', label: 'A · getLicense / refreshLicense / releaseLicense (Key)' },
  { key: 'basic', label: 'B/C · 基础接口 basic' },
  { key: 'licenseCode', label: 'B · License授权码 license-code' },
  { key: 'generic', label: '通用接口 generic (orderNotify)' },
  { key: 'kit', label: '联营SaaS同步 Kit' },
];

function DialFamily(props: { family: 'A' | 'B' | 'C' | 'notify'; enabled: boolean }) {
  const [report, setReport] = useState<DialReport | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  return (
    <div class="card dial" data-testid={`dial-${props.family}`}>
      <h2>
        {props.family === 'notify' ? 'orderNotify' : `Family ${props.family}`}{' '}
        {report ? (
          <span class={`status ${report.ok ? 'status-done' : 'status-failed'}`}>
            {report.ok ? t('passed') : t('fails')}
          </span>
        ) : null}
      </h2>
      <button
        type="button"
        disabled={!props.enabled || busy}
        onClick={async () => {
          setBusy(true);
          setError(undefined);
          try {
            setReport(await runDial(props.family));
          } catch (e) {
            setError(e instanceof Error ? e.message : String(e));
          } finally {
            setBusy(false);
          }
        }}
      >
        {busy ? t('running') : t('run')}
      </button>
      <ErrorLine error={error} />
      {report ? (
        <Table
          rows={report.cases}
          rowClass={(c) => (c.ok ? '' : 'failed')}
          columns={[
            { title: t('case'), cell: (c) => c.name },
            { title: t('rounds'), cell: (c) => c.codes.join(' · ') },
            {
              title: '',
              cell: (c) => (c.ok ? t('passed') : <span class="error">{c.problems.filter(Boolean).join('; ')}</span>),
            },
          ]}
        />
      ) : null}
      {report?.skipped.map((s) => (
        <p key={s} class="error">
          {s}
        </p>
      ))}
    </div>
  );
}

export function Readiness() {
  const { data, error } = useLoad(async () => unwrap(await admin.GET('/readiness')), []);
  return (
    <section>
      <h1>{t('readiness')}</h1>
      <ErrorLine error={error} />
      {data ? (
        <>
          <p>
            {t('productionUrl')}:{' '}
            {data.productionUrl ? <code>{data.productionUrl}</code> : <span class="error">{t('noPublicUrl')}</span>}
          </p>
          <h2>{t('marketplaceKeys')}</h2>
          <dl class="facts" data-testid="keys">
            {Object.entries(data.keys).map(([k, on]) => (
              <Fragment key={k}>
                <dt>{k}</dt>
                <dd>
                  <span class={`status ${on ? 'status-done' : 'status-failed'}`}>
                    {on ? t('configured') : t('notConfigured')}
                  </span>
                </dd>
              </Fragment>
            ))}
          </dl>
          <h2>{t('lastAnswer')}</h2>
          <Table
            testid="last-success"
            rows={INTERFACES}
            columns={[
              { title: t('interface'), cell: (i) => i.label },
              { title: t('live'), cell: (i) => <Time iso={data.lastSuccess[i.key]?.live} /> },
              { title: t('debugTraffic'), cell: (i) => <Time iso={data.lastSuccess[i.key]?.test} /> },
              { title: t('activity'), cell: (i) => data.lastSuccess[i.key]?.activities.join(', ') },
            ]}
          />
          <h2>{t('dialTests')}</h2>
          <p>{t('dialHint')}</p>
          <div class="dials">
            {(['A', 'B', 'C', 'notify'] as const).map((f) => (
              <DialFamily key={f} family={f} enabled={Boolean(data.productionUrl)} />
            ))}
          </div>
        </>
      ) : null}
    </section>
  );
}
