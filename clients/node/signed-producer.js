// Publish CloudEvents to the incentives topics, signed the way the intake checks (Standard Webhooks):
//   webhook-id        the CloudEvent id
//   webhook-timestamp Unix time in seconds
//   webhook-signature v1,<base64 HMAC-SHA256(secret bytes, "<id>.<timestamp>.<record value>")>
// where the secret is the `whsec_<base64>` one the operators gave your system (its bytes are the
// base64 part, decoded). docs/integrating.md walks through it.
//
// As a module: const { sign, publish } = require("./signed-producer");
// As a command: node signed-producer.js <bootstrap servers>  < messages.jsonl
//   one JSON object a line: {"topic": "...", "key": "...", "secret": "whsec_...", "event": {CloudEvent}}
"use strict";
const crypto = require("crypto");
const { Kafka, logLevel } = require("kafkajs");

function sign(secret, id, body, timestamp = Math.floor(Date.now() / 1000)) {
  if (!secret.startsWith("whsec_")) throw new Error("a signing secret is written whsec_<base64>");
  if (id.includes(".")) throw new Error("a message id has no '.'");
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const mac = crypto.createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest("base64");
  return { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": `v1,${mac}` };
}

async function publish(brokers, messages, { clientId = "incentives-node-client", sasl, ssl } = {}) {
  const kafka = new Kafka({ clientId, brokers, sasl, ssl, logLevel: logLevel.WARN });
  // Not idempotent: the embedded broker (Tansu) does not support it. Every event is deduplicated by
  // its (source, id) on our side anyway, so a retried send does no harm.
  const producer = kafka.producer({ idempotent: false, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const results = [];
    for (const { topic, key, secret, event } of messages) {
      const body = Buffer.from(JSON.stringify(event), "utf8"); // sign exactly the bytes sent
      const headers = secret ? sign(secret, event.id, body) : {};
      results.push(...(await producer.send({ topic, acks: -1, messages: [{ key, value: body, headers }] })));
    }
    return results;
  } finally {
    await producer.disconnect();
  }
}

module.exports = { sign, publish };

if (require.main === module) {
  const brokers = (process.argv[2] || "").split(",").filter(Boolean);
  if (!brokers.length) {
    console.error("usage: node signed-producer.js <bootstrap servers> < messages.jsonl");
    process.exit(2);
  }
  let input = "";
  process.stdin.on("data", (chunk) => (input += chunk));
  process.stdin.on("end", () => {
    const messages = input.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
    publish(brokers, messages)
      .then((results) => console.log(JSON.stringify(results)))
      .catch((err) => {
        console.error(err);
        process.exit(1);
      });
  });
}
