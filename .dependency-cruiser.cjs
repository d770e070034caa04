// Module dependency rules, checked by `npm test` (scripts/dev.mjs: "Dependency rules") with dependency-cruiser.
// The map behind them is in packages/server/README.md#module-map. Paths are relative to the repository root.
// A rule fails the check; to change a direction, change the rule here and the map in the README together.

/** Test support: fixtures, fakes and test files that production code must never reach. */
const TEST_SUPPORT = ['\\.test\\.ts$', '^test/', '^packages/testkit/', '^packages/client/electron/test/'];

const SERVER = '^packages/server/src/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'No import cycles, type-only ones included: a cycle makes load order matter and hides which module owns what.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-test-support-in-production',
      severity: 'error',
      comment: 'Production code ships without fixtures, fakes or test runners: nothing outside tests imports them.',
      from: { path: '^packages/[^/]+/', pathNot: TEST_SUPPORT },
      to: { path: TEST_SUPPORT },
    },
    {
      name: 'no-dev-dependency-in-production',
      severity: 'error',
      comment:
        'Production code imports only the runtime dependencies its package.json lists (vitest, supertest, tsx… are development tools).',
      from: { path: '^packages/[^/]+/(src|bin)/', pathNot: TEST_SUPPORT },
      to: { dependencyTypes: ['npm-dev', 'npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'licensing-core-is-marketplace-neutral',
      severity: 'error',
      comment:
        'The licensing core (activation, check-in, seats, License files, entitlements) knows no marketplace and no operator ' +
        'surface: KooGallery and the Kit reach it through its ports (licensing/context.ts), the admin API and CLI call it.',
      from: { path: `${SERVER}licensing/`, pathNot: TEST_SUPPORT },
      to: { path: `${SERVER}(koogallery|kit|admin|cli|simulator|jobs)/|${SERVER}(app|server|main|context)\\.ts$` },
    },
    {
      name: 'licensing-core-knows-no-catalogue-or-webhooks',
      severity: 'error',
      comment:
        'The catalogue (catalog/: editions, features, SKU policies) and the webhooks (webhooks/: license events) build ' +
        'on the licensing core; the core reaches them only through its ports (licenseModel, entitlementChanged in ' +
        'licensing/context.ts), wired by app.ts and cli/session.ts. An import would close the cycles ' +
        'licensing → webhooks → licensing and licensing → catalog → licensing.',
      from: { path: `${SERVER}licensing/`, pathNot: TEST_SUPPORT },
      to: { path: `${SERVER}(catalog|webhooks)/` },
    },
    {
      name: 'licensing-core-through-its-entry-point',
      severity: 'error',
      comment:
        'The marketplace adapters, the catalogue, the webhooks, the jobs and the CLI call the licensing core (entitlements, policies, issuing, code ' +
        'registration, activation) through licensing/index.ts, its one public surface, not through its files.',
      from: { path: `${SERVER}(koogallery|kit|jobs|cli|catalog|webhooks)/`, pathNot: TEST_SUPPORT },
      to: { path: `${SERVER}licensing/`, pathNot: `${SERVER}licensing/index\\.ts$` },
    },
    {
      name: 'db-imports-no-feature',
      severity: 'error',
      comment:
        'Storage (db/) is the bottom layer: the facade, group commit and migrations import no other server module.',
      from: { path: `${SERVER}db/` },
      to: { path: SERVER, pathNot: `${SERVER}db/` },
    },
    {
      name: 'services-import-no-feature',
      severity: 'error',
      comment: 'The services every feature uses (config, logs, metrics, HTTP errors, keys, outbox) know no feature.',
      from: {
        path: `${SERVER}(http|keys|outbox)/|${SERVER}(config|logger|metrics|calendar)\\.ts$`,
        pathNot: TEST_SUPPORT,
      },
      to: {
        path: `${SERVER}(licensing|koogallery|kit|admin|cli|jobs|simulator|catalog|webhooks)/|${SERVER}(app|server|main|context)\\.ts$`,
      },
    },
    {
      name: 'marketplace-adapters-not-into-operator-surfaces',
      severity: 'error',
      comment:
        'The KooGallery adapters (koogallery/, kit/) serve the marketplace; the admin API and the CLI sit above them, ' +
        'never the other way round (kit/ → cli/ was the cycle app → kit → cli → server → app).',
      from: { path: `${SERVER}(koogallery|kit)/`, pathNot: TEST_SUPPORT },
      // admin/pagination.ts is the admin API's cursor paging, which the Kit's admin listing shares.
      to: {
        path: `${SERVER}(admin|cli|jobs|simulator)/|${SERVER}(app|server|main)\\.ts$`,
        pathNot: `${SERVER}admin/pagination\\.ts$`,
      },
    },
    {
      name: 'catalogue-and-webhooks-below-operator-surfaces',
      severity: 'error',
      comment:
        'The catalogue and the webhooks (models, storage, delivery) sit beside the licensing core, below the operator ' +
        'surfaces and the marketplace adapters: only their own router.ts (admin API) and cli.ts (CLI commands) reach ' +
        "the admin API or the CLI. The marketplace adapters use them through the core's ports, never by import.",
      from: {
        path: `${SERVER}(catalog|webhooks)/`,
        pathNot: [`${SERVER}(catalog|webhooks)/(router|cli)\\.ts$`, ...TEST_SUPPORT],
      },
      to: {
        path: `${SERVER}(admin|cli|console|operators|koogallery|jobs|simulator)/|${SERVER}(app|server|main)\\.ts$`,
      },
    },
    {
      name: 'marketplace-adapters-not-into-catalogue-or-webhooks',
      severity: 'error',
      comment:
        "The KooGallery adapters get a License file's edition and features and emit license events through the " +
        'licensing core (its licenseModel and entitlementChanged ports), not by importing catalog/ or webhooks/.',
      from: { path: `${SERVER}(koogallery|kit)/`, pathNot: TEST_SUPPORT },
      to: { path: `${SERVER}(catalog|webhooks)/` },
    },
    {
      name: 'only-entry-points-import-the-composition-root',
      severity: 'error',
      comment:
        'app.ts (the app factory) and server.ts (listening, keys, scheduler) wire everything together; only the entry ' +
        'points (main.ts, index.ts) and the CLI commands that start a server may import them.',
      from: { path: SERVER, pathNot: [`${SERVER}(app|server|main|index)\\.ts$`, `${SERVER}cli/`, ...TEST_SUPPORT] },
      to: { path: `${SERVER}(app|server)\\.ts$` },
    },
    {
      name: 'simulator-apart-from-request-handlers',
      severity: 'error',
      comment:
        'The simulator plays KooGallery against a server over HTTP, like the real marketplace: it imports none of the ' +
        "server's handlers, services or storage; the server's CLI offers it as `licensor simulate`.",
      from: { path: '^packages/simulator/', pathNot: TEST_SUPPORT },
      to: { path: '^packages/(server|client)/' },
    },
    {
      name: 'shared-imports-no-package',
      severity: 'error',
      comment: '@licensor/shared holds what both sides rely on; it depends on neither side.',
      from: { path: '^packages/shared/' },
      to: { path: '^packages/(server|client|simulator)/' },
    },
    {
      name: 'client-imports-no-server',
      severity: 'error',
      comment:
        'The desktop client ships to end users: it talks to the server over HTTP only and embeds none of its code.',
      from: { path: '^packages/client/', pathNot: TEST_SUPPORT },
      to: { path: '^packages/(server|simulator)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^packages/[^/]+/dist/' },
    // Type-only imports count: a type-only loop is still a loop in the module map.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    enhancedResolveOptions: {
      // Workspace packages resolve to their sources (the `source` export condition), as in the tests.
      conditionNames: ['source', 'import', 'types', 'node', 'default'],
      exportsFields: ['exports'],
      extensions: ['.ts', '.tsx', '.mts', '.js', '.mjs', '.cjs', '.json'],
      mainFields: ['module', 'main', 'types'],
    },
    cache: false,
  },
};
