// Package relay is the samizdat relay: it stores and forwards ciphertext
// between devices and learns as little as it can about who talks to whom.
//
// A relay authenticates each device by the static key of its Noise IK
// channel; there are no passwords or bearer tokens. It keeps accounts and
// their devices, the public prekeys other clients need to start a session,
// and a mailbox per device holding end-to-end encrypted envelopes until the
// device acknowledges them. It never holds a private key of a client and never
// sees a plaintext: envelope contents are opaque Signal-protocol ciphertext,
// and sealed-sender envelopes do not name their sender.
//
// Storage sits behind the narrow interfaces in store.go (Accounts, PreKeys,
// Mailboxes, RateLimits, combined in Store). A message is acknowledged to its
// sender only after Mailboxes.Append has made it durable, so a relay killed
// with SIGKILL loses nothing it acknowledged. Implementations live in
// samizdat/store/... and must pass the conformance suite in
// samizdat/store/storetest.
//
// A group message goes out as one SendMultiRecipient: a sealed sender v2
// message for many accounts, which the relay splits per recipient device
// and stores in one Append. The sender proves access with the XOR of the
// recipients' unidentified access keys, as Signal-Server's multi_recipient
// endpoint does; an unknown recipient and a wrong key are refused alike, so
// the request reveals no more about who exists than a single sealed send
// (multi.go gives the argument). Stores that implement AccountsBatch serve
// the recipients' accounts and devices in one call.
//
// An account has up to Limits.MaxDevices devices. Its primary device (1)
// may remove the others, as Signal's primary unlinks linked devices: the
// removed device's keys and mailbox are deleted, its connections closed
// (on every node: devices.go says how), its noise key refused from then on
// with DEVICE_REMOVED, and its slot freed; the account's other devices get
// an AccountNotice in their mailboxes, and senders learn of the change
// from their next send's device mismatch. Device names are sealed by the
// clients; the relay stores them as opaque bytes, and keeps when a device
// last connected to the day only.
//
// A Server serves any number of listeners at once (Serve, one call per
// listener, from any transport). It also hands out the network's signed
// manifest: SetManifest (or SetManifestFunc, for a manifest per device
// such as one per cohort, chosen by the cohort slot the relay assigned
// the device at registration) pushes it to every connection that has started
// delivery, all at once, and to each later one right after its
// StartDelivery, before its backlog. That in-band push is how clients
// learn of moved endpoints before the old addresses are blocked; package
// samizdat/relay/endpoints decides the endpoints and signs the manifests.
// The relay does not verify what it pushes: clients verify every manifest
// and keep only newer ones.
//
// Peers that connect and never finish the Noise handshake cannot turn
// others away: handshakes in progress are capped in all and per source
// address, a full relay gives the oldest slot of the busiest source to a
// newcomer from a less busy one, handshakes begun under pressure get a
// shorter budget, and anonymous connections are capped per source too
// (admit.go). A fronted listener's source is the CDN edge, shared by
// every fronted user, so it is not capped, only made to give way.
//
// A connection whose handshake fails is ended the way its transport
// wants a prober to see it: a tcp endpoint's (transport/tcp's Guard) is
// read to a close point drawn per connection, or held to a drawn time,
// rather than reset at once, and it keeps its handshake slot meanwhile,
// so held probes still count against the caps.
package relay
