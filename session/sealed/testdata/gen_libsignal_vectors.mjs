// Generates known-answer vectors from libsignal (node) for samizdat's
// session/senderkey and session/sealed tests. Run: node gen.mjs > out.json
import * as S from '/work/main/interop/node/node_modules/@signalapp/libsignal-client/dist/index.js';
import SSMRM from '/work/main/interop/node/node_modules/@signalapp/libsignal-client/dist/SealedSenderMultiRecipientMessage.js';

const hex = (u8) => Buffer.from(u8).toString('hex');
const key = (b) => S.PrivateKey.deserialize(new Uint8Array(32).fill(b));
const u8 = (s) => new Uint8Array(Buffer.from(s));
const keyOf = (a) => `${a.name()}.${a.deviceId()}`;

class SKStore extends S.SenderKeyStore {
  constructor() { super(); this.m = new Map(); }
  async saveSenderKey(a, d, r) { this.m.set(`${keyOf(a)}/${d}`, r.serialize()); }
  async getSenderKey(a, d) { const b = this.m.get(`${keyOf(a)}/${d}`); return b ? S.SenderKeyRecord.deserialize(b) : null; }
}
class SessStore extends S.SessionStore {
  constructor() { super(); this.m = new Map(); }
  async saveSession(a, r) { this.m.set(keyOf(a), r.serialize()); }
  async getSession(a) { const b = this.m.get(keyOf(a)); return b ? S.SessionRecord.deserialize(b) : null; }
  async getExistingSessions(as) { return as.map((a) => S.SessionRecord.deserialize(this.m.get(keyOf(a)))); }
}
class IdStore extends S.IdentityKeyStore {
  constructor(priv, reg) { super(); this.priv = priv; this.reg = reg; this.m = new Map(); }
  async getIdentityKey() { return this.priv; }
  async getLocalRegistrationId() { return this.reg; }
  async saveIdentity(a, k) { this.m.set(a.name(), k); return S.IdentityChange.NewOrUnchanged; }
  async isTrustedIdentity() { return true; }
  async getIdentity(a) { return this.m.get(a.name()) ?? null; }
}

const out = {};
const rootPriv = key(0x01), serverPriv = key(0x02), alicePriv = key(0x03), bobPriv = key(0x04), carolPriv = key(0x05);
const aliceUuid = '9d0652a3-dcc3-4d11-975f-74d61598733f';
const bobUuid = '796abedb-ca4e-4f18-8803-1fde5b921f9f';
const carolUuid = 'aaaaaaaa-7000-11eb-b32a-33b8a8a487a6';
const dist = 'd1d1d1d1-7000-11eb-b32a-33b8a8a487a6';
const alice = S.ProtocolAddress.new(aliceUuid, 3);

// --- sender keys ---
const aliceSK = new SKStore(), bobSK = new SKStore();
const skdm = await S.SenderKeyDistributionMessage.create(alice, dist, aliceSK);
await S.processSenderKeyDistributionMessage(alice, S.SenderKeyDistributionMessage.deserialize(skdm.serialize()), bobSK);
const bobRecordAfterProcess = bobSK.m.get(`${keyOf(alice)}/${dist}`);
const group = { distributionId: dist, sender: aliceUuid, senderDevice: 3, skdm: hex(skdm.serialize()), messages: [] };
for (let i = 0; i < 6; i++) {
  const pt = u8(`group message ${i} `.repeat(i * 3 + 1));
  const ct = await S.groupEncrypt(alice, dist, aliceSK, pt);
  group.messages.push({ plaintext: hex(pt), ciphertext: hex(ct.serialize()) });
}
// Bob decrypts messages 4 then 1: the record then holds skipped keys 0, 2, 3.
for (const i of [4, 1]) await S.groupDecrypt(alice, bobSK, Buffer.from(group.messages[i].ciphertext, 'hex'));
group.decryptOrder = [4, 1];
group.recordAfterProcess = hex(bobRecordAfterProcess);
group.recordAfterDecrypts = hex(bobSK.m.get(`${keyOf(alice)}/${dist}`));
group.senderRecord = hex(aliceSK.m.get(`${keyOf(alice)}/${dist}`));
out.group = group;

// --- certificates and sealed sender ---
const serverCert = S.ServerCertificate.new(1, serverPriv.getPublicKey(), rootPriv);
const expiration = 1700000000000;
const senderCert = S.SenderCertificate.new(aliceUuid, '+15550001111', 3, alicePriv.getPublicKey(), expiration, serverCert, serverPriv);
const inner = await S.groupEncrypt(alice, dist, aliceSK, u8('sealed inner'));
const groupId = new Uint8Array(32).fill(0x42);
const usmc = S.UnidentifiedSenderMessageContent.new(inner, senderCert, 1, groupId);

const aliceIds = new IdStore(alicePriv, 1111);
const aliceSess = new SessStore();
const bob1 = S.ProtocolAddress.new(bobUuid, 1), bob2 = S.ProtocolAddress.new(bobUuid, 2), carol1 = S.ProtocolAddress.new(carolUuid, 1);
let kid = 1;
async function session(addr, priv, reg) {
  const spk = S.PrivateKey.generate();
  const kem = S.KEMKeyPair.generate();
  const pk = S.PrivateKey.generate();
  const bundle = S.PreKeyBundle.new(reg, addr.deviceId(), kid, pk.getPublicKey(), kid, spk.getPublicKey(),
    priv.sign(spk.getPublicKey().serialize()), priv.getPublicKey(), kid,
    kem.getPublicKey(), priv.sign(kem.getPublicKey().serialize()));
  kid++;
  await S.processPreKeyBundle(bundle, addr, alice, aliceSess, aliceIds);
}
await session(bob1, bobPriv, 0x3fff);
await session(bob2, bobPriv, 7);
await session(carol1, carolPriv, 1234);

const v1 = await S.sealedSenderEncrypt(usmc, bob1, aliceIds);
const excluded = S.ServiceId.parseFromServiceIdString('PNI:' + aliceUuid);
const sent = await S.sealedSenderMultiRecipientEncrypt({ content: usmc, recipients: [bob1, bob2, carol1], excludedRecipients: [excluded], identityStore: aliceIds, sessionStore: aliceSess });
const m = new SSMRM(sent);
const split = {};
for (const [sid, r] of Object.entries(m.recipientsByServiceIdString())) {
  split[sid] = { deviceIds: r.deviceIds, registrationIds: r.registrationIds, received: hex(m.messageForRecipient(r)) };
}
// Check libsignal opens its own output with bob's key.
const bobIds = new IdStore(bobPriv, 0x3fff);
const back = await S.sealedSenderDecryptToUsmc(Buffer.from(split[bobUuid].received, 'hex'), bobIds);
if (hex(back.contents()) !== hex(inner.serialize())) throw new Error('self-check failed');

out.sealed = {
  trustRootPrivate: hex(rootPriv.serialize()),
  trustRoot: hex(rootPriv.getPublicKey().serialize()),
  serverCertificate: hex(serverCert.serialize()),
  senderCertificate: hex(senderCert.serialize()),
  senderUuid: aliceUuid, senderE164: '+15550001111', senderDevice: 3, expiration,
  senderIdentity: hex(alicePriv.getPublicKey().serialize()),
  bobPrivate: hex(bobPriv.serialize()), bobUuid,
  carolPrivate: hex(carolPriv.serialize()), carolUuid,
  content: hex(usmc.serialize()),
  contentType: 7, contentHint: 1, groupId: hex(groupId), inner: hex(inner.serialize()),
  v1ToBob: hex(v1),
  v2Sent: hex(sent),
  v2Split: split,
  v2Excluded: [...m.excludedRecipientServiceIdStrings()],
};
console.log(JSON.stringify({ generator: 'libsignal-client 0.103.0 via node (see session/*/testdata/README)', ...out }, null, 1));
