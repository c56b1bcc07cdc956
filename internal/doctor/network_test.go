package doctor

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/host"
)

// dnsMode is how the test DNS server misbehaves.
type dnsMode int

const (
	dnsGood        dnsMode = iota // answers A with one record, echoes EDNS0 (udp 4096)
	dnsFormerrEDNS                // answers FORMERR without OPT to EDNS0 queries (an old resolver)
	dnsDropEDNS                   // never answers EDNS0 queries (a broken router)
	dnsTruncEDNS                  // answers EDNS0 queries with TC and no records
	dnsNXDomain                   // answers NXDOMAIN
)

// startDNS runs a DNS server on 127.0.0.1 that answers with dnsmessage and
// returns its address and a count of the queries it saw.
func startDNS(t *testing.T, mode dnsMode) (string, *atomic.Int32) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	var n atomic.Int32
	go func() {
		buf := make([]byte, 4096)
		for {
			sz, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			n.Add(1)
			var p dnsmessage.Parser
			h, err := p.Start(buf[:sz])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			p.SkipAllQuestions()
			p.SkipAllAnswers()
			p.SkipAllAuthorities()
			edns := false
			for {
				rh, err := p.AdditionalHeader()
				if err != nil {
					break
				}
				if rh.Type == dnsmessage.TypeOPT {
					edns = true
				}
				p.SkipAdditional()
			}
			if edns && mode == dnsDropEDNS {
				continue
			}
			rh := dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
			switch {
			case edns && mode == dnsFormerrEDNS:
				rh.RCode = dnsmessage.RCodeFormatError
			case edns && mode == dnsTruncEDNS:
				rh.Truncated = true
			case mode == dnsNXDomain:
				rh.RCode = dnsmessage.RCodeNameError
			}
			b := dnsmessage.NewBuilder(nil, rh)
			b.StartQuestions()
			b.Question(q)
			if rh.RCode == dnsmessage.RCodeSuccess && !rh.Truncated {
				b.StartAnswers()
				b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: [4]byte{192, 0, 2, 7}})
			}
			if edns && mode != dnsFormerrEDNS {
				b.StartAdditionals()
				var opt dnsmessage.ResourceHeader
				opt.SetEDNS0(4096, dnsmessage.RCodeSuccess, false)
				b.OPTResource(opt, dnsmessage.OPTResource{})
			}
			msg, err := b.Finish()
			if err != nil {
				continue
			}
			pc.WriteTo(msg, from)
		}
	}()
	return pc.LocalAddr().String(), &n
}

// deadDNS is a UDP address on 127.0.0.1 that never answers.
func deadDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// dnsTo maps resolv.conf nameservers to servers on 127.0.0.1; anything
// unmapped goes to a dead 127.0.0.1 port, never off the machine.
func dnsTo(t *testing.T, m map[string]string) netConfig {
	dead := deadDNS(t)
	// The product's own per-query timeout (it was 500 ms here, which a
	// loaded or emulated machine can take to answer from 127.0.0.1, and
	// then a good resolver reads as a dead one).
	return netConfig{dnsTimeout: 1500 * time.Millisecond, dnsAddr: func(ns string) string {
		if a, ok := m[ns]; ok {
			return a
		}
		return dead
	}}
}

func TestDNSResolvers(t *testing.T) {
	good, goodCount := startDNS(t, dnsGood)
	formerr, _ := startDNS(t, dnsFormerrEDNS)
	drop, _ := startDNS(t, dnsDropEDNS)
	trunc, _ := startDNS(t, dnsTruncEDNS)
	nx, _ := startDNS(t, dnsNXDomain)
	servers := map[string]string{"192.0.2.1": good, "192.0.2.2": formerr, "192.0.2.3": drop, "192.0.2.4": trunc, "192.0.2.5": nx}
	for _, tt := range []struct {
		name, resolv string
		status       Status
		want         []string
	}{
		{"good", "nameserver 192.0.2.1\n", OK, []string{"192.0.2.1 NOERROR", "EDNS0 udp 4096"}},
		{"formerr", "# old router\nnameserver 192.0.2.2\n", Warn, []string{"answers plain queries but not EDNS0 ones (FORMERR", "GODEBUG=netedns0=0"}},
		{"dropped", "nameserver 192.0.2.3\n", Warn, []string{"not EDNS0 ones (no answer", "GODEBUG=netedns0=0"}},
		{"truncated", "nameserver 192.0.2.4\n", Warn, []string{"truncates", "TCP port 53"}},
		{"nxdomain", "nameserver 192.0.2.5\n", Fail, []string{"proxy.example.test. does not exist"}},
		{"dead", "nameserver 192.0.2.9\n", Fail, []string{"192.0.2.9 does not answer"}},
		{"one dead", "nameserver 192.0.2.9\nnameserver 192.0.2.1\n", Warn, []string{"192.0.2.9 does not answer", "192.0.2.1 NOERROR", "remove or fix the failing nameserver"}},
		{"none", "search lan\n", Fail, []string{"no nameserver in /etc/resolv.conf"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := liveFileEnv(t, map[string]string{"/etc/resolv.conf": tt.resolv})
			r := runCk(t, netChecks(dnsTo(t, servers)), "network.dns", env)
			expectCk(t, r, tt.status, tt.want...)
		})
	}
	if goodCount.Load() == 0 {
		t.Error("the good server saw no query")
	}
}

// liveFileEnv is an Env over files written to a temporary root whose
// probes run live (against servers the test started on 127.0.0.1).
func liveFileEnv(t *testing.T, files map[string]string) *Env {
	t.Helper()
	te := fakeHost{files: files, goenv: goenv.Env{"GOPROXY": "https://proxy.example.test,direct", "GOSUMDB": "", "CGO_ENABLED": "1"}}
	replayed := te.build(t)
	return &Env{Root: host.At(replayed.Root.Dir()), Go: replayed.Go, Getenv: replayed.Getenv, HTTP: &http.Client{}}
}

func TestDNSQuestionAndRecording(t *testing.T) {
	good, _ := startDNS(t, dnsGood)
	env := liveFileEnv(t, map[string]string{"/etc/resolv.conf": "nameserver 192.0.2.1\noptions edns0 trust-ad\n"})
	r := runCk(t, netChecks(dnsTo(t, map[string]string{"192.0.2.1": good})), "network.dns", env)
	expectCk(t, r, OK, "192.0.2.1 NOERROR")
	if !strings.Contains(strings.Join(r.Details, "\n"), "`options edns0` is ignored by Go") {
		t.Errorf("details %q", r.Details)
	}
	p := env.Probes()
	e, n := p["network.dns:192.0.2.1:edns"], p["network.dns:192.0.2.1:noedns"]
	var ed, nd dnsResult
	if json.Unmarshal(e.Value, &ed) != nil || json.Unmarshal(n.Value, &nd) != nil ||
		ed.Q != "proxy.example.test." || ed.Type != "A" || ed.RCode != "NOERROR" || ed.TC || ed.AN != 1 || ed.UDP != 4096 || nd.UDP != 0 {
		t.Errorf("recorded %s / %s", e.Value, n.Value)
	}
	// Replaying what was recorded gives the same verdict without a server.
	replay := fakeHost{files: map[string]string{"/etc/resolv.conf": "nameserver 192.0.2.1\n"},
		goenv:  goenv.Env{"GOPROXY": "https://proxy.example.test,direct"},
		probes: map[string]ProbeResult{"network.dns:192.0.2.1:edns": e, "network.dns:192.0.2.1:noedns": n}}.build(t)
	expectCk(t, runCk(t, networkChecks(), "network.dns", replay), OK, "192.0.2.1 NOERROR", "udp 4096")
	// A capture without the probes skips.
	noProbes := fakeHost{files: map[string]string{"/etc/resolv.conf": "nameserver 192.0.2.1\n"}}.build(t)
	expectCk(t, runCk(t, networkChecks(), "network.dns", noProbes), Skip, "live host")
}

func TestDNSQuestionChoice(t *testing.T) {
	for _, tt := range []struct {
		goproxy, gosumdb, want string
	}{
		{"https://proxy.example.test,direct", "", "proxy.example.test."},
		{"http://127.0.0.1:3000,https://mirror.example.test", "", "mirror.example.test."},
		{"direct", "", "."},
		{"http://192.168.1.10:3000,direct", "", "."},
		{"off", "off", "."},
	} {
		env := &Env{Go: goenv.Env{"GOPROXY": tt.goproxy, "GOSUMDB": tt.gosumdb}}
		if got, _ := dnsQuestion(env); got != tt.want {
			t.Errorf("GOPROXY=%s: question %q, want %q", tt.goproxy, got, tt.want)
		}
	}
}

func TestResolvedStub(t *testing.T) {
	good, _ := startDNS(t, dnsGood)
	files := map[string]string{
		"/etc/resolv.conf":                 "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n",
		"/run/systemd/resolve/resolv.conf": "nameserver 192.168.1.1\n",
	}
	env := liveFileEnv(t, files)
	r := runCk(t, netChecks(dnsTo(t, map[string]string{"127.0.0.53": good})), "network.resolved", env)
	expectCk(t, r, OK, "systemd-resolved stub 127.0.0.53 NOERROR", "upstream 192.168.1.1")

	env = liveFileEnv(t, files)
	r = runCk(t, netChecks(dnsTo(t, nil)), "network.resolved", env)
	expectCk(t, r, Fail, "nothing answers there", "sudo systemctl restart systemd-resolved")

	env = liveFileEnv(t, map[string]string{"/etc/resolv.conf": "nameserver 192.168.1.1\n"})
	expectCk(t, runCk(t, netChecks(dnsTo(t, nil)), "network.resolved", env), Skip, "not in use")
}

func TestMDNS(t *testing.T) {
	const piOS = "passwd:         files\nhosts:          files mdns4_minimal [NOTFOUND=return] dns\nnetworks:       files\n"
	for _, tt := range []struct {
		nsswitch, cgo string
		status        Status
		want          string
	}{
		{piOS, "0", Warn, "resolve only in cgo builds"},
		{piOS, "1", OK, "CGO_ENABLED=0 binaries (pitstop too) ask DNS"},
		{"hosts: files dns # comment mdns\n", "0", OK, "no mDNS"},
		{"passwd: files\n", "0", OK, "no hosts line"},
	} {
		env := fakeHost{files: map[string]string{"/etc/nsswitch.conf": tt.nsswitch}, goenv: goenv.Env{"CGO_ENABLED": tt.cgo}}.build(t)
		expectCk(t, runCk(t, networkChecks(), "network.mdns", env), tt.status, tt.want)
	}
	env := fakeHost{}.build(t)
	expectCk(t, runCk(t, networkChecks(), "network.mdns", env), OK, "no /etc/nsswitch.conf")
}

func TestParseNsswitchHosts(t *testing.T) {
	srcs, found := parseNsswitchHosts([]byte("hosts: files mdns4_minimal [NOTFOUND=return] dns myhostname\n"))
	if !found || strings.Join(srcs, ",") != "files,mdns4_minimal,dns,myhostname" {
		t.Errorf("got %q %v", srcs, found)
	}
	srcs, _ = parseNsswitchHosts([]byte("hosts: files[!UNAVAIL=return] [ SUCCESS=return ] dns\n"))
	if strings.Join(srcs, ",") != "files,dns" {
		t.Errorf("got %q", srcs)
	}
}

func TestParseResolvConf(t *testing.T) {
	rc := parseResolvConf([]byte("# c\n; c\nnameserver 10.0.0.1\nnameserver fe80::1%eth0\nnameserver not-an-ip\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch a b\noptions ndots:2 edns0\noptions trust-ad\n"))
	if strings.Join(rc.Nameservers, ",") != "10.0.0.1,fe80::1%eth0,10.0.0.2" {
		t.Errorf("nameservers %q", rc.Nameservers)
	}
	if strings.Join(rc.Search, ",") != "a,b" || !rc.hasOption("edns0") || !rc.hasOption("trust-ad") {
		t.Errorf("got %+v", rc)
	}
}

func TestGodebug(t *testing.T) {
	for _, tt := range []struct {
		godebug, cgo, gover string
		status              Status
		want                string
	}{
		{"", "1", "go1.25.4", OK, "neither netdns nor netedns0"},
		{"netdns=go+2,http2client=0", "1", "go1.25.4", OK, "netdns=go+2"},
		{"netdns=bogus", "1", "go1.25.4", Warn, "not a value Go understands"},
		{"netdns=cgo", "0", "go1.25.4", Warn, "ignored by CGO_ENABLED=0"},
		{"netedns0=0", "1", "go1.25.4", OK, "sends no EDNS0"},
		{"netedns0=0", "1", "go1.22.3", Warn, "has no effect"},
		{"netedns0=0", "1", "go1.21.12", OK, "sends no EDNS0"},
	} {
		env := fakeHost{goenv: goenv.Env{"CGO_ENABLED": tt.cgo}, vars: map[string]string{"GODEBUG": tt.godebug},
			probes: map[string]ProbeResult{"go.path": goPath("/usr/local/go/bin/go"),
				"go.version:/usr/local/go/bin/go": rec("go version " + tt.gover + " linux/arm64")}}.build(t)
		expectCk(t, runCk(t, networkChecks(), "network.godebug", env), tt.status, tt.want)
	}
}

// proxyServer answers the toolchain list with status and, when sumdb is
// set, serves /sumdb/<name>/supported and a signed /latest.
func proxyServer(t *testing.T, status int, sumdb *testSumDB) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/golang.org/toolchain/@v/list" && status == http.StatusOK:
			w.Write([]byte("v0.0.1-go1.23.4.linux-arm64\n"))
		case sumdb != nil && r.URL.Path == "/sumdb/"+sumdb.name+"/supported":
			w.WriteHeader(http.StatusOK)
		case sumdb != nil && r.URL.Path == "/sumdb/"+sumdb.name+"/latest":
			w.Write(sumdb.latest)
		case status != http.StatusOK:
			http.Error(w, "test status", status)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

type testSumDB struct {
	name, vkey string
	latest     []byte
}

func newTestSumDB(t *testing.T, name string, signWithOtherKey bool) *testSumDB {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	if signWithOtherKey {
		skey, _, _ = note.GenerateKey(rand.Reader, name)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := note.Sign(&note.Note{Text: string(tlog.FormatTree(tlog.Tree{N: 42, Hash: tlog.RecordHash([]byte("x"))}))}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return &testSumDB{name: name, vkey: vkey, latest: msg}
}

func TestProxyReachability(t *testing.T) {
	good := proxyServer(t, http.StatusOK, nil)
	missing := proxyServer(t, http.StatusNotFound, nil)
	broken := proxyServer(t, http.StatusBadGateway, nil)
	dead := closedURL(t)
	for _, tt := range []struct {
		goproxy string
		status  Status
		want    []string
	}{
		{good.URL + ",direct", OK, []string{good.URL + " HTTP 200 in", "(+1 fallback)"}},
		{broken.URL + "|" + good.URL, Warn, []string{broken.URL + " HTTP 502", good.URL + " HTTP 200", "go env -w GOPROXY=" + good.URL}},
		{dead + "|" + good.URL, Warn, []string{dead + " unreachable", "refused"}},
		{dead + "," + good.URL, Fail, []string{"the go command stops here", "127.0.0.1"}},
		{missing.URL + ",direct", OK, []string{"has no toolchain list (HTTP 404)", "falls back to direct"}},
		{dead + ",off", Fail, []string{"unreachable"}},
		{"direct", Warn, []string{"GOPROXY=direct"}},
		{missing.URL + ",off", Fail, []string{"GOPROXY ends in off"}},
	} {
		t.Run(tt.goproxy, func(t *testing.T) {
			env := &Env{Root: host.At(t.TempDir()), Go: goenv.Env{"GOPROXY": tt.goproxy}, Getenv: func(string) string { return "" }, HTTP: &http.Client{}}
			expectCk(t, runCk(t, networkChecks(), "network.proxy", env), tt.status, tt.want...)
			if tt.goproxy != "direct" && len(env.Probes()) == 0 {
				t.Error("no probe recorded")
			}
		})
	}
	replay := fakeHost{goenv: goenv.Env{"GOPROXY": "https://proxy.example.test,direct"},
		probes: map[string]ProbeResult{"network.proxy:https://proxy.example.test": rec(proxyAnswer{Status: 200, MS: 35})}}.build(t)
	expectCk(t, runCk(t, networkChecks(), "network.proxy", replay), OK, "https://proxy.example.test HTTP 200 in 35 ms")
	replay = fakeHost{goenv: goenv.Env{"GOPROXY": "https://proxy.example.test,direct"}}.build(t)
	expectCk(t, runCk(t, networkChecks(), "network.proxy", replay), Skip, "live host")
}

func TestSumDBReachability(t *testing.T) {
	db := newTestSumDB(t, "sumdb.test", false)
	forged := newTestSumDB(t, "sumdb.test", true)
	withDB := proxyServer(t, http.StatusOK, db)
	withForged := proxyServer(t, http.StatusOK, forged)
	plain := proxyServer(t, http.StatusOK, nil)
	broken := proxyServer(t, http.StatusInternalServerError, nil)
	for _, tt := range []struct {
		name, goproxy, gosumdb string
		status                 Status
		want                   []string
	}{
		{"through proxy", withDB.URL + ",direct", db.vkey, OK, []string{"sumdb.test reachable through " + withDB.URL, "tree size 42 verified"}},
		{"second proxy", plain.URL + "," + withDB.URL, db.vkey, OK, []string{"through " + withDB.URL}},
		{"explicit URL", "off", db.vkey + " " + withDB.URL + "/sumdb/sumdb.test", OK, []string{"at GOSUMDB's URL"}},
		{"forged", withForged.URL, forged.vkey, Fail, []string{"does not match GOSUMDB"}},
		{"proxy error stops", broken.URL + "," + withDB.URL, db.vkey, Fail, []string{"unreachable", "HTTP 500"}},
		{"proxy error falls back", broken.URL + "|" + withDB.URL, db.vkey, OK, []string{"through " + withDB.URL}},
		{"off", withDB.URL, "off", Skip, []string{"GOSUMDB=off"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := &Env{Root: host.At(t.TempDir()), Go: goenv.Env{"GOPROXY": tt.goproxy, "GOSUMDB": tt.gosumdb}, Getenv: func(string) string { return "" }, HTTP: &http.Client{}}
			expectCk(t, runCk(t, networkChecks(), "network.sumdb", env), tt.status, tt.want...)
		})
	}
	// "forged" signs with a different key than the one GOSUMDB names:
	// check the verifier really is the one in GOSUMDB.
	env := &Env{Root: host.At(t.TempDir()), Go: goenv.Env{"GOPROXY": withForged.URL, "GOSUMDB": db.vkey}, HTTP: &http.Client{}}
	expectCk(t, runCk(t, networkChecks(), "network.sumdb", env), Fail, "does not match")
}

func TestDNSQueryLive(t *testing.T) {
	good, _ := startDNS(t, dnsGood)
	r, err := dnsQuery(context.Background(), good, "example.test.", dnsmessage.TypeA, true, time.Second)
	if err != nil || r.RCode != "NOERROR" || r.AN != 1 || r.UDP != 4096 || r.TC || r.Q != "example.test." || r.Type != "A" {
		t.Errorf("got %+v, %v", r, err)
	}
	// What a capture records reads back the same.
	env := fakeHost{probes: map[string]ProbeResult{"q": rec(r)}}.build(t)
	if d, err := Probe(env, "q", func() (dnsResult, error) { return dnsResult{}, nil }); err != nil || d != r {
		t.Errorf("round trip %+v -> %+v, %v", r, d, err)
	}
}

func FuzzParseResolvConf(f *testing.F) {
	for _, s := range []string{"nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n", "nameserver\n", "domain x\n#\n", "options"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rc := parseResolvConf(b)
		if len(rc.Nameservers) > 3 {
			t.Errorf("%d nameservers", len(rc.Nameservers))
		}
		for _, ns := range rc.Nameservers {
			h, _, _ := strings.Cut(ns, "%")
			if net.ParseIP(h) == nil {
				t.Errorf("nameserver %q is not an IP", ns)
			}
		}
	})
}

func FuzzParseNsswitchHosts(f *testing.F) {
	for _, s := range []string{"hosts: files mdns4_minimal [NOTFOUND=return] dns\n", "hosts:[", "hosts: a[b]c]\n", "#hosts: x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		srcs, _ := parseNsswitchHosts(b)
		for _, s := range srcs {
			if s == "" || strings.ContainsAny(s, "[] \t") {
				t.Errorf("bad source %q", s)
			}
		}
	})
}

func FuzzGodebug(f *testing.F) {
	for _, s := range []string{"netdns=go+2,http2client=0", "netedns0=0", "==", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parseGodebug(s)
		validNetdns(s)
	})
}

// TestNetworkFileChecksLive runs the network checks that read only files
// and the environment on this machine (the others would query real
// resolvers and proxies, which tests must not).
func TestNetworkFileChecksLive(t *testing.T) {
	env := liveGoEnv(t)
	for _, id := range []string{"network.mdns", "network.godebug"} {
		r := runCk(t, networkChecks(), id, env)
		if r.Status == Fail || r.Status == Skip || r.Finding == "" {
			t.Errorf("%s on this machine: %s %q", id, r.Status, r.Finding)
		}
	}
}

func TestDNSRootQuestion(t *testing.T) {
	nx, _ := startDNS(t, dnsNXDomain)
	good, _ := startDNS(t, dnsGood)
	env := liveFileEnv(t, map[string]string{"/etc/resolv.conf": "nameserver 192.0.2.5\n"})
	env.Go["GOPROXY"] = "http://192.168.1.10:3000,direct"
	c := dnsTo(t, map[string]string{"192.0.2.5": nx, "192.0.2.1": good})
	expectCk(t, runCk(t, netChecks(c), "network.dns", env), Fail, "NXDOMAIN for the root zone", "recursive resolver")
	var d dnsResult
	if v := env.Probes()["network.dns:192.0.2.5:edns"].Value; json.Unmarshal(v, &d) != nil || d.Q != "." || d.Type != "SOA" {
		t.Errorf("recorded %s, want a root SOA query", v)
	}
	env = liveFileEnv(t, map[string]string{"/etc/resolv.conf": "nameserver 192.0.2.1\n"})
	env.Go["GOPROXY"] = "off"
	expectCk(t, runCk(t, netChecks(c), "network.dns", env), OK, "192.0.2.1 NOERROR")
}

func TestProxyCredentialsRedacted(t *testing.T) {
	var sawAuth atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); ok && u == "pi" && p == "s3cret" {
			sawAuth.Store(true)
		}
		w.Write([]byte("v0.0.1-go1.23.4.linux-arm64\n"))
	}))
	t.Cleanup(srv.Close)
	withCreds := strings.Replace(srv.URL, "http://", "http://pi:s3cret@", 1)
	env := &Env{Root: host.At(t.TempDir()), Go: goenv.Env{"GOPROXY": withCreds + ",direct"}, Getenv: func(string) string { return "" }, HTTP: &http.Client{}}
	var all []string
	for _, c := range append(goChecks(), networkChecks()...) {
		if c.ID != "go.proxy" && c.ID != "network.proxy" {
			continue
		}
		r := runCk(t, []Check{c}, c.ID, env)
		all = append(all, r.Finding, r.Fix)
		all = append(all, r.Details...)
	}
	if _, err := latestGo(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	for name, p := range env.Probes() {
		all = append(all, name, string(p.Value), p.Err)
	}
	if joined := strings.Join(all, "\n"); strings.Contains(joined, "s3cret") || strings.Contains(joined, "pi:") {
		t.Errorf("credentials leaked:\n%s", joined)
	} else if !strings.Contains(joined, "http://redacted@127.0.0.1") {
		t.Errorf("redacted URL not shown:\n%s", joined)
	}
	if !sawAuth.Load() {
		t.Error("the proxy never saw the credentials")
	}
}
