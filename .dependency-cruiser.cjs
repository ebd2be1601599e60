/**
 * The import rules that keep taskq's architecture (docs/architecture.md). `npm run lint` runs them;
 * a broken rule fails CI with the rule's name and the offending import.
 */
const ADAPTERS = 'redis|orm|sqs|mongo|ironmq|disque|sentry|rollbar|prometheus';
const CONTRACTS =
  '^packages/core/src/(broker|store|stats|signing|serialize|task)/|^packages/core/src/(errors|events|logger|reporter)[.]ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'Modules must not import each other in a circle: split the shared part into its own module.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'contracts-know-no-runtime',
      comment:
        'The contracts (broker, store, stats, signing, serialize, task) and their memory implementations ' +
        'must not import the runtime (cluster, client, cli, scheduler, config): move the shared piece beside the contracts.',
      severity: 'error',
      from: { path: CONTRACTS },
      to: { path: '^packages/core/src/(cluster|client|cli|scheduler|config)/' },
    },
    {
      name: 'core-imports-no-adapter',
      comment:
        '@taskq/core depends on no other taskq package: adapters are loaded by URL scheme at run time (adapters.ts).',
      severity: 'error',
      from: { path: '^packages/core/' },
      to: { path: '^packages/', pathNot: '^packages/core/' },
    },
    {
      name: 'adapters-never-import-each-other',
      comment: 'An adapter package depends on @taskq/core and its own client library only.',
      severity: 'error',
      from: { path: `^packages/(${ADAPTERS})/src/` },
      to: { path: `^packages/(${ADAPTERS}|dashboard)/`, pathNot: '^packages/$1/' },
    },
    {
      name: 'cli-uses-public-entry-point',
      comment: "The CLI imports core through its public entry point (src/index.ts), like a user's program would.",
      severity: 'error',
      from: { path: '^packages/core/src/cli/' },
      to: { path: '^packages/core/src/', pathNot: '^packages/core/src/(cli/|index[.]ts$)' },
    },
    {
      name: 'dashboard-uses-public-entry-points',
      comment: "The dashboard imports '@taskq/core' (its package exports), never core's internal files.",
      severity: 'error',
      from: { path: '^packages/dashboard/' },
      to: { path: '^packages/core/', pathNot: '^packages/core/dist/(index|task/context)[.]js$' },
    },
  ],
  options: {
    includeOnly: '^(packages|integration-tests)/',
    doNotFollow: { path: 'node_modules|/dist/' },
    exclude: { path: '/node_modules/|[.]d[.]ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'default'] },
  },
};
