package webui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"samizdat/client"
)

// update is what the page is told live: which kind of thing changed and
// about whom. It never carries message text; the page fetches what it
// shows.
type update struct {
	Kind string `json:"kind"` // message, sent, delivered, failed, identity, status, requests, groups, channels, devices, setup, progress
	Peer string `json:"peer,omitempty"`
	Text string `json:"text,omitempty"` // a notice (an error's reason) or a file's name, never a message
	// Done and Total are an upload's progress in bytes.
	Done  int64 `json:"done,omitempty"`
	Total int64 `json:"total,omitempty"`
}

// hub fans updates out to the pages listening on /api/events.
type hub struct {
	mu   sync.Mutex
	subs map[chan update]struct{}
}

func (h *hub) subscribe() chan update {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = make(map[chan update]struct{})
	}
	ch := make(chan update, 64)
	h.subs[ch] = struct{}{}
	return ch
}

func (h *hub) unsubscribe(ch chan update) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, ch)
}

// publish hands u to every page; a page too slow to keep up misses it
// and refreshes everything on the next one it gets (updates say what to
// fetch, they are not the state).
func (h *hub) publish(u update) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- u:
		default:
		}
	}
}

// Event takes one of the client's events (pass it from Config.OnEvent).
func (s *Server) Event(ev client.Event) {
	var u update
	switch ev.Kind {
	case client.EventMessage:
		u = update{Kind: "message", Peer: ev.Peer}
	case client.EventGroupMessage, client.EventGroupChange, client.EventGroupRequest:
		u = update{Kind: "message", Peer: ev.Group}
	case client.EventChannelPost:
		u = update{Kind: "message", Peer: ev.Peer}
	case client.EventSent:
		u = update{Kind: "sent", Peer: ev.Peer}
	case client.EventDelivered:
		u = update{Kind: "delivered", Peer: ev.Peer}
	case client.EventFailed:
		u = update{Kind: "failed", Peer: ev.Peer, Text: fmt.Sprint(ev.Err)}
	case client.EventIdentityChanged:
		u = update{Kind: "identity", Peer: ev.Peer}
	case client.EventConnected:
		s.net.connected(true)
		u = update{Kind: "status"}
	case client.EventDisconnected:
		s.net.connected(false)
		u = update{Kind: "status"}
	case client.EventQueueEmpty, client.EventManifest, client.EventBridgeOffer:
		u = update{Kind: "status"}
	case client.EventDeviceRemoved:
		u = update{Kind: "devices"}
	case client.EventChannelAdmin:
		u = update{Kind: "channels", Peer: ev.Text}
	case client.EventUndecryptable:
		u = update{Kind: "notice", Text: "a message could not be decrypted and was dropped"}
	case client.EventRefused:
		u = update{Kind: "notice", Peer: ev.Peer, Text: fmt.Sprint(ev.Err)}
	default:
		return
	}
	s.hub.publish(u)
}

// handleEvents streams updates to the page as server-sent events.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch := s.hub.subscribe()
	defer s.hub.unsubscribe(ch)
	w.Header().Set("Content-Type", "text/event-stream")
	fmt.Fprint(w, "retry: 1000\n\n")
	fl.Flush()
	keep := time.NewTicker(25 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case u := <-ch:
			b, _ := json.Marshal(u)
			fmt.Fprintf(w, "data: %s\n\n", b)
			fl.Flush()
		case <-keep.C:
			fmt.Fprint(w, ": keepalive\n\n")
			fl.Flush()
		}
	}
}
