package webui

import (
	"encoding/json"
	"os"
	"sync"
)

// readState remembers, per conversation, the id of the newest message the
// user has seen, kept in a small JSON file in the home (no message text):
// the unread count is what came in after it.
type readState struct {
	mu   sync.Mutex
	path string
	last map[string]int64 // guarded by mu
}

func (r *readState) load(path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.path, r.last = path, map[string]int64{}
	if path == "" {
		return
	}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &r.last)
	}
}

// seen returns the newest message id seen in peer's conversation.
func (r *readState) seen(peer string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[peer]
}

// mark records that the user saw peer's messages up to id, and saves.
func (r *readState) mark(peer string, id int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id <= r.last[peer] {
		return nil
	}
	r.last[peer] = id
	if r.path == "" {
		return nil
	}
	b, err := json.Marshal(r.last)
	if err != nil {
		return err
	}
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, r.path)
}
