package loadgen

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc/PID/stat (USER_HZ,
// which Linux fixes at 100 for user space whatever the kernel's HZ).
const clockTick = 10 * time.Millisecond

// procStat is what the nodes scenario reads from /proc/PID/stat.
type procStat struct {
	ppid     int
	cpu      time.Duration // utime + stime
	children time.Duration // cutime + cstime: children it has reaped
}

// readProcStat reads /proc/PID/stat (Linux only; elsewhere an error).
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after its closing parenthesis start with field 3.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return procStat{}, errors.New("loadgen: unreadable /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return procStat{}, errors.New("loadgen: short /proc stat")
	}
	num := func(field int) int64 { // field as numbered in proc(5)
		v, _ := strconv.ParseInt(f[field-3], 10, 64)
		return v
	}
	return procStat{ppid: int(num(4)),
		cpu:      time.Duration(num(14)+num(15)) * clockTick,
		children: time.Duration(num(16)+num(17)) * clockTick}, nil
}

// procCPU is the CPU that process pid has used, 0 once it is gone.
func procCPU(pid int) time.Duration {
	s, err := readProcStat(pid)
	if err != nil {
		return 0
	}
	return s.cpu
}

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
	if st, err := readProcStat(t.root); err == nil {
		s.cpu[t.root], s.reaped = st.cpu, st.children
	}
	es, _ := os.ReadDir("/proc")
	for _, e := range es {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == t.root {
			continue
		}
		if st, err := readProcStat(pid); err == nil && st.ppid == t.root {
			s.cpu[pid] = st.cpu
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
