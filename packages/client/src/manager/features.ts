// Feature gates: what the last verified License grants (read offline, no lock: it only reads the published status).
import type { LicenseStatus } from '../evaluate';

/** A feature's value in the verified License (`true` or a limit such as 20); undefined when absent or not valid. */
export function featureValue(last: LicenseStatus | undefined, name: string): true | number | undefined {
  if (!last?.valid || !last.license || !Object.hasOwn(last.license.features, name)) return undefined;
  return last.license.features[name];
}

/** Whether the verified License grants a feature: the license is valid and the feature is on (`true`, or a number above 0). */
export function hasFeature(last: LicenseStatus | undefined, name: string): boolean {
  const value = featureValue(last, name);
  return value === true || (typeof value === 'number' && value > 0);
}
