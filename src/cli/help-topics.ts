/**
 * `fixity help TOPIC`: the topics the CLI style guide names (rule 18), beside help for a command, as gh's
 * help topics are. Each is plain text, the same for people and scripts.
 */
import { OUTPUT_HELP } from './output.ts';

const EXIT_CODES = `Exit codes:

  0    success, including an empty list, and every --dry-run
  1    failed (generic): the message says what and how to go on; with --exit-code (fixity drift, as
       diff(1)): differences found, and every error is 2 or more
  2    usage: an unknown flag or a bad argument, or a question nobody can answer (add --yes)
  3    denied: a gate refused a promotion, or a digest is vetoed or not promoted where it is deployed
  4    authentication required or refused (fixity login)
  5    timed out while waiting (--wait --timeout)
  6    finished unsuccessfully: a rollout aborted or rolled back, a promotion lost a race, a conflict
  7    verification failed: a signature, provenance or ledger proof (never folded into 1)
  130  interrupted (Ctrl-C)`;

const ENVIRONMENT = `Environment variables:

  FIXITY_SERVER       server URL (after --server; before the data dir's and the last login's)
  FIXITY_TOKEN        access token (after --token; before the one fixity login saved)
  FIXITY_CONTEXT      a server saved by fixity login --name (after --server, --context, FIXITY_SERVER)
  FIXITY_DATA         data directory of fixity serve / up (default ./.fixity)
  FIXITY_CONFIG_DIR   where saved logins and ledger pins live (default $XDG_CONFIG_HOME/fixity)
  FIXITY_NO_PROMPT=1  never ask: what needs confirmation then needs --yes (so does CI=true)
  FIXITY_FORCE_TTY=1  render for a terminal even when stdout is not one
  FIXITY_UTC=1        absolute RFC 3339 UTC times in text output on a terminal too (as --utc)
  FIXITY_DEBUG=1      on failure, write a debug log (stack traces, causes, versions) and print its path
  XDG_STATE_HOME      debug logs go to $XDG_STATE_HOME/fixity/debug (default ~/.local/state/fixity/debug)
  FIXITY_ASCII=1      symbols as ASCII words in text output, [ok] [x] [wait] (as --ascii; so when the
                      locale, LC_ALL, LC_CTYPE or LANG, is not UTF-8)
  FIXITY_PROGRESS     auto, tty, plain, json or quiet (see fixity help progress)
  FIXITY_CACHE_MAX    build cache size limit, e.g. 20GiB (default 10 GiB)
  XDG_CACHE_HOME      the build cache is $XDG_CACHE_HOME/fixity (default ~/.cache/fixity)
  FIXITY_BUILD_WATCH  0: builds never use the file watcher; 1: they do in CI too (default: outside CI)
  FIXITY_WATCH_DIR    the file watcher's socket directory (default $XDG_RUNTIME_DIR/fixity)
  FIXITY_WATCH_IDLE_MS  how long the file watcher waits for a build before leaving (default 3 hours)
  NO_COLOR            no colour; FORCE_COLOR forces it
  SOURCE_DATE_EPOCH   the time a build stamps on every file (default: the clean git HEAD's commit time)`;

const PROGRESS = `Progress (--progress MODE, or FIXITY_PROGRESS), always on stderr:

  auto   tty on a terminal, plain elsewhere; nothing under -o json, yaml, jsonl or name unless a mode is named
  tty    a few status lines redrawn in place
  plain  one timestamped line whenever a step changes state, and each step's final numbers at the end
  json   the same moments as NDJSON: {"ts":"…","type":"progress","key":"layer0","line":"…"}
  quiet  nothing

  fixity build . --progress plain 2> build.log
  FIXITY_PROGRESS=json fixity build . -o json > result.json 2> events.ndjson`;

export const HELP_TOPICS: Readonly<Record<string, string>> = {
  'exit-codes': EXIT_CODES,
  output: OUTPUT_HELP,
  environment: ENVIRONMENT,
  progress: PROGRESS,
};
