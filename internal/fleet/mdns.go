package fleet

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/mdns"
)

// Service is the DNS-SD service type serve announces.
const Service = "_pitstop._tcp"

// Announcement is what serve announces: its port, the addresses it
// answers on, and TXT records (api, version, features, tls).
type Announcement struct {
	Instance string
	Port     int
	IPs      []net.IP
	TXT      []string
}

// TXT builds the TXT records of a server: api, version, features and, for
// a TLS server, the SHA-256 fingerprint of its certificate (hex).
func TXT(id Identity, tlsFingerprint string) []string {
	txt := []string{"api=" + id.API, "version=" + id.Version, "features=" + strings.Join(id.Features, ",")}
	if tlsFingerprint != "" {
		txt = append(txt, "tls=sha256:"+tlsFingerprint)
	}
	return txt
}

// LANAddrs are the IPv4 addresses of the up, multicast-capable,
// non-loopback interfaces: where a server listening on every interface
// is reached.
func LANAddrs() []net.IP {
	var ips []net.IP
	ifs, _ := net.Interfaces()
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagMulticast == 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				ips = append(ips, n.IP.To4())
			}
		}
	}
	return ips
}

// quiet is the library's logger: its messages are about single packets.
var quiet = log.New(io.Discard, "", 0)

// Announce answers DNS-SD queries for a until ctx is done.
func Announce(ctx context.Context, a Announcement) error {
	host, _ := os.Hostname()
	if host == "" {
		host = "pitstop"
	}
	host = strings.Split(host, ".")[0]
	if a.Instance == "" {
		a.Instance = fmt.Sprintf("pitstop on %s port %d", host, a.Port)
	}
	svc, err := mdns.NewMDNSService(a.Instance, Service, "local.", host+".local.", a.Port, a.IPs, a.TXT)
	if err != nil {
		return err
	}
	srv, err := mdns.NewServer(&mdns.Config{Zone: svc, Logger: quiet})
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		srv.Shutdown()
	}()
	return nil
}

// Found is a server a browse found.
type Found struct {
	Instance string
	URL      string
	TXT      map[string]string
}

// Browse looks for pitstop servers for d and returns those that announce
// this API, sorted by URL.
func Browse(ctx context.Context, d time.Duration) ([]Found, error) {
	entries := make(chan *mdns.ServiceEntry, 64)
	seen := map[string]Found{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range entries {
			txt := map[string]string{}
			for _, f := range e.InfoFields {
				k, v, _ := strings.Cut(f, "=")
				txt[k] = v
			}
			if txt["api"] != API || e.AddrV4 == nil || e.Port == 0 {
				continue
			}
			scheme := "http"
			if strings.HasPrefix(txt["tls"], "sha256:") {
				scheme = "https"
			}
			u := fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(e.AddrV4.String(), fmt.Sprint(e.Port)))
			seen[u] = Found{Instance: e.Name, URL: u, TXT: txt}
		}
	}()
	err := mdns.QueryContext(ctx, &mdns.QueryParam{
		Service: Service, Domain: "local", Timeout: d, Entries: entries,
		DisableIPv6: true, Logger: quiet,
	})
	close(entries)
	<-done
	if err != nil {
		return nil, fmt.Errorf("DNS-SD browse for %s: %v", Service, err)
	}
	var out []Found
	for _, f := range seen {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].URL < out[j].URL })
	return out, nil
}
