package fleet

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestGoVersionAtLeast(t *testing.T) {
	for v, want := range map[string]bool{
		"go1.24.0": true, "go1.24rc1": true, "go1.26.8": true, "go2.0": true, "devel go1.27-abc": true,
		"go1.23.4": false, "go1.9": false, "go1": false, "": false, "gccgo": false,
	} {
		if got := goVersionAtLeast(v, 1, 24); got != want {
			t.Errorf("goVersionAtLeast(%q, 1.24) = %v, want %v", v, got, want)
		}
	}
}

func TestWantedAndPreviousProxy(t *testing.T) {
	j := &Join{Server: "https://pi5.lan:3000", Exe: "/opt/my tools/pitstop", Paths: Paths{Dir: "/home/u/.config/pitstop"}}
	p, c := j.Wanted("http://mirror.lan,direct")
	if p != "https://pi5.lan:3000|http://mirror.lan,direct" {
		t.Errorf("GOPROXY %q", p)
	}
	if c != `"/opt/my tools/pitstop" cache prog --server https://pi5.lan:3000/cache` {
		t.Errorf("GOCACHEPROG %q: want the path with a space quoted", c)
	}
	if got := previousProxy(p, j.Server); got != "http://mirror.lan,direct" {
		t.Errorf("previousProxy %q", got)
	}
	j.Token = "s3cret"
	p, c = j.Wanted("off")
	if p != "https://pitstop:s3cret@pi5.lan:3000" || c != `"/opt/my tools/pitstop" cache prog --server https://pi5.lan:3000/cache --token-file /home/u/.config/pitstop/join-token` {
		t.Errorf("with a token: GOPROXY %q, GOCACHEPROG %q", p, c)
	}
	if got := previousProxy("https://pitstop:s3cret@pi5.lan:3000|direct", j.Server); got != "direct" {
		t.Errorf("previousProxy with userinfo: %q", got)
	}
	if got := previousProxy("http://other|direct", j.Server); got != "" {
		t.Errorf("previousProxy of another server's list: %q", got)
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{"http://pi5:3000/": "http://pi5:3000", "https://pi5.lan:3000": "https://pi5.lan:3000"} {
		if got, err := NormalizeURL(in); err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"pi5:3000", "ftp://pi5", "http://", "http://u:tok@pi5:3000", "http://pi5?x=1"} {
		if _, err := NormalizeURL(bad); err == nil {
			t.Errorf("NormalizeURL(%q) accepted", bad)
		}
	}
}

// TestCheck: Check tells a pitstop server (with and without a token) from
// anything else answering on the address.
func TestCheck(t *testing.T) {
	id := Identity{API: API, Version: "v1.2.3", Features: []string{"proxy", "cache"}}
	pitstop := IdentityHandler(id)
	withToken := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer right" {
			w.Header().Add("WWW-Authenticate", `Bearer realm="pitstop"`)
			w.WriteHeader(401)
			return
		}
		pitstop.ServeHTTP(w, r)
	})
	otherJSON := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"api":"something/v2"}`)) })
	other401 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("WWW-Authenticate", `Basic realm="router"`)
		w.WriteHeader(401)
	})
	for _, tt := range []struct {
		name    string
		h       http.Handler
		token   string
		wantErr error
	}{
		{"pitstop", pitstop, "", nil},
		{"pitstop with its token", withToken, "right", nil},
		{"pitstop without a token", withToken, "", ErrTokenRefused},
		{"pitstop with a wrong token", withToken, "wrong", ErrTokenRefused},
		{"other JSON", otherJSON, "", ErrNotPitstop},
		{"another server's 401", other401, "", ErrNotPitstop},
		{"404", http.NotFoundHandler(), "", ErrNotPitstop},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.h)
			defer srv.Close()
			got, err := Check(context.Background(), nil, srv.URL, tt.token)
			if !errors.Is(err, tt.wantErr) || (err == nil && (got.Version != "v1.2.3" || !got.Has("cache"))) {
				t.Errorf("Check = %+v, %v; want error %v", got, err, tt.wantErr)
			}
		})
	}
	srv := httptest.NewServer(pitstop)
	srv.Close()
	if _, err := Check(context.Background(), nil, srv.URL, ""); !errors.Is(err, ErrUnreachable) {
		t.Errorf("closed server: %v, want ErrUnreachable", err)
	}
}

func TestTXT(t *testing.T) {
	id := Identity{API: API, Version: "v1", Features: []string{"proxy", "cache"}}
	got := TXT(id, "ab12")
	want := []string{"api=pitstop/v1", "version=v1", "features=proxy,cache", "tls=sha256:ab12"}
	if len(got) != len(want) {
		t.Fatalf("TXT %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("TXT[%d] = %q, want %q", i, got[i], want[i])
		}
	}
	if plain := TXT(id, ""); len(plain) != 3 {
		t.Errorf("TXT without TLS %q: want no tls record", plain)
	}
}

// TestJoinPlanNotesEnvironment: GOPROXY set in the environment overrides
// the go env file, so the plan says so (the real go command, an isolated
// GOENV; nothing is applied).
func TestJoinPlanNotesEnvironment(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command: ", err)
	}
	dir := t.TempDir()
	env := append(os.Environ(), "GOENV="+dir+"/env", "GOPROXY=http://from-env.lan", "GOCACHEPROG=", "GOTOOLCHAIN=local")
	j := &Join{Server: "http://pi5.lan:3000", Exe: "/usr/bin/pitstop", Paths: Paths{Dir: dir + "/state"}, Go: GoCmd{Env: env}}
	p, err := j.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(p.Notes, "\n")
	if !strings.Contains(notes, "GOPROXY is set in your environment (http://from-env.lan)") || strings.Contains(notes, "GOCACHEPROG is set") {
		t.Errorf("notes %q", notes)
	}
	if len(p.Steps) != 3 || p.Steps[0].From != "http://from-env.lan" || p.Steps[0].To != "http://pi5.lan:3000|http://from-env.lan" {
		t.Errorf("steps %+v", p.Steps)
	}
	if _, err := os.Stat(dir + "/env"); !os.IsNotExist(err) {
		t.Errorf("building the plan wrote the GOENV file: %v", err)
	}
}
