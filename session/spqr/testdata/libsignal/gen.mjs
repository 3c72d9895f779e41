// gen.mjs records an exchange between two libsignal parties so that the Go
// tests can check package spqr against libsignal's own SPQR (the Rust spqr
// crate inside @signalapp/libsignal-client).
//
// Usage (from this directory):
//   node gen.mjs [path/to/node_modules] | gzip -9 > exchange.json.gz
//
// Output: JSON with the initiator's SPQR state right after session setup
// and a list of events: each send (ciphertext and the sender's SPQR state
// afterwards, the pq_ratchet_state of its current session) and each
// receipt (which send, and the receiver's SPQR state afterwards).

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const nodeModules = resolve(process.argv[2] ?? join(here, '../../../../interop/node/node_modules'));
const S = await import(pathToFileURL(join(nodeModules, '@signalapp/libsignal-client/dist/index.js')).href);

const b64 = (u8) => Buffer.from(u8).toString('base64');

// Minimal protobuf reader: returns the first length-delimited field `num`.
function pbField(buf, num) {
  let i = 0;
  const varint = () => {
    let v = 0n, s = 0n;
    for (;;) {
      const c = buf[i++];
      v |= BigInt(c & 0x7f) << s;
      if (!(c & 0x80)) return v;
      s += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const f = key >> 3, wt = key & 7;
    if (wt === 0) varint();
    else if (wt === 1) i += 8;
    else if (wt === 5) i += 4;
    else if (wt === 2) {
      const n = Number(varint());
      if (f === num) return buf.subarray(i, i + n);
      i += n;
    } else throw new Error(`wire type ${wt}`);
  }
  return new Uint8Array(0);
}

class Sessions extends S.SessionStore {
  constructor() { super(); this.m = new Map(); }
  async saveSession(a, r) { this.m.set(a.toString(), r.serialize()); }
  async getSession(a) { const b = this.m.get(a.toString()); return b ? S.SessionRecord.deserialize(b) : null; }
  async getExistingSessions(as) { return Promise.all(as.map((a) => this.getSession(a))); }
  // RecordStructure.current_session (1) -> SessionStructure.pq_ratchet_state (15)
  pqState(a) { return pbField(pbField(this.m.get(a.toString()), 1), 15); }
}

class Identities extends S.IdentityKeyStore {
  constructor(id, reg) { super(); this.id = id; this.reg = reg; }
  async getIdentityKey() { return this.id.privateKey; }
  async getLocalRegistrationId() { return this.reg; }
  async saveIdentity() { return S.IdentityChange.NewOrUnchanged; }
  async isTrustedIdentity() { return true; }
  async getIdentity() { return null; }
}

class Store {
  constructor() { this.m = new Map(); }
}
class PreKeys extends S.PreKeyStore {
  constructor() { super(); this.m = new Map(); }
  async savePreKey(id, r) { this.m.set(id, r); }
  async getPreKey(id) { return this.m.get(id); }
  async removePreKey(id) { this.m.delete(id); }
}
class SignedPreKeys extends S.SignedPreKeyStore {
  constructor() { super(); this.m = new Map(); }
  async saveSignedPreKey(id, r) { this.m.set(id, r); }
  async getSignedPreKey(id) { return this.m.get(id); }
}
class KyberPreKeys extends S.KyberPreKeyStore {
  constructor() { super(); this.m = new Map(); }
  async saveKyberPreKey(id, r) { this.m.set(id, r); }
  async getKyberPreKey(id) { return this.m.get(id); }
  async markKyberPreKeyUsed() {}
}

function party(name) {
  const id = S.IdentityKeyPair.generate();
  const p = {
    id,
    addr: S.ProtocolAddress.new(name, 1),
    sessions: new Sessions(),
    identities: new Identities(id, 7),
    preKeys: new PreKeys(),
    signed: new SignedPreKeys(),
    kyber: new KyberPreKeys(),
  };
  const pk = S.PrivateKey.generate();
  p.preKeys.m.set(1, S.PreKeyRecord.new(1, pk.getPublicKey(), pk));
  const spk = S.PrivateKey.generate();
  const spkSig = id.privateKey.sign(spk.getPublicKey().serialize());
  p.signed.m.set(1, S.SignedPreKeyRecord.new(1, Date.now(), spk.getPublicKey(), spk, spkSig));
  const kp = S.KEMKeyPair.generate();
  const kSig = id.privateKey.sign(kp.getPublicKey().serialize());
  p.kyber.m.set(1, S.KyberPreKeyRecord.new(1, Date.now(), kp, kSig));
  p.bundle = () => S.PreKeyBundle.new(7, 1, 1, pk.getPublicKey(), 1, spk.getPublicKey(), spkSig,
    id.publicKey, 1, kp.getPublicKey(), kSig);
  return p;
}

const alice = party('alice');
const bob = party('bob');
await S.processPreKeyBundle(bob.bundle(), bob.addr, alice.addr, alice.sessions, alice.identities);
const out = { alice_initial_pq_state: b64(alice.sessions.pqState(bob.addr)), events: [] };

// Events are sends and receipts, in the order they happened.
async function send(from, to) {
  const ct = await S.signalEncrypt(Buffer.from('hi'), to.addr, from.addr, from.sessions, from.identities);
  out.events.push({
    from: from === alice ? 'A' : 'B',
    type: ct.type(),
    body: b64(ct.serialize()),
    pq_state: b64(from.sessions.pqState(to.addr)),
  });
  return { i: out.events.length - 1, ct, from, to };
}

async function recv({ i, ct, from, to }) {
  const body = ct.serialize();
  if (ct.type() === S.CiphertextMessageType.PreKey) {
    await S.signalDecryptPreKey(S.PreKeySignalMessage.deserialize(body), from.addr, to.addr,
      to.sessions, to.identities, to.preKeys, to.signed, to.kyber);
  } else {
    await S.signalDecrypt(S.SignalMessage.deserialize(body), from.addr, to.addr, to.sessions, to.identities);
  }
  out.events.push({ recv: i, pq_state: b64(to.sessions.pqState(from.addr)) });
}

const step = async (from, to) => recv(await send(from, to));

// Alice talks alone for a while (header chunks, parity included), then
// strict alternation for several epochs, with now and then a burst that
// arrives out of order (skipped message keys) or a lost message.
for (let i = 0; i < 5; i++) await step(alice, bob);
for (let i = 0; i < 200; i++) {
  if (i % 25 === 7) {
    const m = [];
    for (let j = 0; j < 4; j++) m.push(await send(alice, bob));
    for (const j of [2, 0, 3]) await recv(m[j]); // m[1] is lost
    const r = [];
    for (let j = 0; j < 3; j++) r.push(await send(bob, alice));
    for (const j of [1, 2, 0]) await recv(r[j]);
  }
  await step(bob, alice);
  await step(alice, bob);
}
process.stdout.write(JSON.stringify(out));
