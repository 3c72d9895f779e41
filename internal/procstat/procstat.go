// Package procstat reads a process's CPU times and parent from
// /proc/PID/stat (Linux only; elsewhere every read is an error).
package procstat

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

// Stat is what /proc/PID/stat says of a process.
type Stat struct {
	PPID     int
	CPU      time.Duration // utime + stime
	Children time.Duration // cutime + cstime: children it has reaped
}

// Read reads /proc/PID/stat.
func Read(pid int) (Stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after its closing parenthesis start with field 3.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return Stat{}, errors.New("procstat: unreadable /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return Stat{}, errors.New("procstat: short /proc stat")
	}
	num := func(field int) int64 { // field as numbered in proc(5)
		v, _ := strconv.ParseInt(f[field-3], 10, 64)
		return v
	}
	return Stat{PPID: int(num(4)),
		CPU:      time.Duration(num(14)+num(15)) * clockTick,
		Children: time.Duration(num(16)+num(17)) * clockTick}, nil
}

// CPU is the CPU that process pid has used, 0 once it is gone.
func CPU(pid int) time.Duration {
	s, err := Read(pid)
	if err != nil {
		return 0
	}
	return s.CPU
}
