import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError, admin, type Schemas, type Summary, unwrap } from './api/client';
import { t } from './i18n';
import {
  ActionButton,
  BASE,
  canAct,
  canAdminister,
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
  for (const n of [...names, 'cursor', 'limit']) {
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
  // Paging is not a filter: an export takes every matching row (and refuses cursor and limit).
  const { cursor: _cursor, limit: _limit, ...rest } = props.params;
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

/** The `since` filter links from the overview set, shown so the list does not look incomplete; one click drops it. */
function SinceFilter() {
  const since = query().get('since');
  if (!since) return null;
  return (
    <span class="chip" data-testid="since-filter">
      {t('since')} <Time iso={since} />{' '}
      <Link href={withQuery({ since: undefined, cursor: undefined })}>{t('clearFilter')}</Link>
    </span>
  );
}

// ------------------------------------------------------------------------------------------- overview

export function Overview() {
  const { data, error } = useLoad(async () => unwrap(await admin.GET('/summary')), []);
  const link = (href: string, n: number | undefined, testid?: string) => (
    <Link href={href} testid={testid}>
      {n ?? 0}
    </Link>
  );
  const since24h = data ? encodeURIComponent(data.since24h) : '';
  return (
    <section>
      <h1>{t('overview')}</h1>
      <ErrorLine error={error} />
      {data ? (
        <>
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
              <p class="big">{link(`${BASE}/messages?since=${since24h}`, data.messagesLastDay, 'calls-24h')}</p>
              <h2>{t('failed24h')}</h2>
              <p class={`big ${data.failedMessagesLastDay ? 'bad' : ''}`}>
                {link(`${BASE}/messages?failed=true&since=${since24h}`, data.failedMessagesLastDay, 'failed-24h')}
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
            <DailyDutyCard duty={data.nextDailyDuty} />
            <KeyExpiryCard keys={data.keys} />
          </div>
          <div class="card wide">
            <h2>
              {t('activations30d')}:{' '}
              {link(
                `${BASE}/devices?since=${encodeURIComponent(data.activations.since)}`,
                data.activations.total,
                'activations-30d',
              )}
            </h2>
            <ActivationChart perDay={data.activations.perDay} />
          </div>
        </>
      ) : null}
    </section>
  );
}

/**
 * Devices activated per day as an inline SVG bar chart (no chart library, no inline style: the CSP allows
 * neither); each bar links to the devices activated from that day on, its count and day in the tooltip.
 */
function ActivationChart(props: { perDay: { day: string; activations: number }[] }) {
  const max = Math.max(1, ...props.perDay.map((d) => d.activations));
  const BAR = 14;
  const HEIGHT = 90;
  const width = props.perDay.length * BAR;
  return (
    <svg
      class="chart"
      viewBox={`0 0 ${width} ${HEIGHT + 16}`}
      role="img"
      aria-label={t('activationsChart')}
      data-testid="activation-chart"
    >
      {props.perDay.map((d, i) => {
        const h = d.activations ? Math.max(2, Math.round((d.activations / max) * HEIGHT)) : 0;
        const href = `${BASE}/devices?since=${encodeURIComponent(`${d.day}T00:00:00.000Z`)}`;
        return (
          <a
            key={d.day}
            href={href}
            onClick={(e) => {
              e.preventDefault();
              navigate(href);
            }}
          >
            <title>{`${d.day}: ${d.activations}`}</title>
            <rect class="track" x={i * BAR} y={0} width={BAR - 3} height={HEIGHT} />
            <rect class="bar" x={i * BAR} y={HEIGHT - h} width={BAR - 3} height={h} data-day={d.day} />
          </a>
        );
      })}
      <text x={0} y={HEIGHT + 13}>
        {props.perDay[0]?.day.slice(5)}
      </text>
      <text x={width} y={HEIGHT + 13} text-anchor="end">
        {props.perDay.at(-1)?.day.slice(5)}
      </text>
    </svg>
  );
}

function DailyDutyCard(props: { duty: Summary['nextDailyDuty'] }) {
  const d = props.duty;
  const dueNow = Date.parse(d.at) <= Date.now();
  return (
    <div class="card" data-testid="next-duty">
      <h2>{t('nextDuty')}</h2>
      <p class="big">{dueNow ? t('dueNow') : <Time iso={d.at} />}</p>
      <p>
        {t('day')} {d.day} · {t('dutyHint')}
      </p>
      {d.scheduler ? null : <p class="error">{t('schedulerOff')}</p>}
      {d.lastPlanned ? (
        <p>
          {t('lastPlanned')}: {d.lastPlanned.day} ({d.lastPlanned.codes} {t('codesReported')})
        </p>
      ) : null}
    </div>
  );
}

const MONTH_MS = 30 * 86_400_000;
function KeyExpiryCard(props: { keys: Summary['keys'] }) {
  const soon = (iso: string) => Date.parse(iso) - Date.now() < MONTH_MS;
  const live = props.keys.signing.filter((k) => !k.revoked && Date.parse(k.notAfter) > Date.now());
  return (
    <div class="card" data-testid="key-expiry">
      <h2>{t('keyExpiry')}</h2>
      <dl>
        {live.map((k) => (
          <div key={k.keyId}>
            <dt title={k.keyId}>
              <code>{k.keyId.slice(0, 10)}</code> {k.current ? t('currentKey') : ''}
            </dt>
            <dd class={soon(k.notAfter) ? 'bad' : ''}>
              <Time iso={k.notAfter} />
            </dd>
          </div>
        ))}
        <div>
          <dt>{t('rootKey')}</dt>
          <dd class={soon(props.keys.rootNotAfter) ? 'bad' : ''}>
            <Time iso={props.keys.rootNotAfter} />
          </dd>
        </div>
      </dl>
      {live.some((k) => k.current && soon(k.notAfter)) ? <p class="error">{t('expiresSoon')}</p> : null}
    </div>
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
          <Pager total={data.total} capped={data.totalCapped} shown={data.items.length} nextCursor={data.nextCursor} />
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
    <details class="offline" data-testid="offline">
      <summary>{t('offline')}</summary>
      <p>{t('offlineHint')}</p>
      <textarea
        rows={5}
        aria-label={t('offlineHint')}
        data-testid="offline-request"
        value={text}
        onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
      />
      <input
        type="file"
        data-testid="offline-file"
        accept=".txt,.req,.licreq,text/plain"
        onChange={async (e) => {
          const file = (e.target as HTMLInputElement).files?.[0];
          if (file) setText(await file.text());
        }}
      />
      <button
        type="button"
        data-testid="offline-issue"
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
          <a
            href={URL.createObjectURL(new Blob([license], { type: 'text/plain' }))}
            download="license.lic"
            data-testid="offline-download"
          >
            {t('download')}
          </a>
        </p>
      ) : null}
    </details>
  );
}

/** A datetime-local value (the operator's zone) for an ISO instant, and back. */
const localInput = (iso: string | null | undefined) => {
  if (!iso) return '';
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

/**
 * Seats and expiry of a license (PATCH /entitlements/{id}). Lowering seats below the devices holding them is
 * refused with those devices listed; the operator then frees seats or releases the oldest devices.
 */
function ChangeLicense(props: { entitlement: Entitlement; done: () => void }) {
  const e = props.entitlement;
  const [seats, setSeats] = useState('');
  const [expires, setExpires] = useState(localInput(e.expiresAt));
  const [noExpiry, setNoExpiry] = useState(!e.expiresAt);
  const [inUse, setInUse] = useState<{ id: string; hostname?: string | null; label?: string | null }[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [saved, setSaved] = useState(false);
  const save = async (releaseOldest: boolean) => {
    setError(undefined);
    setSaved(false);
    const body: { seats?: number | null; expiresAt?: string | null; releaseOldest?: boolean } = {};
    if (seats.trim()) body.seats = Number(seats) === 0 ? null : Number(seats);
    const expiresAt = noExpiry ? null : expires ? new Date(expires).toISOString() : undefined;
    if (expiresAt !== undefined && expiresAt !== (e.expiresAt ? new Date(e.expiresAt).toISOString() : null)) {
      body.expiresAt = expiresAt;
    }
    if (Object.keys(body).length === 0) return;
    if (releaseOldest) body.releaseOldest = true;
    try {
      unwrap(await admin.PATCH('/entitlements/{id}', { params: { path: { id: e.id }, header: {} }, body }));
      setInUse(undefined);
      setSeats('');
      setSaved(true);
      props.done();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'SEATS_IN_USE') {
        setInUse((err.detail as { devices?: { id: string; hostname?: string | null }[] } | undefined)?.devices ?? []);
      }
      setError(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
    }
  };
  return (
    <details class="offline" data-testid="change-license">
      <summary>{t('changeLicense')}</summary>
      <form
        class="toolbar"
        onSubmit={(ev) => {
          ev.preventDefault();
          void save(false);
        }}
      >
        <label>
          {t('seats')}{' '}
          <input
            type="number"
            min={0}
            data-testid="change-seats"
            placeholder={String(e.seats)}
            title={t('seatsHint')}
            value={seats}
            onInput={(ev) => setSeats((ev.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          {t('expires')}{' '}
          <input
            type="datetime-local"
            data-testid="change-expires"
            disabled={noExpiry}
            value={expires}
            onInput={(ev) => setExpires((ev.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          <input
            type="checkbox"
            checked={noExpiry}
            onChange={(ev) => setNoExpiry((ev.target as HTMLInputElement).checked)}
          />{' '}
          {t('noExpiry')}
        </label>
        <button type="submit" data-testid="change-save">
          {t('save')}
        </button>
        {saved ? <span>{t('saved')}</span> : null}
      </form>
      <ErrorLine error={error} />
      {inUse ? (
        <div data-testid="seats-in-use">
          <p>{t('seatsInUse')}</p>
          <ul>
            {inUse.map((d) => (
              <li key={d.id}>
                {d.hostname ?? d.label ?? d.id} <code>{d.id}</code>
              </li>
            ))}
          </ul>
          <button type="button" class="danger" data-testid="release-oldest" onClick={() => void save(true)}>
            {t('releaseOldest')}
          </button>
        </div>
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
        <dt>{t('edition')}</dt>
        <dd data-testid="edition">{data.model.edition ?? '—'}</dd>
        <dt>{t('features')}</dt>
        <dd data-testid="features">
          {Object.keys(data.model.features).length === 0
            ? '—'
            : Object.entries(data.model.features)
                .map(([name, value]) => (value === true ? name : `${name} = ${value}`))
                .join(', ')}
        </dd>
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
      {canAct() ? (
        <>
          <ChangeLicense entitlement={e} done={reload} />
          <OfflineResponse done={reload} />
        </>
      ) : null}
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
          title: ' ',
          cell: (a) =>
            a.status === 'active' ? (
              <ActionButton
                label={t('moveSeat')}
                input={{ label: t('moveTarget') }}
                testid={`move-${a.id}`}
                run={async (to) =>
                  unwrap(
                    await admin.POST('/activations/{id}/move', {
                      params: { path: { id: a.id }, header: {} },
                      body: { to: to ?? '' },
                    }),
                  )
                }
                done={props.reload}
              />
            ) : null,
        },
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
  const params = filters(['q', 'status', 'code', 'entitlementId', 'includeTest', 'since']);
  const { data, error, reload } = useLoad(
    async () => unwrap(await admin.GET('/activations', { params: { query: params } })),
    [location.search],
  );
  return (
    <section>
      <h1>{t('devices')}</h1>
      <div class="toolbar">
        <SearchBox placeholder={`${t('host')}, ${t('code')}`} />
        <SinceFilter />
        <Exports what="activations" params={params} />
      </div>
      <ErrorLine error={error} />
      {data ? (
        <>
          <DeviceTable rows={data.items} reload={reload} />
          <Pager total={data.total} capped={data.totalCapped} shown={data.items.length} nextCursor={data.nextCursor} />
        </>
      ) : null}
    </section>
  );
}

// --------------------------------------------------------------------------------------------- orders

export function Orders() {
  const params = filters(['q', 'includeTest', 'since']);
  const { data, error } = useLoad(
    async () => unwrap(await admin.GET('/orders', { params: { query: params } })),
    [location.search],
  );
  return (
    <section>
      <h1>{t('orders')}</h1>
      <div class="toolbar">
        <SearchBox placeholder={t('searchOrders')} />
        <SinceFilter />
      </div>
      <ErrorLine error={error} />
      {data ? (
        <>
          <Table<Schemas['Order']>
            testid="orders"
            rows={data.items}
            columns={[
              { title: t('order'), cell: (o) => (o.orderLineId ? `${o.orderId} / ${o.orderLineId}` : o.orderId) },
              { title: t('family'), cell: (o) => o.family },
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
          <Pager total={data.total} capped={data.totalCapped} shown={data.items.length} nextCursor={data.nextCursor} />
        </>
      ) : null}
    </section>
  );
}

// ------------------------------------------------------------------------------- messages and outbox

export function Messages() {
  const params = filters(['q', 'failed', 'direction', 'includeTest', 'since']);
  const outboxStatus = query().get('outbox') ?? 'failed,pending';
  const outboxCursor = query().get('outboxCursor') ?? undefined;
  const outboxLimit = Number(query().get('outboxLimit')) || undefined;
  const messages = useLoad(
    async () => unwrap(await admin.GET('/messages', { params: { query: params } })),
    [location.search],
  );
  // Failed calls first: on the unfiltered first page they get their own table above the whole log.
  const showFailedFirst = !params.failed && !params.cursor && !params.q && !params.since;
  const failedMessages = useLoad(
    async () =>
      showFailedFirst
        ? unwrap(await admin.GET('/messages', { params: { query: { failed: 'true', limit: 20 } } }))
        : undefined,
    [location.search],
  );
  const outbox = useLoad(
    async () =>
      unwrap(
        await admin.GET('/outbox', {
          params: {
            query: {
              status: outboxStatus,
              ...(outboxCursor ? { cursor: outboxCursor } : {}),
              ...(outboxLimit ? { limit: outboxLimit } : {}),
            },
          },
        }),
      ),
    [outboxStatus, outboxCursor, outboxLimit],
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
      {outbox.data ? (
        <Pager
          total={outbox.data.total}
          capped={outbox.data.totalCapped}
          shown={outbox.data.items.length}
          nextCursor={outbox.data.nextCursor}
          param="outboxCursor"
          testid="outbox-pager"
        />
      ) : null}
      <h1>{t('messages')}</h1>
      <div class="toolbar">
        <SearchBox placeholder={t('searchMessages')} />
        <Link href={withQuery({ failed: params.failed ? undefined : 'true', cursor: undefined })}>
          {params.failed ? t('all') : t('failedOnly')}
        </Link>
        <SinceFilter />
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
          <Pager
            total={messages.data.total}
            capped={messages.data.totalCapped}
            shown={messages.data.items.length}
            nextCursor={messages.data.nextCursor}
          />
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
          <Pager total={data.total} capped={data.totalCapped} shown={data.items.length} nextCursor={data.nextCursor} />
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
          testid="tokens"
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

const ROLES = ['viewer', 'operator', 'admin'] as const;

/** The role as a select: a change is saved at once (the server ends the operator's sessions). */
function RoleSelect(props: { operator: Schemas['Operator']; done: () => void }) {
  const [error, setError] = useState<string | undefined>();
  return (
    <span>
      <select
        aria-label={`${t('changeRole')} ${props.operator.name}`}
        data-testid={`role-${props.operator.name}`}
        value={props.operator.role}
        onChange={async (e) => {
          const role = (e.target as HTMLSelectElement).value as (typeof ROLES)[number];
          setError(undefined);
          try {
            unwrap(
              await admin.POST('/operators/{name}/role', {
                params: { path: { name: props.operator.name }, header: {} },
                body: { role },
              }),
            );
          } catch (err) {
            setError(err instanceof Error ? err.message : String(err));
          }
          props.done();
        }}
      >
        {ROLES.map((r) => (
          <option key={r} value={r}>
            {r}
          </option>
        ))}
      </select>
      {error ? (
        <span class="error" role="alert">
          {error}
        </span>
      ) : null}
    </span>
  );
}

function AddOperator(props: { done: () => void }) {
  const [name, setName] = useState('');
  const [role, setRole] = useState<(typeof ROLES)[number]>('viewer');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>();
  return (
    <form
      class="toolbar"
      data-testid="add-operator"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(undefined);
        try {
          unwrap(await admin.POST('/operators', { params: { header: {} }, body: { name, role, password } }));
          setName('');
          setPassword('');
          props.done();
        } catch (err) {
          setError(err instanceof Error ? err.message : String(err));
        }
      }}
    >
      <strong>{t('addOperator')}</strong>
      <input
        aria-label={t('name')}
        placeholder={t('name')}
        value={name}
        onInput={(e) => setName((e.target as HTMLInputElement).value)}
      />
      <select
        aria-label={t('role')}
        value={role}
        onChange={(e) => setRole((e.target as HTMLSelectElement).value as typeof role)}
      >
        {ROLES.map((r) => (
          <option key={r} value={r}>
            {r}
          </option>
        ))}
      </select>
      <input
        type="password"
        autocomplete="new-password"
        aria-label={t('newPassword')}
        placeholder={t('newPassword')}
        value={password}
        onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
      />
      <button type="submit">{t('add')}</button>
      <ErrorLine error={error} />
    </form>
  );
}

export function Operators() {
  const { data, error, reload } = useLoad(async () => unwrap(await admin.GET('/operators')), []);
  return (
    <section>
      <h1>{t('operators')}</h1>
      <ErrorLine error={error} />
      <AddOperator done={reload} />
      {data ? (
        <Table<Schemas['Operator']>
          testid="operators"
          rows={data.items}
          columns={[
            { title: t('name'), cell: (o) => o.name },
            { title: t('role'), cell: (o) => <RoleSelect operator={o} done={reload} /> },
            { title: t('lastLogin'), cell: (o) => <Time iso={o.lastLoginAt} /> },
            { title: t('lockedUntil'), cell: (o) => <Time iso={o.lockedUntil} /> },
            { title: t('disabled'), cell: (o) => <Time iso={o.disabledAt} /> },
            {
              title: ' ',
              cell: (o) => (
                <ActionButton
                  label={t('resetPassword')}
                  input={{ label: t('newPassword'), type: 'password' }}
                  testid={`reset-${o.name}`}
                  run={async (password) =>
                    unwrap(
                      await admin.POST('/operators/{name}/reset-password', {
                        params: { path: { name: o.name }, header: {} },
                        body: { password: password ?? '' },
                      }),
                    )
                  }
                  done={reload}
                />
              ),
            },
            {
              title: '',
              cell: (o) =>
                o.disabledAt ? null : (
                  <ActionButton
                    label={t('disable')}
                    danger
                    testid={`disable-${o.name}`}
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

// ------------------------------------------------------------------------------------------- webhooks

type Delivery = Schemas['WebhookDelivery'];

function DeliveryAttempts(props: { id: string }) {
  const { data, error } = useLoad(
    async () => unwrap(await admin.GET('/webhooks/deliveries/{id}', { params: { path: { id: props.id } } })),
    [props.id],
  );
  return (
    <div class="attempts" data-testid={`attempts-${props.id}`}>
      <ErrorLine error={error} />
      {data ? (
        <Table
          rows={data.attemptLog ?? []}
          columns={[
            { title: '#', cell: (a) => a.attempt },
            { title: t('at'), cell: (a) => <Time iso={a.at} /> },
            { title: t('httpStatus'), cell: (a) => a.statusCode ?? '—' },
            { title: t('lastError'), cell: (a) => <span class="clip">{a.error}</span> },
            { title: 'ms', cell: (a) => Math.round(a.durationMs) },
          ]}
        />
      ) : null}
    </div>
  );
}

/** A new endpoint: URL and event types; the signing secret is shown once, here, and never again. */
function AddEndpoint(props: { done: () => void }) {
  const types = useLoad(async () => unwrap(await admin.GET('/webhooks/event-types')), []);
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<string[]>([]);
  const [error, setError] = useState<string | undefined>();
  const [created, setCreated] = useState<{ url: string; secret: string } | undefined>();
  return (
    <details class="offline" data-testid="add-endpoint">
      <summary>{t('addEndpoint')}</summary>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setError(undefined);
          try {
            const r = unwrap(
              await admin.POST('/webhooks/endpoints', { params: { header: {} }, body: { url: url.trim(), events } }),
            );
            setCreated({ url: r.endpoint.url, secret: r.secret });
            setUrl('');
            setEvents([]);
            props.done();
          } catch (err) {
            setError(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
          }
        }}
      >
        <label>
          {t('url')}
          <input
            name="endpointUrl"
            placeholder="https://crm.example.com/licensor"
            value={url}
            onInput={(e) => setUrl((e.target as HTMLInputElement).value)}
          />
        </label>
        <fieldset>
          <legend>{t('events')}</legend>
          {(types.data?.items ?? []).map((type) => (
            <label key={type} class="check">
              <input
                type="checkbox"
                checked={events.includes(type)}
                onChange={(e) =>
                  setEvents((now) =>
                    (e.target as HTMLInputElement).checked ? [...now, type] : now.filter((x) => x !== type),
                  )
                }
              />
              {type}
            </label>
          ))}
        </fieldset>
        <button type="submit">{t('add')}</button>
        <ErrorLine error={error ?? types.error} />
      </form>
      {created ? (
        <div class="notice" data-testid="endpoint-secret">
          <p>{t('secretOnce')}</p>
          <code>{created.secret}</code>
        </div>
      ) : null}
    </details>
  );
}

export function Webhooks() {
  const params = filters(['endpointId', 'status', 'eventType']);
  const { limit, ...deliveryFilter } = params;
  const endpoints = useLoad(async () => unwrap(await admin.GET('/webhooks/endpoints')), []);
  const deliveries = useLoad(
    async () =>
      unwrap(
        await admin.GET('/webhooks/deliveries', {
          params: { query: { ...deliveryFilter, ...(limit ? { limit: Number(limit) } : {}) } as never },
        }),
      ),
    [location.search],
  );
  const [open, setOpen] = useState<string | undefined>();
  const reload = () => {
    endpoints.reload();
    deliveries.reload();
  };
  return (
    <section>
      <h1>{t('webhooks')}</h1>
      <p>{t('webhooksHint')}</p>
      <h2>{t('endpoints')}</h2>
      {canAdminister() ? <AddEndpoint done={reload} /> : null}
      <ErrorLine error={endpoints.error} />
      {endpoints.data ? (
        <Table<Schemas['WebhookEndpoint']>
          testid="webhook-endpoints"
          rows={endpoints.data.items}
          columns={[
            {
              title: t('url'),
              cell: (ep) => (
                <Link href={withQuery({ endpointId: ep.id, cursor: undefined })}>
                  <code>{ep.url}</code>
                </Link>
              ),
            },
            { title: t('events'), cell: (ep) => ep.events.join(', ') },
            {
              title: t('enabled'),
              cell: (ep) => <Status value={ep.enabled ? 'active' : 'suspended'} />,
            },
            { title: t('created'), cell: (ep) => <Time iso={ep.createdAt} /> },
            {
              title: '',
              cell: (ep) =>
                // Resuming deliveries needs an admin (like registering an endpoint); pausing them, an operator.
                !ep.enabled && !canAdminister() ? null : (
                  <ActionButton
                    label={ep.enabled ? t('disable') : t('enable')}
                    danger={ep.enabled}
                    testid={`endpoint-${ep.enabled ? 'disable' : 'enable'}-${ep.id}`}
                    run={async () =>
                      unwrap(
                        await admin.POST(
                          ep.enabled ? '/webhooks/endpoints/{id}/disable' : '/webhooks/endpoints/{id}/enable',
                          { params: { path: { id: ep.id }, header: {} } },
                        ),
                      )
                    }
                    done={reload}
                  />
                ),
            },
          ]}
        />
      ) : null}
      <h2>{t('deliveries')}</h2>
      <div class="toolbar">
        <select
          aria-label={t('status')}
          value={params.status ?? ''}
          onChange={(e) => navigate(withQuery({ status: (e.target as HTMLSelectElement).value }))}
        >
          <option value="">
            {t('status')}: {t('all')}
          </option>
          {['failed', 'pending', 'delivered'].map((v) => (
            <option key={v} value={v}>
              {v}
            </option>
          ))}
        </select>
        {params.endpointId ? (
          <Link href={withQuery({ endpointId: undefined })}>
            {t('clearFilter')} ({params.endpointId})
          </Link>
        ) : null}
      </div>
      <ErrorLine error={deliveries.error} />
      {deliveries.data ? (
        <Table<Delivery>
          testid="webhook-deliveries"
          rows={deliveries.data.items}
          rowClass={(d) => (d.status === 'failed' ? 'failed' : '')}
          columns={[
            { title: t('created'), cell: (d) => <Time iso={d.createdAt} /> },
            { title: t('event'), cell: (d) => d.eventType },
            { title: t('url'), cell: (d) => <span class="clip">{d.url}</span> },
            { title: t('status'), cell: (d) => <Status value={d.status} /> },
            {
              title: t('attempts'),
              cell: (d) => (
                <button type="button" class="linkish" onClick={() => setOpen(open === d.id ? undefined : d.id)}>
                  {d.attempts}
                </button>
              ),
            },
            { title: t('httpStatus'), cell: (d) => d.lastStatus ?? '—' },
            { title: t('lastError'), cell: (d) => <span class="clip">{d.lastError}</span> },
            { title: t('nextAttempt'), cell: (d) => <Time iso={d.nextAttemptAt} /> },
            {
              title: '',
              cell: (d) =>
                d.status === 'pending' ? null : (
                  <ActionButton
                    label={t('replay')}
                    testid={`replay-${d.id}`}
                    run={async () =>
                      unwrap(
                        await admin.POST('/webhooks/deliveries/{id}/replay', {
                          params: { path: { id: d.id }, header: {} },
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
      {deliveries.data?.nextCursor || params.cursor ? (
        <nav class="pager" data-testid="deliveries-pager">
          {params.cursor ? <Link href={withQuery({ cursor: undefined })}>{t('first')}</Link> : null}
          {deliveries.data?.nextCursor ? (
            <Link href={withQuery({ cursor: deliveries.data.nextCursor })}>{t('next')}</Link>
          ) : null}
        </nav>
      ) : null}
      {open ? (
        <>
          <h2>
            {t('attemptLog')} <code>{open}</code>
          </h2>
          <DeliveryAttempts id={open} />
        </>
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
        hidden={!canAct()}
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
                  </span>{' '}
                  {data.fingerprints[k] ? (
                    <code title={t('fingerprint')} class="muted">
                      {data.fingerprints[k]}
                    </code>
                  ) : null}
                </dd>
              </Fragment>
            ))}
          </dl>
          <h2>{t('bindingWarnings')}</h2>
          {data.warnings.length === 0 ? (
            <p data-testid="binding-warnings">{t('noBindings')}</p>
          ) : (
            <ul class="warnings" data-testid="binding-warnings">
              {data.warnings.map((w) => (
                <li key={`${w.interface}-${w.kind}`} class={w.kind === 'bound' ? 'warn' : 'bad'}>
                  <strong>{w.interface}</strong> {w.message}
                </li>
              ))}
            </ul>
          )}
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
