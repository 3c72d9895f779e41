package webui

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"samizdat/client"
	"samizdat/client/clientdb"
)

//go:embed assets
var assets embed.FS

// errNoClient: the first run is not done yet.
var errNoClient = errors.New("no identity yet: finish the first run")

func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	m.Handle("GET /", http.FileServerFS(static))
	m.HandleFunc("GET /api/events", s.handleEvents)
	m.HandleFunc("POST /api/setup", s.handleSetup)
	m.HandleFunc("GET /api/state", s.withClient(s.handleState))
	m.HandleFunc("GET /api/history", s.withClient(s.handleHistory))
	m.HandleFunc("POST /api/read", s.withClient(s.handleRead))
	m.HandleFunc("POST /api/send", s.withClient(s.handleSend))
	m.HandleFunc("POST /api/contact", s.withClient(s.handleContact))
	m.HandleFunc("GET /api/safety", s.withClient(s.handleSafety))
	m.HandleFunc("GET /api/safety/qr", s.withClient(s.handleSafetyQR))
	m.HandleFunc("POST /api/verify", s.withClient(s.handleVerify))
	m.HandleFunc("POST /api/request", s.withClient(s.handleRequest))
	m.HandleFunc("GET /api/devices", s.withClient(s.handleDevices))
	m.HandleFunc("POST /api/devices", s.withClient(s.handleDeviceChange))
	m.HandleFunc("POST /api/file", s.withClient(s.handleSendFile))
	m.HandleFunc("GET /api/file", s.withClient(s.handleFile))
	m.HandleFunc("GET /api/network", s.withClient(s.handleNetwork))
	m.HandleFunc("GET /api/group", s.withClient(s.handleGroup))
	m.HandleFunc("POST /api/group", s.withClient(s.handleGroupChange))
	m.HandleFunc("POST /api/channel", s.withClient(s.handleChannelChange))
	s.mux = m
}

// withClient runs h with the open client; before the first run, GET
// /api/state says so (the page then shows the first run) and the rest is
// refused.
func (s *Server) withClient(h func(http.ResponseWriter, *http.Request, *client.Client)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := s.client()
		if c == nil {
			if r.URL.Path == "/api/state" {
				reply(w, map[string]any{"setup": true, "csrf": s.csrf})
				return
			}
			fail(w, http.StatusConflict, errNoClient)
			return
		}
		h(w, r, c)
	}
}

func (s *Server) handleSetup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name   string `json:"name"`
		Device string `json:"device"`
		Invite string `json:"invite"`
	}
	if !decodeOr400(w, r, &req) {
		return
	}
	s.setupM.Lock()
	defer s.setupM.Unlock()
	if s.client() != nil {
		fail(w, http.StatusConflict, errors.New("this home holds an identity already"))
		return
	}
	if s.cfg.Setup == nil {
		fail(w, http.StatusConflict, errors.New("first run is not available here"))
		return
	}
	if strings.TrimSpace(req.Name) == "" || strings.TrimSpace(req.Invite) == "" {
		fail(w, http.StatusBadRequest, errors.New("choose a name and give the invite"))
		return
	}
	c, err := s.cfg.Setup(r.Context(), []byte(req.Invite), req.Name, req.Device)
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	if s.cfg.Started != nil {
		s.cfg.Started(c)
	}
	s.SetClient(c)
	reply(w, map[string]string{"name": c.Username()})
}

// conversation is one entry of the list on the left.
type conversation struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"` // contact, request, blocked, group, channel
	Unread   int    `json:"unread"`
	Changed  bool   `json:"changed,omitempty"` // the contact's safety number changed and was not accepted
	LastAt   int64  `json:"lastAt,omitempty"`  // unix ms of the newest message
	Admin    bool   `json:"admin,omitempty"`   // a channel we may post in
	Member   bool   `json:"member,omitempty"`  // a group we are in
	Verified bool   `json:"verified,omitempty"`
}

func (s *Server) handleState(w http.ResponseWriter, r *http.Request, c *client.Client) {
	ctx := r.Context()
	contacts, err := c.Contacts(ctx)
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	requests, err := c.Requests(ctx)
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	var convs []conversation
	for _, ct := range contacts {
		if ct.Username == c.Username() {
			continue
		}
		cv := conversation{Name: ct.Username, Kind: "contact"}
		if slices.Contains(requests, ct.Username) {
			cv.Kind = "request"
		} else if blocked, err := c.Blocked(ctx, ct.Username); err == nil && blocked {
			cv.Kind = "blocked"
		}
		if at, err := c.IdentityChangedAt(ctx, ct.Username); err == nil && !at.IsZero() {
			cv.Changed = true
		}
		s.fillUnread(ctx, c, &cv)
		convs = append(convs, cv)
	}
	if groups, err := c.Groups(ctx); err == nil {
		for _, g := range groups {
			cv := conversation{Name: g.Name, Kind: "group", Member: g.Member}
			s.fillUnread(ctx, c, &cv)
			convs = append(convs, cv)
		}
	}
	if chs, err := c.Channels(ctx); err == nil {
		for _, ch := range chs {
			cv := conversation{Name: ch.Name, Kind: "channel", Admin: ch.Admin}
			s.fillUnread(ctx, c, &cv)
			convs = append(convs, cv)
		}
	}
	slices.SortStableFunc(convs, func(a, b conversation) int {
		switch {
		case a.LastAt > b.LastAt:
			return -1
		case a.LastAt < b.LastAt:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	if convs == nil {
		convs = []conversation{}
	}
	reply(w, map[string]any{
		"csrf":          s.csrf,
		"me":            c.Username(),
		"device":        c.DeviceID(),
		"conversations": convs,
		"status":        s.status(ctx, c),
	})
}

// unreadWindow is how far back the unread count looks.
const unreadWindow = 200

// fillUnread counts cv's messages newer than the last one seen.
func (s *Server) fillUnread(ctx context.Context, c *client.Client, cv *conversation) {
	msgs, err := history(ctx, c, cv.Kind, cv.Name, unreadWindow)
	if err != nil || len(msgs) == 0 {
		return
	}
	cv.LastAt = msgs[len(msgs)-1].At.UnixMilli()
	seen := s.state.seen(readKey(cv.Kind, cv.Name))
	for _, m := range msgs {
		if !m.Outgoing && m.Status == clientdb.StatusReceived && m.ID > seen {
			cv.Unread++
		}
	}
}

// history returns a conversation's last limit messages: a channel's
// posts, or the history with a contact or group.
func history(ctx context.Context, c *client.Client, kind, name string, limit int) ([]clientdb.Message, error) {
	if kind == "channel" {
		return c.ChannelHistory(ctx, name, limit)
	}
	return c.History(ctx, name, limit)
}

// readKey names a conversation in the read state: a person's keeps its
// key whether they are a request, a contact or blocked.
func readKey(kind, name string) string {
	switch kind {
	case "contact", "request", "blocked":
		kind = "user"
	}
	return kind + ":" + name
}

// message is one line of a conversation as the page shows it.
type message struct {
	ID     int64  `json:"id"`
	From   string `json:"from"`
	Out    bool   `json:"out"`
	Body   string `json:"body"`
	At     int64  `json:"at"`
	Status string `json:"status"`         // queued, sent, delivered, received, notice
	File   bool   `json:"file,omitempty"` // a received file saved in FilesDir: GET /api/file serves it
}

var statusNames = map[int]string{
	clientdb.StatusQueued: "queued", clientdb.StatusSent: "sent", clientdb.StatusDelivered: "delivered",
	clientdb.StatusReceived: "received", clientdb.StatusNotice: "notice",
}

// historyLimit is how many messages a conversation shows.
const historyLimit = 200

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request, c *client.Client) {
	peer := r.URL.Query().Get("peer")
	if peer == "" {
		fail(w, http.StatusBadRequest, errors.New("which conversation?"))
		return
	}
	msgs, err := history(r.Context(), c, r.URL.Query().Get("kind"), peer, historyLimit)
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	out := make([]message, 0, len(msgs))
	for _, m := range msgs {
		from := m.Peer
		switch {
		case m.Outgoing:
			from = c.Username()
		case m.Sender != "":
			from = m.Sender
		}
		path, _ := savedFile(s.cfg.FilesDir, m, func(id int64) (string, error) { return c.SavedFilePath(r.Context(), id) })
		out = append(out, message{ID: m.ID, From: from, Out: m.Outgoing, Body: m.Body, At: m.At.UnixMilli(), Status: statusNames[m.Status], File: path != ""})
	}
	reply(w, map[string]any{"messages": out})
}

func (s *Server) handleRead(w http.ResponseWriter, r *http.Request, c *client.Client) {
	var req struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
		ID   int64  `json:"id"`
	}
	if !decodeOr400(w, r, &req) {
		return
	}
	if err := s.state.markRead(readKey(req.Kind, req.Name), req.ID); err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	reply(w, map[string]bool{"ok": true})
}

// sendTimeout bounds how long a send waits for the relay; the message
// stays in the outbox after it.
const sendTimeout = 20 * time.Second

func (s *Server) handleSend(w http.ResponseWriter, r *http.Request, c *client.Client) {
	var req struct {
		To   string `json:"to"`
		Kind string `json:"kind"`
		Text string `json:"text"`
	}
	if !decodeOr400(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Text) == "" {
		fail(w, http.StatusBadRequest, errors.New("the message is empty"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), sendTimeout)
	defer cancel()
	var err error
	if req.Kind == "channel" {
		err = c.PostToChannel(ctx, req.To, req.Text)
	} else {
		_, err = c.Send(ctx, req.To, req.Text)
	}
	s.hub.publish(update{Kind: "sent", Peer: req.To})
	switch {
	case err == nil:
		reply(w, map[string]bool{"ok": true})
	case errors.Is(err, client.ErrNoSuchUser):
		fail(w, http.StatusNotFound, errors.New("no user by that name on this relay"))
	case errors.Is(err, client.ErrGaveUp), errors.Is(err, client.ErrNotMember), errors.Is(err, client.ErrNotChannelAdmin), errors.Is(err, client.ErrNoSuchChannel):
		fail(w, http.StatusBadRequest, err)
	case errors.Is(err, client.ErrUnreachable):
		fail(w, http.StatusAccepted, errors.New("not sent yet: the relay is out of reach; the message waits in the outbox and goes out once the client reconnects (the Network page shows what fails)"))
	default:
		fail(w, http.StatusAccepted, errors.New("not sent yet, it waits in the outbox: "+err.Error()))
	}
}

func (s *Server) handleContact(w http.ResponseWriter, r *http.Request, c *client.Client) {
	var req struct {
		Name string `json:"name"`
	}
	if !decodeOr400(w, r, &req) {
		return
	}
	ct, err := c.Lookup(r.Context(), req.Name)
	if errors.Is(err, client.ErrNoSuchUser) {
		fail(w, http.StatusNotFound, errors.New("no user by that name on this relay"))
		return
	}
	if err != nil {
		fail(w, http.StatusBadGateway, err)
		return
	}
	reply(w, map[string]string{"name": ct.Username})
}

func (s *Server) handleSafety(w http.ResponseWriter, r *http.Request, c *client.Client) {
	sf, err := c.Safety(r.Context(), r.URL.Query().Get("peer"))
	if err != nil {
		fail(w, http.StatusNotFound, err)
		return
	}
	var changed int64
	if !sf.ChangedAt.IsZero() {
		changed = sf.ChangedAt.UnixMilli()
	}
	reply(w, map[string]any{"peer": sf.Peer, "number": sf.Number, "changedAt": changed, "verified": changed == 0 && s.state.verified(sf.Peer, sf.Number)})
}

// handleSafetyQR draws the scannable fingerprint as a QR code (PNG).
func (s *Server) handleSafetyQR(w http.ResponseWriter, r *http.Request, c *client.Client) {
	sf, err := c.Safety(r.Context(), r.URL.Query().Get("peer"))
	if err != nil {
		fail(w, http.StatusNotFound, err)
		return
	}
	png, err := qrcode.Encode(string(sf.Scannable), qrcode.Medium, 256)
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(png)
}

func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request, c *client.Client) {
	var req struct {
		Peer   string `json:"peer"`
		Number string `json:"number"` // the number the user compared
	}
	if !decodeOr400(w, r, &req) {
		return
	}
	// What the user compared: the number the page showed them.
	sf, err := c.Safety(r.Context(), req.Peer)
	if err != nil {
		fail(w, http.StatusNotFound, err)
		return
	}
	if req.Number != sf.Number {
		fail(w, http.StatusConflict, errors.New("the safety number changed while you compared it: compare the new one"))
		return
	}
	if err := c.AcceptIdentity(r.Context(), sf.Peer); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	if err := s.state.markVerified(sf.Peer, sf.Number); err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	s.hub.publish(update{Kind: "identity", Peer: req.Peer})
	reply(w, map[string]bool{"ok": true})
}

// handleRequest answers a message request: accept, block or unblock.
func (s *Server) handleRequest(w http.ResponseWriter, r *http.Request, c *client.Client) {
	var req struct {
		Name   string `json:"name"`
		Action string `json:"action"`
	}
	if !decodeOr400(w, r, &req) {
		return
	}
	var err error
	switch req.Action {
	case "accept":
		err = c.Accept(r.Context(), req.Name)
	case "block":
		err = c.Block(r.Context(), req.Name)
		if err == nil && s.cfg.BlockHook != nil {
			s.cfg.BlockHook(r.Context(), c, client.NormalizeUsername(req.Name))
		}
	case "unblock":
		err = c.Unblock(r.Context(), req.Name)
	default:
		err = errors.New("action is accept, block or unblock")
	}
	s.answer(w, err, update{Kind: "requests", Peer: req.Name}, nil)
}

func (s *Server) handleDevices(w http.ResponseWriter, r *http.Request, c *client.Client) {
	devs, err := c.Devices(r.Context())
	if err != nil {
		fail(w, http.StatusBadGateway, err)
		return
	}
	type device struct {
		ID       uint32 `json:"id"`
		Name     string `json:"name"`
		Created  int64  `json:"created"`
		LastSeen int64  `json:"lastSeen,omitempty"`
		Current  bool   `json:"current"`
	}
	out := []device{}
	for _, d := range devs {
		dv := device{ID: d.ID, Name: d.Name, Created: d.Created.UnixMilli(), Current: d.Current}
		if !d.LastSeen.IsZero() {
			dv.LastSeen = d.LastSeen.UnixMilli()
		}
		out = append(out, dv)
	}
	reply(w, map[string]any{"devices": out})
}

// handleDeviceChange approves a pairing code (a new device links to the
// account) or removes a device.
func (s *Server) handleDeviceChange(w http.ResponseWriter, r *http.Request, c *client.Client) {
	var req struct {
		Action string `json:"action"` // approve, remove
		Code   string `json:"code"`
		ID     uint32 `json:"id"`
	}
	if !decodeOr400(w, r, &req) {
		return
	}
	var err error
	res := map[string]any{}
	switch req.Action {
	case "approve":
		ctx, cancel := context.WithTimeout(r.Context(), linkTimeout)
		defer cancel()
		res["id"], err = c.ApproveLink(ctx, strings.TrimSpace(req.Code))
	case "remove":
		err = c.RemoveDevice(r.Context(), req.ID)
	default:
		err = errors.New("action is approve or remove")
	}
	s.answer(w, err, update{Kind: "devices"}, res)
}

// linkTimeout bounds approving a pairing code (the new device answers).
const linkTimeout = 2 * time.Minute

func (s *Server) handleNetwork(w http.ResponseWriter, r *http.Request, c *client.Client) {
	reply(w, map[string]any{"status": s.status(r.Context(), c), "paths": s.net.paths()})
}

func (s *Server) handleGroup(w http.ResponseWriter, r *http.Request, c *client.Client) {
	g, err := c.GroupByName(r.Context(), r.URL.Query().Get("name"))
	if err != nil {
		fail(w, http.StatusNotFound, err)
		return
	}
	type member struct {
		Name  string `json:"name"`
		Admin bool   `json:"admin"`
	}
	ms := []member{}
	for _, m := range g.Members {
		ms = append(ms, member{Name: m.Username, Admin: m.Admin})
	}
	reply(w, map[string]any{"name": g.Name, "member": g.Member, "members": ms})
}

// answer ends a change: its error (400), or the update to the pages and
// res (nil: ok) to the caller.
func (s *Server) answer(w http.ResponseWriter, err error, u update, res any) {
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	s.hub.publish(u)
	if res == nil {
		res = map[string]bool{"ok": true}
	}
	reply(w, res)
}

// handleGroupChange creates a group or changes one: adds, removes,
// renames (to newName) or makes members[0] an admin (admins only; the
// client refuses others), or leaves it.
func (s *Server) handleGroupChange(w http.ResponseWriter, r *http.Request, c *client.Client) {
	var req struct {
		Action  string   `json:"action"` // create, add, remove, rename, admin, leave
		Name    string   `json:"name"`
		NewName string   `json:"newName"`
		Members []string `json:"members"`
	}
	if !decodeOr400(w, r, &req) {
		return
	}
	ctx := r.Context()
	var err error
	switch req.Action {
	case "create":
		_, err = c.CreateGroup(ctx, req.Name, req.Members)
	case "add":
		err = c.AddToGroup(ctx, req.Name, req.Members)
	case "remove":
		err = c.RemoveFromGroup(ctx, req.Name, req.Members)
	case "rename":
		err = c.RenameGroup(ctx, req.Name, req.NewName)
	case "admin":
		if len(req.Members) != 1 {
			err = errors.New("admin takes one member")
		} else {
			err = c.MakeGroupAdmin(ctx, req.Name, req.Members[0])
		}
	case "leave":
		err = c.LeaveGroup(ctx, req.Name)
	default:
		err = errors.New("action is create, add, remove, rename, admin or leave")
	}
	s.answer(w, err, update{Kind: "groups", Peer: req.Name}, nil)
}

// handleChannelChange creates, joins or leaves a broadcast channel, or
// makes the user named an admin of it (sends them its admin key).
func (s *Server) handleChannelChange(w http.ResponseWriter, r *http.Request, c *client.Client) {
	var req struct {
		Action string `json:"action"` // create, join, leave, admin
		Name   string `json:"name"`
		Code   string `json:"code"`
		User   string `json:"user"`
	}
	if !decodeOr400(w, r, &req) {
		return
	}
	ctx := r.Context()
	var err error
	res := map[string]string{}
	switch req.Action {
	case "create":
		res["code"], err = c.CreateChannel(ctx, req.Name)
	case "join":
		res["name"], err = c.JoinChannel(ctx, req.Code, req.Name)
	case "leave":
		err = c.LeaveChannel(ctx, req.Name)
	case "admin":
		err = c.GrantChannelAdmin(ctx, req.Name, req.User)
	default:
		err = errors.New("action is create, join, leave or admin")
	}
	s.answer(w, err, update{Kind: "channels", Peer: req.Name}, res)
}
