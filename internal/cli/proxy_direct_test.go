package cli

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// TestProxyServeDirectFlags: serve limits "direct" by default;
// --allow-direct lifts the GOPRIVATE/GONOPROXY limit but not the host
// check, which --allow-private-hosts lifts.
func TestProxyServeDirectFlags(t *testing.T) {
	up := testupstream.NewForTest(t)
	get := func(base, path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{nil, "only the modules its GOPRIVATE or GONOPROXY matches"},
		{[]string{"--allow-direct"}, "its host is not a public name (an IP address)"},
	} {
		addr, stop := startServe(t, "proxy", append([]string{"--listen", "127.0.0.1:0", "--dir", t.TempDir(),
			"--upstream", up.URL + ",direct", "--gosumdb", up.GOSUMDB}, c.flags...)...)
		code, body := get("http://"+addr, "/127.0.0.1/x/@v/v1.0.0.info")
		if code != http.StatusNotFound || !strings.Contains(body, c.want) {
			t.Errorf("serve %v: %d %q, want 404 saying %q", c.flags, code, body, c.want)
		}
		stop()
	}
}
