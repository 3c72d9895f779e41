package endpoints

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"samizdat/internal/atomicfile"
	"samizdat/transport/decoy"
)

// disguiseState is what DisguiseFile keeps: the node's own seed and the
// look drawn from it at first start.
type disguiseState struct {
	Seed    []byte        `json:"seed"`
	Profile decoy.Profile `json:"profile"`
}

// disguise is how this node looks to a prober: the decoy's profile and
// site, the TLS certificates' shape and the tcp endpoints' close points,
// all drawn from a seed of its own.
type disguise struct {
	seed    []byte
	profile decoy.Profile
	site    http.Handler // nil until a wss or front endpoint needs it
	root    *os.Root     // the directory site serves, or nil
}

// disguise loads the node's disguise, or draws and stores it on first
// start.
func (m *Manager) disguise() (*disguise, error) {
	if m.dis != nil {
		return m.dis, nil
	}
	path := filepath.Join(m.opts.Dir, DisguiseFile)
	var st disguiseState
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if json.Unmarshal(b, &st) != nil || len(st.Seed) < 16 || st.Profile.Style == "" {
			return nil, fmt.Errorf("endpoints: %s is damaged; remove it and the relay draws a new look", path)
		}
	case errors.Is(err, fs.ErrNotExist):
		st.Seed = make([]byte, 32)
		if _, err := io.ReadFull(m.opts.Rand, st.Seed); err != nil {
			return nil, fmt.Errorf("endpoints: drawing the decoy: %w", err)
		}
		st.Profile = decoy.Draw(bytes.NewReader(derive(st.Seed, "decoy profile")), m.now())
		out, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Write(path, append(out, '\n'), 0o600); err != nil {
			return nil, fmt.Errorf("endpoints: storing the decoy: %w", err)
		}
	default:
		return nil, fmt.Errorf("endpoints: reading the decoy: %w", err)
	}
	m.dis = &disguise{seed: st.Seed, profile: st.Profile}
	return m.dis, nil
}

// derive returns the secret for purpose drawn from seed.
func derive(seed []byte, purpose string) []byte {
	h := hmac.New(sha256.New, seed)
	h.Write([]byte("samizdat endpoints: " + purpose))
	return h.Sum(nil)
}

// decoySite returns what the wss and front endpoints show a prober: the
// operator's proxy target or directory, else the site generated at first
// need into DecoySiteDir.
func (m *Manager) decoySite() (http.Handler, error) {
	d, err := m.disguise()
	if err != nil {
		return nil, err
	}
	if d.site != nil {
		return d.site, nil
	}
	if m.opts.DecoyProxy != "" {
		u, err := decoy.ParseTarget(m.opts.DecoyProxy) // checkDecoy took it at the start
		if err == nil {
			d.site, err = decoy.Proxy(u, d.profile)
		}
		if err != nil {
			return nil, fmt.Errorf("endpoints: %w", err)
		}
		return d.site, nil
	}
	dir := m.opts.DecoyDir
	if dir == "" {
		dir = filepath.Join(m.opts.Dir, DecoySiteDir)
		if err := m.generateSite(d, dir); err != nil {
			return nil, err
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("endpoints: the decoy site: %w", err)
	}
	d.root, d.site = root, decoy.Static(root.FS(), d.profile)
	return d.site, nil
}

// generateSite writes the node's generated site to dir unless it is there
// already (the operator may have edited it).
func (m *Manager) generateSite(d *disguise, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	tmp, err := os.MkdirTemp(m.opts.Dir, DecoySiteDir+".tmp")
	if err != nil {
		return fmt.Errorf("endpoints: generating the decoy site: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := decoy.WriteSite(tmp, decoy.Generate(bytes.NewReader(derive(d.seed, "decoy site")), m.now())); err != nil {
		return fmt.Errorf("endpoints: generating the decoy site: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("endpoints: generating the decoy site: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("endpoints: generating the decoy site: %w", err)
	}
	return nil
}

// checkDecoy checks the decoy options before anything opens.
func checkDecoy(o Options) error {
	switch {
	case o.DecoyDir != "" && o.DecoyProxy != "":
		return configErrorf("give a decoy directory or a decoy proxy, not both")
	case o.DecoyDir != "":
		if st, err := os.Stat(o.DecoyDir); err != nil || !st.IsDir() {
			return configErrorf("the decoy %s is not a directory; give the directory of the web site to show", o.DecoyDir)
		}
	case o.DecoyProxy != "":
		if _, err := decoy.ParseTarget(o.DecoyProxy); err != nil {
			return configErrorf("the decoy proxy must be an http:// or https:// URL with a host and no user, such as https://www.example.org")
		}
	}
	return nil
}
