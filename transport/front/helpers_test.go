package front

import (
	"crypto/tls"
	"net"
)

func tlsDial(addr, sni string) (net.Conn, error) {
	return tls.Dial("tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
}
