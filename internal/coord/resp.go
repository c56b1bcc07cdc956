package coord

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A minimal Redis (RESP2) client: the dozen commands the coordinator
// sends. The well-kept clients (go-redis, rueidis) carry thousands of
// command methods that the linker cannot drop from pitstop's binary
// (cobra's templates keep every exported method reachable): go-redis alone
// added 8 MB to the stripped binary, taking it past the 20 MB budget.

// errNil is a nil reply (missing key, SET NX that did not set).
var errNil = errors.New("redis: nil")

// redisError is an error reply from the server (-ERR ...).
type redisError string

func (e redisError) Error() string { return "redis: " + string(e) }

// respOptions is a parsed redis:// URL.
type respOptions struct {
	addr     string
	user     string
	password string
	db       int
	tls      bool
	timeout  time.Duration
}

func parseRedisURL(raw string) (respOptions, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return respOptions{}, err
	}
	o := respOptions{timeout: 2 * time.Second}
	switch u.Scheme {
	case "redis":
	case "rediss":
		o.tls = true
	default:
		return o, fmt.Errorf("scheme %q: want redis:// or rediss://", u.Scheme)
	}
	if u.Host == "" {
		return o, errors.New("no host")
	}
	o.addr = u.Host
	if u.Port() == "" {
		o.addr = net.JoinHostPort(u.Hostname(), "6379")
	}
	if u.User != nil {
		o.user = u.User.Username()
		o.password, _ = u.User.Password()
		if _, set := u.User.Password(); !set {
			// redis://PASSWORD@host is a common spelling.
			o.user, o.password = "", u.User.Username()
		}
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		o.db, err = strconv.Atoi(p)
		if err != nil || o.db < 0 {
			return o, fmt.Errorf("database %q: want a number", p)
		}
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return o, errors.New("query or fragment not supported")
	}
	return o, nil
}

type respConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// respClient is a small pool of connections.
type respClient struct {
	o      respOptions
	mu     sync.Mutex
	idle   []*respConn
	closed bool
}

const maxIdle = 8

func (c *respClient) dial(ctx context.Context) (*respConn, error) {
	d := net.Dialer{Timeout: c.o.timeout}
	var nc net.Conn
	var err error
	if c.o.tls {
		td := tls.Dialer{NetDialer: &d, Config: &tls.Config{ServerName: hostOnly(c.o.addr)}}
		nc, err = td.DialContext(ctx, "tcp", c.o.addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", c.o.addr)
	}
	if err != nil {
		return nil, err
	}
	rc := &respConn{c: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc)}
	if c.o.password != "" {
		args := []any{"AUTH", c.o.password}
		if c.o.user != "" {
			args = []any{"AUTH", c.o.user, c.o.password}
		}
		if _, err := rc.do(ctx, c.o.timeout, args...); err != nil {
			nc.Close()
			return nil, err
		}
	}
	if c.o.db != 0 {
		if _, err := rc.do(ctx, c.o.timeout, "SELECT", c.o.db); err != nil {
			nc.Close()
			return nil, err
		}
	}
	return rc, nil
}

func hostOnly(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// Do sends one command and returns its reply: string, int64, nil (errNil
// as the error) or []any.
func (c *respClient) Do(ctx context.Context, args ...any) (any, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("redis: client closed")
	}
	var rc *respConn
	if n := len(c.idle); n > 0 {
		rc = c.idle[n-1]
		c.idle = c.idle[:n-1]
	}
	c.mu.Unlock()
	if rc == nil {
		var err error
		if rc, err = c.dial(ctx); err != nil {
			return nil, err
		}
	}
	v, err := rc.do(ctx, c.o.timeout, args...)
	var re redisError
	if err != nil && !errors.Is(err, errNil) && !errors.As(err, &re) {
		rc.c.Close() // the connection's state is unknown
		return nil, err
	}
	c.mu.Lock()
	if !c.closed && len(c.idle) < maxIdle {
		c.idle = append(c.idle, rc)
		rc = nil
	}
	c.mu.Unlock()
	if rc != nil {
		rc.c.Close()
	}
	return v, err
}

func (c *respClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, rc := range c.idle {
		rc.c.Close()
	}
	c.idle = nil
	return nil
}

func (rc *respConn) do(ctx context.Context, timeout time.Duration, args ...any) (any, error) {
	dl := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	rc.c.SetDeadline(dl)
	if err := rc.write(args...); err != nil {
		return nil, err
	}
	return rc.read()
}

func (rc *respConn) write(args ...any) error {
	fmt.Fprintf(rc.bw, "*%d\r\n", len(args))
	for _, a := range args {
		var s string
		switch v := a.(type) {
		case string:
			s = v
		case []byte:
			s = string(v)
		case int:
			s = strconv.Itoa(v)
		case int64:
			s = strconv.FormatInt(v, 10)
		case float64:
			s = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			return fmt.Errorf("redis: unsupported argument %T", a)
		}
		fmt.Fprintf(rc.bw, "$%d\r\n%s\r\n", len(s), s)
	}
	return rc.bw.Flush()
}

func (rc *respConn) read() (any, error) {
	line, err := rc.br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("redis: malformed reply %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, redisError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, errNil
		}
		if n > 512<<20 {
			return nil, fmt.Errorf("redis: bulk reply of %d bytes", n)
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(rc.br, b); err != nil {
			return nil, err
		}
		return string(b[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, errNil
		}
		out := make([]any, n)
		for i := range out {
			v, err := rc.read()
			if err != nil && !errors.Is(err, errNil) {
				return nil, err
			}
			out[i] = v // nil for a nil element
		}
		return out, nil
	}
	return nil, fmt.Errorf("redis: unknown reply type %q", line[0])
}

// subscription is a connection in pub/sub mode on one channel; C receives
// a value for each message.
type subscription struct {
	rc *respConn
	C  chan struct{}
}

func (c *respClient) subscribe(ctx context.Context, channel string) (*subscription, error) {
	rc, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := rc.do(ctx, c.o.timeout, "SUBSCRIBE", channel); err != nil {
		rc.c.Close()
		return nil, err
	}
	rc.c.SetDeadline(time.Time{})
	s := &subscription{rc: rc, C: make(chan struct{}, 1)}
	go func() {
		for {
			if _, err := rc.read(); err != nil {
				return
			}
			select {
			case s.C <- struct{}{}:
			default:
			}
		}
	}()
	return s, nil
}

func (s *subscription) Close() { s.rc.c.Close() }
