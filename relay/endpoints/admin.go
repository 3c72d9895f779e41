package endpoints

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// Admin operations (Request.Op).
const (
	OpList      = "list"      // list the running endpoints
	OpAdd       = "add"       // add Request.Spec
	OpRetire    = "retire"    // retire Request.Name
	OpRestore   = "restore"   // restore the retired Request.Name
	OpReload    = "reload"    // re-read the config file
	OpRepublish = "republish" // re-sign the manifest with a new serial
)

// ErrSocketInUse means another relay answers on the admin socket: two
// relays share a data directory.
var ErrSocketInUse = errors.New("endpoints: another relay answers on the admin socket")

// ErrAdmin is the error Call returns when the relay refused a request;
// the error says the relay's reason.
var ErrAdmin = errors.New("endpoints: relay refused")

// refusal is an ErrAdmin: the relay's reason, as the relay wrote it.
type refusal string

func (r refusal) Error() string        { return "endpoints: " + strings.TrimPrefix(string(r), "endpoints: ") }
func (r refusal) Is(target error) bool { return target == ErrAdmin }

// Request is one admin command, sent as one JSON line.
type Request struct {
	Op   string `json:"op"`
	Name string `json:"name,omitempty"`
	Spec *Spec  `json:"spec,omitempty"`
}

// Response answers a Request: the manifest serial after the command and
// the running endpoints, or an error.
type Response struct {
	Error     string `json:"error,omitempty"`
	Serial    uint64 `json:"serial"`
	Endpoint  *Info  `json:"endpoint,omitempty"` // the one added or retired
	Endpoints []Info `json:"endpoints"`
}

// maxAdminRequest bounds one admin request.
const maxAdminRequest = 64 << 10

// ServeAdmin listens on the unix socket at path (mode 0600; a stale socket
// is replaced, a live one is an error) and answers admin commands until
// Close.
func (m *Manager) ServeAdmin(path string) error {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%w %s; two relays cannot share a data directory", ErrSocketInUse, path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("endpoints: admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("endpoints: admin socket: %w", err)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		ln.Close()
		return errors.New("endpoints: closed")
	}
	m.admSock = ln
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		defer os.Remove(path)
		for {
			c, err := ln.Accept()
			if err != nil {
				if m.ctx.Err() == nil {
					m.log.Error("admin socket failed", "err", err)
				}
				return
			}
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				m.serveAdmin(c)
			}()
		}
	}()
	return nil
}

func (m *Manager) serveAdmin(c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(m.ctx, func() { c.Close() })
	defer stop()
	c.SetDeadline(time.Now().Add(time.Minute))
	var req Request
	if err := json.NewDecoder(io.LimitReader(c, maxAdminRequest)).Decode(&req); err != nil {
		json.NewEncoder(c).Encode(Response{Error: "bad request"})
		return
	}
	resp := m.Handle(req)
	json.NewEncoder(c).Encode(resp)
}

// Handle carries out one admin request (what the socket does).
func (m *Manager) Handle(req Request) Response {
	var resp Response
	var err error
	switch req.Op {
	case OpList:
	case OpAdd:
		if req.Spec == nil {
			err = configErrorf("add needs a spec")
			break
		}
		var i Info
		if i, err = m.Add(*req.Spec); err == nil {
			resp.Endpoint = &i
		}
	case OpRetire:
		var i Info
		if i, err = m.Retire(req.Name); err == nil {
			resp.Endpoint = &i
		}
	case OpRestore:
		err = m.Restore(req.Name)
	case OpReload:
		err = m.Reload()
	case OpRepublish:
		err = m.Republish()
	default:
		err = configErrorf("unknown operation %q", req.Op)
	}
	if err != nil {
		resp.Error = err.Error()
	}
	resp.Serial = m.Serial()
	resp.Endpoints = m.List()
	return resp
}

// Call sends req to the relay whose admin socket is at path and returns
// its answer. A refusal is an error wrapping ErrAdmin; the response still
// lists the endpoints.
func Call(ctx context.Context, path string, req Request) (*Response, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("endpoints: no relay answers on %s; is the relay running, with this data directory? (%w)", path, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return nil, fmt.Errorf("endpoints: admin request: %w", err)
	}
	var resp Response
	if err := json.NewDecoder(bufio.NewReader(io.LimitReader(c, 16<<20))).Decode(&resp); err != nil {
		return nil, fmt.Errorf("endpoints: admin response: %w", err)
	}
	if resp.Error != "" {
		return &resp, refusal(resp.Error)
	}
	return &resp, nil
}
