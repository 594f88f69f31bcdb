/**
 * Asking a person, on stderr, only when one can answer. Confirmation of what is destructive or protected
 * (CLI style rule 14): on a terminal the user types a name,
 * as in Argo CD's "type 'prune'"; `--yes` skips the question; a run that cannot ask (stdin or stderr not a
 * terminal, CI set, or FIXITY_NO_PROMPT=1) refuses with exit 2 and says to add `--yes`, so a script never
 * hangs on a prompt nobody sees. The question and what it is about go to stderr.
 */
import { createInterface } from 'node:readline/promises';
import { CLIError } from './output.ts';

export interface Confirmation {
  /** `--yes` was given. */
  yes: boolean | undefined;
  /** What is about to happen, as a verb phrase: "delete environment staging". */
  action: string;
  /** What the user types to go on: the stage or environment name. */
  name: string;
  /** Lines shown above the question: what will be changed. */
  detail?: readonly string[];
}

/** Whether this run can ask a person: both ends on a terminal and nothing saying it is unattended. */
export function canPrompt(env: NodeJS.ProcessEnv = process.env): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true && !isCI(env) && env.FIXITY_NO_PROMPT !== '1';
}

/** Whether CI is set to something other than empty, 0 or false. */
export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CI !== undefined && env.CI !== '' && env.CI !== '0' && env.CI !== 'false';
}

/**
 * The text a flag did not give: the flag's value when set, else a line asked for on a terminal; a run that
 * cannot ask refuses with exit 2 naming the flag. Empty answers are asked again.
 */
export async function valueOrAsk(
  value: string | undefined,
  ask: { question: string; flag: string; action: string },
): Promise<string> {
  if (value !== undefined && value.trim() !== '') return value.trim();
  if (!canPrompt())
    throw new CLIError(
      'USAGE',
      `Cannot ${ask.action} without ${ask.flag}: this run cannot ask for it`,
      `add ${ask.flag} "…"`,
    );
  for (;;) {
    const answer = (await askLine(ask.question)).trim();
    if (answer !== '') return answer;
  }
}

/** One line typed on the terminal, the question on stderr. */
async function askLine(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

/** Returns once the user confirmed (or `--yes` was given); throws a CLIError otherwise, nothing changed. */
export async function confirmByName(c: Confirmation): Promise<void> {
  if (c.yes === true) return;
  if (!canPrompt()) {
    throw new CLIError(
      'USAGE',
      `Cannot ${c.action} without confirmation: this run cannot ask (no terminal, CI, or FIXITY_NO_PROMPT=1)`,
      `add --yes to ${c.action} without being asked`,
    );
  }
  for (const line of c.detail ?? []) process.stderr.write(`${line}\n`);
  const answer = await askLine(`Type "${c.name}" to ${c.action}: `);
  if (answer.trim() !== c.name) {
    throw new CLIError(
      'FAILED',
      `Cancelled: "${answer.trim()}" is not "${c.name}"; nothing was changed`,
      `type the name exactly, or add --yes`,
    );
  }
}

/**
 * Reads a secret typed on the terminal without echoing it (stdin in raw mode): Enter ends it, Backspace
 * takes back a character, Ctrl-C or Ctrl-D gives up. Callers check canPrompt() first.
 */
export function askSecret(question: string): Promise<string> {
  const input = process.stdin;
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (err: Error | null) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      if (err === null) resolve(typed);
      else reject(err);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003' || ch === '\u0004') return done(new CLIError('FAILED', 'Cancelled: nothing was saved'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    // Echo goes off before the question shows, so nothing typed after seeing it is echoed.
    input.setRawMode(true);
    process.stderr.write(question);
    input.resume();
    input.on('data', onData);
  });
}

/** What a look-up gives when the thing is not there: null, so the command itself reports it as it would. */
export function unlessNotFound<T>(lookup: Promise<T>): Promise<T | null> {
  return lookup.catch((err: unknown) => {
    if ((err as { code?: unknown } | null)?.code === 'NOT_FOUND') return null;
    throw err;
  });
}

/** Whether the pipeline marks `stage` protected; false when there is no pipeline or no such stage. */
export async function isProtectedStage(
  client: { pipeline(): Promise<Record<string, unknown>> },
  stage: string,
): Promise<boolean> {
  const pipeline = await unlessNotFound(client.pipeline());
  const stages = (pipeline?.spec as { stages?: Array<{ name: string; protected?: boolean }> } | undefined)?.stages;
  return stages?.some((s) => s.name === stage && s.protected === true) === true;
}
