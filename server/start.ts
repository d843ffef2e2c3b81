// The server's command line as npm start runs it (bundled into server/dist/start.mjs): the stop signals are taken
// first, then the server's modules load (about 2 s), so that a Ctrl-C meanwhile stops the server as a later one does.
import { endQuietlyOnEpipe } from './output-closed.ts';
import { StopSignals } from './stop-signals.ts';

const signals = new StopSignals();
// Its reader gone, the server stops as on SIGTERM (and a SIGTERM a second later stops it at once, as after one).
endQuietlyOnEpipe(() => void signals.stop('SIGTERM'));
const { main } = await import('./main.ts');
main(signals);
