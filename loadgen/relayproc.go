package loadgen

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"sync"
	"time"

	"samizdat/noisechan"
	"samizdat/relay"
	"samizdat/store/postgres"
	"samizdat/store/sqlite"
	"samizdat/transport/tcp"
)

// The capacity scenarios that report the relay's CPU per message run
// the relay in a child process of its own (RunRelayProcess), so that its
// CPU is measured apart from the load clients' (getrusage of that process
// only). The child opens the same store the scenario opened (an SQLite
// file or a PostgreSQL database), which the scenario keeps for
// registering its devices.

// RelaySpec tells a relay process what to serve.
type RelaySpec struct {
	StoreKind  string       `json:"store_kind"` // "sqlite" or "postgres"
	Store      string       `json:"store"`      // the SQLite file or the PostgreSQL database URL
	Limits     relay.Limits `json:"limits"`
	Listen     []string     `json:"listen"`                // loopback addresses, port 0 for any
	CPUProfile string       `json:"cpu_profile,omitempty"` // write a CPU profile of the relay's life here
	// Keys, if set, is a relay keys file (relay.LoadOrCreateKeysFile)
	// whose Noise key and sender-certificate keys the relay uses, for
	// scenarios with real clients; else the Noise key is fresh and the
	// relay issues no sender certificates.
	Keys string `json:"keys,omitempty"`
}

// RelayStatus is a relay process's answer: first its addresses, then to
// each "stats" line its CPU and the store's commit counters.
type RelayStatus struct {
	Addrs     []string      `json:"addrs,omitempty"`
	Key       [32]byte      `json:"key"`    // the relay's static Noise public key
	CPU       time.Duration `json:"cpu_ns"` // user + system CPU of the relay process so far
	Commits   uint64        `json:"commits"`
	Writes    uint64        `json:"writes"`
	HaveStats bool          `json:"have_stats"` // the store counts commits
	Err       string        `json:"err,omitempty"`
}

// RunRelayProcess is the relay process: it reads a RelaySpec from in,
// opens the store, serves a relay on the listeners and reports a
// RelayStatus line on out; then it answers each "stats" line on in with
// another, until in reaches EOF or ctx ends, and closes the relay and the
// store.
func RunRelayProcess(ctx context.Context, in io.Reader, out io.Writer) (err error) {
	br := bufio.NewReader(in)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("loadgen: read relay spec: %w", err)
	}
	var spec RelaySpec
	if err := json.Unmarshal(line, &spec); err != nil {
		return fmt.Errorf("loadgen: relay spec: %w", err)
	}
	report := func(st RelayStatus) {
		b, _ := json.Marshal(st)
		fmt.Fprintf(out, "%s\n", b)
	}
	defer func() {
		if err != nil {
			report(RelayStatus{Err: err.Error()})
		}
	}()
	if spec.CPUProfile != "" {
		f, err := os.Create(spec.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	st, err := openStoreAt(ctx, spec.StoreKind, spec.Store)
	if err != nil {
		return err
	}
	cfg := relay.Config{Store: st, Limits: spec.Limits}
	if spec.Keys != "" {
		k, _, err := relay.LoadOrCreateKeysFile(spec.Keys, rand.Reader)
		if err != nil {
			st.Close()
			return err
		}
		cfg.NoiseKey, cfg.ServerCertificate, cfg.ServerCertificateKey = k.Noise, k.ServerCertificate, k.ServerCertificateKey
	} else if cfg.NoiseKey, err = noisechan.GenerateKeyPair(rand.Reader); err != nil {
		st.Close()
		return err
	}
	nk := cfg.NoiseKey
	srv, err := relay.New(cfg)
	if err != nil {
		st.Close()
		return err
	}
	n := &node{store: st, srv: srv, key: nk, served: make(chan error, len(spec.Listen))}
	defer func() {
		if cerr := n.close(); err == nil {
			err = cerr
		}
	}()
	for _, a := range spec.Listen {
		ln, err := tcp.Listen(ctx, a)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		n.addrs = append(n.addrs, ln.Addr().String())
		n.serve(ln)
	}
	status := func() RelayStatus {
		s := RelayStatus{Key: nk.Public, CPU: cpuTime()}
		s.Commits, s.Writes, s.HaveStats = commitStats(st)
		return s
	}
	first := status()
	first.Addrs = n.addrs
	report(first)
	lines := make(chan string)
	go func() {
		defer close(lines)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			lines <- l
		}
	}()
	for {
		select {
		case _, ok := <-lines:
			if !ok {
				return nil
			}
			report(status())
		case <-ctx.Done():
			return nil
		}
	}
}

// openStoreAt opens the store a scenario opened, from another process.
func openStoreAt(ctx context.Context, kind, at string) (relay.Store, error) {
	switch kind {
	case "sqlite":
		return sqlite.Open(ctx, at, sqlite.Options{})
	case "postgres":
		return postgres.Open(ctx, at, postgres.Options{})
	}
	return nil, fmt.Errorf("loadgen: relay process: unknown store kind %q", kind)
}

// storeLocations remembers where the stores SQLite and Postgres opened
// live (relay.Store → storeLocation), so that a relay process can open
// them too.
var storeLocations sync.Map

type storeLocation struct{ kind, at string }

// relayCommand is the default Config.RelayCommand.
func relayCommand() *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return exec.Command(exe, "bench", "--relay-process")
}

// relayChild is a running relay process.
type relayChild struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *tailBuffer
	mu     sync.Mutex // one stats exchange at a time
}

// startRelayNode is startNode with the relay in a child process: the node's
// store is this process's handle on the same database, for registering
// devices; stats reads the child's CPU and commit counters.
func (r *runner) startRelayNode(ctx context.Context, name string, lim relay.Limits, listen []string) (*node, error) {
	return r.startRelayNodeKeys(ctx, name, lim, listen, "")
}

// startRelayNodeKeys is startRelayNode with the relay's keys from the keys
// file (RelaySpec.Keys; "" for none).
func (r *runner) startRelayNodeKeys(ctx context.Context, name string, lim relay.Limits, listen []string, keys string) (*node, error) {
	st, err := r.cfg.Store(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	v, ok := storeLocations.Load(st)
	if !ok {
		st.Close()
		return nil, errors.New("loadgen: the store cannot be opened by a relay process (open it with loadgen.SQLite or loadgen.Postgres)")
	}
	loc := v.(storeLocation)
	spec := RelaySpec{StoreKind: loc.kind, Store: loc.at, Limits: lim, Listen: listen, Keys: keys}
	if r.cfg.RelayCPUProfile != "" {
		spec.CPUProfile = r.cfg.RelayCPUProfile + "." + name
	}
	mk := r.cfg.RelayCommand
	if mk == nil {
		mk = relayCommand
	}
	cmd := mk()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		st.Close()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		st.Close()
		return nil, err
	}
	k := &relayChild{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), stderr: &tailBuffer{max: 4096}}
	cmd.Stderr = k.stderr
	if err := cmd.Start(); err != nil {
		st.Close()
		return nil, fmt.Errorf("start relay process: %w", err)
	}
	n := &node{store: st, proc: k}
	b, _ := json.Marshal(spec)
	if _, err := fmt.Fprintf(stdin, "%s\n", b); err != nil {
		n.close()
		return nil, fmt.Errorf("relay process: %w", err)
	}
	first, err := k.read()
	if err != nil {
		n.close()
		return nil, err
	}
	n.addrs, n.key.Public = first.Addrs, first.Key
	return n, nil
}

// read reads the child's next status line.
func (k *relayChild) read() (RelayStatus, error) {
	line, err := k.out.ReadBytes('\n')
	if err != nil {
		return RelayStatus{}, fmt.Errorf("relay process: %v (stderr: %s)", err, k.stderr.String())
	}
	var s RelayStatus
	if err := json.Unmarshal(line, &s); err != nil {
		return RelayStatus{}, fmt.Errorf("relay process: %w", err)
	}
	if s.Err != "" {
		return s, fmt.Errorf("relay process: %s", s.Err)
	}
	return s, nil
}

// stats asks the child for its CPU and commit counters.
func (k *relayChild) stats() (RelayStatus, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, err := io.WriteString(k.stdin, "stats\n"); err != nil {
		return RelayStatus{}, fmt.Errorf("relay process: %w", err)
	}
	return k.read()
}

// stop ends the child (EOF on its stdin) and waits for it.
func (k *relayChild) stop() error {
	k.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- k.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("relay process: %v (stderr: %s)", err, k.stderr.String())
		}
		return nil
	case <-time.After(60 * time.Second):
		k.cmd.Process.Kill()
		<-done
		return errors.New("relay process did not stop within 60s; killed")
	}
}

// relayStats is the relay's CPU and its store's commit counters: the
// child's for a relay process, else this process's CPU (relay and load
// clients together) and the store's counters.
func (n *node) relayStats() (RelayStatus, error) {
	if n.proc != nil {
		return n.proc.stats()
	}
	s := RelayStatus{CPU: cpuTime()}
	s.Commits, s.Writes, s.HaveStats = commitStats(n.store)
	return s, nil
}

// mark is a point of a measurement: when, the relay's figures and this
// process's CPU (the load clients', when the relay runs apart).
type mark struct {
	at      time.Time
	relay   RelayStatus
	clients time.Duration
	apart   bool // the relay runs in a process of its own
	err     error
}

// measure takes a mark on n.
func (r *runner) measure(n *node) mark {
	m := mark{apart: n.proc != nil}
	m.relay, m.err = n.relayStats()
	m.at, m.clients = time.Now(), cpuTime()
	return m
}

// span is what happened between two marks.
type span struct {
	secs       float64
	relayCPU   time.Duration
	clientsCPU time.Duration
	commits    uint64
	writes     uint64
	haveStats  bool
	apart      bool
}

// since is the span from m0 to m.
func (m mark) since(m0 mark) span {
	return span{
		secs:       m.at.Sub(m0.at).Seconds(),
		relayCPU:   m.relay.CPU - m0.relay.CPU,
		clientsCPU: m.clients - m0.clients,
		commits:    m.relay.Commits - m0.relay.Commits,
		writes:     m.relay.Writes - m0.relay.Writes,
		haveStats:  m.relay.HaveStats,
		apart:      m.apart,
	}
}

// record adds the span's figures with the suffix name: the relay's CPU
// in cores and in µs per item (msgs of them in the span), the load
// clients' CPU when the relay ran apart, and the store's commits.
func (s span) record(res *Result, name string, msgs int64) {
	res.add("cpu_"+name, s.relayCPU.Seconds()/s.secs, "cores")
	if s.apart {
		res.add("relay_us_msg_"+name, float64(s.relayCPU.Microseconds())/float64(max(msgs, 1)), "µs")
		res.add("clients_cpu_"+name, s.clientsCPU.Seconds()/s.secs, "cores")
	}
	if s.haveStats {
		res.add("commits_per_s_"+name, float64(s.commits)/s.secs, "commits/s")
		res.add("writes_per_commit_"+name, float64(s.writes)/float64(max(s.commits, 1)), "writes")
	}
}
