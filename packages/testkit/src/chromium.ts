import { readdirSync, readFileSync } from 'node:fs';

/**
 * How the browser end-to-end tests (test/console.e2e.test.ts, packages/client/electron/renderer.e2e.test.ts)
 * launch Debian's Chromium through playwright-core.
 *
 * Chromium's headless mode is the whole browser: every window, one per browser context, preloads its address bar's
 * popup (chrome://omnibox-popup.top-chrome, two WebUI renderers) that no test page uses, ≈ 0.8 CPU-s per context on
 * two cores, more than the page's own renderer. Two features turn the preload off. Chromium reads only the last
 * --disable-features on its command line, so ours repeats playwright-core's own list (1.65, chromiumSwitches.ts) and
 * replaces it; `checkChromiumFeatures` fails if playwright-core's list changed and so was not replaced.
 */
export const CHROMIUM = '/usr/bin/chromium';

const PLAYWRIGHT_DISABLED_FEATURES = [
  'AvoidUnnecessaryBeforeUnloadCheckSync',
  'DestroyProfileOnBrowserClose',
  'HttpsUpgrades',
  'HttpsFirstBalancedModeAutoEnable',
  'LensOverlay',
  'MediaRouter',
  'PaintHolding',
  'ThirdPartyStoragePartitioning',
  'AvoidCorsURLLoaderRestartOnRedirect',
  'TcpPortRandomizationWin',
  'OptimizationHints',
  'NetworkTimeServiceQuerying',
  'AimEnabled',
  'PreconnectToSearch',
  'msForceBrowserSignIn',
  'msEdgeUpdateLaunchServicesPreferredVersion',
];
const PLAYWRIGHT_DISABLE_FEATURES = `--disable-features=${PLAYWRIGHT_DISABLED_FEATURES.join(',')}`;
const OMNIBOX_POPUP_FEATURES = ['WebUIOmniboxPopup', 'WebUIOmniboxAimPopup'];

/** Options for playwright-core's `chromium.launch`: Debian's Chromium, `args` plus the features above. */
export function chromiumLaunchOptions(args: string[]): {
  executablePath: string;
  args: string[];
  ignoreDefaultArgs: string[];
} {
  return {
    executablePath: CHROMIUM,
    ignoreDefaultArgs: [PLAYWRIGHT_DISABLE_FEATURES],
    args: [...args, [PLAYWRIGHT_DISABLE_FEATURES, ...OMNIBOX_POPUP_FEATURES].join(',')],
  };
}

/**
 * Throws unless this process started a Chromium browser process and each has one --disable-features, ours (Linux:
 * reads /proc). Two mean that playwright-core's own list differs from PLAYWRIGHT_DISABLED_FEATURES: ours, the last,
 * would silently re-enable what playwright-core added to its list.
 */
export function checkChromiumFeatures(): void {
  let browsers = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let args: string[];
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue;
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // exited meanwhile
    }
    if (!args[0]?.includes('chromium') || args.some((a) => a.startsWith('--type='))) continue;
    browsers++;
    const lists = args.filter((a) => a.startsWith('--disable-features='));
    if (lists.length !== 1 || !OMNIBOX_POPUP_FEATURES.every((f) => lists[0]!.split(/[=,]/).includes(f))) {
      throw new Error(
        `Chromium (pid ${pid}) got ${lists.join(' ')}: playwright-core's own --disable-features list changed; ` +
          'copy it into PLAYWRIGHT_DISABLED_FEATURES (packages/testkit/src/chromium.ts)',
      );
    }
  }
  if (browsers === 0) throw new Error(`no Chromium browser process started by this process (${process.pid})`);
}
