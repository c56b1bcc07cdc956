package modproxy

import (
	"reflect"
	"testing"
)

func TestWarmToolchains(t *testing.T) {
	plats := []string{"linux-arm64", "linux-arm"}
	for _, tt := range []struct {
		gomod string
		want  []string
	}{
		{"module m\ngo 1.22.5\n", []string{"golang.org/toolchain@v0.0.1-go1.22.5.linux-arm64", "golang.org/toolchain@v0.0.1-go1.22.5.linux-arm"}},
		{"module m\ngo 1.22\ntoolchain go1.23.4\n", []string{"golang.org/toolchain@v0.0.1-go1.23.4.linux-arm64", "golang.org/toolchain@v0.0.1-go1.23.4.linux-arm"}},
		{"module m\ngo 1.22\n", nil},           // a language version names no release
		{"module m\ngo 1.23rc1\n", nil},        // a release candidate is no release
		{"module m\n", nil},                    // no go line
		{"module m\ngo 1.20\n", nil},           // before 1.21 the bare version is ambiguous: not fetched
		{"module m\ntoolchain default\n", nil}, // not a version
	} {
		if got := toolchains([]byte(tt.gomod), plats); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %v, want %v", tt.gomod, got, tt.want)
		}
	}
	if got := toolchains([]byte("module m\ngo 1.22.5\n"), nil); got != nil {
		t.Errorf("no platforms: %v", got)
	}
}
