// The manager's public face: the class and its types (the workflow modules and the shared state stay internal).
export { LicenseManager } from './licenseManager';
export type {
  ActivateOptions,
  AutoCheckInOptions,
  CheckInResult,
  DeviceDescription,
  LicenseManagerEvents,
  LicenseManagerOptions,
  Timers,
} from './types';
