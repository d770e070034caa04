import { LicensorError } from '@licensor/shared';
import type { Storage } from '../db/storage';
import { SecretBox } from './secretBox';
import { secretAad } from './store';

/**
 * The client secret of a Kit application as the marketplace sent it (RSA-OAEP ciphertext for the merchant's
 * key, or the seller's own text in debugging), for whoever implements the enterprise sign-in. Never exposed
 * by the admin API or the CLI.
 */
export async function readClientSecret(
  db: Storage,
  dataDir: string,
  instanceId: string,
  tenantId: string,
  appId: string,
  box: SecretBox = SecretBox.forDataDir(dataDir),
): Promise<string | null> {
  const row = await db.first<{ client_secret_enc: string | null }>(
    'SELECT client_secret_enc FROM kit_apps WHERE instance_id = ? AND tenant_id = ? AND app_id = ?',
    [instanceId, tenantId, appId],
  );
  if (!row)
    throw new LicensorError(
      'NOT_FOUND',
      `No Kit application ${appId} for tenant ${tenantId} of instance ${instanceId}`,
    );
  return row.client_secret_enc === null
    ? null
    : box.open(row.client_secret_enc, secretAad({ instanceId, tenantId }, appId));
}
