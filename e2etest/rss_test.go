package e2etest

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// rssWatch samples a running process's peak resident set (VmHWM in
// /proc/PID/status) until it is stopped. The kernel's figure for an ended
// child (wait4's ru_maxrss) cannot be used: Linux carries into it the
// resident set the process had before exec, which for a child of a Go test
// binary is the test binary's own (over 100 MiB under -race), so every
// child would read the same, wrong, figure.
type rssWatch struct {
	peak    atomic.Int64 // KiB; 0 until a sample was read
	lastErr atomic.Value // error: why the last sample failed
	stop    chan struct{}
	done    chan struct{}
}

// watchRSS starts sampling pid every 20 ms.
func watchRSS(pid int) *rssWatch {
	w := &rssWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if kib, err := vmHWM(pid); err != nil {
				w.lastErr.Store(err)
			} else if kib > w.peak.Load() {
				w.peak.Store(kib)
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// result stops the sampling and returns the peak seen, in KiB, or an error
// if no sample could be read (no /proc, say): the caller must not take
// that for a small figure.
func (w *rssWatch) result() (int64, error) {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	if p := w.peak.Load(); p > 0 {
		return p, nil
	}
	err, _ := w.lastErr.Load().(error)
	return 0, fmt.Errorf("no memory sample of the process: %v", err)
}

// vmHWM reads a process's peak resident set, in KiB.
func vmHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status (the process has ended)", pid)
}
