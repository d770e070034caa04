import { Argument, type Command, Option } from 'commander';
import { z } from 'zod';
import { fields, table } from '../cli/output';
import type { Runner, Session } from '../cli/session';
import { parseInput } from '../http/errors';
import {
  addOperator,
  disableOperator,
  generatePassword,
  listOperators,
  operatorNameSchema,
  passwordSchema,
  ROLES,
  type Role,
  resetPassword,
  setOperatorRole,
} from './store';

/**
 * `licensor operators add|list|set-role|disable|reset-password`: the console's accounts, straight on the database (no
 * server needed, so the first admin can be made before the server ever ran). A password is generated and
 * printed once unless LICENSOR_OPERATOR_PASSWORD gives one (an environment variable, not an argument: argv
 * is visible to every user of the machine).
 */
const addInput = z.object({ name: operatorNameSchema, role: z.enum(ROLES), password: passwordSchema });

function chosenPassword(s: Session): { password: string; generated: boolean } {
  const given = s.io.env.LICENSOR_OPERATOR_PASSWORD;
  return given ? { password: given, generated: false } : { password: generatePassword(), generated: true };
}

const passwordLines = (generated: boolean, password: string) =>
  generated
    ? [`Password: ${password}`, 'Hand the password over now: it is shown only once. Sign in at <server>/console.']
    : ['Password: from LICENSOR_OPERATOR_PASSWORD.'];

async function operatorsAdd(s: Session, opts: { name: string; role: string }) {
  const { password, generated } = chosenPassword(s);
  const input = parseInput(addInput, { ...opts, password }, 'operator');
  const created = await addOperator(await s.db(), input, s.actor);
  s.print({ ...created, ...(generated ? { password } : {}) }, () =>
    [
      fields([
        ['Operator', created.name],
        ['Role', created.role],
      ]),
      ...passwordLines(generated, password),
    ].join('\n'),
  );
}

async function operatorsList(s: Session) {
  const items = await listOperators(await s.db());
  s.print({ items }, () =>
    items.length === 0
      ? 'No operators yet. Add the first with `licensor operators add --name <name> --role admin`.'
      : table(items, [
          { header: 'NAME', value: (o) => o.name },
          { header: 'ROLE', value: (o) => o.role },
          { header: 'CREATED', value: (o) => o.createdAt },
          { header: 'LAST LOGIN', value: (o) => o.lastLoginAt },
          { header: 'LOCKED UNTIL', value: (o) => o.lockedUntil },
          { header: 'DISABLED', value: (o) => o.disabledAt },
        ]),
  );
}

async function operatorsDisable(s: Session, name: string) {
  const r = await disableOperator(await s.db(), parseInput(operatorNameSchema, name, 'operator name'), s.actor);
  s.print(r, () =>
    r.changed ? `Disabled operator ${name}; their sessions ended.` : `Operator ${name} was already disabled.`,
  );
}

async function operatorsSetRole(s: Session, name: string, role: string) {
  const input = parseInput(
    z.object({ name: operatorNameSchema, role: z.enum(ROLES) }),
    { name, role },
    'operator role',
  );
  const r = await setOperatorRole(await s.db(), input.name, input.role as Role, s.actor);
  s.print(r, () =>
    r.changed
      ? `Operator ${name} is now ${role}; their sessions ended, the new role applies at their next sign-in.`
      : `Operator ${name} was already ${role}.`,
  );
}

async function operatorsResetPassword(s: Session, name: string) {
  const { password, generated } = chosenPassword(s);
  const valid = parseInput(passwordSchema, password, 'password');
  const updated = await resetPassword(
    await s.db(),
    parseInput(operatorNameSchema, name, 'operator name'),
    valid,
    s.actor,
  );
  s.print({ ...updated, ...(generated ? { password } : {}) }, () =>
    [
      `New password set for ${updated.name} (account enabled, lock-out cleared, sessions ended).`,
      ...passwordLines(generated, password),
    ].join('\n'),
  );
}

export function registerOperatorAccountCommands(program: Command, run: Runner): void {
  const operators = program
    .command('operators')
    .description(
      'merchant console accounts (viewer: read, operator: act on licenses, admin: tokens and operators too)',
    );
  operators
    .command('add')
    .description('add an operator; prints a generated password once (or set LICENSOR_OPERATOR_PASSWORD)')
    .requiredOption('--name <name>', 'sign-in name, shown in the audit log as operator:<name>')
    .addOption(new Option('--role <role>', 'viewer, operator or admin').choices([...ROLES]).makeOptionMandatory())
    .action(run((s, opts: { name: string; role: string }) => operatorsAdd(s, opts)));
  operators.command('list').description('operators (never their passwords)').action(run(operatorsList));
  operators
    .command('set-role')
    .description("change an operator's role and end their sessions (the last enabled admin stays admin)")
    .argument('<name>', 'operator name')
    .addArgument(new Argument('<role>', 'viewer, operator or admin').choices([...ROLES]))
    .action(run((s, name: string, role: string) => operatorsSetRole(s, name, role)));
  operators
    .command('disable')
    .description('disable an operator and end their sessions (the last enabled admin stays enabled)')
    .argument('<name>', 'operator name')
    .action(run((s, name: string) => operatorsDisable(s, name)));
  operators
    .command('reset-password')
    .description('set a new password (generated, or LICENSOR_OPERATOR_PASSWORD), re-enable and unlock the account')
    .argument('<name>', 'operator name')
    .action(run((s, name: string) => operatorsResetPassword(s, name)));
}
