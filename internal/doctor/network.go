package doctor

// The network section: the GOPROXY entries and the checksum database as the
// go command reaches them, each resolver of resolv.conf asked a real query
// with and without EDNS0, the systemd-resolved stub, the nsswitch mdns
// gotcha for .local names, and GODEBUG's netdns/netedns0. Probe names are
// listed in gotool.go.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sync/errgroup"

	"github.com/pitstop-go/pitstop/internal/goenv"
)

// netConfig holds what tests change about the network checks.
type netConfig struct {
	// dnsAddr maps a nameserver address from resolv.conf to the host:port
	// to query; nil means port 53.
	dnsAddr func(ns string) string
	// dnsTimeout bounds one DNS query; 0 means 1.5 s.
	dnsTimeout time.Duration
}

func (c netConfig) addr(ns string) string {
	if c.dnsAddr != nil {
		return c.dnsAddr(ns)
	}
	return net.JoinHostPort(ns, "53")
}

func (c netConfig) timeout() time.Duration {
	if c.dnsTimeout > 0 {
		return c.dnsTimeout
	}
	return 1500 * time.Millisecond
}

// networkChecks returns the network section's checks.
// The network checks keep a whole doctor run under 2 s even when a proxy
// or checksum database does not answer: one HTTP request may take
// netRequestTimeout, a check that makes several netCheckTimeout. A link
// slower than that is reported as unreachable within those bounds.
const (
	netRequestTimeout = 1500 * time.Millisecond
	netCheckTimeout   = 1800 * time.Millisecond
)

func networkChecks() []Check { return netChecks(netConfig{}) }

func netChecks(c netConfig) []Check {
	return []Check{
		{ID: "network.proxy", Section: "network", Title: "GOPROXY reachable", Timeout: netCheckTimeout, Run: runNetProxy},
		{ID: "network.sumdb", Section: "network", Title: "checksum database reachable", Timeout: netCheckTimeout, Run: runNetSumDB},
		{ID: "network.dns", Section: "network", Title: "DNS resolvers (with and without EDNS0)", Timeout: 5 * time.Second,
			Run: func(ctx context.Context, env *Env) Result { return runNetDNS(ctx, env, c) }},
		{ID: "network.resolved", Section: "network", Title: "systemd-resolved stub", Timeout: 5 * time.Second,
			Run: func(ctx context.Context, env *Env) Result { return runNetResolved(ctx, env, c) }},
		{ID: "network.mdns", Section: "network", Title: "nsswitch mdns and .local names", Run: runNetMDNS},
		{ID: "network.godebug", Section: "network", Title: "GODEBUG netdns/netedns0", Run: runNetGodebug},
	}
}

// kvEncode renders probe values as "k=v k=v" (values must not hold spaces).
func kvEncode(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(kv[i] + "=" + strings.ReplaceAll(kv[i+1], " ", "_"))
	}
	return b.String()
}

func kvParse(s string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// getURL fetches u (http, https or file) with a 3 s bound and returns the
// status (200 for a file that exists, 404 for one that does not).
func getURL(ctx context.Context, env *Env, u string, limit int64) (int, []byte, error) {
	if p, ok := strings.CutPrefix(u, "file://"); ok {
		b, err := os.ReadFile(filepath.FromSlash(p))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return http.StatusNotFound, nil, nil
			}
			return 0, nil, err
		}
		return http.StatusOK, b, nil
	}
	ctx, cancel := context.WithTimeout(ctx, netRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := env.httpClient().Do(req)
	if err != nil {
		return 0, nil, shortNetErr(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return resp.StatusCode, nil, shortNetErr(err)
	}
	return resp.StatusCode, b, nil
}

// shortNetErr drops the "Get URL:" prefix the URL is already named.
func shortNetErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// proxyProbe is the recorded answer of one GOPROXY entry.
type proxyProbe struct {
	URL    string
	Status int
	MS     int
	Err    error
}

func (p proxyProbe) good() bool { return p.Err == nil && p.Status == http.StatusOK }
func (p proxyProbe) fallThrough() bool {
	return p.Err == nil && (p.Status == http.StatusNotFound || p.Status == http.StatusGone)
}

func (p proxyProbe) String() string {
	if p.Err != nil {
		return p.URL + " unreachable: " + p.Err.Error()
	}
	return fmt.Sprintf("%s HTTP %d in %d ms", p.URL, p.Status, p.MS)
}

func probeProxy(ctx context.Context, env *Env, u string) proxyProbe {
	v, err := probe(env, "network.proxy:"+redact(u), func() (string, error) {
		t0 := time.Now()
		status, _, err := getURL(ctx, env, u+"/golang.org/toolchain/@v/list", 1<<20)
		if err != nil {
			return "", err
		}
		return kvEncode("status", strconv.Itoa(status), "ms", strconv.FormatInt(time.Since(t0).Milliseconds(), 10)), nil
	})
	if err != nil {
		return proxyProbe{URL: redact(u), Err: err}
	}
	kv := kvParse(v)
	return proxyProbe{URL: redact(u), Status: atoi(kv["status"]), MS: atoi(kv["ms"])}
}

func runNetProxy(ctx context.Context, env *Env) Result {
	proxies, err := env.Go.Proxies()
	if err != nil {
		return Result{Status: Skip, Finding: "GOPROXY unusable (see go.proxy): " + err.Error()}
	}
	probes := make([]proxyProbe, len(proxies))
	g := new(errgroup.Group)
	g.SetLimit(4)
	for i, p := range proxies {
		if p.Off() || p.Direct() {
			continue
		}
		g.Go(func() error {
			probes[i] = probeProxy(ctx, env, p.URL)
			return nil
		})
	}
	g.Wait()
	var details []string
	for i, p := range proxies {
		if p.Off() || p.Direct() {
			details = append(details, redact(p.URL)+" (not probed)")
			continue
		}
		details = append(details, probes[i].String())
		if errors.Is(probes[i].Err, ErrNoLiveHost) {
			return Result{Status: Skip, Finding: ErrNoLiveHost.Error(), Details: details}
		}
	}
	// Walk the list as the go command does.
	var skipped []string
	degraded := false // an entry failed and the list fell through it
	for i, p := range proxies {
		pr := probes[i]
		switch {
		case p.Off():
			return Result{Status: Fail, Finding: joinNonEmpty(skipped, "GOPROXY ends in off: module downloads fail"),
				Fix: "go env -w GOPROXY=<your proxy>,direct", Details: details}
		case p.Direct():
			st := OK
			if degraded {
				st = Warn
			}
			if i == 0 {
				return Result{Status: Warn, Finding: "GOPROXY=direct: no proxy to probe; modules come from their VCS hosts",
					Fix: "go env -w GOPROXY=<your proxy>,direct", Details: details}
			}
			r := Result{Status: st, Finding: joinNonEmpty(skipped, "falls back to direct"), Details: details}
			if degraded {
				r.Fix = "remove the failing entries from GOPROXY (go env -w GOPROXY=...)"
			}
			return r
		case pr.good():
			if degraded {
				return Result{Status: Warn, Finding: joinNonEmpty(skipped, pr.String()),
					Fix: "remove the failing entries: go env -w GOPROXY=" + strings.Join(urlsFrom(proxies[i:]), ","), Details: details}
			}
			f := pr.String()
			if len(proxies) > i+1 {
				f += fmt.Sprintf(" (+%d fallback)", len(proxies)-i-1)
			}
			return Result{Status: OK, Finding: joinNonEmpty(skipped, f), Details: details}
		case pr.fallThrough():
			skipped = append(skipped, fmt.Sprintf("%s has no toolchain list (HTTP %d)", pr.URL, pr.Status))
		case p.FallBackOnError:
			skipped, degraded = append(skipped, pr.String()), true
		default:
			fix := "check the network path to " + hostOf(pr.URL) + ", or go env -w GOPROXY=<a reachable proxy>,direct"
			return Result{Status: Fail,
				Finding: joinNonEmpty(skipped, pr.String()+"; with ',' the go command stops here"),
				Fix:     fix, Details: details}
		}
	}
	return Result{Status: Fail, Finding: joinNonEmpty(skipped, "no GOPROXY entry answers"), Fix: "go env -w GOPROXY=<a reachable proxy>,direct", Details: details}
}

func urlsFrom(ps []goenv.Proxy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, redact(p.URL))
	}
	return out
}

func joinNonEmpty(before []string, last string) string {
	return strings.Join(append(slices.Clone(before), last), "; ")
}

// redact hides the password of a URL with credentials (a GOPROXY entry
// like https://user:token@host): probe names, findings and captures never
// carry it.
func redact(u string) string {
	pu, err := url.Parse(u)
	if err != nil || pu.User == nil {
		return u
	}
	return pu.Redacted()
}

// redactList redacts every entry of a GOPROXY value, keeping separators.
func redactList(s string) string {
	var b strings.Builder
	for s != "" {
		i := strings.IndexAny(s, ",|")
		if i < 0 {
			b.WriteString(redact(s))
			break
		}
		b.WriteString(redact(s[:i]))
		b.WriteByte(s[i])
		s = s[i+1:]
	}
	return b.String()
}

func hostOf(u string) string {
	if pu, err := url.Parse(u); err == nil && pu.Host != "" {
		return pu.Host
	}
	return u
}

// sumdbBase finds where the go command would reach the checksum database:
// GOSUMDB's explicit URL, else the first proxy answering 200 to
// /sumdb/<name>/supported (404/410, or any error after '|', moves on), else
// https://<name> once the list ends or reaches direct/off.
func sumdbBase(ctx context.Context, env *Env, db goenv.SumDB) (base, via string, err error) {
	if db.URL != "" {
		return db.URL, "gosumdb", nil
	}
	proxies, err := env.Go.Proxies()
	if err != nil {
		return "", "", err
	}
	direct := "https://" + db.Name
	for _, p := range proxies {
		if p.Off() || p.Direct() {
			return direct, "direct", nil
		}
		status, _, err := getURL(ctx, env, p.URL+"/sumdb/"+db.Name+"/supported", 1<<16)
		switch {
		case err == nil && status == http.StatusOK:
			return p.URL + "/sumdb/" + db.Name, redact(p.URL), nil
		case err == nil && (status == http.StatusNotFound || status == http.StatusGone):
			continue
		case p.FallBackOnError:
			continue
		case err == nil:
			return "", "", fmt.Errorf("%s/sumdb/%s/supported: HTTP %d", redact(p.URL), db.Name, status)
		default:
			return "", "", fmt.Errorf("%s/sumdb/%s/supported: %v", redact(p.URL), db.Name, err)
		}
	}
	return direct, "direct", nil
}

func runNetSumDB(ctx context.Context, env *Env) Result {
	db, err := env.Go.SumDB()
	if errors.Is(err, goenv.ErrSumDBOff) {
		return Result{Status: Skip, Finding: "GOSUMDB=off (see go.proxy)"}
	}
	if err != nil {
		return Result{Status: Skip, Finding: "GOSUMDB unusable (see go.proxy): " + err.Error()}
	}
	v, err := probe(env, "network.sumdb", func() (string, error) {
		base, via, err := sumdbBase(ctx, env, db)
		if err != nil {
			return "", err
		}
		t0 := time.Now()
		status, body, err := getURL(ctx, env, base+"/latest", 1<<16)
		if err != nil {
			return "", fmt.Errorf("%s/latest: %v", redact(base), err)
		}
		kv := []string{"base", redact(base), "via", via, "status", strconv.Itoa(status), "ms", strconv.FormatInt(time.Since(t0).Milliseconds(), 10)}
		if status == http.StatusOK {
			verified, tree := "no", "0"
			if vf, err := note.NewVerifier(db.Key); err == nil {
				if n, err := note.Open(body, note.VerifierList(vf)); err == nil {
					verified = "yes"
					if t, err := tlog.ParseTree([]byte(n.Text)); err == nil {
						tree = strconv.FormatInt(t.N, 10)
					}
				}
			}
			kv = append(kv, "tree", tree, "verified", verified)
		}
		return kvEncode(kv...), nil
	})
	if errors.Is(err, ErrNoLiveHost) {
		return skipResult(err)
	}
	if err != nil {
		return Result{Status: Fail, Finding: "checksum database " + db.Name + " unreachable: " + err.Error() + " (new modules fail to verify)",
			Fix: "check the network path to the proxy, or set GONOSUMDB for private modules only"}
	}
	kv := kvParse(v)
	details := []string{"base " + kv["base"], "via " + kv["via"]}
	if kv["status"] != "200" {
		return Result{Status: Fail, Finding: fmt.Sprintf("checksum database %s answered HTTP %s at %s/latest", db.Name, kv["status"], kv["base"]),
			Fix: "check the proxy's sumdb support, or set GOSUMDB to a reachable database URL", Details: details}
	}
	if kv["verified"] != "yes" {
		return Result{Status: Fail, Finding: fmt.Sprintf("checksum database %s at %s signs its tree with a key that does not match GOSUMDB", db.Name, kv["base"]),
			Fix: "check GOSUMDB (go env GOSUMDB) and the proxy in between", Details: details}
	}
	how := "directly"
	switch kv["via"] {
	case "gosumdb":
		how = "at GOSUMDB's URL"
	case "direct":
	default:
		how = "through " + kv["via"]
	}
	return Result{Status: OK, Finding: fmt.Sprintf("%s reachable %s, tree size %s verified, %s ms", db.Name, how, kv["tree"], kv["ms"]), Details: details}
}

// resolvConf is what matters of /etc/resolv.conf.
type resolvConf struct {
	Nameservers []string
	Search      []string
	Options     []string
}

func (r resolvConf) hasOption(o string) bool { return slices.Contains(r.Options, o) }

// parseResolvConf parses resolv.conf as Go's resolver does: nameserver
// (IP addresses only), search/domain and options lines; '#' and ';' start
// comments.
func parseResolvConf(b []byte) resolvConf {
	var rc resolvConf
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if len(line) > 0 && (line[0] == '#' || line[0] == ';') {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 1 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 && len(rc.Nameservers) < 3 {
				ip := f[1]
				host, _, _ := strings.Cut(ip, "%")
				if net.ParseIP(host) != nil {
					rc.Nameservers = append(rc.Nameservers, ip)
				}
			}
		case "domain":
			if len(f) > 1 {
				rc.Search = []string{f[1]}
			}
		case "search":
			rc.Search = slices.Clone(f[1:])
		case "options":
			rc.Options = append(rc.Options, f[1:]...)
		}
	}
	return rc
}

// dnsResult is one query's outcome.
type dnsResult struct {
	Q      string
	Type   string
	RCode  string
	TC     bool
	AN     int
	UDP    int // advertised by the server's OPT record; 0 without one
	MS     int
	Err    error
	Probed bool
}

func (d dnsResult) encode() string {
	tc := "0"
	if d.TC {
		tc = "1"
	}
	return kvEncode("q", d.Q, "type", d.Type, "rcode", d.RCode, "tc", tc, "an", strconv.Itoa(d.AN), "udp", strconv.Itoa(d.UDP), "ms", strconv.Itoa(d.MS))
}

func decodeDNSResult(v string) dnsResult {
	kv := kvParse(v)
	return dnsResult{Q: kv["q"], Type: kv["type"], RCode: kv["rcode"], TC: kv["tc"] == "1",
		AN: atoi(kv["an"]), UDP: atoi(kv["udp"]), MS: atoi(kv["ms"]), Probed: true}
}

func (d dnsResult) String() string {
	if d.Err != nil {
		return d.Err.Error()
	}
	s := fmt.Sprintf("%s %d answers %d ms", d.RCode, d.AN, d.MS)
	if d.TC {
		s += " truncated"
	}
	if d.UDP > 0 {
		s += fmt.Sprintf(" udp %d", d.UDP)
	}
	return s
}

var rcodeNames = map[dnsmessage.RCode]string{
	dnsmessage.RCodeSuccess:        "NOERROR",
	dnsmessage.RCodeFormatError:    "FORMERR",
	dnsmessage.RCodeServerFailure:  "SERVFAIL",
	dnsmessage.RCodeNameError:      "NXDOMAIN",
	dnsmessage.RCodeNotImplemented: "NOTIMP",
	dnsmessage.RCodeRefused:        "REFUSED",
	16:                             "BADVERS",
}

func rcodeName(r dnsmessage.RCode) string {
	if s, ok := rcodeNames[r]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(int(r))
}

// ednsUDPSize is what Go's resolver advertises (net/dnsclient_unix.go).
const ednsUDPSize = 1232

// dnsQuery sends one query over UDP to addr and parses the answer.
func dnsQuery(ctx context.Context, addr, name string, qtype dnsmessage.Type, edns bool, timeout time.Duration) (dnsResult, error) {
	res := dnsResult{Q: name, Type: strings.TrimPrefix(qtype.String(), "Type")}
	qn, err := dnsmessage.NewName(name)
	if err != nil {
		return res, err
	}
	var idb [2]byte
	rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	b := dnsmessage.NewBuilder(make([]byte, 2, 514), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return res, err
	}
	if err := b.Question(dnsmessage.Question{Name: qn, Type: qtype, Class: dnsmessage.ClassINET}); err != nil {
		return res, err
	}
	if edns {
		if err := b.StartAdditionals(); err != nil {
			return res, err
		}
		var rh dnsmessage.ResourceHeader
		if err := rh.SetEDNS0(ednsUDPSize, dnsmessage.RCodeSuccess, false); err != nil {
			return res, err
		}
		if err := b.OPTResource(rh, dnsmessage.OPTResource{}); err != nil {
			return res, err
		}
	}
	msg, err := b.Finish()
	if err != nil {
		return res, err
	}
	msg = msg[2:]
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	t0 := time.Now()
	if _, err := conn.Write(msg); err != nil {
		return res, err
	}
	buf := make([]byte, 65535)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return res, fmt.Errorf("no answer in %v", timeout)
			}
			return res, err
		}
		res.MS = int(time.Since(t0).Milliseconds())
		if ok := parseDNSAnswer(buf[:n], id, &res); ok {
			return res, nil
		}
		// Not our answer (wrong ID): keep waiting.
	}
}

// parseDNSAnswer fills res from a reply to query id; false when the packet
// is not that reply.
func parseDNSAnswer(pkt []byte, id uint16, res *dnsResult) bool {
	var p dnsmessage.Parser
	h, err := p.Start(pkt)
	if err != nil || !h.Response || h.ID != id {
		return false
	}
	res.RCode, res.TC = rcodeName(h.RCode), h.Truncated
	if err := p.SkipAllQuestions(); err != nil {
		return true
	}
	for {
		_, err := p.AnswerHeader()
		if err != nil {
			break
		}
		if p.SkipAnswer() != nil {
			return true
		}
		res.AN++
	}
	if p.SkipAllAuthorities() != nil {
		return true
	}
	for {
		rh, err := p.AdditionalHeader()
		if err != nil {
			break
		}
		if rh.Type == dnsmessage.TypeOPT {
			res.UDP = int(rh.Class)
			res.RCode = rcodeName(rh.ExtendedRCode(h.RCode))
		}
		if p.SkipAdditional() != nil {
			break
		}
	}
	return true
}

// dnsQuestion picks the name a Go user's machine must resolve: the first
// GOPROXY host given by name; without one (direct, off, an IP address),
// the root zone's SOA, which tests the resolver and nothing else.
func dnsQuestion(env *Env) (string, dnsmessage.Type) {
	if ps, err := env.Go.Proxies(); err == nil {
		for _, p := range ps {
			if u, err := url.Parse(p.URL); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
				if h := u.Hostname(); h != "" && net.ParseIP(h) == nil {
					if n, err := dnsmessage.NewName(strings.TrimSuffix(h, ".") + "."); err == nil {
						return n.String(), dnsmessage.TypeA
					}
				}
			}
		}
	}
	return ".", dnsmessage.TypeSOA
}

// serverDNS is both queries to one nameserver.
type serverDNS struct {
	NS          string
	EDNS, Plain dnsResult
}

func probeDNS(ctx context.Context, env *Env, c netConfig, ns string, edns bool) dnsResult {
	name, qtype := dnsQuestion(env)
	kind := "noedns"
	if edns {
		kind = "edns"
	}
	v, err := probe(env, "network.dns:"+ns+":"+kind, func() (string, error) {
		r, err := dnsQuery(ctx, c.addr(ns), name, qtype, edns, c.timeout())
		if err != nil {
			return "", err
		}
		return r.encode(), nil
	})
	if err != nil {
		return dnsResult{Q: name, Err: err}
	}
	return decodeDNSResult(v)
}

func queryServers(ctx context.Context, env *Env, c netConfig, servers []string) []serverDNS {
	out := make([]serverDNS, len(servers))
	var wg sync.WaitGroup
	for i, ns := range servers {
		out[i].NS = ns
		wg.Add(2)
		go func() { defer wg.Done(); out[i].EDNS = probeDNS(ctx, env, c, ns, true) }()
		go func() { defer wg.Done(); out[i].Plain = probeDNS(ctx, env, c, ns, false) }()
	}
	wg.Wait()
	return out
}

// judge rates one server's answers: status, finding, fix.
func (s serverDNS) judge() (Status, string, string) {
	e, p := s.EDNS, s.Plain
	badEDNS := e.Err != nil || e.RCode == "FORMERR" || e.RCode == "NOTIMP" || e.RCode == "BADVERS" ||
		(e.RCode == "SERVFAIL" && p.Err == nil && p.RCode == "NOERROR")
	const ednsFix = "export GODEBUG=netedns0=0 (Go 1.21.12/1.22.5 and later), or use a resolver that handles EDNS0"
	switch {
	case e.Err != nil && p.Err != nil:
		return Fail, fmt.Sprintf("%s does not answer (%v)", s.NS, e.Err), "check the resolvers in /etc/resolv.conf and the network path to " + s.NS
	case badEDNS && p.Err == nil && p.RCode == "NOERROR":
		return Warn, fmt.Sprintf("%s answers plain queries but not EDNS0 ones (%s), which Go's resolver sends", s.NS, e.String()), ednsFix
	case e.Err == nil && e.RCode == "NXDOMAIN" && e.Q == ".":
		return Fail, fmt.Sprintf("%s answers NXDOMAIN for the root zone: it is not a full recursive resolver", s.NS), "point /etc/resolv.conf at a recursive resolver (your router or ISP's)"
	case e.Err == nil && e.RCode == "NXDOMAIN":
		return Fail, fmt.Sprintf("%s says %s does not exist", s.NS, e.Q), "check the host in GOPROXY (go env GOPROXY) and that " + s.NS + " can resolve it"
	case e.Err == nil && e.RCode != "NOERROR":
		return Fail, fmt.Sprintf("%s answers %s for %s", s.NS, e.RCode, e.Q), "check the resolver " + s.NS + " (or replace it in /etc/resolv.conf)"
	case e.Err != nil:
		return Warn, fmt.Sprintf("%s answers plain queries but not EDNS0 ones (%v), which Go's resolver sends", s.NS, e.Err), ednsFix
	case e.TC:
		return Warn, fmt.Sprintf("%s truncates a small EDNS0 answer over UDP: every lookup retries over TCP", s.NS), "make sure TCP port 53 to " + s.NS + " works, or use another resolver"
	case e.UDP == 0:
		return OK, fmt.Sprintf("%s %s, %d ms (no EDNS0 in replies)", s.NS, e.RCode, e.MS), ""
	}
	return OK, fmt.Sprintf("%s %s, %d ms, EDNS0 udp %d", s.NS, e.RCode, e.MS, e.UDP), ""
}

func (s serverDNS) details() []string {
	return []string{
		fmt.Sprintf("%s with EDNS0 (udp %d): %s", s.NS, ednsUDPSize, s.EDNS),
		fmt.Sprintf("%s without EDNS0: %s", s.NS, s.Plain),
	}
}

func readResolvConf(env *Env) (resolvConf, bool, error) {
	b, err := env.Root.ReadFile("/etc/resolv.conf")
	if errors.Is(err, os.ErrNotExist) {
		return resolvConf{}, false, nil
	}
	if err != nil {
		return resolvConf{}, false, err
	}
	return parseResolvConf(b), true, nil
}

func runNetDNS(ctx context.Context, env *Env, c netConfig) Result {
	rc, exists, err := readResolvConf(env)
	if err != nil {
		return Result{Status: Fail, Finding: "cannot read /etc/resolv.conf: " + err.Error(), Fix: "sudo chmod 644 /etc/resolv.conf"}
	}
	servers := rc.Nameservers
	var pre []string
	if len(servers) == 0 {
		servers = []string{"127.0.0.1", "::1"}
		if exists {
			pre = append(pre, "no nameserver in /etc/resolv.conf (Go uses 127.0.0.1 and ::1)")
		} else {
			pre = append(pre, "no /etc/resolv.conf (Go uses 127.0.0.1 and ::1)")
		}
	}
	res := queryServers(ctx, env, c, servers)
	var details []string
	if len(rc.Options) > 0 {
		details = append(details, "options "+strings.Join(rc.Options, " "))
		if rc.hasOption("edns0") {
			details = append(details, "`options edns0` is ignored by Go, which always sends EDNS0 (GODEBUG=netedns0=0 turns it off)")
		}
	}
	status, failed := OK, 0
	var notes []string
	fix := ""
	for _, s := range res {
		details = append(details, s.details()...)
		if errors.Is(s.EDNS.Err, ErrNoLiveHost) {
			return Result{Status: Skip, Finding: ErrNoLiveHost.Error()}
		}
		st, note, f := s.judge()
		notes = append(notes, note)
		if st == Fail {
			failed++
		}
		if st != OK && fix == "" {
			fix = f
		}
		if worse(st, status) {
			status = st
		}
	}
	if failed > 0 && failed < len(res) {
		status = Warn
		fix = "remove or fix the failing nameserver in /etc/resolv.conf: lookups wait for it or get wrong answers"
	}
	if len(pre) > 0 && status == OK {
		status = Warn
		fix = "add a nameserver line to /etc/resolv.conf"
	}
	return Result{Status: status, Finding: strings.Join(append(pre, notes...), "; "), Fix: fix, Details: details}
}

// resolvedStub is systemd-resolved's stub listener.
const resolvedStub = "127.0.0.53"

func runNetResolved(ctx context.Context, env *Env, c netConfig) Result {
	rc, _, err := readResolvConf(env)
	if err != nil {
		return Result{Status: Skip, Finding: "cannot read /etc/resolv.conf: " + err.Error()}
	}
	if !slices.Contains(rc.Nameservers, resolvedStub) && !slices.Contains(rc.Nameservers, "127.0.0.54") {
		return Result{Status: Skip, Finding: "systemd-resolved stub not in use (nameservers: " + strings.Join(rc.Nameservers, " ") + ")"}
	}
	var details []string
	if l, err := env.Root.Readlink("/etc/resolv.conf"); err == nil {
		details = append(details, "/etc/resolv.conf -> "+l)
	}
	upstream := "unknown"
	if b, err := env.Root.ReadFile("/run/systemd/resolve/resolv.conf"); err == nil {
		if up := parseResolvConf(b).Nameservers; len(up) > 0 {
			upstream = strings.Join(up, " ")
		} else {
			upstream = "none"
		}
	}
	details = append(details, "upstream servers: "+upstream)
	ns := resolvedStub
	if !slices.Contains(rc.Nameservers, ns) {
		ns = "127.0.0.54"
	}
	s := queryServers(ctx, env, c, []string{ns})[0]
	details = append(details, s.details()...)
	if errors.Is(s.EDNS.Err, ErrNoLiveHost) {
		return Result{Status: Skip, Finding: ErrNoLiveHost.Error(), Details: details}
	}
	st, note, _ := s.judge()
	switch {
	case st == Fail && s.EDNS.Err != nil && s.Plain.Err != nil:
		return Result{Status: Fail, Finding: "resolv.conf points at the systemd-resolved stub " + ns + " but nothing answers there",
			Fix: "sudo systemctl restart systemd-resolved", Details: details}
	case upstream == "none" && st != OK:
		return Result{Status: Fail, Finding: "systemd-resolved has no upstream DNS server: " + note,
			Fix: "resolvectl status (then set DNS= in /etc/systemd/resolved.conf)", Details: details}
	case st != OK:
		return Result{Status: st, Finding: "systemd-resolved stub: " + note + " (upstream " + upstream + ")",
			Fix: "resolvectl status; sudo systemctl restart systemd-resolved", Details: details}
	}
	return Result{Status: OK, Finding: "systemd-resolved stub " + note + "; upstream " + upstream, Details: details}
}

// parseNsswitchHosts returns the sources of nsswitch.conf's hosts line
// ("files", "mdns4_minimal", "dns", ...), without [action] items, and
// whether a hosts line exists.
func parseNsswitchHosts(b []byte) ([]string, bool) {
	var srcs []string
	found := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		db, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(db) != "hosts" {
			continue
		}
		found, srcs = true, nil
		inAction := false
		for _, f := range strings.Fields(rest) {
			for f != "" {
				switch {
				case inAction:
					if i := strings.IndexByte(f, ']'); i >= 0 {
						inAction, f = false, f[i+1:]
					} else {
						f = ""
					}
				case f[0] == '[':
					inAction, f = true, f[1:]
				case f[0] == ']':
					f = f[1:]
				default:
					i := strings.IndexAny(f, "[]")
					if i < 0 {
						i = len(f)
					}
					srcs = append(srcs, f[:i])
					f = f[i:]
				}
			}
		}
	}
	return srcs, found
}

func runNetMDNS(ctx context.Context, env *Env) Result {
	b, err := env.Root.ReadFile("/etc/nsswitch.conf")
	if errors.Is(err, os.ErrNotExist) {
		return Result{Status: OK, Finding: "no /etc/nsswitch.conf: Go and libc both use DNS then /etc/hosts; no mDNS"}
	}
	if err != nil {
		return Result{Status: Skip, Finding: "cannot read /etc/nsswitch.conf: " + err.Error()}
	}
	srcs, found := parseNsswitchHosts(b)
	if !found {
		return Result{Status: OK, Finding: "nsswitch.conf has no hosts line: no mDNS"}
	}
	line := "hosts: " + strings.Join(srcs, " ")
	var mdns string
	for _, s := range srcs {
		if strings.HasPrefix(s, "mdns") {
			mdns = s
			break
		}
	}
	if mdns == "" {
		return Result{Status: OK, Finding: line + ": no mDNS, .local names resolve the same in every build"}
	}
	details := []string{line}
	if _, err := env.Root.ReadFile("/etc/mdns.allow"); err == nil {
		details = append(details, "/etc/mdns.allow exists: cgo builds hand every name to libc")
	}
	if env.Go.Get("CGO_ENABLED") == "0" {
		return Result{Status: Warn,
			Finding: line + ": .local names (raspberrypi.local) resolve only in cgo builds; with CGO_ENABLED=0 Go asks DNS and fails",
			Fix:     "use the IP or add the name to /etc/hosts, or build with CGO_ENABLED=1 (needs gcc)", Details: details}
	}
	return Result{Status: OK,
		Finding: line + ": .local names resolve in cgo builds only; CGO_ENABLED=0 binaries (pitstop too) ask DNS for them", Details: details}
}

// parseGodebug splits GODEBUG's "k=v,k=v".
func parseGodebug(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && k != "" {
			m[k] = v
		}
	}
	return m
}

// validNetdns reports whether v is a netdns value Go understands: go, cgo,
// a debug level 1 or 2, or mode+level.
func validNetdns(v string) bool {
	mode, level, plus := strings.Cut(v, "+")
	okMode := func(s string) bool { return s == "go" || s == "cgo" || s == "1" || s == "2" }
	if !plus {
		return okMode(mode)
	}
	return (mode == "go" || mode == "cgo") && (level == "1" || level == "2")
}

func runNetGodebug(ctx context.Context, env *Env) Result {
	raw := env.getenv("GODEBUG")
	gd := parseGodebug(raw)
	details := []string{"GODEBUG=" + raw}
	netdns, hasDNS := gd["netdns"]
	edns, hasEDNS := gd["netedns0"]
	var notes []string
	status, fix := OK, ""
	if hasDNS {
		switch {
		case !validNetdns(netdns):
			status, fix = Warn, "export GODEBUG=netdns=go (or cgo); other values are ignored"
			notes = append(notes, fmt.Sprintf("netdns=%s is not a value Go understands", netdns))
		case strings.HasPrefix(netdns, "cgo") && env.Go.Get("CGO_ENABLED") == "0":
			status, fix = Warn, "build with CGO_ENABLED=1 or drop netdns=cgo"
			notes = append(notes, "netdns=cgo is ignored by CGO_ENABLED=0 binaries (they always use Go's resolver)")
		default:
			notes = append(notes, "netdns="+netdns)
		}
	}
	if hasEDNS {
		old := false
		if gos, r := winner(env); r == nil {
			if gv, err := goVersionOf(ctx, env, gos[0].Path); err == nil && gv.Version != "" {
				old = goBefore(gv.Version, "go1.21.12") || (goMinor(gv.Version) == 22 && goBefore(gv.Version, "go1.22.5"))
				details = append(details, "go command: "+gv.Version)
			}
		}
		switch {
		case edns != "0" && edns != "1":
			if status == OK {
				status, fix = Warn, "export GODEBUG=netedns0=0 (or remove it)"
			}
			notes = append(notes, "netedns0="+edns+" is not 0 or 1")
		case old && edns == "0":
			if status == OK {
				status, fix = Warn, "pitstop go install latest"
			}
			notes = append(notes, "netedns0=0 has no effect on binaries built by this Go (needs 1.21.12 or 1.22.5 and later)")
		case edns == "0":
			notes = append(notes, "netedns0=0: Go's resolver sends no EDNS0")
		default:
			notes = append(notes, "netedns0="+edns)
		}
	}
	if len(notes) == 0 {
		return Result{Status: OK, Finding: "GODEBUG sets neither netdns nor netedns0: Go's own resolver, with EDNS0 (udp 1232)", Details: details}
	}
	return Result{Status: status, Finding: strings.Join(notes, "; "), Fix: fix, Details: details}
}
