// node-netflowv9 as a collector for the public benchmark (bench/compare.ts):
// listens on 127.0.0.1:PORT, counts the flows its callback hands over, and
// writes the count to COUNT_FILE every 100 ms and when it is stopped (SIGTERM).
//
//   node dist/bench/compare-nfv9.js PORT COUNT_FILE [RCVBUF]
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

interface NfPacket {
  flows: unknown[];
}
type CollectorFactory = (opts: { cb: (o: NfPacket) => void; templateCb?: (o: unknown) => void }) => {
  listen(port: number, host: string, cb: () => void): void;
  server: { setRecvBufferSize(n: number): void };
};

const [port, countFile, rcvbuf] = process.argv.slice(2);
if (port === undefined || countFile === undefined) {
  process.stderr.write('usage: compare-nfv9.js PORT COUNT_FILE [RCVBUF]\n');
  process.exit(2);
}
const Collector = createRequire(import.meta.url)('node-netflowv9') as CollectorFactory;
let flows = 0;
let packets = 0;
const c = Collector({
  cb: (o) => {
    packets++;
    flows += o.flows.length;
  },
  templateCb: () => {},
});
const save = () => writeFileSync(countFile, JSON.stringify({ flows, packets }));
c.listen(Number(port), '127.0.0.1', () => {
  if (rcvbuf) c.server.setRecvBufferSize(Number(rcvbuf));
  save();
  process.stderr.write(`listening on 127.0.0.1:${port}\n`);
});
setInterval(save, 100);
process.on('SIGTERM', () => {
  save();
  process.exit(0);
});
