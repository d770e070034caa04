/**
 * @licensor/client — embed in a Node or Electron (main process) app:
 *
 *   const manager = new LicenseManager({ productId, roots: [ROOT_PEM], serverUrl, appName: 'MyApp' });
 *   const status = await manager.verify();          // offline, at every start
 *   if (status.code === 'NO_LICENSE') await manager.activate(code);
 *   manager.on('status', (s) => updateUi(s));
 *   manager.startAutoCheckIn();                     // daily check-in while online; manager.stop() on exit
 *
 * Renderer-safe texts and code hints live in `@licensor/client/messages` (no Node APIs).
 */

export { type LicenseCode, LicensorError } from '@licensor/shared';
export { defaultAnchorDir } from './anchor';
export { ApiClient, type ApiClientOptions, normalizeServerUrl } from './api';
export { defaultDataDir } from './dataDir';
export {
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_ROLLBACK_TOLERANCE_MS,
  type EvaluateInput,
  evaluateLicense,
  type LicenseInfo,
  type LicenseStatus,
  type StatusDetail,
} from './evaluate';
export {
  type BootFingerprintCacheOptions,
  type BootIdentity,
  bootFingerprintCache,
  type CollectOptions,
  collectFingerprint,
  defaultFingerprintCacheDir,
  defaultFingerprintProvider,
  type FingerprintCache,
  type FingerprintProvider,
  type FingerprintProviderOptions,
  type FingerprintReadings,
  type FingerprintSource,
  fingerprintFromReadings,
  fingerprintProvider,
  hashedFingerprint,
  type MachineFingerprint,
  type SystemInformationSourceOptions,
  systemInformationSource,
} from './fingerprint';
export {
  type ActivateOptions,
  type AutoCheckInOptions,
  type CheckInResult,
  type DeviceDescription,
  LicenseManager,
  type LicenseManagerEvents,
  type LicenseManagerOptions,
  type Timers,
} from './manager';
export {
  describeStatus,
  type Language,
  type LicenseCodeHint,
  licenseCodeHint,
  type StatusText,
  statusText,
} from './messages';
export type { SecretStore } from './store';
