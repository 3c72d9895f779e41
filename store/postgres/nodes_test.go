package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"samizdat/relay"
	"samizdat/store/postgres"
	"samizdat/store/postgres/pgtest"
	"samizdat/store/storetest"
)

// twoNodes is one relay.Store made of two Stores on one database, as two
// relay nodes would be: calls alternate between them, so that every
// conformance test also checks what one node writes and the other reads,
// and the concurrent tests race the two nodes against each other. Rate
// limits are per node (see the package doc) unless shared, so Allow goes
// to a unless shared is set.
type twoNodes struct {
	a, b   *postgres.Store
	shared bool
	n      atomic.Uint64
}

func (t *twoNodes) next() *postgres.Store {
	if t.n.Add(1)%2 == 0 {
		return t.a
	}
	return t.b
}

func (t *twoNodes) CreateAccount(ctx context.Context, a relay.Account, d relay.Device) error {
	return t.next().CreateAccount(ctx, a, d)
}
func (t *twoNodes) AddDevice(ctx context.Context, d relay.Device) error {
	return t.next().AddDevice(ctx, d)
}
func (t *twoNodes) NextDeviceID(ctx context.Context, id relay.AccountID) (uint32, error) {
	return t.next().NextDeviceID(ctx, id)
}
func (t *twoNodes) AccountByID(ctx context.Context, id relay.AccountID) (relay.Account, error) {
	return t.next().AccountByID(ctx, id)
}
func (t *twoNodes) AccountByUsername(ctx context.Context, name string) (relay.Account, error) {
	return t.next().AccountByUsername(ctx, name)
}
func (t *twoNodes) DeviceByNoiseKey(ctx context.Context, key [32]byte) (relay.Device, error) {
	return t.next().DeviceByNoiseKey(ctx, key)
}
func (t *twoNodes) Devices(ctx context.Context, id relay.AccountID) ([]relay.Device, error) {
	return t.next().Devices(ctx, id)
}
func (t *twoNodes) RemoveDevice(ctx context.Context, acct relay.AccountID, dev uint32) error {
	return t.next().RemoveDevice(ctx, acct, dev)
}
func (t *twoNodes) SetLastSeen(ctx context.Context, acct relay.AccountID, dev uint32, at time.Time) error {
	return t.next().SetLastSeen(ctx, acct, dev, at)
}
func (t *twoNodes) SetSignedPreKey(ctx context.Context, acct relay.AccountID, dev uint32, k relay.SignedPreKey) error {
	return t.next().SetSignedPreKey(ctx, acct, dev, k)
}
func (t *twoNodes) SetLastResortKyberPreKey(ctx context.Context, acct relay.AccountID, dev uint32, k relay.SignedPreKey) error {
	return t.next().SetLastResortKyberPreKey(ctx, acct, dev, k)
}
func (t *twoNodes) AddPreKeys(ctx context.Context, acct relay.AccountID, dev uint32, ec []relay.OneTimePreKey, kyber []relay.SignedPreKey) error {
	return t.next().AddPreKeys(ctx, acct, dev, ec, kyber)
}
func (t *twoNodes) CountPreKeys(ctx context.Context, acct relay.AccountID, dev uint32) (int, int, error) {
	return t.next().CountPreKeys(ctx, acct, dev)
}
func (t *twoNodes) TakeBundle(ctx context.Context, acct relay.AccountID, dev uint32) (relay.Bundle, error) {
	return t.next().TakeBundle(ctx, acct, dev)
}
func (t *twoNodes) Append(ctx context.Context, envs []relay.Envelope) error {
	return t.next().Append(ctx, envs)
}
func (t *twoNodes) Fetch(ctx context.Context, acct relay.AccountID, dev uint32, after uint64, limit int) ([]relay.Envelope, error) {
	return t.next().Fetch(ctx, acct, dev, after, limit)
}
func (t *twoNodes) Ack(ctx context.Context, acct relay.AccountID, dev uint32, ids [][16]byte) error {
	return t.next().Ack(ctx, acct, dev, ids)
}
func (t *twoNodes) Expire(ctx context.Context, before time.Time) (int, error) {
	return t.next().Expire(ctx, before)
}
func (t *twoNodes) CreateChannel(ctx context.Context, ch relay.Channel) error {
	return t.next().CreateChannel(ctx, ch)
}
func (t *twoNodes) ChannelByID(ctx context.Context, id relay.ChannelID) (relay.Channel, error) {
	return t.next().ChannelByID(ctx, id)
}
func (t *twoNodes) AppendPost(ctx context.Context, p *relay.ChannelPost) error {
	return t.next().AppendPost(ctx, p)
}
func (t *twoNodes) ChannelPosts(ctx context.Context, id relay.ChannelID, after uint64, limit int) ([]relay.ChannelPost, uint64, error) {
	return t.next().ChannelPosts(ctx, id, after, limit)
}
func (t *twoNodes) Allow(ctx context.Context, key string, cost, burst, rate float64, now time.Time) (bool, time.Duration, error) {
	if t.shared {
		return t.next().Allow(ctx, key, cost, burst, rate, now)
	}
	return t.a.Allow(ctx, key, cost, burst, rate, now)
}
func (t *twoNodes) Close() error { return errors.Join(t.a.Close(), t.b.Close()) }

// TestConformanceTwoNodes runs the conformance suite against two nodes
// sharing one database, with rate limits per node and shared.
func TestConformanceTwoNodes(t *testing.T) {
	pgtest.ServerURL(t)
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("SharedRateLimits=%v", shared), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, cfg storetest.Config) relay.Store {
				url := pgtest.NewDatabase(t)
				var nodes [2]*postgres.Store
				for i := range nodes {
					opts := options(cfg)
					opts.SharedRateLimits = shared
					s, err := postgres.Open(context.Background(), url, opts)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { s.Close() })
					nodes[i] = s
				}
				return &twoNodes{a: nodes[0], b: nodes[1], shared: shared}
			})
		})
	}
}

// TestSharedRateLimitConcurrent has 32 goroutines on two nodes spend from
// one shared bucket that never refills: exactly burst calls are allowed.
func TestSharedRateLimitConcurrent(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	var nodes [2]*postgres.Store
	for i := range nodes {
		s, err := postgres.Open(ctx, url, postgres.Options{SharedRateLimits: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		nodes[i] = s
	}
	const burst = 100
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var allowed, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for range 8 { // 256 calls in all
				ok, _, err := nodes[g%2].Allow(ctx, "k", 1, burst, 0, now)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					allowed.Add(1)
				} else {
					refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if allowed.Load() != burst || refused.Load() == 0 {
		t.Errorf("allowed %d, refused %d; want exactly %d allowed", allowed.Load(), refused.Load(), burst)
	}
}

// TestMigrateConcurrently starts several nodes at once on an empty database:
// one migrates, the others wait for it and find nothing to do.
func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	const nodes = 8
	stores := make([]*postgres.Store, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(ctx, url, postgres.Options{MaxConns: 3, Writers: 1}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: Open: %v", i, err)
		}
		defer stores[i].Close()
	}
	conn := connect(t, url)
	var rows, top int
	if err := conn.QueryRow(ctx, "SELECT count(*), max(version) FROM schema_migrations").Scan(&rows, &top); err != nil {
		t.Fatal(err)
	}
	if rows != postgres.SchemaVersion || top != postgres.SchemaVersion {
		t.Errorf("schema_migrations has %d rows up to version %d, want %d", rows, top, postgres.SchemaVersion)
	}
	// A database from a newer program is refused, not downgraded.
	if _, err := conn.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, 'future')", postgres.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	if s, err := postgres.Open(ctx, url, postgres.Options{}); err == nil {
		s.Close()
		t.Error("Open of a database with a newer schema succeeded")
	}
}

type commitLog struct {
	mu     sync.Mutex
	writes []int
	errs   int
}

func (c *commitLog) ObserveCommit(took time.Duration, writes int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, writes)
	if err != nil {
		c.errs++
	}
}

// TestObserveCommitsAndDepth checks the metrics hooks: each writer batch is
// reported with the calls it carried, and MailboxDepth follows appends and
// acks, whichever node made them.
func TestObserveCommitsAndDepth(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	a, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var log commitLog
	a.ObserveCommits(&log)
	var acct relay.AccountID
	acct[0] = 7
	envs := []relay.Envelope{
		{ID: [16]byte{1}, Account: acct, Device: 1, Content: make([]byte, 10)},
		{ID: [16]byte{2}, Account: acct, Device: 2, Content: make([]byte, 20)},
	}
	if err := a.Append(ctx, envs); err != nil {
		t.Fatal(err)
	}
	if err := a.Ack(ctx, acct, 1, [][16]byte{{1}}); err != nil {
		t.Fatal(err)
	}
	if n, size, err := b.MailboxDepth(ctx); err != nil || n != 1 || size != 20 {
		t.Errorf("MailboxDepth = %d, %d, %v; want 1, 20", n, size, err)
	}
	a.ObserveCommits(nil)
	if err := a.Ack(ctx, acct, 2, [][16]byte{{2}}); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.writes) != 2 || log.writes[0] != 1 || log.writes[1] != 1 || log.errs != 0 {
		t.Errorf("observed batches %v with %d errors; want [1 1] and none (nothing after ObserveCommits(nil))", log.writes, log.errs)
	}
	if n, _, err := a.MailboxDepth(ctx); err != nil || n != 0 {
		t.Errorf("MailboxDepth after acking everything = %d, %v", n, err)
	}
}
