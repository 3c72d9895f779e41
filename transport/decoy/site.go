package decoy

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"html"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File is one file of a generated site.
type File struct {
	Path    string // slash-separated and relative: "index.html", "posts/rye.html"
	Body    []byte
	ModTime time.Time
}

// Handler returns a decoy made for this process alone: a site and a
// profile drawn from crypto/rand and kept in memory. It shares nothing
// with another process's, but it changes at every start; a relay keeps
// its own on disk instead (relay/endpoints).
func Handler() http.Handler {
	now := time.Now()
	return Static(FS(Generate(rand.Reader, now)), Draw(rand.Reader, now))
}

// Generate makes a small site from a seed read from r (nil: crypto/rand):
// a personal blog on a drawn subject, with a drawn name, author, layout,
// style sheet, number of posts, URL scheme and extra files, every file
// dated between a drawn start a few years before now and a drawn last
// update before now.
func Generate(r io.Reader, now time.Time) []File {
	d := newDice(r)
	g := &site{d: d, tp: pick(d, topics), author: pick(d, firstNames)}
	g.title = g.siteTitle()
	g.start = now.Add(-d.duration(400*24*time.Hour, 2200*24*time.Hour)).UTC()
	last := now.Add(-d.duration(24*time.Hour, 150*24*time.Hour)).UTC()
	g.dateFormat = pick(d, []string{"2 January 2006", "2006-01-02", "January 2, 2006", "02/01/2006", "Jan 2, 2006"})
	g.layout = d.intn(3)
	g.css = pick(d, []string{"style.css", "css/style.css", "assets/main.css", "static/site.css", "css/screen.css"})

	n := d.between(4, 14)
	dates := make([]time.Time, n)
	for i := range dates {
		dates[i] = g.start.Add(30*24*time.Hour + time.Duration(d.r.Int64N(int64(last.Sub(g.start)-30*24*time.Hour))))
	}
	slices.SortFunc(dates, func(a, b time.Time) int { return b.Compare(a) }) // newest first
	dates[0] = last
	scheme := d.intn(4)
	seen := map[string]bool{}
	for _, date := range dates {
		p := g.post(date, scheme)
		for seen[p.file] { // two posts of one title (and month)
			p = g.post(date, scheme)
		}
		seen[p.file] = true
		g.posts = append(g.posts, p)
	}

	aboutPath := pick(d, []string{"about.html", "about/index.html", "about/"})
	var files []File
	add := func(p string, body string, mod time.Time) {
		files = append(files, File{Path: strings.TrimSuffix(p, "/"), Body: []byte(body), ModTime: mod})
	}
	updated := last.Add(d.duration(time.Minute, 3*time.Hour))
	add("index.html", g.index(aboutPath), updated)
	for _, p := range g.posts {
		add(p.file, g.page(p.title, p.body, aboutPath), p.date.Add(d.duration(0, 30*time.Hour)))
	}
	if aboutPath == "about/" {
		aboutPath = "about/index.html"
	}
	add(aboutPath, g.page("About", g.about(), aboutPath), g.start.Add(d.duration(time.Hour, 60*24*time.Hour)))
	add(g.css, g.stylesheet(), g.start.Add(d.duration(time.Hour, 90*24*time.Hour)))
	add("robots.txt", g.robots(), g.start.Add(d.duration(0, 10*24*time.Hour)))
	if d.chance(0.5) {
		add("sitemap.xml", g.sitemap(), updated)
	}
	if d.chance(0.4) {
		add("feed.xml", g.feed(), updated)
	}
	if d.chance(0.3) {
		add("404.html", g.page("Not found", "<p>"+pick(d, []string{"Nothing here.", "That page does not exist (any more).",
			"Sorry, there is no such page.", "Page not found."})+" <a href=\"/\">Back to the start</a>.</p>\n", aboutPath), g.start.Add(d.duration(time.Hour, 30*24*time.Hour)))
	}
	return files
}

// site is a site being generated.
type site struct {
	d          *dice
	tp         topic
	author     string
	title      string
	start      time.Time
	dateFormat string
	layout     int
	css        string
	posts      []post
}

// post is one generated post.
type post struct {
	title, url, file, body string
	date                   time.Time
}

func (g *site) siteTitle() string {
	name := pick(g.d, g.tp.names)
	switch g.d.intn(5) {
	case 0:
		return pick(g.d, adjectives) + " " + name
	case 1:
		return g.author + "'s " + name
	case 2:
		return pick(g.d, places) + " " + name
	case 3:
		return "The " + pick(g.d, adjectives) + " " + name
	default:
		return name + " Notes"
	}
}

// post makes a post dated date, at a URL of the given scheme.
func (g *site) post(date time.Time, scheme int) post {
	d := g.d
	var title string
	switch d.intn(5) {
	case 0:
		title = "Notes on " + pick(d, g.tp.nouns)
	case 1:
		title = capitalize(pick(d, g.tp.nouns)) + ", again"
	case 2:
		title = "A " + pick(d, seasons) + " of " + pick(d, g.tp.nouns)
	case 3:
		title = "What I learned from " + pick(d, g.tp.nouns)
	default:
		title = capitalize(pick(d, g.tp.doings))
	}
	slug := slugify(title)
	p := post{title: title, date: date}
	switch scheme {
	case 0:
		p.file = "posts/" + slug + ".html"
		p.url = "/" + p.file
	case 1:
		p.url = date.Format("/2006/01/") + slug + "/"
		p.file = strings.TrimPrefix(p.url, "/") + "index.html"
	case 2:
		p.url = "/notes/" + slug + "/"
		p.file = strings.TrimPrefix(p.url, "/") + "index.html"
	default:
		p.file = "blog/" + date.Format("2006-01-02-") + slug + ".html"
		p.url = "/" + p.file
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<p class=\"date\">%s</p>\n", date.Format(g.dateFormat))
	for range d.between(2, 6) {
		b.WriteString("<p>")
		for i := range d.between(2, 5) {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(html.EscapeString(g.sentence()))
		}
		b.WriteString("</p>\n")
	}
	if c := pick(d, closers); c != "" {
		fmt.Fprintf(&b, "<p>%s</p>\n", c)
	}
	p.body = b.String()
	return p
}

// sentence is one sentence of a post.
func (g *site) sentence() string {
	d := g.d
	switch d.intn(3) {
	case 0:
		return fmt.Sprintf(pick(d, doingFrames), pick(d, g.tp.doings), pick(d, seasons))
	case 1:
		return fmt.Sprintf(pick(d, nounFrames), pick(d, g.tp.nouns))
	default:
		return fmt.Sprintf(pick(d, tipFrames), pick(d, g.tp.tips))
	}
}

func (g *site) about() string {
	return fmt.Sprintf("<p>I am %s, and this is where I write down what I learn about %s, so that I do not have to learn it twice.</p>\n<p>%s</p>\n",
		html.EscapeString(g.author), g.tp.subject, pick(g.d, []string{
			"Nothing here is sponsored.", "The site has no comments; write to me instead.",
			"Posts appear when they appear.", "Most of it is written on the train.",
		}))
}

func (g *site) index(aboutPath string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<p>%s</p>\n", pick(g.d, []string{
		"Notes, mostly for myself, on " + g.tp.subject + ".",
		"A small site about " + g.tp.subject + ".",
		"Writing things down about " + g.tp.subject + " so they are not forgotten.",
		"Occasional notes on " + g.tp.subject + " and whatever else comes up.",
	}))
	b.WriteString(pick(g.d, []string{"<h2>Recent</h2>\n", "<h2>Posts</h2>\n", "<h2>Latest notes</h2>\n", ""}))
	b.WriteString("<ul class=\"posts\">\n")
	for _, p := range g.posts {
		fmt.Fprintf(&b, "<li><a href=\"%s\">%s</a> <span class=\"date\">%s</span></li>\n",
			p.url, html.EscapeString(p.title), p.date.Format(g.dateFormat))
	}
	b.WriteString("</ul>\n")
	return g.page("", b.String(), aboutPath)
}

// page wraps body in the site's layout; an empty heading is the home page.
func (g *site) page(heading, body, aboutPath string) string {
	title := html.EscapeString(g.title)
	if heading != "" {
		title = html.EscapeString(heading) + pick(g.d, []string{" | ", " - ", " &middot; ", " — "}) + title
	}
	about := "/" + strings.TrimSuffix(aboutPath, "index.html")
	var b strings.Builder
	b.WriteString(pick(g.d, []string{"<!DOCTYPE html>\n", "<!doctype html>\n"}))
	fmt.Fprintf(&b, "<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n", pick(g.d, []string{"en", "en-GB", "en-US"}))
	if g.layout != 1 {
		b.WriteString("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	}
	fmt.Fprintf(&b, "<title>%s</title>\n<link rel=\"stylesheet\" href=\"/%s\">\n</head>\n<body>\n", title, g.css)
	switch g.layout {
	case 0:
		fmt.Fprintf(&b, "<header>\n<h1><a href=\"/\">%s</a></h1>\n<nav><a href=\"/\">Home</a> <a href=\"%s\">About</a></nav>\n</header>\n<main>\n",
			html.EscapeString(g.title), about)
	case 1:
		fmt.Fprintf(&b, "<div id=\"page\">\n<div id=\"masthead\"><a href=\"/\">%s</a></div>\n<div id=\"content\">\n", html.EscapeString(g.title))
	default:
		fmt.Fprintf(&b, "<nav class=\"top\"><a href=\"/\">%s</a> &middot; <a href=\"%s\">about</a></nav>\n<article>\n",
			html.EscapeString(g.title), about)
	}
	if heading != "" {
		fmt.Fprintf(&b, "<h%d>%s</h%d>\n", 1+g.layout%2, html.EscapeString(heading), 1+g.layout%2)
	}
	b.WriteString(body)
	year := g.start.Year()
	switch g.layout {
	case 0:
		fmt.Fprintf(&b, "</main>\n<footer>&copy; %d %s</footer>\n", year, html.EscapeString(g.author))
	case 1:
		fmt.Fprintf(&b, "</div>\n<div id=\"footer\">Written by %s.</div>\n</div>\n", html.EscapeString(g.author))
	default:
		fmt.Fprintf(&b, "</article>\n<footer><p>%s, since %d.</p></footer>\n", html.EscapeString(g.author), year)
	}
	b.WriteString("</body>\n</html>\n")
	return b.String()
}

func (g *site) stylesheet() string {
	d := g.d
	color := func() string { return fmt.Sprintf("#%02x%02x%02x", d.intn(90), d.intn(90), d.intn(90)) }
	light := func() string { return fmt.Sprintf("#%02x%02x%02x", 230+d.intn(26), 230+d.intn(26), 225+d.intn(31)) }
	fonts := pick(d, []string{"Georgia, serif", "\"Helvetica Neue\", Arial, sans-serif", "system-ui, sans-serif",
		"Palatino, \"Book Antiqua\", serif", "Verdana, Geneva, sans-serif", "\"Iowan Old Style\", Georgia, serif"})
	var b strings.Builder
	fmt.Fprintf(&b, "body {\n  font-family: %s;\n  color: %s;\n  background: %s;\n  max-width: %dem;\n  margin: %dem auto;\n  padding: 0 1em;\n  line-height: 1.%d;\n}\n",
		fonts, color(), light(), d.between(34, 48), d.between(1, 4), d.between(4, 7))
	fmt.Fprintf(&b, "a {\n  color: %s;\n}\n", color())
	if d.chance(0.6) {
		fmt.Fprintf(&b, "a:hover {\n  text-decoration: %s;\n}\n", pick(d, []string{"none", "underline"}))
	}
	fmt.Fprintf(&b, "h1, h2 {\n  font-weight: %s;\n}\n", pick(d, []string{"normal", "600", "bold", "400"}))
	fmt.Fprintf(&b, ".date {\n  color: %s;\n  font-size: 0.%dem;\n}\n", color(), d.between(8, 9))
	if d.chance(0.5) {
		fmt.Fprintf(&b, "ul.posts {\n  list-style: %s;\n  padding: 0;\n}\n", pick(d, []string{"none", "square", "circle"}))
	}
	fmt.Fprintf(&b, "footer, #footer {\n  margin-top: %dem;\n  font-size: 0.%dem;\n  color: %s;\n}\n", d.between(2, 5), d.between(7, 9), color())
	if d.chance(0.5) {
		fmt.Fprintf(&b, "@media (max-width: %dpx) {\n  body {\n    font-size: %dpx;\n  }\n}\n", pick(d, []int{480, 600, 640, 720}), d.between(15, 18))
	}
	return b.String()
}

func (g *site) robots() string {
	switch g.d.intn(4) {
	case 0:
		return "User-agent: *\nDisallow:\n"
	case 1:
		return "User-agent: *\nAllow: /\n"
	case 2:
		return "User-agent: *\nDisallow: /drafts/\n"
	default:
		return "User-agent: *\nDisallow:\n\nUser-agent: GPTBot\nDisallow: /\n"
	}
}

func (g *site) sitemap() string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n")
	for _, p := range g.posts {
		fmt.Fprintf(&b, "  <url><loc>%s</loc><lastmod>%s</lastmod></url>\n", p.url, p.date.Format("2006-01-02"))
	}
	b.WriteString("</urlset>\n")
	return b.String()
}

func (g *site) feed() string {
	var b strings.Builder
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\">\n<channel>\n<title>%s</title>\n<link>/</link>\n<description>%s</description>\n",
		html.EscapeString(g.title), g.tp.subject)
	for _, p := range g.posts {
		fmt.Fprintf(&b, "<item><title>%s</title><link>%s</link><pubDate>%s</pubDate></item>\n",
			html.EscapeString(p.title), p.url, p.date.Format(time.RFC1123Z))
	}
	b.WriteString("</channel>\n</rss>\n")
	return b.String()
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(s) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// WriteSite writes files under dir, each with its modification time, and
// dates each directory like its newest file.
func WriteSite(dir string, files []File) error {
	dirs := map[string]time.Time{}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("decoy: %w", err)
		}
		if err := os.WriteFile(p, f.Body, 0o644); err != nil {
			return fmt.Errorf("decoy: %w", err)
		}
		if err := os.Chtimes(p, f.ModTime, f.ModTime); err != nil {
			return fmt.Errorf("decoy: %w", err)
		}
		for d := path.Dir(f.Path); ; d = path.Dir(d) {
			if f.ModTime.After(dirs[d]) {
				dirs[d] = f.ModTime
			}
			if d == "." {
				break
			}
		}
	}
	for d, t := range dirs {
		if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(d)), t, t); err != nil {
			return fmt.Errorf("decoy: %w", err)
		}
	}
	return nil
}

// FS serves files from memory, as fs.FS; directories are implied by the
// files' paths.
func FS(files []File) fs.FS {
	m := memFS{}
	for _, f := range files {
		m[f.Path] = f
		for d := path.Dir(f.Path); d != "."; d = path.Dir(d) {
			if old, ok := m[d]; !ok || f.ModTime.After(old.ModTime) {
				m[d] = File{Path: d, ModTime: f.ModTime}
			}
		}
	}
	return m
}

// memFS maps paths to files; a File with a nil Body is a directory.
type memFS map[string]File

func (m memFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &memFile{info: memInfo{name: ".", dir: true}}, nil
	}
	f, ok := m[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	info := memInfo{name: path.Base(name), size: int64(len(f.Body)), mod: f.ModTime, dir: f.Body == nil}
	return &memFile{Reader: bytes.NewReader(f.Body), info: info}, nil
}

type memFile struct {
	*bytes.Reader
	info memInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }
func (f *memFile) Read(p []byte) (int, error) {
	if f.Reader == nil {
		return 0, io.EOF
	}
	return f.Reader.Read(p)
}

type memInfo struct {
	name string
	size int64
	mod  time.Time
	dir  bool
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
