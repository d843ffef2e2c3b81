// The server's command line as npm start runs it (bundled into server/dist/start.mjs): the stop signals are taken
// first, then the server's modules load (about 2 s), so that a Ctrl-C meanwhile stops the server as a later one does.
import { endQuietlyOnEpipe } from './output-closed.ts';
import { StopSignals } from './stop-signals.ts';

const signals = new StopSignals();
endQuietlyOnEpipe(() => void signals.stop('output closed (EPIPE)'));
const { main } = await import('./main.ts');
main(signals);
