#!/usr/bin/env node
import { main } from '../dist/cli.js';

// `trackgate tokens list | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`trackgate: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(1);
});
