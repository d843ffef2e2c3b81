/**
 * `npm start -- --help | head -1`: once the reader of the output is gone, the next write to stdout (or stderr) fails
 * with EPIPE, which Node raises as an unhandled 'error' event: a stack trace. A Unix tool ends quietly then (SIGPIPE),
 * and so does a program that calls this: `onGone` runs, once (default: exit with the exit code so far); later EPIPEs
 * are ignored, and any other error of the streams is thrown as before. As with SIGPIPE, a program that writes nothing
 * more after its reader went away does not notice. Only node: built-ins here (server/start.ts installs it first).
 */
export function endQuietlyOnEpipe(onGone: () => void = () => process.exit()): void {
  let gone = false;
  const onError = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EPIPE') throw err;
    if (gone) return;
    gone = true;
    onGone();
  };
  process.stdout.on('error', onError);
  process.stderr.on('error', onError);
}
