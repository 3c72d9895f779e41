package front

import (
	"crypto/tls"
	"net"
)

func tlsDial(addr, sni string) (net.Conn, error) {
	return tls.Dial("tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
}

// acceptOne accepts one conn on l and sends it on the returned channel.
func acceptOne(l net.Listener) <-chan net.Conn {
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			accepted <- c
		}
	}()
	return accepted
}
