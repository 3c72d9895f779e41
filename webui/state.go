package webui

import (
	"encoding/json"
	"os"
	"sync"

	"samizdat/internal/atomicfile"
)

// uiState is what the web client remembers beside the client's own
// database, in a small JSON file in the home (no message text, no keys):
// per conversation the id of the newest message the user has seen (the
// unread count is what came in after it), and per contact the safety
// number the user marked as verified (it stays verified while the number
// is the same).
type uiState struct {
	mu   sync.Mutex
	path string
	data uiData // guarded by mu
}

type uiData struct {
	Read     map[string]int64  `json:"read"`     // readKey → message id
	Verified map[string]string `json:"verified"` // contact → safety number
}

func (u *uiState) load(path string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.path = path
	if path != "" {
		if b, err := os.ReadFile(path); err == nil {
			_ = json.Unmarshal(b, &u.data)
		}
	}
	if u.data.Read == nil {
		u.data.Read = map[string]int64{}
	}
	if u.data.Verified == nil {
		u.data.Verified = map[string]string{}
	}
}

// seen returns the newest message id seen in a conversation (readKey).
func (u *uiState) seen(conv string) int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.data.Read[conv]
}

// markRead records that the user saw a conversation's messages up to id.
func (u *uiState) markRead(conv string, id int64) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if id <= u.data.Read[conv] {
		return nil
	}
	u.data.Read[conv] = id
	return u.save()
}

// verified reports whether the user marked number as verified with peer.
func (u *uiState) verified(peer, number string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return number != "" && u.data.Verified[peer] == number
}

// markVerified records that the user compared number with peer.
func (u *uiState) markVerified(peer, number string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.data.Verified[peer] = number
	return u.save()
}

// save writes the file (when there is one); the caller holds mu.
func (u *uiState) save() error {
	if u.path == "" {
		return nil
	}
	b, err := json.Marshal(u.data)
	if err != nil {
		return err
	}
	return atomicfile.Write(u.path, b, 0o600)
}
