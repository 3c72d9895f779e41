package pipe

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func TestBuffer(t *testing.T) {
	b := NewBuffer(4)
	if n, err := b.Write([]byte("abcdef"), closedCh(), nil); n != 4 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write into a full buffer: %d %v", n, err)
	}
	p := make([]byte, 3)
	if n, err := b.Read(p, nil, nil); n != 3 || err != nil || string(p) != "abc" {
		t.Fatalf("%d %v %q", n, err, p)
	}
	b.Close(nil)
	if _, err := b.Write([]byte("x"), nil, nil); !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
	if n, err := b.Read(p, nil, nil); n != 1 || err != nil {
		t.Fatalf("drain after close: %d %v", n, err)
	}
	if _, err := b.Read(p, nil, nil); err != io.EOF {
		t.Fatal(err)
	}
}

func TestDeadline(t *testing.T) {
	var d Deadline
	select {
	case <-d.Done():
		t.Fatal("zero deadline fired")
	default:
	}
	d.Set(time.Now().Add(10 * time.Millisecond))
	<-d.Done()
	d.Set(time.Time{})
	select {
	case <-d.Done():
		t.Fatal("cleared deadline fired")
	default:
	}
	d.Set(time.Now().Add(-time.Second))
	<-d.Done()
	d.Set(time.Now().Add(time.Hour))
	d.Set(time.Now().Add(time.Hour)) // reset a pending timer
	select {
	case <-d.Done():
		t.Fatal("future deadline fired")
	default:
	}
}

func closedCh() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}
