package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestMemoryStoreConcurrentUse(t *testing.T) {
	p := newParty(t, bobACI, 7)
	pks, err := GeneratePreKeys(1, 20, p.rand)
	if err != nil {
		t.Fatal(err)
	}
	kyber, err := GenerateKyberPreKey(p.store.identity, 1, true, testNow, p.rand)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.store.StoreKyberPreKey(ctx, kyber); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, pk := range pks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := Address{Name: fmt.Sprint("peer", i), DeviceID: 1}
			if err := p.store.StorePreKey(ctx, pk); err != nil {
				t.Error(err)
			}
			if _, err := p.store.PreKey(ctx, pk.ID); err != nil {
				t.Error(err)
			}
			if _, err := p.store.SaveIdentity(ctx, addr, pk.KeyPair.Public); err != nil {
				t.Error(err)
			}
			if ok, _ := p.store.IsTrustedIdentity(ctx, addr, pk.KeyPair.Public, true); !ok {
				t.Error("identity not trusted after save")
			}
			if err := p.store.StoreSession(ctx, addr, NewSessionRecord()); err != nil {
				t.Error(err)
			}
			if _, err := p.store.LoadSession(ctx, addr); err != nil {
				t.Error(err)
			}
			if err := p.store.MarkKyberPreKeyUsed(ctx, 1, 1, pk.KeyPair.Public); err != nil {
				t.Error(err)
			}
			if err := p.store.RemovePreKey(ctx, pk.ID); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, pk := range pks {
		if _, err := p.store.PreKey(ctx, pk.ID); !errors.Is(err, ErrNoPreKey) {
			t.Fatalf("prekey %d: %v", pk.ID, err)
		}
	}
}

func TestMemoryStoreIdentityTOFU(t *testing.T) {
	p, q, r := newParty(t, bobACI, 7), newParty(t, aliceACI, 8), newParty(t, aliceACI, 9)
	ctx := context.Background()
	addr := q.addr
	k1, k2 := q.store.identity.Public, r.store.identity.Public
	if ok, _ := p.store.IsTrustedIdentity(ctx, addr, k1, false); !ok {
		t.Fatal("first use not trusted")
	}
	if changed, _ := p.store.SaveIdentity(ctx, addr, k1); changed {
		t.Fatal("first save reported a change")
	}
	if ok, _ := p.store.IsTrustedIdentity(ctx, addr, k2, false); ok {
		t.Fatal("changed identity trusted")
	}
	if changed, _ := p.store.SaveIdentity(ctx, addr, k2); !changed {
		t.Fatal("replacing save did not report a change")
	}
	got, ok, _ := p.store.Identity(ctx, addr)
	if !ok || !got.Equal(k2) {
		t.Fatal("identity not replaced")
	}
}

func TestParseCiphertextMessageTypes(t *testing.T) {
	for _, typ := range []int{TypeSenderKey, TypePlaintext, 0, 99} {
		if _, err := ParseCiphertextMessage(typ, []byte{0x44, 1, 2, 3, 4, 5, 6, 7, 8, 9}); !errors.Is(err, ErrMalformed) {
			t.Errorf("type %d: %v", typ, err)
		}
	}
}
