//go:build linux

package relay_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"samizdat/internal/procstat"
	"samizdat/noisechan"
	"samizdat/relay"
	"samizdat/relay/wire"
	"samizdat/store/sqlite"
	"samizdat/transport/tcp"
)

// envReaders hands the reader process its work: address, relay key,
// channel id, read token and the number of subscribers, space-separated.
const envReaders = "SAMIZDAT_CHANNEL_READERS"

// BenchmarkChannelReads measures one post read by many subscribers: each
// iteration posts once (one durable write on SQLite, FULL sync) and waits
// until every subscriber has the post over its own Noise connection on
// loopback: pushed in a ChannelNotice (one frame marshalled once, encrypted
// per connection), or read from the log by a subscriber that missed one. The subscribers run in a separate
// process, so the relay's CPU (this process: the relay and the one
// poster) is measured apart from theirs. Subscribers (1000 by default) are
// set by SAMIZDAT_BENCH_SUBSCRIBERS. Run it as
//
//	go test -run X -bench ChannelReads -benchtime 200x ./relay
func BenchmarkChannelReads(b *testing.B) {
	subs := 1000
	if v, err := strconv.Atoi(os.Getenv("SAMIZDAT_BENCH_SUBSCRIBERS")); err == nil && v > 0 {
		subs = v
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "relay.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	e := newEnvStore(b, st, func(c *relay.Config) {
		unlimited(c)
		c.Limits.ChannelPosts = relay.Unlimited
		c.Limits.AnonymousPerSource = -1
		c.Limits.HandshakesPerSource = -1
		c.Logger = nil
	})
	admin := e.register("admin", 0)
	ch := newTestChannel(b)
	admin.dev1().mustOK(ch.createReq())

	cmd := exec.Command(os.Args[0], "-test.run=^TestChannelReaderProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %x %x %x %d", envReaders, e.addr, e.relayKey, ch.id, ch.token, subs))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	lines := bufio.NewScanner(out)
	expect := func(want string) {
		b.Helper()
		for lines.Scan() {
			if lines.Text() == want {
				return
			}
		}
		b.Fatalf("reader process ended before %q: %v", want, lines.Err())
	}
	expect("ready")

	relayCPU, readersCPU := procstat.CPU(os.Getpid()), procstat.CPU(cmd.Process.Pid)
	b.ResetTimer()
	for i := range b.N {
		admin.dev1().mustOK(ch.postReq(b, i+1, "a post read by every subscriber", ch.code.Admin))
		expect(fmt.Sprintf("round %d", i+1))
	}
	b.StopTimer()
	reads := float64(subs) * float64(b.N)
	b.ReportMetric(reads/b.Elapsed().Seconds(), "reads/s")
	b.ReportMetric(float64((procstat.CPU(os.Getpid())-relayCPU).Microseconds())/reads, "relay-µs/read")
	b.ReportMetric(float64((procstat.CPU(cmd.Process.Pid)-readersCPU).Microseconds())/reads, "readers-µs/read")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/post-to-all")
}

// TestChannelReaderProcess is BenchmarkChannelReads' subscribers, run in a
// process of their own; it is skipped unless that benchmark started it.
func TestChannelReaderProcess(t *testing.T) {
	spec := os.Getenv(envReaders)
	if spec == "" {
		t.Skip("the reader process of BenchmarkChannelReads")
	}
	var addr, keyHex, idHex, tokHex string
	var n int
	if _, err := fmt.Sscan(spec, &addr, &keyHex, &idHex, &tokHex, &n); err != nil {
		t.Fatal(err)
	}
	key, _ := hex.DecodeString(keyHex)
	id, _ := hex.DecodeString(idHex)
	tok, _ := hex.DecodeString(tokHex)
	e := &env{t: t, addr: addr, relayKey: [32]byte(key)}
	read := func(after uint64, subscribe bool) *wire.Request {
		return &wire.Request{Op: &wire.Request_ReadChannel{ReadChannel: &wire.ReadChannel{ChannelId: id, ReadToken: tok, After: after, Subscribe: subscribe}}}
	}
	conns := make([]*client, n)
	for i := range conns {
		conns[i] = dialQuiet(t, e)
		conns[i].mustOK(read(0, true))
	}
	fmt.Println("ready")
	done := make(chan uint64, n)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			var last uint64
			for p := range c.pushes {
				nt := p.GetChannel()
				if nt == nil {
					continue
				}
				// The notice carries the post; a gap is read from the log.
				if nt.Seq != last+1 || nt.Post.GetSeq() != nt.Seq || len(nt.Post.GetContent()) == 0 {
					r := c.call(read(last, false))
					if posts := r.GetChannelPosts().GetPosts(); r.Status != wire.Status_OK || len(posts) == 0 || posts[len(posts)-1].Seq != nt.Seq {
						t.Errorf("read of post %d: %v %s", nt.Seq, r.Status, r.Reason)
					}
				}
				last = nt.Seq
				done <- nt.Seq
			}
		})
	}
	go func() {
		count := map[uint64]int{}
		for seq := range done {
			if count[seq]++; count[seq] == n {
				fmt.Printf("round %d\n", seq)
			}
		}
	}()
	bufio.NewReader(os.Stdin).ReadByte() // until the benchmark ends
	for _, c := range conns {
		c.nc.Close()
	}
}

// dialQuiet is env.dial, with the pushes of the connection closed when it
// ends (so the reader goroutines end).
func dialQuiet(t *testing.T, e *env) *client {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	raw, err := (&tcp.Dialer{}).Dial(ctx, e.addr)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := noisechan.Client(ctx, raw, newKey(t), e.relayKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, nc: nc, waits: make(map[uint64]chan *wire.Response), pushes: make(chan *wire.Push, 64), done: make(chan struct{})}
	go func() {
		c.readLoop()
		close(c.pushes)
	}()
	return c
}
