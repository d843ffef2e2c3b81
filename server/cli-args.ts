import { ThermostreamError } from './errors.ts';

/**
 * The value of `option` taken from the next argument: refused when there is none, or when it is another option
 * (`--data-dir --fresh` would otherwise make a directory named "--fresh"). A value that starts with "--" or is
 * "-h" can still be given as `--option=VALUE`.
 */
export function optionValue(option: string, next: string | undefined): string {
  if (next === undefined) throw new ThermostreamError('TS_ERR_CLI_ARG', `option ${option} needs a value`);
  if (next.startsWith('--') || next === '-h') {
    throw new ThermostreamError('TS_ERR_CLI_ARG', `option ${option} needs a value, got the option ${JSON.stringify(next)} (to give a value that looks like an option, write ${option}=VALUE)`);
  }
  return next;
}
