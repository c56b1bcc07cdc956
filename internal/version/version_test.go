package version

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestStampedWins(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.9.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "feedface"}}}
	got := get("v1.2.3", "abc1234", bi)
	if got.Version != "v1.2.3" || got.Commit != "abc1234" || got.GoVersion != "go1.26.0" {
		t.Errorf("stamped build: %+v", got)
	}
	got = get("v1.2.3", "7357d29f2c38143c437843f899faa4d632ffcf31-dirty", nil)
	if s := got.String(); s != "pitstop v1.2.3 (7357d29f2c38-dirty) "+runtime.Version()+" "+got.Platform {
		t.Errorf("String() = %q", s)
	}
}

func TestBuildInfoFallback(t *testing.T) {
	// `go install github.com/pitstop-go/pitstop/cmd/pitstop@v0.9.0`: no -X.
	bi := &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Path: "github.com/pitstop-go/pitstop", Version: "v0.9.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "feedfacecafe0123"}, {Key: "GOARM", Value: "6"}}}
	got := get("", "", bi)
	if got.Version != "v0.9.0" || got.Commit != "feedfacecafe0123" || got.GoVersion != "go1.26.1" {
		t.Errorf("go install build: %+v", got)
	}
	want := runtime.GOOS + "/" + runtime.GOARCH
	if runtime.GOARCH == "arm" {
		want += "/v6"
	}
	if got.Platform != want {
		t.Errorf("platform %q, want %q", got.Platform, want)
	}
	if s := got.String(); s != "pitstop v0.9.0 (feedfacecafe) go1.26.1 "+want {
		t.Errorf("String() = %q", s)
	}
}

func TestNothingKnown(t *testing.T) {
	got := get("", "", nil)
	if got.Version != "(devel)" || got.Commit != "" || got.GoVersion != runtime.Version() {
		t.Errorf("no build info: %+v", got)
	}
	if s := got.String(); s != "pitstop (devel) "+runtime.Version()+" "+got.Platform {
		t.Errorf("String() = %q", s)
	}
}
