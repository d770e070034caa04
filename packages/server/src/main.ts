import { join } from 'node:path';
import { LicensorError } from '@licensor/shared';
import { loadConfig } from './config';
import { createLogger } from './logger';
import { metricsWhere, startServer } from './server';

/** `npm start`: validates configuration, starts the server and prints where everything is. */
async function main() {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof LicensorError) {
      console.error(`✖ ${err.message}\n  See packages/server/README.md#configuration for every variable.`);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const running = await startServer(config, log).catch((err: Error & { code?: string }) => {
    const hint = err.code === 'EADDRINUSE' ? ` Port ${config.port} is in use: set PORT to another port.` : '';
    console.error(`✖ Could not start the server: ${err.message}.${hint}`);
    process.exit(1);
  });
  const rootCert = join(config.dataDir, 'keys', 'root.crt.pem');
  const lines = [
    '',
    `  Licensor server listening on ${running.url}`,
    `  Data folder:        ${config.dataDir}${running.keysCreated ? '   (new: keys generated)' : ''}`,
    `  Root certificate:   ${rootCert}   ← pin this in @licensor/client`,
    `  Production URL:     ${running.url}/api/koogallery/produce`,
    `  Health / metrics:   ${running.url}/healthz   ${metricsWhere(config, running)}`,
    `  Marketplace keys:   family A ${config.koo.key ? 'set' : 'not set (LICENSOR_KOO_KEY)'}, families B/C ${
      config.koo.accessKeys.basic ? 'set' : 'not set (LICENSOR_KOO_ACCESS_KEY)'
    }, open API ${config.koo.ak ? `AK/SK → ${config.koo.apiBase}` : 'not set (LICENSOR_KOO_AK/SK)'}`,
    `  Merchant console:   ${running.url}/console   (accounts: licensor operators add --name <you> --role admin)`,
    `  Admin API:          ${config.adminToken ? 'bootstrap token from LICENSOR_ADMIN_TOKEN' : 'no LICENSOR_ADMIN_TOKEN; create a token with `licensor tokens create`'}`,
    '',
    ...(running.developmentRoot ? [`  ⚠  ${running.developmentRoot}`, ''] : []),
  ];
  console.log(lines.join('\n'));
  const shutdown = async (signal: string) => {
    log.info({ signal }, 'shutting down');
    await running.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

void main();
