import { homedir } from 'node:os';
import { join } from 'node:path';
import { LicensorError } from '@licensor/shared';

export interface DataDirContext {
  platform?: NodeJS.Platform;
  env?: Record<string, string | undefined>;
  home?: string;
}

/**
 * The per-user folder for an app's license data:
 * - Windows: `%APPDATA%\<app>\licensor`
 * - macOS: `~/Library/Application Support/<app>/licensor`
 * - Linux and others: `$XDG_CONFIG_HOME/<app>/licensor`, else `~/.config/<app>/licensor`
 */
export function defaultDataDir(appName: string, ctx: DataDirContext = {}): string {
  if (typeof appName !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/.test(appName) || appName.includes('..')) {
    throw new LicensorError(
      'INVALID_INPUT',
      'appName must be 1–100 letters, digits, spaces, dots, dashes or underscores (it names a folder)',
      { appName },
    );
  }
  const platform = ctx.platform ?? process.platform;
  const env = ctx.env ?? process.env;
  const home = ctx.home ?? homedir();
  // Build with the target platform's separator so a Windows path is not mixed with '/' when computed elsewhere.
  const joinFor = (...parts: string[]) => (platform === 'win32' ? parts.join('\\') : join(...parts));
  switch (platform) {
    case 'win32':
      return joinFor(env.APPDATA || joinFor(home, 'AppData', 'Roaming'), appName, 'licensor');
    case 'darwin':
      return join(home, 'Library', 'Application Support', appName, 'licensor');
    default:
      return join(
        env.XDG_CONFIG_HOME?.startsWith('/') ? env.XDG_CONFIG_HOME : join(home, '.config'),
        appName,
        'licensor',
      );
  }
}
