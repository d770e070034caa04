/**
 * Anti-rollback anchors: the state file carries a generation counter bumped at every save; the latest
 * generation and trusted-time high-water mark are also written OUTSIDE the state file — into the app's
 * secret store when it has one (Electron: safeStorage) and into a small file in a per-user folder outside the
 * data folder. A state whose generation is below an anchor is an older copy put back (a restored backup, or
 * an attempt to undo a clock-rollback verdict or a server verdict) and is refused until an online check-in
 * vouches for the license again.
 *
 * What this can and cannot see is in the README's threat model: an anchor that is deleted too (both places)
 * is indistinguishable from a first run, so the state is then accepted.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { type SecretStore, writeFileAtomic } from './store';

export interface Anchor {
  /** Generation of the newest state this install has written. */
  generation: number;
  /** That state's trusted-time high-water mark (ms). */
  highWater: number;
}

/** Exported for zodLite.test.ts (the status bundle parses the anchor with it). */
export const anchorSchema = z.strictObject({
  v: z.literal(1),
  generation: z.number().int().nonnegative(),
  highWater: z.number().nonnegative(),
});

const MAX_ANCHOR_BYTES = 1024;

/**
 * The per-user folder for anchor files, deliberately not the data folder (a copy of the data folder must not
 * carry its own anchor back) and not a cache/temp folder (those are purged):
 * - Windows: `%LOCALAPPDATA%\Licensor\anchors` (the data folder is under the roaming `%APPDATA%`)
 * - macOS: `~/Library/Application Support/Licensor Anchors`
 * - Linux and others: `$XDG_STATE_HOME/licensor/anchors`, else `~/.local/state/licensor/anchors`
 */
export function defaultAnchorDir(
  ctx: { platform?: NodeJS.Platform; env?: Record<string, string | undefined>; home?: string } = {},
): string {
  const platform = ctx.platform ?? process.platform;
  const env = ctx.env ?? process.env;
  const home = ctx.home ?? homedir();
  switch (platform) {
    case 'win32':
      return [env.LOCALAPPDATA || [home, 'AppData', 'Local'].join('\\'), 'Licensor', 'anchors'].join('\\');
    case 'darwin':
      return join(home, 'Library', 'Application Support', 'Licensor Anchors');
    default:
      return join(
        env.XDG_STATE_HOME?.startsWith('/') ? env.XDG_STATE_HOME : join(home, '.local', 'state'),
        'licensor',
        'anchors',
      );
  }
}

function parseAnchor(text: string | undefined): Anchor | undefined {
  if (typeof text !== 'string' || text.length > MAX_ANCHOR_BYTES) return undefined;
  try {
    const parsed = anchorSchema.safeParse(JSON.parse(text));
    return parsed.success ? { generation: parsed.data.generation, highWater: parsed.data.highWater } : undefined;
  } catch {
    return undefined;
  }
}

export interface AnchorStoreOptions {
  productId: string;
  secretStore?: SecretStore;
  /** Folder for the anchor file; null keeps no anchor file (only the secret store's, if any). */
  anchorDir: string | null;
}

/** Reads and writes one install's anchors. `installId` names the install (derived from its salt). */
export class AnchorStore {
  readonly #productId: string;
  readonly #secretStore: SecretStore | undefined;
  readonly #dir: string | null;

  constructor(opts: AnchorStoreOptions) {
    this.#productId = opts.productId;
    this.#secretStore = opts.secretStore;
    this.#dir = opts.anchorDir;
  }

  /** Where the anchor file of an install lives (undefined when there is no anchor folder). */
  filePath(installId: string): string | undefined {
    if (this.#dir === null) return undefined;
    const name = createHash('sha256').update(`${this.#productId}\0${installId}`).digest('hex').slice(0, 32);
    return join(this.#dir, `${name}.json`);
  }

  #secretName(installId: string): string {
    return `licensor:${this.#productId}:anchor:${installId}`;
  }

  /** The highest anchor found in any place; unreadable or garbled anchors count as absent. */
  async read(installId: string): Promise<Anchor | undefined> {
    const found: Anchor[] = [];
    if (this.#secretStore) {
      try {
        const a = parseAnchor(await this.#secretStore.get(this.#secretName(installId)));
        if (a) found.push(a);
      } catch {
        /* an OS store that does not answer holds no anchor we can use */
      }
    }
    const path = this.filePath(installId);
    if (path) {
      try {
        const a = parseAnchor(readFileSync(path, 'utf8'));
        if (a) found.push(a);
      } catch {
        /* missing: a first run, or deleted (see the threat model) */
      }
    }
    if (found.length === 0) return undefined;
    return found.reduce((a, b) => (b.generation > a.generation ? b : a));
  }

  /**
   * Records the state just written. Best effort in each place: an anchor that cannot be written (read-only
   * home, a locked keychain) must not stop a license from working; it only weakens rollback detection.
   */
  async write(installId: string, anchor: Anchor): Promise<void> {
    const text = JSON.stringify({ v: 1, generation: anchor.generation, highWater: anchor.highWater });
    if (this.#secretStore) {
      try {
        await this.#secretStore.set(this.#secretName(installId), text);
      } catch {
        /* best effort, see above */
      }
    }
    const path = this.filePath(installId);
    if (path && this.#dir) {
      try {
        mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
        writeFileAtomic(path, `${text}\n`);
      } catch {
        /* best effort, see above */
      }
    }
  }
}
