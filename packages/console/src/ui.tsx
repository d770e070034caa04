import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from './api/client';
import { formatTime, t } from './i18n';

/**
 * The signed-in operator's role. Viewers see no action buttons at all (the server refuses them anyway):
 * a button that can only fail is noise.
 */
let role: 'viewer' | 'operator' | 'admin' = 'viewer';
export const setRole = (r: typeof role) => {
  role = r;
};
export const canAct = () => role !== 'viewer';
/** Token, operator and webhook-endpoint management: the admin scope on the server, so admins only here too. */
export const canAdminister = () => role === 'admin';

/** Client-side navigation under /console: filters live in the URL, so a link can be shared. */
export const BASE = '/console';
let rerender: () => void = () => {};
export const onNavigate = (fn: () => void) => {
  rerender = fn;
  window.addEventListener('popstate', fn);
};
export function navigate(to: string) {
  history.pushState(null, '', to);
  rerender();
}

export function Link(props: { href: string; children: ComponentChildren; class?: string; testid?: string }) {
  return (
    <a
      href={props.href}
      class={props.class}
      data-testid={props.testid}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(props.href);
      }}
    >
      {props.children}
    </a>
  );
}

export const query = () => new URLSearchParams(location.search);

/** A URL of the current page with some query parameters changed (undefined or '' removes one). */
export function withQuery(changes: Record<string, string | undefined>): string {
  const q = query();
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === '') q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  return `${location.pathname}${s ? `?${s}` : ''}`;
}

export function Time(props: { iso: string | null | undefined }) {
  const { text, utc } = formatTime(props.iso);
  return (
    <time dateTime={props.iso ?? undefined} title={utc}>
      {text}
    </time>
  );
}

export function Status(props: { value: string }) {
  return <span class={`status status-${props.value}`}>{props.value}</span>;
}

/** Loads data for the current URL; `reload` fetches again after an action. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setError(undefined);
    load().then(
      (d) => live && setData(d),
      (e: unknown) => live && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { data, error, reload };
}

export function ErrorLine(props: { error: string | undefined }) {
  return props.error ? (
    <p class="error" role="alert">
      {props.error}
    </p>
  ) : null;
}

export interface Column<T> {
  title: string;
  cell: (row: T) => ComponentChildren;
}

export function Table<T>(props: { rows: T[]; columns: Column<T>[]; testid?: string; rowClass?: (r: T) => string }) {
  if (props.rows.length === 0) return <p class="empty">{t('none')}</p>;
  return (
    <table data-testid={props.testid}>
      <thead>
        <tr>
          {props.columns.map((c) => (
            <th key={c.title}>{c.title}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.rows.map((r, i) => (
          <tr key={i} class={props.rowClass?.(r)}>
            {props.columns.map((c) => (
              <td key={c.title}>{c.cell(r)}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * Keyset paging: "next" carries the API's cursor in the URL (`param`, for a second list on one page); "first"
 * drops it. A capped total reads "10,000+": the server counts no further.
 */
export function Pager(props: {
  total: number;
  capped?: boolean;
  shown: number;
  nextCursor: string | null | undefined;
  param?: string;
  testid?: string;
}) {
  const param = props.param ?? 'cursor';
  const cursor = query().get(param);
  return (
    <nav class="pager" data-testid={props.testid}>
      <span>
        {props.shown} / {props.total.toLocaleString()}
        {props.capped ? '+' : ''}
      </span>
      {cursor ? <Link href={withQuery({ [param]: undefined })}>{t('first')}</Link> : null}
      {props.nextCursor ? <Link href={withQuery({ [param]: props.nextCursor })}>{t('next')}</Link> : null}
    </nav>
  );
}

/**
 * Asks for a reason (or another value: `input`) before an action; the action's error (e.g. 403 for a viewer)
 * is shown in place.
 */
export function ActionButton(props: {
  label: string;
  needsReason?: boolean;
  /** A required value other than the reason: its label, and `password` to mask it. */
  input?: { label: string; type?: 'text' | 'password' };
  run: (reason: string | undefined) => Promise<unknown>;
  done: () => void;
  danger?: boolean;
  testid?: string;
}) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const asks = Boolean(props.needsReason || props.input);
  if (!canAct()) return null;
  const go = async () => {
    if (asks && !reason.trim()) {
      setError(props.input ? `${props.input.label}?` : t('reasonRequired'));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await props.run(asks ? reason.trim() : undefined);
      setOpen(false);
      setReason('');
      props.done();
    } catch (e) {
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e));
    } finally {
      setBusy(false);
    }
  };
  if (!open && !error)
    return (
      <button
        type="button"
        class={props.danger ? 'danger' : ''}
        data-testid={props.testid}
        onClick={() => (asks ? setOpen(true) : void go())}
      >
        {props.label}
      </button>
    );
  return (
    <span class="action-form">
      {open ? (
        <>
          <input
            type={props.input?.type ?? 'text'}
            placeholder={props.input?.label ?? t('reason')}
            aria-label={props.input?.label ?? t('reason')}
            value={reason}
            data-testid={props.testid ? `${props.testid}-reason` : undefined}
            onInput={(e) => setReason((e.target as HTMLInputElement).value)}
          />
          <button
            type="button"
            class={props.danger ? 'danger' : ''}
            disabled={busy}
            data-testid={props.testid ? `${props.testid}-confirm` : undefined}
            onClick={() => void go()}
          >
            {t('confirm')}
          </button>
          <button
            type="button"
            onClick={() => {
              setOpen(false);
              setError(undefined);
            }}
          >
            {t('cancel')}
          </button>
        </>
      ) : (
        <button type="button" onClick={() => setError(undefined)}>
          {props.label}
        </button>
      )}
      {error ? (
        <span class="error" role="alert">
          {error}
        </span>
      ) : null}
    </span>
  );
}
