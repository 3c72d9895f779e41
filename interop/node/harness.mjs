// harness.mjs drives @signalapp/libsignal-client for samizdat's interop tests.
//
// It is a long-running process speaking JSON lines: each request on stdin is
// {"id": N, "op": "name", "args": {...}} and each response on stdout is
// {"id": N, "ok": true, "result": {...}} or {"id": N, "ok": false, "error": "..."}.
// Byte strings travel as standard base64. Requests are handled one at a time,
// in order. Parties live in memory only; nothing touches the disk or network.
//
// Peer addresses are {"name": string, "device": number}. A party's own address
// name defaults to a random UUID so that sealed sender v2 (which parses service
// ids) works.

import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';

import * as S from '@signalapp/libsignal-client';
import SealedSenderMultiRecipientMessage from '@signalapp/libsignal-client/dist/SealedSenderMultiRecipientMessage.js';

const b64 = (u8) => Buffer.from(u8).toString('base64');
const unb64 = (s) => {
  if (typeof s !== 'string') throw new Error('expected base64 string');
  const b = Buffer.from(s, 'base64');
  // Hand libsignal a plain Uint8Array over its own ArrayBuffer.
  return new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const keyOf = (addr) => `${addr.name()}.${addr.deviceId()}`;

class SessionStore extends S.SessionStore {
  constructor() { super(); this.m = new Map(); }
  async saveSession(addr, rec) { this.m.set(keyOf(addr), rec.serialize()); }
  async getSession(addr) {
    const b = this.m.get(keyOf(addr));
    return b ? S.SessionRecord.deserialize(b) : null;
  }
  async getExistingSessions(addrs) {
    return addrs.map((a) => {
      const b = this.m.get(keyOf(a));
      if (!b) throw new Error(`no session for ${keyOf(a)}`);
      return S.SessionRecord.deserialize(b);
    });
  }
}

class IdentityStore extends S.IdentityKeyStore {
  constructor(party) { super(); this.p = party; this.m = new Map(); }
  async getIdentityKey() { return this.p.identity.privateKey; }
  async getLocalRegistrationId() { return this.p.registrationId; }
  async saveIdentity(addr, key) {
    const k = keyOf(addr);
    const old = this.m.get(k);
    this.m.set(k, key.serialize());
    if (old && Buffer.compare(Buffer.from(old), Buffer.from(key.serialize())) !== 0) {
      return S.IdentityChange.ReplacedExisting;
    }
    return S.IdentityChange.NewOrUnchanged;
  }
  // Trust on first use; a changed identity is untrusted unless the party was
  // told to trust everything.
  async isTrustedIdentity(addr, key, _dir) {
    if (this.p.trustAll) return true;
    const old = this.m.get(keyOf(addr));
    return !old || Buffer.compare(Buffer.from(old), Buffer.from(key.serialize())) === 0;
  }
  async getIdentity(addr) {
    const b = this.m.get(keyOf(addr));
    return b ? S.PublicKey.deserialize(b) : null;
  }
}

class PreKeyStore extends S.PreKeyStore {
  constructor() { super(); this.m = new Map(); }
  async savePreKey(id, rec) { this.m.set(id, rec.serialize()); }
  async getPreKey(id) {
    const b = this.m.get(id);
    if (!b) throw new Error(`no prekey ${id}`);
    return S.PreKeyRecord.deserialize(b);
  }
  async removePreKey(id) { this.m.delete(id); }
}

class SignedPreKeyStore extends S.SignedPreKeyStore {
  constructor() { super(); this.m = new Map(); }
  async saveSignedPreKey(id, rec) { this.m.set(id, rec.serialize()); }
  async getSignedPreKey(id) {
    const b = this.m.get(id);
    if (!b) throw new Error(`no signed prekey ${id}`);
    return S.SignedPreKeyRecord.deserialize(b);
  }
}

class KyberPreKeyStore extends S.KyberPreKeyStore {
  constructor() { super(); this.m = new Map(); this.lastResort = new Set(); this.used = []; }
  async saveKyberPreKey(id, rec) { this.m.set(id, rec.serialize()); }
  async getKyberPreKey(id) {
    const b = this.m.get(id);
    if (!b) throw new Error(`no kyber prekey ${id}`);
    return S.KyberPreKeyRecord.deserialize(b);
  }
  async markKyberPreKeyUsed(id, signedPreKeyId, baseKey) {
    this.used.push({ id, signedPreKeyId, baseKey: b64(baseKey.serialize()) });
    if (!this.lastResort.has(id)) this.m.delete(id);
  }
}

class SenderKeyStore extends S.SenderKeyStore {
  constructor() { super(); this.m = new Map(); }
  async saveSenderKey(addr, dist, rec) { this.m.set(`${keyOf(addr)}/${dist}`, rec.serialize()); }
  async getSenderKey(addr, dist) {
    const b = this.m.get(`${keyOf(addr)}/${dist}`);
    return b ? S.SenderKeyRecord.deserialize(b) : null;
  }
}

class Party {
  constructor({ address, deviceId, registrationId, identity, trustAll }) {
    this.identity = identity;
    this.registrationId = registrationId;
    this.address = S.ProtocolAddress.new(address, deviceId);
    this.trustAll = !!trustAll;
    this.sessions = new SessionStore();
    this.identities = new IdentityStore(this);
    this.preKeys = new PreKeyStore();
    this.signed = new SignedPreKeyStore();
    this.kyber = new KyberPreKeyStore();
    this.senderKeys = new SenderKeyStore();
    this.nextPreKeyId = 1;
    this.nextKyberId = 1;
    this.signedId = 0;
    this.lastResortId = 0;
    this.newSignedPreKey();
    this.newLastResort();
  }

  newSignedPreKey() {
    const id = ++this.signedId;
    const priv = S.PrivateKey.generate();
    const pub = priv.getPublicKey();
    const sig = this.identity.privateKey.sign(pub.serialize());
    this.signed.m.set(id, S.SignedPreKeyRecord.new(id, Date.now(), pub, priv, sig).serialize());
    return id;
  }

  newKyber(lastResort) {
    const id = lastResort ? 0x700000 + ++this.lastResortId : this.nextKyberId++;
    const kp = S.KEMKeyPair.generate();
    const sig = this.identity.privateKey.sign(kp.getPublicKey().serialize());
    this.kyber.m.set(id, S.KyberPreKeyRecord.new(id, Date.now(), kp, sig).serialize());
    if (lastResort) this.kyber.lastResort.add(id);
    return id;
  }

  newLastResort() { this.lastResortKyberId = this.newKyber(true); }

  newPreKey() {
    const id = this.nextPreKeyId++;
    const priv = S.PrivateKey.generate();
    this.preKeys.m.set(id, S.PreKeyRecord.new(id, priv.getPublicKey(), priv).serialize());
    return id;
  }

  // bundle hands out fresh one-time keys each call unless told otherwise.
  bundle({ preKey = true, kyber = 'onetime', newSignedPreKey = false } = {}) {
    if (newSignedPreKey) this.newSignedPreKey();
    const pkId = preKey ? this.newPreKey() : null;
    const pk = pkId === null ? null : S.PreKeyRecord.deserialize(this.preKeys.m.get(pkId));
    const spk = S.SignedPreKeyRecord.deserialize(this.signed.m.get(this.signedId));
    const kId = kyber === 'lastresort' ? this.lastResortKyberId : this.newKyber(false);
    const k = S.KyberPreKeyRecord.deserialize(this.kyber.m.get(kId));
    return {
      registrationId: this.registrationId,
      deviceId: this.address.deviceId(),
      preKeyId: pkId,
      preKey: pk ? b64(pk.publicKey().serialize()) : null,
      signedPreKeyId: spk.id(),
      signedPreKey: b64(spk.publicKey().serialize()),
      signedPreKeySignature: b64(spk.signature()),
      identityKey: b64(this.identity.publicKey.serialize()),
      kyberPreKeyId: k.id(),
      kyberPreKey: b64(k.publicKey().serialize()),
      kyberPreKeySignature: b64(k.signature()),
    };
  }

  info() {
    return {
      address: this.address.name(),
      deviceId: this.address.deviceId(),
      registrationId: this.registrationId,
      identityKey: b64(this.identity.publicKey.serialize()),
    };
  }
}

const parties = new Map();

// libsignal's log lines go nowhere unless an op collects them (logSink).
let logSink = null;
S.initLogger(S.LogLevel.Info, (level, target, _file, _line, message) => {
  if (logSink && logSink.length < 200) logSink.push(`${level} ${target}: ${message}`);
});

function party(name) {
  const p = parties.get(name);
  if (!p) throw new Error(`unknown party ${JSON.stringify(name)}`);
  return p;
}

function peerAddr(peer) {
  if (!peer || typeof peer.name !== 'string') throw new Error('peer needs {name, device}');
  return S.ProtocolAddress.new(peer.name, peer.device ?? 1);
}

function toBundle(b) {
  return S.PreKeyBundle.new(
    b.registrationId,
    b.deviceId,
    b.preKeyId ?? null,
    b.preKey ? S.PublicKey.deserialize(unb64(b.preKey)) : null,
    b.signedPreKeyId,
    S.PublicKey.deserialize(unb64(b.signedPreKey)),
    unb64(b.signedPreKeySignature),
    S.PublicKey.deserialize(unb64(b.identityKey)),
    b.kyberPreKeyId,
    S.KEMPublicKey.deserialize(unb64(b.kyberPreKey)),
    unb64(b.kyberPreKeySignature),
  );
}

function makeParty(a = {}) {
  const identity = a.identityPrivate
    ? (() => {
        const priv = S.PrivateKey.deserialize(unb64(a.identityPrivate));
        return new S.IdentityKeyPair(priv.getPublicKey(), priv);
      })()
    : S.IdentityKeyPair.generate();
  return new Party({
    address: a.address ?? randomUUID(),
    deviceId: a.deviceId ?? 1,
    registrationId: a.registrationId ?? 1 + Math.floor(Math.random() * 16380),
    identity,
    trustAll: a.trustAll,
  });
}

async function encrypt(p, addr, plaintext) {
  const ct = await S.signalEncrypt(plaintext, addr, p.address, p.sessions, p.identities);
  return ct;
}

async function decrypt(p, addr, type, body) {
  if (type === S.CiphertextMessageType.PreKey) {
    return S.signalDecryptPreKey(
      S.PreKeySignalMessage.deserialize(body), addr, p.address,
      p.sessions, p.identities, p.preKeys, p.signed, p.kyber);
  }
  if (type === S.CiphertextMessageType.Whisper) {
    return S.signalDecrypt(S.SignalMessage.deserialize(body), addr, p.address, p.sessions, p.identities);
  }
  throw new Error(`unsupported message type ${type}`);
}

// establish makes a full session between two harness parties: a processes b's
// bundle, sends one PreKey message, b answers, a reads the answer.
async function establish(a, b) {
  await S.processPreKeyBundle(toBundle(b.bundle()), b.address, a.address, a.sessions, a.identities);
  const m1 = await encrypt(a, b.address, new Uint8Array([1]));
  await decrypt(b, a.address, m1.type(), m1.serialize());
  const m2 = await encrypt(b, a.address, new Uint8Array([2]));
  await decrypt(a, b.address, m2.type(), m2.serialize());
}

const ops = {
  async version() {
    return { libsignal: '0.103.0', node: process.version };
  },

  async createParty(a) {
    if (!a.party) throw new Error('party name required');
    if (parties.has(a.party)) throw new Error(`party ${a.party} exists`);
    const p = makeParty(a);
    parties.set(a.party, p);
    return p.info();
  },

  async deleteParty(a) { parties.delete(a.party); return {}; },

  async partyInfo(a) { return party(a.party).info(); },

  async identityPrivate(a) { return { identityPrivate: b64(party(a.party).identity.privateKey.serialize()) }; },

  async bundle(a) {
    return party(a.party).bundle({ preKey: a.preKey ?? true, kyber: a.kyber ?? 'onetime', newSignedPreKey: !!a.newSignedPreKey });
  },

  // saveIdentity records peer's identity key (as a session would), so that
  // sealed sender can seal to a peer without a session.
  async saveIdentity(a) {
    const p = party(a.party);
    const change = await p.identities.saveIdentity(peerAddr(a.peer), S.PublicKey.deserialize(unb64(a.identityKey)));
    return { replaced: change === S.IdentityChange.ReplacedExisting };
  },

  async processBundle(a) {
    const p = party(a.party);
    await S.processPreKeyBundle(toBundle(a.bundle), peerAddr(a.peer), p.address, p.sessions, p.identities);
    return {};
  },

  async encrypt(a) {
    const p = party(a.party);
    const ct = await encrypt(p, peerAddr(a.peer), unb64(a.plaintext));
    return { type: ct.type(), body: b64(ct.serialize()) };
  },

  async decrypt(a) {
    const p = party(a.party);
    const pt = await decrypt(p, peerAddr(a.peer), a.type, unb64(a.body));
    return { plaintext: b64(pt) };
  },

  async inspect(a) {
    const body = unb64(a.body);
    if (a.type === S.CiphertextMessageType.PreKey) {
      const m = S.PreKeySignalMessage.deserialize(body);
      return { version: m.version(), preKeyId: m.preKeyId(), signedPreKeyId: m.signedPreKeyId(), registrationId: m.registrationId() };
    }
    if (a.type === S.CiphertextMessageType.Whisper) {
      const m = S.SignalMessage.deserialize(body);
      return { version: m.messageVersion(), counter: m.counter(), pqRatchetLen: m.pqRatchet().length };
    }
    throw new Error(`unsupported message type ${a.type}`);
  },

  async sessionState(a) {
    const p = party(a.party);
    const rec = await p.sessions.getSession(peerAddr(a.peer));
    if (!rec) return { exists: false };
    return {
      exists: true,
      hasCurrent: rec.hasCurrentState(),
      localRegistrationId: rec.localRegistrationId(),
      remoteRegistrationId: rec.remoteRegistrationId(),
    };
  },

  async archiveSession(a) {
    const p = party(a.party);
    const addr = peerAddr(a.peer);
    const rec = await p.sessions.getSession(addr);
    if (rec) { rec.archiveCurrentState(); await p.sessions.saveSession(addr, rec); }
    return {};
  },

  async establish(a) {
    await establish(party(a.a), party(a.b));
    return {};
  },

  // spqrProbe asks whether libsignal accepts a peer without SPQR. Alice
  // processes Bob's bundle (her SPQR state may still negotiate its version);
  // then a Whisper message "from Bob" with an empty pq_ratchet field arrives.
  // SPQR runs before the MAC check, so the error tells which refused it: a
  // post-quantum ratchet error means SPQR is required (min_version V1); a MAC
  // failure means libsignal would have fallen back to no SPQR.
  async spqrProbe() {
    const alice = makeParty({});
    const bob = makeParty({});
    await S.processPreKeyBundle(toBundle(bob.bundle()), bob.address, alice.address, alice.sessions, alice.identities);
    const forged = S.SignalMessage._new(
      4, crypto.getRandomValues(new Uint8Array(32)), S.PrivateKey.generate().getPublicKey(),
      0, 0, crypto.getRandomValues(new Uint8Array(32)),
      bob.identity.publicKey, alice.identity.publicKey, new Uint8Array(0));
    logSink.length = 0;
    try {
      await S.signalDecrypt(forged, bob.address, alice.address, alice.sessions, alice.identities);
      return { accepted: true, error: '', logs: [...logSink] };
    } catch (e) {
      return { accepted: false, error: errorText(e), logs: [...logSink] };
    }
  },

  // --- storage records (libsignal's serialized forms) ---
  // exportRecord returns a stored record of p: kind session (by peer),
  // prekey / signedPrekey / kyberPrekey (by id) or senderKey (by sender and
  // distributionId).
  async exportRecord(a) {
    const p = party(a.party);
    let b;
    switch (a.kind) {
      case 'session': b = p.sessions.m.get(keyOf(peerAddr(a.peer))); break;
      case 'prekey': b = p.preKeys.m.get(a.id); break;
      case 'signedPrekey': b = p.signed.m.get(a.id); break;
      case 'kyberPrekey': b = p.kyber.m.get(a.id); break;
      case 'senderKey': b = p.senderKeys.m.get(`${keyOf(peerAddr(a.sender))}/${a.distributionId}`); break;
      default: throw new Error(`unknown record kind ${a.kind}`);
    }
    if (!b) throw new Error(`no ${a.kind} record`);
    return { record: b64(b) };
  },

  // parseRecord has libsignal deserialize a record and report its public parts.
  async parseRecord(a) {
    const b = unb64(a.record);
    switch (a.kind) {
      case 'session': {
        const r = S.SessionRecord.deserialize(b);
        return { localRegistrationId: r.localRegistrationId(), remoteRegistrationId: r.remoteRegistrationId(), hasCurrent: r.hasCurrentState() };
      }
      case 'prekey': {
        const r = S.PreKeyRecord.deserialize(b);
        return { id: r.id(), publicKey: b64(r.publicKey().serialize()), privateMatches: r.privateKey().getPublicKey().equals(r.publicKey()) };
      }
      case 'signedPrekey': {
        const r = S.SignedPreKeyRecord.deserialize(b);
        return { id: r.id(), publicKey: b64(r.publicKey().serialize()), signature: b64(r.signature()), timestamp: r.timestamp(), privateMatches: r.privateKey().getPublicKey().equals(r.publicKey()) };
      }
      case 'kyberPrekey': {
        const r = S.KyberPreKeyRecord.deserialize(b);
        return { id: r.id(), publicKey: b64(r.publicKey().serialize()), signature: b64(r.signature()), timestamp: r.timestamp() };
      }
      case 'senderKey': {
        S.SenderKeyRecord.deserialize(b);
        return {};
      }
      default: throw new Error(`unknown record kind ${a.kind}`);
    }
  },

  // --- sender keys ---
  async senderKeyCreate(a) {
    const p = party(a.party);
    const m = await S.SenderKeyDistributionMessage.create(p.address, a.distributionId, p.senderKeys);
    return { skdm: b64(m.serialize()), chainId: m.chainId(), iteration: m.iteration() };
  },

  async senderKeyProcess(a) {
    const p = party(a.party);
    await S.processSenderKeyDistributionMessage(peerAddr(a.sender), S.SenderKeyDistributionMessage.deserialize(unb64(a.skdm)), p.senderKeys);
    return {};
  },

  async groupEncrypt(a) {
    const p = party(a.party);
    const ct = await S.groupEncrypt(p.address, a.distributionId, p.senderKeys, unb64(a.plaintext));
    return { type: ct.type(), body: b64(ct.serialize()) };
  },

  // groupSkip advances p's sender chain by n messages that are thrown away
  // (to test forward jumps without n round trips).
  async groupSkip(a) {
    const p = party(a.party);
    const m = new Uint8Array(1);
    for (let i = 0; i < a.n; i++) await S.groupEncrypt(p.address, a.distributionId, p.senderKeys, m);
    return {};
  },

  async groupDecrypt(a) {
    const p = party(a.party);
    const pt = await S.groupDecrypt(peerAddr(a.sender), p.senderKeys, unb64(a.body));
    return { plaintext: b64(pt) };
  },

  // --- sealed sender ---
  async sealedSetup(a) {
    const root = S.PrivateKey.generate();
    const server = S.PrivateKey.generate();
    const cert = S.ServerCertificate.new(a.keyId ?? 1, server.getPublicKey(), root);
    return {
      trustRootPublic: b64(root.getPublicKey().serialize()),
      trustRootPrivate: b64(root.serialize()),
      serverPrivate: b64(server.serialize()),
      serverCertificate: b64(cert.serialize()),
    };
  },

  async senderCertificate(a) {
    const cert = S.SenderCertificate.new(
      a.senderUuid, a.senderE164 ?? null, a.senderDeviceId,
      S.PublicKey.deserialize(unb64(a.senderKey)), a.expiration,
      S.ServerCertificate.deserialize(unb64(a.serverCertificate)),
      S.PrivateKey.deserialize(unb64(a.serverPrivate)));
    return { certificate: b64(cert.serialize()) };
  },

  async senderCertificateValidate(a) {
    const cert = S.SenderCertificate.deserialize(unb64(a.certificate));
    return {
      valid: cert.validate(S.PublicKey.deserialize(unb64(a.trustRoot)), a.time),
      senderUuid: cert.senderUuid(),
      senderE164: cert.senderE164(),
      senderDeviceId: cert.senderDeviceId(),
      senderKey: b64(cert.key().serialize()),
      expiration: cert.expiration(),
    };
  },

  async sealedEncrypt(a) {
    const p = party(a.party);
    const addr = peerAddr(a.peer);
    // The inner message is a session message, or with distributionId a
    // sender-key message.
    const ct = a.distributionId
      ? await S.groupEncrypt(p.address, a.distributionId, p.senderKeys, unb64(a.plaintext))
      : await encrypt(p, addr, unb64(a.plaintext));
    const usmc = S.UnidentifiedSenderMessageContent.new(
      ct, S.SenderCertificate.deserialize(unb64(a.senderCertificate)),
      a.contentHint ?? 0, a.groupId ? unb64(a.groupId) : null);
    const body = await S.sealedSenderEncrypt(usmc, addr, p.identities);
    return { body: b64(body), innerType: ct.type() };
  },

  async sealedDecrypt(a) {
    const p = party(a.party);
    const r = await S.sealedSenderDecryptMessage(
      unb64(a.body), S.PublicKey.deserialize(unb64(a.trustRoot)), a.timestamp,
      null, p.address.name(), p.address.deviceId(),
      p.sessions, p.identities, p.preKeys, p.signed, p.kyber);
    return { plaintext: b64(r.message()), senderUuid: r.senderUuid(), senderE164: r.senderE164(), deviceId: r.deviceId() };
  },

  async sealedDecryptToUsmc(a) {
    const p = party(a.party);
    const u = await S.sealedSenderDecryptToUsmc(unb64(a.body), p.identities);
    const g = u.groupId();
    return {
      msgType: u.msgType(),
      contents: b64(u.contents()),
      senderCertificate: b64(u.senderCertificate().serialize()),
      contentHint: u.contentHint(),
      groupId: g ? b64(g) : null,
    };
  },

  // sealedGroupEncrypt group-encrypts plaintext under distributionId and seals
  // it for every recipient with sealed sender v2 (multi-recipient).
  async sealedGroupEncrypt(a) {
    const p = party(a.party);
    const ct = await S.groupEncrypt(p.address, a.distributionId, p.senderKeys, unb64(a.plaintext));
    const usmc = S.UnidentifiedSenderMessageContent.new(
      ct, S.SenderCertificate.deserialize(unb64(a.senderCertificate)),
      a.contentHint ?? 0, a.groupId ? unb64(a.groupId) : null);
    const sent = await S.sealedSenderMultiRecipientEncrypt({
      content: usmc,
      recipients: a.recipients.map(peerAddr),
      identityStore: p.identities,
      sessionStore: p.sessions,
    });
    return { sent: b64(sent) };
  },

  // sealedMultiSplit is the server-side step: parse a v2 multi-recipient
  // message and cut out each recipient's copy.
  async sealedMultiSplit(a) {
    const m = new SealedSenderMultiRecipientMessage(unb64(a.sent));
    const out = {};
    for (const [sid, r] of Object.entries(m.recipientsByServiceIdString())) {
      out[sid] = { deviceIds: r.deviceIds, registrationIds: r.registrationIds, message: b64(m.messageForRecipient(r)) };
    }
    return { recipients: out, excluded: [...m.excludedRecipientServiceIdStrings()] };
  },

  async sealedMultiForSingle(a) {
    return { message: b64(S.sealedSenderMultiRecipientMessageForSingleRecipient(unb64(a.sent))) };
  },

  // --- fingerprints ---
  async fingerprint(a) {
    const f = S.Fingerprint.new(
      a.iterations ?? 5200, a.version ?? 2,
      unb64(a.localId), S.PublicKey.deserialize(unb64(a.localKey)),
      unb64(a.remoteId), S.PublicKey.deserialize(unb64(a.remoteKey)));
    return { displayable: f.displayableFingerprint().toString(), scannable: b64(f.scannableFingerprint().toBuffer()) };
  },

  async fingerprintCompare(a) {
    const mine = S.ScannableFingerprint._fromBuffer(unb64(a.local));
    const theirs = S.ScannableFingerprint._fromBuffer(unb64(a.remote));
    return { match: mine.compare(theirs) };
  },

  // --- benchmarks (elapsed wall time in ns) ---
  // benchEncrypt: n times, alice encrypts `size` bytes and bob decrypts it,
  // in an established session, always alice -> bob.
  async benchEncrypt(a) {
    const n = a.n ?? 1000;
    const size = a.size ?? 1024;
    const alice = makeParty({});
    const bob = makeParty({});
    await establish(alice, bob);
    const msg = new Uint8Array(size).fill(0x61);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const ct = await encrypt(alice, bob.address, msg);
      await decrypt(bob, alice.address, ct.type(), ct.serialize());
    }
    return { n, elapsedNs: Number(process.hrtime.bigint() - t0) };
  },

  // benchSetup: n times, a fresh alice processes a fresh bundle of bob's
  // (one-time EC + Kyber prekeys), encrypts one PreKey message, bob decrypts
  // it. Key generation for the bundles and identities is outside the timing.
  async benchSetup(a) {
    const n = a.n ?? 100;
    const bob = makeParty({});
    const bundles = [];
    const alices = [];
    for (let i = 0; i < n; i++) { bundles.push(toBundle(bob.bundle())); alices.push(makeParty({})); }
    const msg = new Uint8Array(a.size ?? 1024).fill(0x61);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const al = alices[i];
      await S.processPreKeyBundle(bundles[i], bob.address, al.address, al.sessions, al.identities);
      const ct = await encrypt(al, bob.address, msg);
      await decrypt(bob, al.address, ct.type(), ct.serialize());
    }
    return { n, elapsedNs: Number(process.hrtime.bigint() - t0) };
  },
};

function errorText(e) {
  if (e instanceof Error) {
    const code = e.code !== undefined ? ` [${e.code}]` : '';
    return `${e.name}${code}: ${e.message}`;
  }
  return String(e);
}

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
let chain = Promise.resolve();
rl.on('line', (line) => {
  if (!line.trim()) return;
  chain = chain.then(async () => {
    let req;
    try {
      req = JSON.parse(line);
    } catch (e) {
      out({ id: null, ok: false, error: `bad request: ${errorText(e)}` });
      return;
    }
    const fn = Object.hasOwn(ops, req.op) ? ops[req.op] : undefined;
    if (!fn) {
      out({ id: req.id, ok: false, error: `unknown op ${JSON.stringify(req.op)}` });
      return;
    }
    // Collect libsignal's log lines during the op: the node bridge reports
    // most protocol failures as a bare "decryption failed", the log says why.
    logSink = [];
    try {
      out({ id: req.id, ok: true, result: (await fn(req.args ?? {})) ?? {} });
    } catch (e) {
      const why = logSink.filter((l) => !l.startsWith('3 ')).map((l) => l.split('\n')[0]);
      out({ id: req.id, ok: false, error: errorText(e) + (why.length ? ` (libsignal log: ${why.join(' | ')})` : '') });
    } finally {
      logSink = null;
    }
  });
});
rl.on('close', () => { chain.then(() => process.exit(0)); });
