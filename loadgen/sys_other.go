//go:build !unix

package loadgen

import (
	"errors"
	"time"
)

// errNoSys says that a measurement is not available on this system.
var errNoSys = errors.New("loadgen: not supported on this system")

func raiseNoFile(uint64) (soft, hard uint64, err error) { return 0, 0, errNoSys }
func cpuTime() time.Duration                            { return 0 }
func rss() uint64                                       { return 0 }
func openFiles() int                                    { return -1 }
