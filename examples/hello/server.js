// hello: the smallest service Fixity builds, signs, promotes and deploys in the README and the tests.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const release = process.env.FIXITY_RELEASE ?? 'dev';
// For demonstrating analysis and rollback: answer this share of requests (0..1) with a 500.
const failRate = Number(process.env.FAIL_RATE ?? 0);

const server = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  if (failRate > 0 && Math.random() < failRate) {
    res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"injected failure (FAIL_RATE)"}\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify({ message: process.env.GREETING ?? 'hello, immutable world', release })}\n`);
});

server.listen(port, () => process.stdout.write(`hello listening on :${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
