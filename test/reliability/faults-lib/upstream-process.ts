/**
 * An upstream in a process of its own, to be SIGKILLed in the middle of its answers: `/stream` sends a 200 head
 * announcing 100,000 bytes and the first 1,000, then holds the response open; anything else gets `ok`. The
 * kernel closes its sockets when it dies, as it would for a crashed service.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { onLines } from '../../helpers/lines.js';

const SCRIPT = `
const http = require('node:http');
let streams = 0;
const srv = http.createServer((req, res) => {
  if (req.url.startsWith('/stream')) {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '100000' });
    res.write('x'.repeat(1000));
    console.log('streaming ' + (++streams));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
  res.end('ok');
});
srv.listen(Number(process.argv[1]), '127.0.0.1', () => console.log('listening'));
`;

export interface UpstreamProcess {
  readonly child: ChildProcess;
  /** How many `/stream` responses it has started. */
  readonly streaming: number;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
}

export async function startUpstreamProcess(port: number): Promise<UpstreamProcess> {
  const child = spawn(process.execPath, ['-e', SCRIPT, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let streaming = 0;
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    onLines(child.stdout!, (line) => {
      if (line === 'listening') resolve();
      else if (line.startsWith('streaming ')) streaming = Number(line.slice('streaming '.length));
    });
    void exited.then(() => reject(new Error(`upstream process exited before listening: ${stderr}`)));
  });
  return {
    child,
    get streaming() { return streaming; },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
