package goversion

import "testing"

func TestParseToolchain(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Toolchain
		ok   bool
	}{
		{"v0.0.1-go1.22.5.linux-arm64", Toolchain{"go1.22.5", "linux", "arm64"}, true},
		{"v0.0.1-go1.21rc2.darwin-amd64", Toolchain{"go1.21rc2", "darwin", "amd64"}, true},
		{"v0.0.1-go1.20.linux-386", Toolchain{"go1.20", "linux", "386"}, true},
		{"v0.0.1-go1.22.5.linux-arm", Toolchain{"go1.22.5", "linux", "arm"}, true},
		{"v0.0.1-1.22.5.linux-arm64", Toolchain{}, false},
		{"v0.0.2-go1.22.5.linux-arm64", Toolchain{}, false},
		{"v0.0.1-go1.22.5.linux", Toolchain{}, false},
		{"v0.0.1-go1.22.5.linux-arm-x", Toolchain{}, false},
		{"v0.0.1-go1.22.5.Linux-ARM64", Toolchain{}, false},
		{"v0.0.1-go1.22.5", Toolchain{}, false},
		{"v0.0.1-go1.22.5-custom.linux-arm64", Toolchain{}, false},
		{"v0.0.1-go1.22.05.linux-arm64", Toolchain{}, false},
		{" v0.0.1-go1.22.5.linux-arm64", Toolchain{}, false},
		{"v0.0.1-go1.22.5.linux-arm64\n", Toolchain{}, false},
		{"", Toolchain{}, false},
		{"v1.0.0", Toolchain{}, false},
		{"v0.0.1-go1.linux-arm64x.y", Toolchain{}, false},
		{"v0.0.1-gox.linux-arm64", Toolchain{}, false},
	} {
		got, ok := ParseToolchain(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseToolchain(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok && got.ModuleVersion() != tt.in {
			t.Errorf("%q: ModuleVersion() = %q", tt.in, got.ModuleVersion())
		}
	}
	tc := Toolchain{Go: "go1.23.4", GOOS: "linux", GOARCH: "arm"}
	if tc.Platform() != "linux-arm" || tc.ModuleVersion() != "v0.0.1-go1.23.4.linux-arm" {
		t.Errorf("%+v: %s %s", tc, tc.Platform(), tc.ModuleVersion())
	}
}

func TestIsRelease(t *testing.T) {
	for v, want := range map[string]bool{
		"go1.22.5": true, "go1.21.0": true, "go1.20": true, "go1.19.13": true, "go1": true,
		"go1.22": false, "go1.21": false, "go1.21rc2": false, "go1.22beta1": false, "go1.20rc1": false,
		"go1.22.5-bigcorp": false, "1.22.5": false, "": false, "go1.22.x": false,
	} {
		if got := IsRelease(v); got != want {
			t.Errorf("IsRelease(%q) = %v, want %v", v, got, want)
		}
	}
}

func FuzzParseToolchain(f *testing.F) {
	for _, s := range []string{"v0.0.1-go1.22.5.linux-arm64", "v0.0.1-go1.20.linux-386", "v0.0.1-go1.22.5.linux", "v0.0.1-", "v0.0.1-go1.22.5.a-b-c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tc, ok := ParseToolchain(s)
		if !ok {
			return
		}
		if got := tc.ModuleVersion(); got != s {
			t.Fatalf("%q -> %+v -> %q", s, tc, got)
		}
		if goos, goarch, ok := ParsePlatform(tc.Platform()); !ok || goos != tc.GOOS || goarch != tc.GOARCH {
			t.Fatalf("%q: platform %q does not parse back", s, tc.Platform())
		}
	})
}
