// A process that appends numbered batches through the built JsonlSink (core/dist) and reports
// each acknowledgement on stdout, for the kill -9 test in jsonl-crash.test.ts.
//   node jsonl-writer.mjs <events file> <first batch> <batches, 0 = until killed> <events per batch> <bytes of padding>
import { statSync } from 'node:fs';
import pino from 'pino';
import { JsonlSink } from '../../dist/sinks/jsonl.js';

const [file, first, count, perBatch, pad] = process.argv.slice(2);
const logger = pino({ level: 'warn' }, pino.destination({ dest: 2, sync: true }));
const sink = new JsonlSink({ events: file, status: `${file}.status` }, true, { logger });
await sink.start();
const padding = 'x'.repeat(Number(pad));
const last = Number(count) === 0 ? Infinity : Number(first) + Number(count);
for (let b = Number(first); b < last; b++) {
  const events = Array.from({ length: Number(perBatch) }, (_, i) => ({ '@timestamp': new Date(0).toISOString(), message: padding, event: { id: `${b}-${i}`, kind: 'event' } }));
  const bytes = Buffer.byteLength(events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  process.stdout.write(`begin ${b} ${statSync(file).size} ${bytes}\n`);
  await sink.write(events);
  process.stdout.write(`ack ${b}\n`);
}
await sink.close(5000);
