package loadgen

import (
	"os"
	"strconv"
	"time"

	"samizdat/internal/procstat"
)

// treeCPU samples the CPU of a server made of a parent and the processes it
// forks (PostgreSQL: the postmaster and a backend per connection).
type treeCPU struct {
	root int
}

// treeSample is one reading of a process tree: each live member's CPU,
// and the CPU of the members the root has reaped.
type treeSample struct {
	cpu    map[int]time.Duration
	reaped time.Duration
}

func (t treeCPU) sample() treeSample {
	s := treeSample{cpu: make(map[int]time.Duration)}
	if st, err := procstat.Read(t.root); err == nil {
		s.cpu[t.root], s.reaped = st.CPU, st.Children
	}
	es, _ := os.ReadDir("/proc")
	for _, e := range es {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == t.root {
			continue
		}
		if st, err := procstat.Read(pid); err == nil && st.PPID == t.root {
			s.cpu[pid] = st.CPU
		}
	}
	return s
}

// since is the CPU the tree used between an earlier sample and s: each
// member's growth (a member new since then counts whole) and the growth of
// what the root reaped (members gone since then count their whole life,
// a slight overcount for those already alive at the earlier sample).
func (s treeSample) since(before treeSample) time.Duration {
	d := s.reaped - before.reaped
	for pid, c := range s.cpu {
		d += c - before.cpu[pid]
	}
	return d
}
