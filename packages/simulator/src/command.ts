import { LicensorError } from '@licensor/shared';
import { type Command, CommanderError } from 'commander';
import { MarketplaceCaller } from './caller';
import { type DialFamily, formatDialReport, runDialTest } from './dialTest';
import { ids } from './ids';
import { MarketplaceSimulator } from './marketplace';
import {
  activityTour,
  familyAStory,
  familyBStory,
  familyCStory,
  faultStory,
  type ScenarioContext,
  type Step,
  summarise,
} from './scenarios';

/**
 * `licensor simulate …`: KooGallery on one laptop. `marketplace` serves the open APIs the server calls;
 * `run` plays the marketplace against a running server (every activity, the lifecycle of each family, and
 * fault injection) and prints a line per call like the seller center's debugging console.
 */

interface RunOptions {
  url: string;
  key?: string;
  accessKey?: string;
  ak: string;
  sk: string;
  simPort: string;
  family: string;
  faults?: boolean;
  testFlag?: boolean;
  admin?: string;
  adminToken?: string;
  retryScale: string;
}

interface DialTestOptions {
  url: string;
  key?: string;
  accessKey?: string;
  rounds: string;
  family: string;
  shuffle?: boolean;
  code?: string;
  product?: string;
  admin?: string;
  adminToken?: string;
}

/** Listens, or says which port is taken and which option chooses another (not a stack trace). */
async function listenOn(sim: MarketplaceSimulator, port: string, option: string): Promise<string> {
  try {
    return await sim.listen(Number(port));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    throw new LicensorError(
      'CONFIG_INVALID',
      `Port ${port} on 127.0.0.1 is in use (another \`licensor simulate marketplace\` still running?): stop what holds it, or choose another port with ${option}`,
    );
  }
}

/** Where the command prints (the CLI passes its own streams so tests can capture them). */
export interface SimulateIo {
  stdout: { write(s: string): unknown };
}

export function registerSimulateCommand(program: Command, io: SimulateIo = process): void {
  const print = (line: string) => io.stdout.write(`${line}\n`);
  const simulate = program
    .command('simulate')
    .description('play KooGallery locally: its open APIs and its calls to your production interface');

  simulate
    .command('marketplace')
    .description(
      'serve the KooGallery open APIs (order query, license activate/query/usage, License upload) on 127.0.0.1',
    )
    .option('--port <port>', 'port to listen on', '9911')
    .option('--ak <ak>', 'AK the simulator accepts', 'AK')
    .option('--sk <sk>', 'SK the simulator accepts', 'SK')
    .action(async (o: { port: string; ak: string; sk: string }) => {
      const sim = new MarketplaceSimulator(o.ak, o.sk);
      const url = await listenOn(sim, o.port, '--port');
      console.log(
        `KooGallery open-API simulator on ${url}\nStart the server with LICENSOR_KOO_API_BASE=${url} LICENSOR_KOO_AK=${o.ak} LICENSOR_KOO_SK=<sk>. Ctrl-C stops.`,
      );
      let seen = 0;
      setInterval(() => {
        for (const c of sim.calls.slice(seen))
          console.log(
            `${c.at} ${c.method} ${c.path} -> ${c.status} ${c.code}${c.authOk ? '' : ' (signature rejected)'}`,
          );
        seen = sim.calls.length;
      }, 200);
      await new Promise(() => {});
    });

  simulate
    .command('dial-test')
    .description(
      "replay every family's debug cases (testFlag=1) several times, like KooGallery's twice-daily dial tests, and print a go-live summary",
    )
    .option('--url <url>', 'production interface URL', 'http://127.0.0.1:8080/api/koogallery/produce')
    .option('--key <key>', 'KooGallery Key (family A; LICENSOR_KOO_KEY)', process.env.LICENSOR_KOO_KEY)
    .option(
      '--access-key <key>',
      'access key (families B, C and order notices; LICENSOR_KOO_ACCESS_KEY)',
      process.env.LICENSOR_KOO_ACCESS_KEY,
    )
    .option('--rounds <n>', 'how many times to play the suites (the first run saves the cases)', '3')
    .option('--family <list>', `suites to play: ${DIAL_FAMILIES.join(',')}`, DIAL_FAMILIES.join(','))
    .option('--shuffle', "replay each family's cases in a random order after the first round")
    .option('--code <code>', 'family B: a test license code the server knows (registered with test=true)')
    .option('--product <id>', 'family B: the product a registered test code belongs to', 'DIAL-TEST')
    .option('--admin <url>', 'server base URL for registering a family-B test code (default: the --url origin)')
    .option('--admin-token <token>', 'admin bearer token, to register a test code', process.env.LICENSOR_ADMIN_TOKEN)
    .action(async (o: DialTestOptions) => {
      if ((await runDialTestCommand(o, print)) !== 0) {
        throw new CommanderError(
          1,
          'licensor.simulate.failed',
          'Some debug cases fail when replayed (see the summary)',
        );
      }
    });

  simulate
    .command('run')
    .description('play the marketplace against a running server and report PASS/FAIL per call')
    .option('--url <url>', 'production interface URL', 'http://127.0.0.1:8080/api/koogallery/produce')
    .option('--key <key>', 'KooGallery Key (family A; LICENSOR_KOO_KEY)', process.env.LICENSOR_KOO_KEY)
    .option(
      '--access-key <key>',
      'access key (families B, C; LICENSOR_KOO_ACCESS_KEY)',
      process.env.LICENSOR_KOO_ACCESS_KEY,
    )
    .option(
      '--ak <ak>',
      "AK the simulated open API accepts (the server's LICENSOR_KOO_AK)",
      process.env.LICENSOR_KOO_AK ?? 'AK',
    )
    .option(
      '--sk <sk>',
      "SK the simulated open API accepts (the server's LICENSOR_KOO_SK)",
      process.env.LICENSOR_KOO_SK ?? 'SK',
    )
    .option('--sim-port <port>', "port for the simulated open API (the server's LICENSOR_KOO_API_BASE)", '9911')
    .option('--family <list>', 'stories to run: tour,A,B,C', 'tour,A,B,C')
    .option('--faults', 'also inject faults: slow/failing/dropping marketplace, duplicates, clock skew')
    .option('--test-flag', "send testFlag=1 like the seller center's debugger")
    .option('--admin <url>', 'server base URL for registering family-B codes (admin API)')
    .option('--admin-token <token>', 'admin bearer token', process.env.LICENSOR_ADMIN_TOKEN)
    .option(
      '--retry-scale <factor>',
      'scale of the documented retry schedule (0 = no retries; 0.001 = an hour takes 3.6 s)',
      '0',
    )
    .action(async (o: RunOptions) => {
      if ((await runSimulation(o, print)) !== 0) {
        throw new CommanderError(1, 'licensor.simulate.failed', 'Some marketplace calls failed (see the FAIL lines)');
      }
    });
}

const DIAL_FAMILIES: DialFamily[] = ['A', 'B', 'C', 'notify'];

/**
 * `licensor simulate dial-test`: replays each family's debug suite (testFlag=1) several times against any
 * production address, like the marketplace's twice-daily dial tests, and prints a go-live summary.
 * Returns the exit code (0 = every case succeeded in every round, with the same instanceId and license).
 */
export async function runDialTestCommand(o: DialTestOptions, print: (line: string) => void = console.log) {
  const rounds = Number(o.rounds);
  if (!Number.isInteger(rounds) || rounds < 2 || rounds > 50) {
    throw new LicensorError('INVALID_INPUT', '--rounds must be a whole number from 2 to 50');
  }
  const families = o.family.split(',').map((f) => f.trim());
  const unknown = families.filter((f) => !DIAL_FAMILIES.includes(f as DialFamily));
  if (unknown.length) {
    throw new LicensorError(
      'INVALID_INPUT',
      `Unknown family ${unknown.join(', ')}; use a comma-separated list of ${DIAL_FAMILIES.join(', ')}`,
    );
  }
  let testCode = o.code;
  if (!testCode && families.includes('B') && o.adminToken) {
    // A family-B debug case needs a code the server knows; register a fresh one as test data.
    const code = ids.code();
    const res = await fetch(`${o.admin ?? new URL(o.url).origin}/api/admin/v1/codes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${o.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ code, test: true, productId: o.product ?? 'DIAL-TEST' }),
    });
    if (res.status === 200 || res.status === 201) testCode = code;
    else print(`Could not register a test code through the admin API (HTTP ${res.status}); family B is skipped.`);
  }
  const caller = new MarketplaceCaller({
    url: o.url,
    key: o.key,
    accessKeys: { default: o.accessKey },
    print,
  });
  const report = await runDialTest({
    caller,
    rounds,
    families: families as DialFamily[],
    testCode,
    shuffle: o.shuffle,
    onRound: (round) =>
      print(
        `\n== round ${round} of ${rounds}${round === 1 ? ' (the debugging session that saves the cases)' : ' (a dial test replay)'} ==`,
      ),
  });
  for (const line of formatDialReport(report, o.url)) print(line);
  return report.ok ? 0 : 1;
}

/**
 * Why steps that watch the simulated open APIs failed, when the simulator itself says so: the server never called
 * it (its LICENSOR_KOO_API_BASE points elsewhere, e.g. at another simulator), or every call it made was refused
 * for its AK/SK. undefined when the server did reach the simulator with valid credentials.
 */
export function openApiHint(sim: Pick<MarketplaceSimulator, 'calls' | 'held'>, apiBase: string, ak: string) {
  if (sim.calls.length === 0 && sim.held.length === 0) {
    return `The server made no call to the simulated open APIs at ${apiBase}: start it with LICENSOR_KOO_API_BASE=${apiBase} LICENSOR_KOO_AK=${ak} LICENSOR_KOO_SK=<--sk> (and nothing else on that port), then run again.`;
  }
  if (sim.calls.length > 0 && sim.calls.every((c) => !c.authOk)) {
    return `The simulated open APIs at ${apiBase} refused every call the server made (AK/SK): start the server with LICENSOR_KOO_AK and LICENSOR_KOO_SK equal to --ak and --sk, then run again.`;
  }
  return undefined;
}

export async function runSimulation(o: RunOptions, print: (line: string) => void = console.log): Promise<number> {
  const sim = new MarketplaceSimulator(o.ak, o.sk);
  const apiBase = await listenOn(sim, o.simPort, '--sim-port');
  const makeCaller = (clockSkewMs = 0) =>
    new MarketplaceCaller({
      url: o.url,
      key: o.key,
      accessKeys: { default: o.accessKey },
      retryTimeScale: Number(o.retryScale),
      clockSkewMs,
      print,
    });
  const caller = makeCaller();
  const admin = o.admin ?? new URL(o.url).origin;
  const ctx: ScenarioContext = {
    caller,
    sim,
    testFlag: o.testFlag,
    registerCode: o.adminToken
      ? async (code) => {
          const res = await fetch(`${admin}/api/admin/v1/codes`, {
            method: 'POST',
            headers: { authorization: `Bearer ${o.adminToken}`, 'content-type': 'application/json' },
            // The product the scenarios buy (a code needs a product to be registered).
            body: JSON.stringify({ code, test: Boolean(o.testFlag), productId: 'OFFI000000000000000001' }),
          });
          return res.status === 200 || res.status === 201;
        }
      : undefined,
  };
  const families = o.family.split(',').map((f) => f.trim());
  const steps: Step[] = [];
  try {
    const stories: [string, () => Promise<Step[]>][] = [
      ['tour', () => activityTour(ctx)],
      ['A', () => familyAStory(ctx)],
      ['B', () => familyBStory(ctx)],
      ['C', () => familyCStory(ctx)],
    ];
    for (const [name, run] of stories) {
      if (!families.includes(name)) continue;
      print(`\n== ${name === 'tour' ? 'every activity once' : `family ${name} lifecycle`} ==`);
      steps.push(...(await run()));
    }
    if (o.faults) {
      print('\n== fault injection ==');
      steps.push(...(await faultStory(ctx, makeCaller)));
    }
  } finally {
    await sim.close();
  }
  const failedSteps = steps.filter((s) => !s.ok);
  for (const f of failedSteps) print(`FAIL  ${f.title} — ${f.detail}`);
  const { passed, failed } = summarise(steps);
  print(`\n${passed} passed, ${failed} failed`);
  const hint = failed > 0 ? openApiHint(sim, apiBase, o.ak) : undefined;
  if (hint) print(hint);
  return failed === 0 ? 0 : 1;
}
