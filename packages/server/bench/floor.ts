import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  devicePublicKeyHash,
  importDevicePublicKey,
  parseDeviceSignature,
  RESPONSE_SIGNATURE_HEADER,
  signLicenseAsync,
  signResponseAsync,
  verifyDeviceRequestAsync,
} from '@licensor/shared';
import express from 'express';
import { openPostgres } from '../src/db/postgres/facade';
import { openSqliteDatabase } from '../src/db/sqlite';
import { KeyStore } from '../src/keys/keystore';
import { answeredRequest } from '../src/licensing/signing';
import { floorLicensePayload } from './floorPayload';

/**
 * The floor of the activation API's work, per scenario: an Express route doing exactly the irreducible work of
 * that request and nothing else, so the benchmark can say how close the real endpoint comes to it.
 *
 *   activation: read and parse the JSON body; one durable write of the stored device (the request body: its
 *               fingerprint, key and device info) through the server's group commit; a License file signed with
 *               the server's own function (Ed25519 on the thread pool); the answer signed the same way.
 *   check-in:   read and parse the JSON body; verify the device signature (Ed25519 on the thread pool, the
 *               shared verifyDeviceRequestAsync); one durable write of the nonce record through the group commit;
 *               a fresh License file and the answer signed as above.
 *
 * No middleware, no validation, no rate limits, no metrics, no lookups: the device key of a check-in is taken
 * from memory (the activation id names its index in the key file the benchmark wrote).
 *
 * With FLOOR_DATABASE_URL=postgres://… the durable write is one INSERT committed on PostgreSQL instead (a statement
 * of its own, autocommitted: one round trip, the commit waiting for its WAL flush as synchronous_commit=on says),
 * over a pool of LICENSOR_PG_POOL_SIZE connections like the server's. The table is created if missing.
 *
 * Usage (by the bench scripts): PORT=… FLOOR_DIR=<empty folder> FLOOR_KEYS=<json file> [FLOOR_DATABASE_URL=…]
 *   node --import tsx floor.ts
 */

interface FloorKey {
  publicKey: string;
  components: Record<string, string[]>;
}

const dir = process.env.FLOOR_DIR;
const keysFile = process.env.FLOOR_KEYS;
if (!dir || !keysFile) throw new Error('floor.ts needs FLOOR_DIR and FLOOR_KEYS');

/** The one durable write of a request: committed (and flushed) before it resolves. */
let durableWrite: (ref: string, data: Buffer) => Promise<unknown>;
const pgUrl = process.env.FLOOR_DATABASE_URL;
if (pgUrl) {
  const pg = openPostgres(pgUrl);
  await pg.exec(
    'CREATE TABLE IF NOT EXISTS floor_writes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ref text NOT NULL, data bytea NOT NULL)',
  );
  durableWrite = (ref, data) => pg.run('INSERT INTO floor_writes (ref, data) VALUES (?, ?)', [ref, data]);
} else {
  const db = openSqliteDatabase(join(dir, 'floor.db'));
  await db.exec(
    'CREATE TABLE IF NOT EXISTS floor_writes (id INTEGER PRIMARY KEY, ref TEXT NOT NULL, data BLOB NOT NULL)',
  );
  durableWrite = (ref, data) =>
    db.batched(async (tx) => tx.run('INSERT INTO floor_writes (ref, data) VALUES (?, ?)', [ref, data]));
}
const signer = KeyStore.open(join(dir, 'keys')).store.current();
const devices = (JSON.parse(readFileSync(keysFile, 'utf8')) as FloorKey[]).map((k) => ({
  ...k,
  key: importDevicePublicKey(k.publicKey),
  keyHash: devicePublicKeyHash(k.publicKey),
}));

const send = async (req: express.Request, res: express.Response, nonce: string, body: object) => {
  const text = JSON.stringify(body);
  const header = await signResponseAsync({
    status: 200,
    nonce,
    request: answeredRequest(req),
    body: text,
    keyId: signer.keyId,
    privateKey: signer.privateKey,
  });
  res
    .status(200)
    .set(RESPONSE_SIGNATURE_HEADER, header)
    .set('Content-Type', 'application/json; charset=utf-8')
    .send(text);
};

const app = express();
const rawBody = express.raw({ type: () => true, limit: 64 * 1024 });

app.post('/floor/activations', rawBody, async (req, res) => {
  const raw = req.body as Buffer;
  const input = JSON.parse(raw.toString('utf8')) as {
    fingerprint: { components: Record<string, string[]> };
    devicePublicKey: string;
  };
  const id = `act_${randomUUID()}`;
  await durableWrite(id, raw);
  const license = await signLicenseAsync(
    floorLicensePayload(id, input.fingerprint.components, devicePublicKeyHash(input.devicePublicKey)),
    signer,
  );
  await send(req, res, '', { activationId: id, license, status: 'VALID' });
});

app.post('/floor/activations/:id/check-in', rawBody, async (req, res) => {
  const raw = req.body as Buffer;
  const input = JSON.parse(raw.toString('utf8')) as { appVersion?: string };
  const id = String(req.params.id);
  const device = devices[Number(/^k(\d+)_/.exec(id)?.[1] ?? -1)];
  if (!device) return void res.status(404).end();
  const signature = parseDeviceSignature(req.get('licensor-device-signature'));
  await verifyDeviceRequestAsync({
    signature,
    method: req.method,
    path: req.originalUrl,
    body: raw,
    publicKey: device.key,
  });
  await durableWrite(id, Buffer.from(`${signature.nonce} ${signature.ts} ${input.appVersion ?? ''}`));
  const license = await signLicenseAsync(floorLicensePayload(id, device.components, device.keyHash), signer);
  await send(req, res, '', { status: 'VALID', license });
});

// Readiness probe for the bench harness (not measured).
app.get('/floor/ready', (_req, res) => void res.send('ok'));
// A refused request (a bad device signature) is counted as non-2xx by the benchmark; no stack trace on stderr.
app.use(
  (
    err: { status?: number; statusCode?: number },
    _req: express.Request,
    res: express.Response,
    _next: express.NextFunction,
  ) => {
    res.status(err.status ?? err.statusCode ?? 500).end();
  },
);

app.listen(Number(process.env.PORT), '127.0.0.1');
