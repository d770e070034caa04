/**
 * The IPC surface: one `ipcMain.handle` per API method. Each handler first checks the sender frame (our own
 * top-level page; the license page for anything that changes the license), then the arguments (zod, exact
 * arity), and only then calls the service. Refusals are values (`{ok:false}`), never exceptions.
 */
import { z } from 'zod';
import { CHANNELS, type ErrorView, type InvokeChannel, type Result } from '../shared/api';
import type { InvokeEventLike, IpcMainLike } from './electronTypes';
import type { LicenseService } from './licenseService';
import { isTrustedSender, type SenderScope } from './security';

/** What a person can paste as a code: whitespace is dropped here too, the manager normalises the rest. */
const codeArg = z
  .string()
  .max(256, 'The license code is too long')
  .transform((s) => s.replace(/\s+/g, ''))
  .pipe(z.string().min(1, 'Enter the license code from your order').max(64, 'The license code is too long'));
const deviceIdArg = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'Pick a device from the list');

export interface IpcActions {
  service: LicenseService;
  /** Opens the application window if the license is valid; false otherwise. */
  openApp(): Promise<boolean>;
  openLicenseWindow(): Promise<boolean>;
}

export interface IpcLog {
  warn(message: string, detail?: Record<string, unknown>): void;
}

interface Route {
  scope: SenderScope;
  args: z.ZodType<unknown[]>;
  run(actions: IpcActions, args: unknown[]): Promise<Result<unknown>>;
}

const none = z.tuple([]);
const ROUTES: Record<InvokeChannel, Route> = {
  [CHANNELS.status]: { scope: 'any-page', args: none, run: (a) => a.service.status() },
  [CHANNELS.openLicenseWindow]: {
    scope: 'any-page',
    args: none,
    run: async (a) => ({ ok: true, value: await a.openLicenseWindow() }),
  },
  [CHANNELS.activate]: {
    scope: 'license-page',
    args: z.tuple([codeArg]),
    run: (a, [code]) => a.service.activate(code as string),
  },
  [CHANNELS.checkIn]: { scope: 'license-page', args: none, run: (a) => a.service.checkIn() },
  [CHANNELS.deactivate]: { scope: 'license-page', args: none, run: (a) => a.service.deactivate() },
  [CHANNELS.createOfflineRequest]: {
    scope: 'license-page',
    args: z.tuple([codeArg]),
    run: (a, [code]) => a.service.createOfflineRequest(code as string),
  },
  [CHANNELS.importLicenseFile]: { scope: 'license-page', args: none, run: (a) => a.service.importLicenseFile() },
  [CHANNELS.listDevices]: {
    scope: 'license-page',
    args: z.tuple([codeArg]),
    run: (a, [code]) => a.service.listDevices(code as string),
  },
  [CHANNELS.releaseDevice]: {
    scope: 'license-page',
    args: z.tuple([codeArg, deviceIdArg]),
    run: (a, [code, id]) => a.service.releaseDevice(code as string, id as string),
  },
  [CHANNELS.openApp]: {
    scope: 'license-page',
    args: none,
    run: async (a) => ({ ok: true, value: await a.openApp() }),
  },
};

const refuse = (error: ErrorView): Result<never> => ({ ok: false, error });

/** The handler for one channel (exported for tests; `registerIpc` installs all of them). */
export function handlerFor(channel: InvokeChannel, actions: IpcActions, log?: IpcLog) {
  const route = ROUTES[channel];
  return async (event: InvokeEventLike, ...args: unknown[]): Promise<Result<unknown>> => {
    if (!isTrustedSender(event?.senderFrame ?? null, route.scope)) {
      log?.warn('IPC call refused: untrusted sender', { channel, url: event?.senderFrame?.url?.slice(0, 200) });
      return refuse({
        code: 'FORBIDDEN',
        message: 'This page may not use the license API.',
        retryable: false,
      });
    }
    const parsed = route.args.safeParse(args);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return refuse({
        code: 'INVALID_INPUT',
        // Element issues carry our messages; an empty path means the argument count is wrong.
        message:
          issue && issue.path.length > 0
            ? issue.message
            : `${channel} takes ${route.args === none ? 'no' : 'other'} arguments`,
        retryable: false,
      });
    }
    try {
      return await route.run(actions, parsed.data);
    } catch (err) {
      // The service already turns failures into values; this guards the window actions.
      log?.warn('IPC handler failed', { channel, error: (err as Error)?.message });
      return refuse({ code: 'INTERNAL', message: 'The operation failed unexpectedly. Try again.', retryable: true });
    }
  };
}

/** Installs every handler; returns a function that removes them (window reloads in development, tests). */
export function registerIpc(ipcMain: IpcMainLike, actions: IpcActions, log?: IpcLog): () => void {
  const channels = Object.keys(ROUTES) as InvokeChannel[];
  for (const channel of channels) ipcMain.handle(channel, handlerFor(channel, actions, log));
  return () => {
    for (const channel of channels) ipcMain.removeHandler(channel);
  };
}

export const INVOKE_CHANNELS: readonly InvokeChannel[] = Object.keys(ROUTES) as InvokeChannel[];
