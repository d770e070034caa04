/**
 * The license gate: at start-up it verifies the stored License offline and opens the application window when
 * it is valid, the license window (activation) otherwise. While the app runs it follows the manager's status
 * events: a license that stops being valid (frozen, revoked, grace over…) closes the application window and
 * shows the license window with the reason; the app opens again only through `openApp()` once valid.
 */
import type { LicenseStatus } from '../../src';
import type { LicenseView } from '../shared/api';
import type { ShellManager } from './licenseService';

export type StartDecision = 'app' | 'license';

/** VALID (with or without a warning) opens the app; every other code needs the person's attention. */
export function decide(status: Pick<LicenseStatus, 'valid'>): StartDecision {
  return status.valid ? 'app' : 'license';
}

export interface GateWindows {
  showApp(): Promise<unknown>;
  showLicense(): Promise<unknown>;
  close(kind: 'app' | 'license'): void;
  isOpen(kind: 'app' | 'license'): boolean;
}

export interface LicenseGateOptions {
  manager: ShellManager;
  windows: GateWindows;
  toView(status: LicenseStatus): LicenseView;
  /** Every status change, as a view (the shell broadcasts it to windows and the tray). */
  onStatus(view: LicenseView): void;
}

export class LicenseGate {
  readonly #o: LicenseGateOptions;
  #listener: ((status: LicenseStatus) => void) | undefined;

  constructor(opts: LicenseGateOptions) {
    this.#o = opts;
  }

  /** Verifies offline, opens the right window and starts following status changes. */
  async start(): Promise<StartDecision> {
    const { manager, windows, toView, onStatus } = this.#o;
    this.#listener = (status) => {
      onStatus(toView(status));
      if (!status.valid && windows.isOpen('app')) {
        windows.close('app');
        void windows.showLicense();
      }
    };
    manager.on('status', this.#listener);
    const status = await manager.verify();
    const decision = decide(status);
    if (decision === 'app') await windows.showApp();
    else await windows.showLicense();
    return decision;
  }

  /** Opens the application (and closes the license window) only when the license verifies now. */
  async openApp(): Promise<boolean> {
    const status = await this.#o.manager.verify();
    if (!status.valid) return false;
    await this.#o.windows.showApp();
    this.#o.windows.close('license');
    return true;
  }

  stop(): void {
    if (this.#listener) this.#o.manager.off('status', this.#listener);
    this.#listener = undefined;
  }
}
