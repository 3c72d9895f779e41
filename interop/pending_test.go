package interop

import "testing"

// Cases whose Go package has not landed yet. Each fails with the missing
// piece named, so the closing count shows them; they move to their own files
// as the packages land.

func TestSessionGoInitiates(t *testing.T) {
	interopCase(t)
	harness(t)
	missing(t, "samizdat/session: SessionCipher / ProcessBundle API (PQXDH + triple ratchet) not landed")
}

func TestSessionLibsignalInitiates(t *testing.T) {
	interopCase(t)
	harness(t)
	missing(t, "samizdat/session: SessionCipher / bundle API not landed")
}

func TestSessionLongConversation(t *testing.T) {
	interopCase(t)
	harness(t)
	missing(t, "samizdat/session: SessionCipher not landed (200 messages each way, reordered, dropped, duplicated)")
}

func TestSessionRestartGo(t *testing.T) {
	interopCase(t)
	harness(t)
	missing(t, "samizdat/session: SessionCipher not landed (Go restarts from a new bundle while old messages are in flight)")
}

func TestSessionRestartLibsignal(t *testing.T) {
	interopCase(t)
	harness(t)
	missing(t, "samizdat/session: SessionCipher not landed (libsignal restarts from a new bundle while old messages are in flight)")
}

func TestSealedSenderGoToLibsignal(t *testing.T) {
	interopCase(t)
	harness(t)
	missing(t, "samizdat/session/sealed not landed")
}

func TestSealedSenderLibsignalToGo(t *testing.T) {
	interopCase(t)
	harness(t)
	missing(t, "samizdat/session/sealed not landed")
}

func TestFingerprintSameSafetyNumber(t *testing.T) {
	interopCase(t)
	harness(t)
	missing(t, "samizdat/session/fingerprint not landed")
}

func TestBenchmarkRatios(t *testing.T) {
	interopCase(t)
	harness(t)
	missing(t, "samizdat/session: SessionCipher not landed, nothing to compare with libsignal")
}
