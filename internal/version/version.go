// Package version says which pitstop this is: the release version and
// commit the release build stamps in with the linker
//
//	go build -ldflags "-X github.com/pitstop-go/pitstop/internal/version.version=v1.2.3
//	                   -X github.com/pitstop-go/pitstop/internal/version.commit=abc1234"
//
// and, for a binary built with `go install module@version` (nothing
// stamped), what the go command recorded in the binary's build info.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Set by the linker (-X) in release builds; empty otherwise.
var (
	version string
	commit  string
)

// Info is what `pitstop version` prints and a doctor capture records.
type Info struct {
	Version   string `json:"version"`    // v1.2.3, or "(devel)" for a build from a work tree
	Commit    string `json:"commit"`     // the VCS revision, "" when unknown
	GoVersion string `json:"go_version"` // the Go that built the binary
	Platform  string `json:"platform"`   // GOOS/GOARCH, with GOARM for linux/arm
}

// Get returns this binary's Info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return get(version, commit, bi)
}

// get fills in what the linker did not stamp from the build info.
func get(v, c string, bi *debug.BuildInfo) Info {
	in := Info{Version: v, Commit: c, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.GoVersion != "" {
			in.GoVersion = bi.GoVersion
		}
		if in.Version == "" && bi.Main.Version != "" {
			in.Version = bi.Main.Version // "(devel)" when built from a work tree
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if in.Commit == "" {
					in.Commit = s.Value
				}
			case "GOARM":
				if runtime.GOARCH == "arm" {
					in.Platform += "/v" + s.Value
				}
			}
		}
	}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	return in
}

// String is the one line of `pitstop --version`.
func (in Info) String() string {
	s := "pitstop " + in.Version
	if in.Commit != "" {
		c, dirty := strings.CutSuffix(in.Commit, "-dirty")
		if len(c) > 12 {
			c = c[:12]
		}
		if dirty {
			c += "-dirty"
		}
		s += " (" + c + ")"
	}
	return s + " " + in.GoVersion + " " + in.Platform
}
