// Package endpoints runs a relay's endpoints and moves them while the relay
// runs: address hopping.
//
// An endpoint is one way in: a transport (tcp, wss, or front: a fronted
// origin served as plain HTTP behind a CDN) listening on a local address,
// plus what clients are told in the manifest (public address, SNI, Host,
// path, secret, TLS pin, cohort). Endpoints come from the command line
// (ParseURL: tcp://127.0.0.1:7001, wss://127.0.0.1:7443?sni=example.org),
// from a JSON config file (File) that Manager.Reload re-reads (the relay
// command does so on SIGHUP), and from the admin command, which talks to
// the running relay over a unix socket in its data directory (mode 0600;
// ServeAdmin, Call).
//
// Every change to the set of endpoints re-signs the manifest with the
// node's key and a serial higher than any used before (the serial is
// stored in the data directory before a manifest carries it, and never
// falls below the Unix time, so a lost data directory does not reuse one
// either), writes it to the manifest and invite files, and hands it to the
// relay server, which pushes it to every connected client at once.
//
// The node key (node-key.pem in the data directory, made on first start)
// signs under a certificate by the network key (delegation.txt; see
// package manifest). A relay that holds the network key certifies its own
// node key for DefaultDelegationTTL and renews the certificate, on its
// clock, when a third of its life is left, re-signing the manifest under
// the new one. A node whose network key is kept offline reads the
// certificate the operator made with "samizdat manifest delegate" from
// the file, takes a renewed one from there without a restart (checked
// hourly and on reload), and, once the one it holds has lapsed, signs
// nothing more and logs how to renew it; clients keep the last manifest.
// Retiring an endpoint closes its listener; connections already made
// through it last until they end, and their clients learn the new
// endpoints from the push. The manifest is also re-signed when half of its
// lifetime has passed.
//
// A way back for clients that were offline during a move: every wss
// endpoint also serves the newest manifest of its cohort (the public one
// for an endpoint of every cohort) over plain HTTPS at a path derived from
// the endpoint's secret (channel.MirrorPath), so a client holding any
// manifest that lists the endpoint can fetch from it, and a probe without
// the path gets the decoy site; and with Options.MirrorDir the public
// manifest is written to that directory, for a web server to publish, on
// every change. A cohort's manifest never goes to the mirror directory: a
// mirror is public to whoever knows its URL, and a censor's account knows
// it, so it would hand every cohort's endpoints to anyone; cohorts get
// theirs pushed, on their own endpoints, and through per-cohort channels
// the operator publishes from manifest-cohort-N.bin.
//
// Endpoints tagged with a cohort above 0 reach only that cohort's devices:
// the public manifest (invite and manifest files) lists the endpoints for
// everyone, and each cohort with endpoints of its own gets a manifest one
// serial higher that adds them, pushed only to devices whose cohort slot
// (the one the relay stored for them, manifest.Slot) falls in that cohort
// and written to
// manifest-cohort-N.bin for per-cohort channels. Channels in the config
// file tagged with a cohort (a mirror of that cohort's own) likewise go
// only into that cohort's manifest.
//
// # Security properties
//
// Per-endpoint secrets and tunnel paths for wss and front are generated on
// first use from crypto/rand and kept in the data directory (mode 0600);
// without the secret a wss or front endpoint shows only its decoy site:
// the operator's directory (Options.DecoyDir), a real site proxied
// (Options.DecoyProxy), or a site generated at first start into
// DecoySiteDir. The wss endpoints share one TLS key (kept in the data
// directory, mode 0600); certificates for it are minted per requested
// server name, so a probe sees a certificate for the name it asked for,
// and clients pin the key (the SHA-256 of its SubjectPublicKeyInfo, put in
// the manifest) rather than trusting any certificate authority.
//
// Nothing a prober sees is the same on every relay: the decoy server's
// look (transport/decoy's Profile: the server it resembles, its headers
// and error pages) and the certificates' shape (key type, names, issuer,
// validity, serial length) are drawn at first start from a seed of the
// node's own, kept with them in DisguiseFile (mode 0600), so a restart
// changes nothing and nodes sharing a keys file still look unalike. The
// tcp endpoints close a connection that fails the handshake at a point
// drawn from the same seed and per connection (transport/tcp's Guard).
// Secrets
// never appear in logs, listings or errors; they are in the manifest,
// which is signed, not secret. The admin socket is reachable only by the
// relay's user. A stolen node key signs for its network only until its
// certificate lapses or the network key revokes it.
package endpoints
