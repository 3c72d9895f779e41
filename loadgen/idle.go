package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"samizdat/noisechan"
	"samizdat/relay"
	"samizdat/relay/wire"
)

// IdleSpec tells an idle-client process which devices to connect.
type IdleSpec struct {
	Addrs       []string      `json:"addrs"`     // the relay's listeners
	RelayKey    [32]byte      `json:"relay_key"` // the relay's static Noise key
	Seed        uint64        `json:"seed"`      // device keys derive from (Seed, index)
	First       int           `json:"first"`     // devices First .. First+N-1
	N           int           `json:"n"`
	Sources     []string      `json:"sources"` // local addresses to dial from, round robin
	Concurrency int           `json:"concurrency"`
	Ping        time.Duration `json:"ping"` // each connection pings this often
	// Silent, when set, has the process play the siege's silent flood
	// instead (the rest of the spec unused): see RunSilentFlood.
	Silent *SilentSpec `json:"silent,omitempty"`
}

// IdleStatus is what an idle-client process reports, one JSON line at a
// time, while it connects and once it is done connecting.
type IdleStatus struct {
	Connected int    `json:"connected"`
	Failed    int    `json:"failed"`
	FirstErr  string `json:"first_err,omitempty"`
	Done      bool   `json:"done"`
	RSS       uint64 `json:"rss"`
	Pings     int64  `json:"pings"`      // answered pings since connecting
	PingFails int64  `json:"ping_fails"` // pings not answered: the connection is gone
	Open      int64  `json:"open"`       // a silent flood's connections open now
}

// RunIdleClients is the idle-client process: it reads an IdleSpec from in,
// connects every device (Noise handshake, StartDelivery, QueueEmpty),
// reports IdleStatus lines on out, then keeps the connections alive with
// pings until in reaches EOF or ctx ends, and closes them.
func RunIdleClients(ctx context.Context, in io.Reader, out io.Writer) error {
	br := bufio.NewReader(in)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("loadgen: read idle spec: %w", err)
	}
	var spec IdleSpec
	if err := json.Unmarshal(line, &spec); err != nil {
		return fmt.Errorf("loadgen: idle spec: %w", err)
	}
	if spec.Silent != nil {
		return runSilentFlood(ctx, *spec.Silent, br, out)
	}
	if len(spec.Addrs) == 0 || len(spec.Sources) == 0 || spec.Ping <= 0 {
		return errors.New("loadgen: idle spec needs addrs, sources and a ping interval")
	}
	raiseNoFile(uint64(spec.N + 1024))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // EOF on in ends the run
		io.Copy(io.Discard, br)
		cancel()
	}()

	var mu sync.Mutex
	var st IdleStatus
	var pings, pingFails atomic.Int64
	report := func() {
		mu.Lock()
		s := st
		mu.Unlock()
		s.RSS, s.Pings, s.PingFails = rss(), pings.Load(), pingFails.Load()
		b, _ := json.Marshal(s)
		fmt.Fprintf(out, "%s\n", b)
	}
	conns := make([]*noisechan.Conn, spec.N)
	ticker := time.NewTicker(500 * time.Millisecond)
	ramped := make(chan struct{})
	go func() {
		defer close(ramped)
		parallel(ctx, spec.N, max(spec.Concurrency, 1), func(ctx context.Context, i int) error {
			c, err := idleConnect(ctx, spec, i)
			mu.Lock()
			if err != nil {
				st.Failed++
				if st.FirstErr == "" {
					st.FirstErr = err.Error()
				}
			} else {
				st.Connected++
				conns[i] = c
			}
			mu.Unlock()
			return nil
		})
	}()
ramp:
	for {
		select {
		case <-ticker.C:
			report()
		case <-ramped:
			break ramp
		}
	}
	ticker.Stop()
	mu.Lock()
	st.Done = true
	mu.Unlock()
	report()

	// Keep alive: workers ping their share of the connections, spread over
	// the interval.
	const workers = 32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var mine []*noisechan.Conn
			for i := w; i < len(conns); i += workers {
				if conns[i] != nil {
					mine = append(mine, conns[i])
				}
			}
			if len(mine) == 0 {
				return
			}
			gap := spec.Ping / time.Duration(len(mine))
			next := time.Now()
			for k := 0; ctx.Err() == nil; k++ {
				next = next.Add(gap)
				select {
				case <-time.After(time.Until(next)):
				case <-ctx.Done():
					return
				}
				if ping(mine[k%len(mine)], time.Now().Add(10*time.Second)) == nil {
					pings.Add(1)
				} else if ctx.Err() == nil {
					pingFails.Add(1)
				}
			}
		})
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-tick.C:
			report()
		case <-ctx.Done():
		}
	}
	wg.Wait()
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	return nil
}

// idleConnect connects device i and waits for its delivery to start.
func idleConnect(ctx context.Context, spec IdleSpec, i int) (*noisechan.Conn, error) {
	key, err := deviceKey(spec.Seed, spec.First+i)
	if err != nil {
		return nil, err
	}
	src, err := netip.ParseAddr(spec.Sources[i%len(spec.Sources)])
	if err != nil {
		return nil, err
	}
	p, err := dialPeerConn(ctx, spec.Addrs[i%len(spec.Addrs)], tcpAddr(src), key, spec.RelayKey)
	if err != nil {
		return nil, err
	}
	p.SetDeadline(time.Now().Add(30 * time.Second))
	req := &wire.Request{Id: 1, Op: &wire.Request_StartDelivery{StartDelivery: &wire.StartDelivery{}}}
	if err := wire.WriteFrame(p, &wire.Frame{Body: &wire.Frame_Request{Request: req}}); err != nil {
		p.Close()
		return nil, err
	}
	started, empty := false, false
	for !started || !empty {
		f, err := wire.ReadFrame(p)
		if err != nil {
			p.Close()
			return nil, err
		}
		if r := f.GetResponse(); r != nil {
			if r.Status != wire.Status_OK {
				p.Close()
				return nil, fmt.Errorf("loadgen: start delivery: %v", r.Status)
			}
			started = true
		}
		if f.GetPush().GetQueueEmpty() != nil {
			empty = true
		}
	}
	p.SetDeadline(time.Time{})
	return p, nil
}

// memSnapshot is the relay process's memory and goroutines.
type memSnapshot struct {
	heap, stack, rss uint64
	goroutines       int
	fds              int
}

func snapshot() memSnapshot {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSnapshot{heap: ms.HeapInuse, stack: ms.StackInuse, rss: rss(), goroutines: runtime.NumGoroutine(), fds: openFiles()}
}

// idleCommand is the default Config.IdleCommand.
func idleCommand() *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return exec.Command(exe, "bench", "--idle-clients")
}

// idleChild is one running idle-client process.
type idleChild struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	status chan IdleStatus // every line; closed at EOF
	last   IdleStatus
	stderr *tailBuffer
}

// idle: as many authenticated, delivering, idle connections as the
// machine allows, up to IdleConns, held by separate client processes, and
// the relay process's memory and CPU per connection.
func (r *runner) idle(ctx context.Context, res *Result) error {
	want := r.sz.IdleConns
	soft, hard, err := raiseNoFile(uint64(want + 1024))
	if err != nil {
		return fmt.Errorf("open-file limit: %w", err)
	}
	var dests, sources []string
	for i := range max(r.sz.IdleDests, 1) {
		dests = append(dests, netip.AddrPortFrom(loopAddr(1, i), 0).String())
	}
	for i := range max(r.sz.IdleSources, 1) {
		sources = append(sources, loopAddr(2, i).String())
	}
	n, err := r.startNode(ctx, ScenarioIdle, loopbackSources(relay.Limits{}), dests)
	if err != nil {
		return err
	}
	defer n.close()
	// Each connection costs the relay one descriptor; keep a reserve for
	// the store and the listeners.
	reserve := 256
	budget := int(soft) - openFiles() - reserve
	limit := ""
	if budget < want {
		limit = fmt.Sprintf("open files: the relay process may hold %d descriptors (RLIMIT_NOFILE soft %d, hard %d; raising the hard limit needs CAP_SYS_RESOURCE), so at most %d connections", soft, soft, hard, budget)
		want = max(budget, 0)
	}
	ports := 28000 // a conservative ip_local_port_range per source address
	if cap := ports * len(sources); cap < want {
		limit = fmt.Sprintf("source ports: %d source addresses × ~%d ephemeral ports", len(sources), ports)
		want = cap
	}
	seed := newSeed()
	r.progress("idle: registering %d devices", want)
	if _, err := provision(ctx, n.store, seed, 0, want); err != nil {
		return err
	}
	before := snapshot()

	// Client processes: each holds as many connections as its own
	// descriptor limit allows (children inherit this process's limits).
	per := max(int(soft)-reserve, 1)
	var kids []*idleChild
	defer func() {
		for _, k := range kids {
			k.stop()
		}
	}()
	ramp := time.Now()
	for first := 0; first < want; first += per {
		spec := IdleSpec{Addrs: n.addrs, RelayKey: n.key.Public, Seed: seed, First: first, N: min(per, want-first),
			Sources: sources, Concurrency: 128, Ping: r.sz.IdlePing}
		k, err := r.startIdleChild(spec)
		if err != nil {
			return err
		}
		kids = append(kids, k)
	}
	connected, failed, firstErr := 0, 0, ""
	for _, k := range kids {
		if err := k.waitDone(ctx, r); err != nil {
			return err
		}
		connected += k.last.Connected
		failed += k.last.Failed
		if firstErr == "" {
			firstErr = k.last.FirstErr
		}
	}
	rampFor := time.Since(ramp)
	r.progress("idle: %d connected, %d failed in %v", connected, failed, rampFor.Round(time.Millisecond))
	if failed > 0 && limit == "" {
		limit = "connections failed: " + firstErr
	}
	time.Sleep(time.Second) // let handshakes and first pushes settle
	after := snapshot()
	if r.cfg.IdleHeapProfile != nil {
		if err := pprof.WriteHeapProfile(r.cfg.IdleHeapProfile); err != nil {
			return fmt.Errorf("heap profile: %w", err)
		}
	}

	r.progress("idle: measuring CPU for %v", r.sz.IdleWindow)
	pings0 := 0
	for _, k := range kids {
		pings0 += int(k.latest().Pings)
	}
	c0, t0, p0 := cpuTime(), time.Now(), time.Now()
	time.Sleep(r.sz.IdleWindow)
	c1, t1 := cpuTime(), time.Now()
	time.Sleep(1100 * time.Millisecond) // a fresh status line from each child
	pings1, pingFails := 0, 0
	var clientRSS uint64
	for _, k := range kids {
		s := k.latest()
		pings1 += int(s.Pings)
		pingFails += int(s.PingFails)
		clientRSS += s.RSS
	}
	p1 := time.Now()
	cores := (c1 - c0).Seconds() / t1.Sub(t0).Seconds()
	per1 := func(a, b uint64) float64 {
		if connected == 0 {
			return 0
		}
		return (float64(a) - float64(b)) / float64(connected) / 1024
	}
	res.add("connections", float64(connected), "conns")
	res.add("rss_per_conn", per1(after.rss, before.rss), "KiB")
	res.add("heap_per_conn", per1(after.heap, before.heap), "KiB")
	res.add("stack_per_conn", per1(after.stack, before.stack), "KiB")
	res.add("goroutines_per_conn", float64(after.goroutines-before.goroutines)/float64(max(connected, 1)), "goroutines")
	res.add("idle_cpu", cores, "cores")
	res.add("pings_per_s", float64(pings1-pings0)/p1.Sub(p0).Seconds(), "pings/s")
	res.add("connects_per_s", float64(connected)/rampFor.Seconds(), "conns/s")
	res.add("client_rss_per_conn", float64(clientRSS)/float64(max(connected, 1))/1024, "KiB")
	res.Limit = limit
	// Per-connection memory and CPU are measured against the process's
	// fixed costs and its noise, which a few hundred connections do not
	// outweigh: these targets are judged at the full size only.
	full := r.sz.IdleConns >= Full().IdleConns
	res.target("idle connections per node", "connections", atLeast, 100000, full)
	res.target("memory per idle connection (RSS)", "rss_per_conn", atMost, 16, full)
	res.target("CPU while idle", "idle_cpu", atMost, 0.5, full)
	res.check("every connection up", failed == 0 && connected == want, "%d of %d connected, %d failed", connected, want, failed)
	res.check("no connection lost while idle", pingFails == 0, "%d pings unanswered", pingFails)
	if before.fds >= 0 {
		res.check("relay holds every connection", after.fds-before.fds >= connected, "%d more descriptors in the relay for %d connections", after.fds-before.fds, connected)
	}
	res.Notes = append(res.Notes, fmt.Sprintf("connections from %d source and to %d relay addresses in 127/8; each has started delivery and pings every %v (the relay closes a connection idle for 60 s); memory is the relay process's RSS, Go heap in use and goroutine stacks after GC, each divided by the connections", len(sources), len(dests), r.sz.IdlePing))
	return nil
}

// startIdleChild starts a client process and hands it spec.
func (r *runner) startIdleChild(spec IdleSpec) (*idleChild, error) {
	mk := r.cfg.IdleCommand
	if mk == nil {
		mk = idleCommand
	}
	cmd := mk()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	k := &idleChild{cmd: cmd, stdin: stdin, status: make(chan IdleStatus, 16), stderr: &tailBuffer{max: 4096}}
	cmd.Stderr = k.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start idle clients: %w", err)
	}
	go func() {
		defer close(k.status)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var s IdleStatus
			if json.Unmarshal(sc.Bytes(), &s) == nil {
				k.status <- s
			}
		}
	}()
	b, _ := json.Marshal(spec)
	if _, err := fmt.Fprintf(stdin, "%s\n", b); err != nil {
		k.stop()
		return nil, fmt.Errorf("idle clients: %w (%s)", err, k.stderr)
	}
	return k, nil
}

// waitDone waits for the child's Done status, passing progress on.
func (k *idleChild) waitDone(ctx context.Context, r *runner) error {
	last := time.Now()
	for {
		select {
		case s, ok := <-k.status:
			if !ok {
				return fmt.Errorf("idle clients exited early: %s", k.stderr)
			}
			k.last = s
			if s.Done {
				return nil
			}
			if time.Since(last) > 5*time.Second {
				r.progress("idle: %d connected, %d failed", s.Connected, s.Failed)
				last = time.Now()
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// latest drains pending status lines and returns the newest.
func (k *idleChild) latest() IdleStatus {
	for {
		select {
		case s, ok := <-k.status:
			if !ok {
				return k.last
			}
			k.last = s
		default:
			return k.last
		}
	}
}

// stop closes the child's stdin (it closes its connections and exits)
// and waits, killing it after 30 s.
func (k *idleChild) stop() {
	k.stdin.Close()
	done := make(chan struct{})
	go func() {
		for range k.status {
		}
		k.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		k.cmd.Process.Kill()
		<-done
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
