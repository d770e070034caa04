import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_SERVER_ENV, type Child, freePort, licensorServerArgs, spawnNode } from '../../packages/server/bench/lib';

/**
 * Reads a V8 `.cpuprofile` (written by `node --cpu-prof`) and lists where the CPU time went: self time per
 * function, largest first. That names the hot spot of a scenario that misses its goal, with numbers.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

export interface HotSpot {
  fn: string;
  where: string;
  selfMs: number;
  share: number;
}

const sourceMaps = new Map<string, SourceMap | null>();
/** The source map of a built file (`dist/…js`, esbuild writes `….js.map` beside it), or null. */
function sourceMapOf(path: string): SourceMap | null {
  let map = sourceMaps.get(path);
  if (map === undefined) {
    map = existsSync(`${path}.map`) ? new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8'))) : null;
    sourceMaps.set(path, map);
  }
  return map;
}

function location(url: string, line: number, column: number, root: string): string {
  if (!url) return '(native)';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const pkg = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return `${pkg[1]}`;
  if (path.startsWith('node:')) return path;
  // The server runs built (dist/, bundled chunks): name the TypeScript source line the function comes from.
  const entry = sourceMapOf(path)?.findEntry(line, column);
  if (entry && 'originalSource' in entry) {
    const source = entry.originalSource.startsWith('file://')
      ? fileURLToPath(entry.originalSource)
      : entry.originalSource;
    return `${relative(root, resolve(dirname(path), source))}:${entry.originalLine + 1}`;
  }
  // tsx compiles each TypeScript module to a single line: the column then tells functions apart.
  return line === 0 ? `${relative(root, path)} (compiled column ${column})` : `${relative(root, path)}:${line + 1}`;
}

export function hotSpots(profilePath: string, root: string, top = 12): { totalMs: number; spots: HotSpot[] } {
  const profile = JSON.parse(readFileSync(profilePath, 'utf8')) as CpuProfile;
  const totalSamples = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0) || 1;
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const msPerSample = totalMs / totalSamples;
  const byFn = new Map<string, HotSpot>();
  for (const n of profile.nodes) {
    if (!n.hitCount || n.callFrame.functionName === '(idle)') continue;
    const where = location(n.callFrame.url, n.callFrame.lineNumber, n.callFrame.columnNumber, root);
    const fn = n.callFrame.functionName || '(anonymous)';
    const key = `${fn}@${where}`;
    const spot = byFn.get(key) ?? { fn, where, selfMs: 0, share: 0 };
    spot.selfMs += n.hitCount * msPerSample;
    byFn.set(key, spot);
  }
  const busyMs = [...byFn.values()].reduce((s, x) => s + x.selfMs, 0) || 1;
  const spots = [...byFn.values()]
    .map((s) => ({ ...s, share: s.selfMs / busyMs }))
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, top);
  return { totalMs, spots };
}

/** Self time grouped by package or project folder: which layer (crypto, SQLite, Express, our code) costs most. */
function layerOf({ url, functionName: fn, lineNumber, columnNumber }: ProfileNode['callFrame'], root: string): string {
  if (!url) return fn.startsWith('(') ? fn : 'native code (syscalls, sockets)';
  if (url.startsWith('node:internal/crypto')) return 'Node crypto (Ed25519, HMAC, hashes)';
  if (/^node:internal\/(modules|bootstrap|vm)/.test(url)) return 'module loading (at start)';
  if (url.startsWith('node:')) return 'Node HTTP, streams, timers';
  const where = location(url, lineNumber, columnNumber, root);
  if (!where.includes(':')) return where; // a package name
  // Project code: packages/<pkg>/src/<folder>
  return where.split(':')[0]!.split(' ')[0]!.split('/').slice(0, 4).join('/');
}

export function timeByLayer(profilePath: string, root: string): { layer: string; share: number }[] {
  const profile = JSON.parse(readFileSync(profilePath, 'utf8')) as CpuProfile;
  const layers = new Map<string, number>();
  let busy = 0;
  for (const n of profile.nodes) {
    if (!n.hitCount || n.callFrame.functionName === '(idle)') continue;
    const name = layerOf(n.callFrame, root);
    layers.set(name, (layers.get(name) ?? 0) + n.hitCount);
    busy += n.hitCount;
  }
  return [...layers.entries()]
    .map(([layer, hits]) => ({ layer, share: hits / (busy || 1) }))
    .sort((a, b) => b.share - a.share)
    .slice(0, 8);
}

/**
 * The main thread's profile in `dir`. V8 writes one file per thread, `CPU.<date>.<time>.<pid>.<thread>.<seq>`;
 * thread 0 is the main thread (the others are workers, e.g. a loader's).
 */
export const latestProfile = (dir: string): string | undefined => {
  const main = readdirSync(dir)
    .filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f))
    .sort();
  return main.length ? join(dir, main.at(-1)!) : undefined;
};

/**
 * The real server like packages/server/bench/lib.ts starts it (same arguments and environment), with `--cpu-prof`:
 * V8 writes the profile when the process exits (SIGTERM → graceful shutdown). NODE_OPTIONS cannot carry --cpu-prof.
 */
export async function startProfiledServer(env: Record<string, string>, profileDir: string): Promise<Child> {
  const port = await freePort();
  return spawnNode(
    ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, ...(await licensorServerArgs())],
    { ...BENCH_SERVER_ENV, PORT: String(port), ...env },
    `http://127.0.0.1:${port}/healthz`,
    env.LICENSOR_DATA_DIR ?? '',
  );
}
