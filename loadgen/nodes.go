package loadgen

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"samizdat/internal/procstat"
	"samizdat/relay"
	"samizdat/store/postgres"
)

// ScenarioNodes is the scenario RunNodes runs: the throughput scenario
// against N relay processes on one PostgreSQL database and one NATS server.
const ScenarioNodes = "nodes"

// NodesConfig configures RunNodes.
type NodesConfig struct {
	// Server is the PostgreSQL server (postgres://...). Each node count
	// gets a database of its own on it, created and dropped again (the
	// role needs CREATEDB). Required.
	Server string
	// Counts are the numbers of relay nodes measured, one after another in
	// the same run (1, 2, 3). Required.
	Counts []int
	// Sizes: Pairs, Window and ThroughputFor set the load.
	Sizes Sizes
	// Relay returns the command that runs `samizdat relay` with args.
	// Required.
	Relay func(args ...string) *exec.Cmd
	// NATS returns the command that runs a NATS server on 127.0.0.1:port
	// (nats-server -a 127.0.0.1 -p PORT), started once for the run. nil
	// means NATSURL.
	NATS func(port int) *exec.Cmd
	// NATSURL is a NATS server already running, used when NATS is nil. Its
	// CPU is not measured.
	NATSURL string
	// Dir is where the nodes' data directories go (in a temporary
	// directory made there and removed after); "" is the system's.
	Dir string
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
}

// RunNodes measures the 1:1 throughput scenario against relay processes
// sharing one PostgreSQL database and one NATS server, for each node count
// in cfg.Counts in turn (a fresh database each). The load clients run in
// this process: sender i on node i mod N, its receiver on node i+1 mod N,
// so with two nodes or more every message crosses nodes (stored by the
// sender's node, woken over NATS and delivered by the receiver's). Per
// count it reports the full (closed-loop) rate, p99 send→deliver at half
// of it, and the CPU each process used per message delivered, read from
// /proc: each relay process, PostgreSQL (postmaster and backends), the
// NATS server (when it is a child) and this process's load clients.
func RunNodes(ctx context.Context, cfg NodesConfig) (*Report, error) {
	if cfg.Server == "" || cfg.Relay == nil || len(cfg.Counts) == 0 {
		return nil, errors.New("loadgen: the nodes scenario needs a PostgreSQL server, a relay command and node counts")
	}
	if cfg.NATS == nil && cfg.NATSURL == "" {
		return nil, errors.New("loadgen: the nodes scenario needs a NATS server (a command or a URL)")
	}
	for _, n := range cfg.Counts {
		if n < 1 {
			return nil, fmt.Errorf("loadgen: %d nodes", n)
		}
	}
	dir, err := os.MkdirTemp(cfg.Dir, "samizdat-nodes-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r := &nodesRun{cfg: cfg, sz: cfg.Sizes, dir: dir, natsURL: cfg.NATSURL, seed: newSeed()}
	if cfg.NATS != nil {
		if err := r.startNATS(ctx); err != nil {
			return nil, err
		}
		defer r.nats.stop()
	}
	r.pg, err = postgresRoot(ctx, cfg.Server)
	if err != nil {
		r.progress("PostgreSQL's CPU is not measured: %v", err)
	}
	rep := &Report{Store: "postgres", Scale: cfg.Sizes.Name, Sizes: cfg.Sizes, Started: time.Now().UTC(),
		GoVersion: runtime.Version(), CPUs: runtime.NumCPU()}
	var first *Metric
	for _, n := range cfg.Counts {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		name := fmt.Sprintf("%s-%d", ScenarioNodes, n)
		r.progress("%s: starting", name)
		start := time.Now()
		res := Result{Scenario: name, Store: "postgres"}
		if err := r.measure(ctx, n, &res); err != nil {
			res.Error = err.Error()
		}
		res.Seconds = time.Since(start).Seconds()
		if m, ok := res.metric("msgs_per_s"); ok && res.Error == "" {
			if first == nil {
				m.Name = fmt.Sprintf("msgs_per_s at %d node(s)", n)
				first = &m
			} else {
				res.ratioTo(*first)
			}
		}
		rep.Results = append(rep.Results, res)
		r.progress("%s: done in %.1fs", name, res.Seconds)
	}
	return rep, ctx.Err()
}

// nodesRun carries what the node counts of one RunNodes share.
type nodesRun struct {
	cfg     NodesConfig
	sz      Sizes
	dir     string
	natsURL string
	nats    *childProc // nil: NATS is not ours
	pg      int        // PostgreSQL's postmaster, 0 when not on this machine
	seed    uint64     // names the run's databases
}

func (r *nodesRun) progress(format string, args ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "bench: "+format+"\n", args...)
	}
}

// childProc is a server process the scenario started.
type childProc struct {
	name string
	cmd  *exec.Cmd
	out  *tailBuffer // stderr, and stdout past the lines waited for
	done chan struct{}
}

// startChild starts cmd; with ready not nil, it waits (until ctx ends, the
// process exits or 60 s pass) for ready to accept a line of its standard
// output, and returns the lines read until then.
func startChild(ctx context.Context, name string, cmd *exec.Cmd, ready func(line string) bool) (*childProc, []string, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &childProc{name: name, cmd: cmd, out: &tailBuffer{max: 16 << 10}, done: make(chan struct{})}
	cmd.Stderr = p.out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("loadgen: start %s: %w", name, err)
	}
	// Lines go to the caller until it has seen the one it waits for
	// (handoff closes), then to out.
	lines, handoff := make(chan string), make(chan struct{})
	defer close(handoff)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-handoff:
				fmt.Fprintln(p.out, sc.Text())
			}
		}
		cmd.Wait()
		close(p.done)
	}()
	if ready == nil {
		return p, nil, nil
	}
	var seen []string
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l := <-lines:
			seen = append(seen, l)
			if ready(l) {
				return p, seen, nil
			}
		case <-p.done:
			return nil, seen, fmt.Errorf("loadgen: %s exited: %s", name, p.out.String())
		case <-timeout:
			p.stop()
			return nil, seen, fmt.Errorf("loadgen: %s did not start in 60s: %s", name, p.out.String())
		case <-ctx.Done():
			p.stop()
			return nil, seen, ctx.Err()
		}
	}
}

// stop ends the process: SIGTERM, then SIGKILL after 10 s.
func (p *childProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(10 * time.Second):
	}
	p.cmd.Process.Kill()
	<-p.done
}

func (p *childProc) pid() int { return p.cmd.Process.Pid }

// startNATS starts the NATS server child on a free loopback port and waits
// until it accepts connections.
func (r *nodesRun) startNATS(ctx context.Context) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p, _, err := startChild(ctx, "nats-server", r.cfg.NATS(port), nil)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-p.done:
			return fmt.Errorf("loadgen: nats-server exited: %s", p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return fmt.Errorf("loadgen: nats-server does not accept connections on %s: %s", addr, p.out.String())
		}
	}
	r.nats, r.natsURL = p, "nats://"+addr
	return nil
}

// postgresRoot finds the PostgreSQL server's postmaster among this
// machine's processes: the parent of the backend serving a connection.
func postgresRoot(ctx context.Context, server string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, server)
	if err != nil {
		return 0, err
	}
	defer c.Close(context.Background())
	var backend int
	if err := c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return 0, err
	}
	st, err := procstat.Read(backend)
	if err != nil {
		return 0, fmt.Errorf("the server is not a process here (%w)", err)
	}
	if _, err := procstat.Read(st.PPID); err != nil {
		return 0, err
	}
	return st.PPID, nil
}

// listening is the line a relay prints per endpoint.
var listening = regexp.MustCompile(`^relay \S+ listening on (\S+)$`)

// startRelays starts n relay processes on the database at db, sharing the
// keys file keys and the run's NATS server, each on a loopback port of
// its own.
func (r *nodesRun) startRelays(ctx context.Context, n int, db, keys string) ([]*childProc, []string, error) {
	var procs []*childProc
	var addrs []string
	for i := range n {
		data := filepath.Join(r.dir, fmt.Sprintf("n%d-node%d", n, i))
		cmd := r.cfg.Relay("--data", data, "--keys", keys, "--listen", "tcp://127.0.0.1:0", "--store", db,
			"--nats", r.natsURL, "--network", "bench", "--no-rate-limits", "--delivery-poll", nodesPoll.String())
		var addr string
		p, _, err := startChild(ctx, fmt.Sprintf("relay node %d", i), cmd, func(l string) bool {
			if m := listening.FindStringSubmatch(l); m != nil {
				addr = m[1]
			}
			return strings.HasPrefix(l, "invite written")
		})
		if err == nil && addr == "" {
			p.stop()
			err = errors.New("loadgen: a relay node printed no listening address")
		}
		if err != nil {
			stopAll(procs)
			return nil, nil, err
		}
		procs, addrs = append(procs, p), append(addrs, addr)
	}
	return procs, addrs, nil
}

func stopAll(procs []*childProc) {
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(p.stop)
	}
	wg.Wait()
}

// cpuSample is the CPU each process of a measurement had used at one time.
type cpuSample struct {
	at      time.Time
	relays  []time.Duration
	pg      treeSample
	nats    time.Duration
	clients time.Duration
	wal     int64 // PostgreSQL's WAL position in bytes, -1 unknown
}

func (r *nodesRun) sampleCPU(ctx context.Context, relays []*childProc) cpuSample {
	s := cpuSample{at: time.Now(), clients: cpuTime(), wal: walPosition(ctx, r.cfg.Server)}
	for _, p := range relays {
		s.relays = append(s.relays, procstat.CPU(p.pid()))
	}
	if r.pg != 0 {
		s.pg = treeCPU{root: r.pg}.sample()
	}
	if r.nats != nil {
		s.nats = procstat.CPU(r.nats.pid())
	}
	return s
}

// record adds, for the n units of work (per: "msg", "ping", "poll") done
// between samples a and b, the CPU each process spent per unit
// ("cpu_us_per_<per>_<what>[_<phase>]") and the cores they kept busy
// ("cores_<per>[_<phase>]"); for messages also PostgreSQL's WAL per
// message.
func (r *nodesRun) record(res *Result, per, phase string, a, b cpuSample, n int64) {
	el := b.at.Sub(a.at).Seconds()
	suffix := ""
	if phase != "" {
		suffix = "_" + phase
	}
	each := func(what string, d time.Duration) {
		res.add("cpu_us_per_"+per+"_"+what+suffix, float64(d.Microseconds())/float64(max(n, 1)), "µs")
	}
	var relays, total time.Duration
	for i := range b.relays {
		d := b.relays[i] - a.relays[i]
		relays += d
		each(fmt.Sprintf("relay%d", i+1), d)
	}
	each("relays", relays)
	total += relays
	if r.pg != 0 {
		d := b.pg.since(a.pg)
		each("postgres", d)
		total += d
	}
	if r.nats != nil {
		d := b.nats - a.nats
		each("nats", d)
		total += d
	}
	each("clients", b.clients-a.clients)
	total += b.clients - a.clients
	each("total", total)
	res.add("cores_"+per+suffix, total.Seconds()/el, "cores")
	if per == "msg" && a.wal >= 0 && b.wal >= 0 {
		res.add("wal_bytes_per_msg_"+phase, float64(b.wal-a.wal)/float64(max(n, 1)), "B")
	}
}

// walPosition is the PostgreSQL server's current WAL position in bytes
// (what it has written to its log since it was created), or -1.
func walPosition(ctx context.Context, server string) int64 {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, server)
	if err != nil {
		return -1
	}
	defer c.Close(context.Background())
	var pos int64
	if err := c.QueryRow(ctx, "SELECT (pg_current_wal_lsn() - '0/0')::bigint").Scan(&pos); err != nil {
		return -1
	}
	return pos
}

// measure runs the throughput scenario against n nodes.
func (r *nodesRun) measure(ctx context.Context, n int, res *Result) error {
	load := loadAverage()
	db, drop, err := createDatabase(ctx, r.cfg.Server, fmt.Sprintf("%016x_nodes%d", r.seed, n))
	if err != nil {
		return err
	}
	defer func() {
		if err := drop(); err != nil {
			r.progress("%s-%d: %v", ScenarioNodes, n, err)
		}
	}()
	// Migrate and provision before the nodes start.
	st, err := postgres.Open(ctx, db, postgres.Options{})
	if err != nil {
		return err
	}
	ids, err := provision(ctx, st, newSeed(), 0, 2*r.sz.Pairs+idlePerPair*r.sz.Pairs)
	st.Close()
	if err != nil {
		return err
	}
	keysFile := filepath.Join(r.dir, fmt.Sprintf("n%d-keys.json", n))
	keys, _, err := relay.LoadOrCreateKeysFile(keysFile, rand.Reader)
	if err != nil {
		return err
	}
	procs, addrs, err := r.startRelays(ctx, n, db, keysFile)
	if err != nil {
		return err
	}
	defer stopAll(procs)
	nodes := make([]*node, n)
	for i, a := range addrs {
		nodes[i] = &node{addrs: []string{a}, key: keys.Noise}
	}

	// Sender i on node i mod n, its receiver on the next node.
	pairs := r.sz.Pairs
	senderIDs, recvIDs, idleIDs := ids[:pairs], ids[pairs:2*pairs], ids[2*pairs:]
	tr := newTracker()
	send := make([]*peer, pairs)
	recv := make([]*peer, pairs)
	defer closeAll(send)
	defer closeAll(recv)
	crossing := 0
	for k := range n {
		var sIdx, rIdx []int
		for i := range pairs {
			if i%n == k {
				sIdx = append(sIdx, i)
			}
			if (i+1)%n == k {
				rIdx = append(rIdx, i)
			}
		}
		ps, err := connectAll(ctx, nodes[k], pick(senderIDs, sIdx), nil)
		if err != nil {
			return err
		}
		for j, i := range sIdx {
			send[i] = ps[j]
		}
		pr, err := receivers(ctx, nodes[k], pick(recvIDs, rIdx), tr)
		if err != nil {
			return err
		}
		for j, i := range rIdx {
			recv[i] = pr[j]
		}
	}
	for i := range pairs {
		if i%n != (i+1)%n {
			crossing++
		}
	}

	// Full load: closed loop, Window in flight per sender.
	r.progress("%s-%d: %d pairs, %d in flight each, %v", ScenarioNodes, n, pairs, r.sz.Window, r.sz.ThroughputFor)
	var c counter
	stop := closedLoop(send, recvIDs, tr, r.sz.Window, &c)
	warm := r.sz.ThroughputFor / 5
	time.Sleep(warm)
	d0, c0 := tr.delivered.Load(), r.sampleCPU(ctx, procs)
	time.Sleep(r.sz.ThroughputFor - warm)
	if err := awaitDeliveries(ctx, tr, d0, int64(pairs)); err != nil {
		stop()
		return err
	}
	d1, c1 := tr.delivered.Load(), r.sampleCPU(ctx, procs)
	stop()
	if err := tr.waitDelivered(ctx, c.ok.Load(), deliveryTimeout); err != nil {
		return err
	}
	full := float64(d1-d0) / c1.at.Sub(c0.at).Seconds()
	_, latFull, _ := tr.phase(1)
	res.add("msgs_per_s", full, "msg/s")
	res.add("p99_full", percentile(latFull, 99), "ms")
	r.record(res, "msg", "full", c0, c1, d1-d0)

	// Half that rate, open loop.
	r.progress("%s-%d: full %.0f msg/s; now %.0f msg/s open loop", ScenarioNodes, n, full, full/2)
	d0, c0 = tr.delivered.Load(), r.sampleCPU(ctx, procs)
	paced(send, recvIDs, tr, 2, full/2/float64(pairs), r.sz.ThroughputFor, &c)
	if err := tr.waitDelivered(ctx, c.ok.Load(), deliveryTimeout); err != nil {
		return err
	}
	d1, c1 = tr.delivered.Load(), r.sampleCPU(ctx, procs)
	got, lat, _ := tr.phase(2)
	res.add("half_rate", float64(got)/r.sz.ThroughputFor.Seconds(), "msg/s")
	res.add("p50_half", percentile(lat, 50), "ms")
	res.add("p99_half", percentile(lat, 99), "ms")
	r.record(res, "msg", "half", c0, c1, d1-d0)
	res.add("crossing_share", float64(crossing)/float64(pairs), "of pairs")
	res.add("load_avg_1m", load, "load")
	res.add("messages", float64(c.ok.Load()), "msgs")

	chatCheck(res, "sends", &c, tr, settleAcks(recv))
	if err := r.idleCosts(ctx, res, procs, nodes, slices.Concat(send, recv), idleIDs); err != nil {
		return err
	}
	for i, p := range procs {
		select {
		case <-p.done:
			res.check(fmt.Sprintf("relay node %d ran throughout", i+1), false, "it exited: %s", p.out.String())
		default:
		}
	}
	res.Notes = append(res.Notes, fmt.Sprintf("%d relay process(es) on one PostgreSQL database and one NATS server; %d pairs, sender i on node i mod %d and its receiver on the next, %d sends in flight per sender at full load; rate limits off; cpu_us_per_msg_* is CPU time per message delivered (one send, one delivery, one ack), read from /proc in 10 ms ticks (clients: getrusage); wal_bytes_per_msg_* is the PostgreSQL server's WAL written per message (all its databases); cpu_us_per_ping_* per ping answered, every connection pinging with one ping in flight; cpu_us_per_poll_* per mailbox poll of an idle delivering connection (the relays run with --delivery-poll 1s; polls estimated as connections × window / 1.0625 s, the loop polling up to an eighth late); load_avg_1m is the machine's as the count began", n, pairs, n, r.sz.Window))
	if r.nats == nil {
		res.Notes = append(res.Notes, "the NATS server is not a child of the bench: its CPU is not measured")
	}
	if r.pg == 0 {
		res.Notes = append(res.Notes, "PostgreSQL is not a process on this machine: its CPU is not measured")
	}
	return nil
}

// pick returns ids[i] for each i in idx.
func pick(ids []ident, idx []int) []ident {
	out := make([]ident, len(idx))
	for j, i := range idx {
		out[j] = ids[i]
	}
	return out
}

// loadAverage is the machine's 1-minute load average (Linux), or 0.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
