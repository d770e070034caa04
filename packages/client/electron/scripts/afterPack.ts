/**
 * electron-builder afterPack hook (bundled by build.ts to dist/afterPack.cjs): flips Electron's fuses in the
 * packaged binary before it is signed, so a shipped app cannot be turned into a Node interpreter or told to
 * load code from outside its (integrity-checked) asar:
 *   RunAsNode off, EnableNodeOptionsEnvironmentVariable off, EnableNodeCliInspectArguments off,
 *   OnlyLoadAppFromAsar on, EnableEmbeddedAsarIntegrityValidation on, EnableCookieEncryption on,
 *   GrantFileProtocolExtraPrivileges off (the shell serves its pages over app://, not file://).
 */
import { join } from 'node:path';
import { type FuseConfig, FuseV1Options, FuseVersion, flipFuses } from '@electron/fuses';

/** The subset of electron-builder's AfterPackContext the hook reads. */
export interface AfterPackContextLike {
  appOutDir: string;
  electronPlatformName: string;
  /** builder-util's Arch enum: ia32 = 0, x64 = 1, armv7l = 2, arm64 = 3, universal = 4. */
  arch: number;
  packager: { appInfo: { productFilename: string }; executableName?: string };
}

const ARCH_ARM64 = 3;

export const FUSES = {
  [FuseV1Options.RunAsNode]: false,
  [FuseV1Options.EnableCookieEncryption]: true,
  [FuseV1Options.EnableNodeOptionsEnvironmentVariable]: false,
  [FuseV1Options.EnableNodeCliInspectArguments]: false,
  [FuseV1Options.EnableEmbeddedAsarIntegrityValidation]: true,
  [FuseV1Options.OnlyLoadAppFromAsar]: true,
  [FuseV1Options.LoadBrowserProcessSpecificV8Snapshot]: false,
  [FuseV1Options.GrantFileProtocolExtraPrivileges]: false,
} as const;

/** Path of the Electron binary (or .app bundle) that carries the fuse wire, per platform. */
export function electronBinaryPath(context: AfterPackContextLike): string {
  const { appOutDir, electronPlatformName, packager } = context;
  const name = packager.appInfo.productFilename;
  switch (electronPlatformName) {
    case 'darwin':
    case 'mas':
      return join(appOutDir, `${name}.app`);
    case 'win32':
      return join(appOutDir, `${name}.exe`);
    default:
      return join(appOutDir, packager.executableName ?? name);
  }
}

export function fuseConfigFor(context: AfterPackContextLike): FuseConfig {
  return {
    version: FuseVersion.V1,
    // Flipping fuses invalidates the ad-hoc signature of Apple-silicon builds; re-sign before the real signing.
    resetAdHocDarwinSignature: context.electronPlatformName === 'darwin' && context.arch === ARCH_ARM64,
    ...FUSES,
  };
}

export async function applyFuses(
  context: AfterPackContextLike,
  flip: (path: string, config: FuseConfig) => Promise<unknown> = flipFuses,
): Promise<void> {
  await flip(electronBinaryPath(context), fuseConfigFor(context));
}

export default applyFuses;
