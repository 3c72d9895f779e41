// Package decoytest is a decoy of a fixed look for tests of what serves
// one (the wss and front transports): an nginx-style profile and a small
// site, so that a test can tell that a probe got the decoy.
package decoytest

import (
	"net/http"
	"time"

	"samizdat/transport/decoy"
)

// Profile is the decoy's look.
var Profile = decoy.Profile{Style: decoy.Nginx, Server: "nginx/1.24.0"}

// Modified is the time of the decoy's files.
var Modified = time.Date(2023, 5, 17, 8, 12, 40, 0, time.UTC)

// Handler returns the decoy: an index page and robots.txt.
func Handler() http.Handler {
	return decoy.Static(decoy.FS([]decoy.File{
		{Path: "index.html", ModTime: Modified, Body: []byte("<!DOCTYPE html>\n<html><head><title>Test site</title></head>\n<body><p>A site.</p></body>\n</html>\n")},
		{Path: "robots.txt", ModTime: Modified, Body: []byte("User-agent: *\nDisallow:\n")},
	}), Profile)
}
