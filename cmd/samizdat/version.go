package main

import (
	"runtime/debug"
	"strings"
)

// version is the release this binary was built as, set from the release
// tag at build time:
//
//	go build -ldflags "-X main.version=v0.2.0" ./cmd/samizdat
//
// (make build and the Dockerfile do it from `git describe`). Empty: the
// version comes from the build information.
var version = ""

// develVersion is what a build says it is when neither -ldflags nor the
// build information name a version.
const develVersion = "v0.0.0-devel"

// releaseVersion returns the version the binary says it is: version if
// set, else the main module's version that the go command recorded (from
// the VCS tag, or a pseudo-version v0.0.0-TIME-REVISION, when built in a
// git checkout), else develVersion.
func releaseVersion(info *debug.BuildInfo) string {
	if version != "" {
		return version
	}
	if info != nil && strings.HasPrefix(info.Main.Version, "v") {
		return info.Main.Version
	}
	return develVersion
}
