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
	"net"
	"net/http"
	"net/url"
	"os"
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
	"github.com/pitstop-go/pitstop/internal/modfetch"
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

// shortNetErr words a failed request for a finding that names its URL
// already: without net/http's "Get URL:" prefix, a request timeout as "no
// answer within 1.5s".
func shortNetErr(err error) error {
	var te *modfetch.RequestTimeoutError
	if errors.As(err, &te) {
		return fmt.Errorf("no answer within %v", te.Timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// upstreamErr words a failed request for a finding, naming its URL once:
// "URL: HTTP 500" for an answer, "URL: connection refused" for a network
// error.
func upstreamErr(err error) string {
	var he *modfetch.UpstreamError
	if errors.As(err, &he) {
		return fmt.Sprintf("%s: HTTP %d", modfetch.Redact(he.URL), he.Status)
	}
	var te *modfetch.RequestTimeoutError
	if errors.As(err, &te) {
		return te.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return modfetch.Redact(ue.URL) + ": " + ue.Err.Error()
	}
	return modfetch.Redact(err.Error())
}

// proxyAnswer is a GOPROXY entry's answer to GET
// <url>/golang.org/toolchain/@v/list: the network.proxy:<url> probe.
type proxyAnswer struct {
	Status int   `json:"status"` // HTTP status; a file:// proxy answers 200 or 404
	MS     int64 `json:"ms"`
}

// proxyProbe is what one GOPROXY entry answered.
type proxyProbe struct {
	URL string // redacted
	proxyAnswer
	Err error
}

func (p proxyProbe) notFound() bool {
	return p.Err == nil && (p.Status == http.StatusNotFound || p.Status == http.StatusGone)
}

// err is the answer as an error for modfetch.Walk (nil for 200).
func (p proxyProbe) err() error {
	switch {
	case p.Err != nil:
		return p.Err
	case p.Status != http.StatusOK:
		return &modfetch.UpstreamError{URL: p.URL, Status: p.Status}
	}
	return nil
}

func (p proxyProbe) String() string {
	if p.Err != nil {
		return p.URL + " unreachable: " + p.Err.Error()
	}
	return fmt.Sprintf("%s HTTP %d in %d ms", p.URL, p.Status, p.MS)
}

func probeProxy(ctx context.Context, env *Env, u string) proxyProbe {
	pr := proxyProbe{URL: modfetch.Redact(u)}
	pr.proxyAnswer, pr.Err = Probe(env, "network.proxy:"+pr.URL, func() (proxyAnswer, error) {
		t0 := time.Now()
		_, err := env.fetcher().Get(ctx, u, "golang.org/toolchain/@v/list")
		a := proxyAnswer{Status: http.StatusOK, MS: time.Since(t0).Milliseconds()}
		var ue *modfetch.UpstreamError
		switch {
		case errors.As(err, &ue):
			a.Status = ue.Status
		case err != nil:
			return proxyAnswer{}, shortNetErr(err)
		}
		return a, nil
	})
	return pr
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
			details = append(details, p.URL+" (not probed)")
			continue
		}
		details = append(details, probes[i].String())
		if errors.Is(probes[i].Err, ErrNoLiveHost) {
			return Result{Status: Skip, Finding: probes[i].Err.Error(), Details: details}
		}
	}
	// Walk the list as the go command does, on the answers: the entries
	// before the last one tried fell through.
	tried := 0
	werr := modfetch.Walk(proxies, func(p goenv.Proxy) error {
		i := tried
		tried++
		if p.Direct() {
			return nil // the go command goes to the VCS hosts
		}
		return probes[i].err()
	})
	last := tried - 1
	var skipped []string
	degraded := false // an entry failed and the list fell through it
	fellThrough := func(n int) {
		for _, pr := range probes[:n] {
			if pr.notFound() {
				skipped = append(skipped, fmt.Sprintf("%s has no toolchain list (HTTP %d)", pr.URL, pr.Status))
			} else {
				skipped, degraded = append(skipped, pr.String()), true
			}
		}
	}
	switch {
	case errors.Is(werr, modfetch.ErrProxyOff):
		fellThrough(tried)
		return Result{Status: Fail, Finding: joinNonEmpty(skipped, "GOPROXY ends in off: module downloads fail"),
			Fix: "go env -w GOPROXY=<your proxy>,direct", Details: details}
	case werr == nil && proxies[last].Direct():
		if last == 0 {
			return Result{Status: Warn, Finding: "GOPROXY=direct: no proxy to probe; modules come from their VCS hosts",
				Fix: "go env -w GOPROXY=<your proxy>,direct", Details: details}
		}
		fellThrough(last)
		r := Result{Status: OK, Finding: joinNonEmpty(skipped, "falls back to direct"), Details: details}
		if degraded {
			r.Status, r.Fix = Warn, "remove the failing entries from GOPROXY (go env -w GOPROXY=...)"
		}
		return r
	case werr == nil:
		fellThrough(last)
		pr := probes[last]
		if degraded {
			return Result{Status: Warn, Finding: joinNonEmpty(skipped, pr.String()),
				Fix: "remove the failing entries: go env -w GOPROXY=" + strings.Join(urlsFrom(proxies[last:]), ","), Details: details}
		}
		f := pr.String()
		if len(proxies) > last+1 {
			f += fmt.Sprintf(" (+%d fallback)", len(proxies)-last-1)
		}
		return Result{Status: OK, Finding: joinNonEmpty(skipped, f), Details: details}
	case modfetch.FallsThrough(proxies[last], werr):
		// The list ran out.
		fellThrough(tried)
		return Result{Status: Fail, Finding: joinNonEmpty(skipped, "no GOPROXY entry answers"), Fix: "go env -w GOPROXY=<a reachable proxy>,direct", Details: details}
	}
	fellThrough(last)
	pr := probes[last]
	return Result{Status: Fail,
		Finding: joinNonEmpty(skipped, pr.String()+"; with ',' the go command stops here"),
		Fix:     "check the network path to " + hostOf(pr.URL) + ", or go env -w GOPROXY=<a reachable proxy>,direct", Details: details}
}

func urlsFrom(ps []goenv.Proxy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, modfetch.Redact(p.URL))
	}
	return out
}

func joinNonEmpty(before []string, last string) string {
	return strings.Join(append(slices.Clone(before), last), "; ")
}

func hostOf(u string) string {
	if pu, err := url.Parse(u); err == nil && pu.Host != "" {
		return pu.Host
	}
	return u
}

// sumdbAnswer is the checksum database's answer to GET <base>/latest:
// the network.sumdb probe.
type sumdbAnswer struct {
	Base     string `json:"base"` // where the go command reaches it (redacted)
	Via      string `json:"via"`  // the proxy's URL (redacted), "gosumdb" or "direct"
	Status   int    `json:"status"`
	MS       int64  `json:"ms"`
	Tree     int64  `json:"tree,omitempty"` // the signed tree's size
	Verified bool   `json:"verified"`       // signed with GOSUMDB's key
}

func runNetSumDB(ctx context.Context, env *Env) Result {
	db, err := env.Go.SumDB()
	if errors.Is(err, goenv.ErrSumDBOff) {
		return Result{Status: Skip, Finding: "GOSUMDB=off (see go.proxy)"}
	}
	if err != nil {
		return Result{Status: Skip, Finding: "GOSUMDB unusable (see go.proxy): " + err.Error()}
	}
	a, err := Probe(env, "network.sumdb", func() (sumdbAnswer, error) {
		f := env.fetcher()
		base, err := f.SumDBURL(ctx)
		if err != nil {
			return sumdbAnswer{}, errors.New(upstreamErr(err))
		}
		a := sumdbAnswer{Base: modfetch.Redact(base), Via: "direct", Status: http.StatusOK}
		switch {
		case db.URL != "":
			a.Via = "gosumdb"
		case base != "https://"+db.Name:
			a.Via = modfetch.Redact(strings.TrimSuffix(base, "/sumdb/"+db.Name))
		}
		t0 := time.Now()
		body, err := f.Get(ctx, base, "latest")
		a.MS = time.Since(t0).Milliseconds()
		var ue *modfetch.UpstreamError
		switch {
		case errors.As(err, &ue):
			a.Status = ue.Status
			return a, nil
		case err != nil:
			return sumdbAnswer{}, errors.New(upstreamErr(err))
		}
		if vf, err := note.NewVerifier(db.Key); err == nil {
			if n, err := note.Open(body, note.VerifierList(vf)); err == nil {
				a.Verified = true
				if t, err := tlog.ParseTree([]byte(n.Text)); err == nil {
					a.Tree = t.N
				}
			}
		}
		return a, nil
	})
	if errors.Is(err, ErrNoLiveHost) {
		return skipResult(err)
	}
	if err != nil {
		return Result{Status: Fail, Finding: "checksum database " + db.Name + " unreachable: " + err.Error() + " (new modules fail to verify)",
			Fix: "check the network path to the proxy, or set GONOSUMDB for private modules only"}
	}
	details := []string{"base " + a.Base, "via " + a.Via}
	if a.Status != http.StatusOK {
		return Result{Status: Fail, Finding: fmt.Sprintf("checksum database %s answered HTTP %d at %s/latest", db.Name, a.Status, a.Base),
			Fix: "check the proxy's sumdb support, or set GOSUMDB to a reachable database URL", Details: details}
	}
	if !a.Verified {
		return Result{Status: Fail, Finding: fmt.Sprintf("checksum database %s at %s signs its tree with a key that does not match GOSUMDB", db.Name, a.Base),
			Fix: "check GOSUMDB (go env GOSUMDB) and the proxy in between", Details: details}
	}
	how := "directly"
	switch a.Via {
	case "gosumdb":
		how = "at GOSUMDB's URL"
	case "direct":
	default:
		how = "through " + a.Via
	}
	return Result{Status: OK, Finding: fmt.Sprintf("%s reachable %s, tree size %d verified, %d ms", db.Name, how, a.Tree, a.MS), Details: details}
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

// dnsResult is one query's outcome: the network.dns:<ns>:edns and
// network.dns:<ns>:noedns probes.
type dnsResult struct {
	Q     string `json:"q"`    // the name asked
	Type  string `json:"type"` // A, SOA
	RCode string `json:"rcode"`
	TC    bool   `json:"tc"`
	AN    int    `json:"an"`  // answer records
	UDP   int    `json:"udp"` // advertised by the server's OPT record; 0 without one
	MS    int64  `json:"ms"`
	Err   error  `json:"-"`
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
		res.MS = time.Since(t0).Milliseconds()
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
	r, err := Probe(env, "network.dns:"+ns+":"+kind, func() (dnsResult, error) {
		return dnsQuery(ctx, c.addr(ns), name, qtype, edns, c.timeout())
	})
	if err != nil {
		return dnsResult{Q: name, Err: err}
	}
	return r
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
			return Result{Status: Skip, Finding: s.EDNS.Err.Error()}
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
		return Result{Status: Skip, Finding: s.EDNS.Err.Error(), Details: details}
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
