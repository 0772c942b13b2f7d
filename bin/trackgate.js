#!/usr/bin/env node
// Checked before anything loads: on an older Node the first import fails with an error that names a missing
// built-in (undici 8, node:sqlite), not the Node version.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`trackgate: needs Node.js 22.19 or later, or 24 (this is ${process.version})\n`);
  process.exit(1);
}

// `trackgate tokens list | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const { main } = await import('../dist/cli.js');
main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`trackgate: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(1);
});
