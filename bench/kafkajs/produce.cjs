// M1's input produced by a client no one here wrote: kafkajs (Node), against the same broker.
//
//   NODE_PATH=<dir>/node_modules node bench/kafkajs/produce.cjs BOOTSTRAP RECORDS.jsonl
//
// RECORDS.jsonl: one {"t": topic, "k": key, "v": base64 value} a line (bench/workload.py writes it).
// Sends them in order, in batches per topic (acks = -1, as the services' producers; never
// idempotent against Tansu), and prints {"records": n, "seconds": s} when every batch is acknowledged.
// CommonJS on purpose: require() honours NODE_PATH, ES module imports do not.
"use strict";
const fs = require("fs");
const { Kafka, logLevel } = require("kafkajs");

async function main() {
  const [bootstrap, path] = process.argv.slice(2);
  if (!bootstrap || !path) {
    console.error("usage: produce.cjs BOOTSTRAP RECORDS.jsonl");
    process.exit(2);
  }
  const lines = fs.readFileSync(path, "utf8").split("\n").filter(Boolean);
  const records = lines.map((line) => {
    const r = JSON.parse(line);
    return { topic: r.t, key: r.k, value: Buffer.from(r.v, "base64") };
  });
  const kafka = new Kafka({ clientId: "bench-kafkajs", brokers: [bootstrap], logLevel: logLevel.ERROR });
  const producer = kafka.producer({ idempotent: false, allowAutoTopicCreation: false });
  await producer.connect();
  const started = process.hrtime.bigint();
  const BATCH = 2000;
  for (let i = 0; i < records.length; i += BATCH) {
    const slice = records.slice(i, i + BATCH);
    const byTopic = new Map();
    for (const r of slice) {
      if (!byTopic.has(r.topic)) byTopic.set(r.topic, []);
      byTopic.get(r.topic).push({ key: r.key, value: r.value });
    }
    const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    // Batches in order (a key's records stay in order: one batch is acknowledged before the next).
    await producer.sendBatch({ topicMessages, acks: -1 });
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await producer.disconnect();
  process.stdout.write(JSON.stringify({ records: records.length, seconds }) + "\n");
}

main().catch((err) => {
  console.error(`kafkajs producer failed: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
