/**
 * The sample application page: shows what the license allows and opens the license window. A merchant's own
 * renderer uses the same two calls (status for feature decisions, openLicenseWindow for an About/License menu).
 */
import type { LicenseView } from '../shared/api';

function summary(view: LicenseView): string {
  const l = view.license;
  if (!view.valid || !l) return 'The license needs attention: open the license window.';
  const edition = l.edition ?? l.sku ?? 'standard';
  const expiry = l.expiresAt ? `until ${l.expiresAt.slice(0, 10)}` : 'without expiry';
  return `${l.product}, ${edition} edition, ${l.seats} seat(s), valid ${expiry}.`;
}

async function start(): Promise<void> {
  const out = document.getElementById('license-summary')!;
  document.getElementById('manage-license')!.addEventListener('click', () => void window.licensor.openLicenseWindow());
  window.licensor.onStatusChange((view) => {
    out.textContent = summary(view);
  });
  const r = await window.licensor.status();
  out.textContent = r.ok ? summary(r.value) : r.error.message;
}

void start();
