// A kafkajs 2.2.4 transactional producer in its own process, driven line by line over stdin so a test
// can SIGSTOP it between two steps (a zombie) and see what its late calls do. One JSON command per
// line in, one JSON answer per line out: {"id":…,"ok":true,…} or {"id":…,"ok":false,"error":{type,name,message}}.
//   argv: <bootstrap> <transactionalId>
import { createInterface } from 'node:readline';
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;
const [bootstrap, transactionalId] = process.argv.slice(2);
const kafka = new Kafka({ clientId: `spike-${process.pid}`, brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 5 } });
const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 60_000 });
let txn;

const steps = {
  // kafkajs sends InitProducerId for a transactional producer on connect: this is initTransactions,
  // which bumps the epoch and fences every earlier holder of the id.
  connect: () => producer.connect(),
  begin: async () => {
    txn = await producer.transaction();
  },
  send: ({ topic, messages }) => txn.send({ topic, messages }),
  sendOffsets: ({ consumerGroupId, topics }) => txn.sendOffsets({ consumerGroupId, topics }),
  commit: () => txn.commit(),
  abort: () => txn.abort(),
  disconnect: () => producer.disconnect(),
};

const lines = createInterface({ input: process.stdin });
// One command at a time, in order: a test that sends "send" then "commit" must not see them race.
let chain = Promise.resolve();
lines.on('line', (line) => {
  const cmd = JSON.parse(line);
  chain = chain.then(async () => {
    try {
      const result = await steps[cmd.op](cmd);
      process.stdout.write(`${JSON.stringify({ id: cmd.id, ok: true, result: result ?? null })}\n`);
    } catch (err) {
      const e = err ?? {};
      process.stdout.write(`${JSON.stringify({ id: cmd.id, ok: false, error: { type: e.type ?? null, name: e.name ?? null, message: String(e.message ?? e) } })}\n`);
    }
  });
});
lines.on('close', () => {
  chain.then(() => producer.disconnect().catch(() => {})).then(() => process.exit(0));
});
process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
