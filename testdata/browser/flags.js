// Chromium flags for a container, running as root: without them Chromium
// stalls on refused connections (updates, sync, QUIC) or refuses to start.
module.exports.flags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// readPayload reads the task's JSON payload from standard input.
module.exports.readPayload = () => JSON.parse(require('fs').readFileSync(0, 'utf8') || '{}');

// blockForever stands for a job whose event loop is stuck (a synchronous
// loop, a native call): nothing in the process runs any more, not even
// signal handlers, so only SIGKILL ends it.
module.exports.blockForever = () => { for (;;) {} };
