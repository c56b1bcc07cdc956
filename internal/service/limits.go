package service

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of the per-connection limits; see Server.ProgressTimeout and
// Server.MaxConns.
const (
	DefaultProgressTimeout = 30 * time.Second
	DefaultMaxConns        = 512

	// ProgressBytes is the progress a transfer must make within each
	// ProgressTimeout: a request body or a response that moves fewer bytes
	// than this for that long (counting only the time spent waiting on the
	// client) is cut off. With the default timeout that is about 1 KiB/s,
	// far below any working link and far above a trickle.
	ProgressBytes = 32 << 10
)

// errStalled is what a read or write of a stalled transfer returns once its
// budget is spent.
var errStalled = errors.New("no progress from the client within the progress timeout")

// progress accounts the time a transfer has waited on its client since it
// last moved ProgressBytes.
type progress struct {
	timeout time.Duration
	moved   int64         // bytes since the budget was last renewed
	waited  time.Duration // time spent waiting on the client since then
}

// deadline returns when the current wait must end, or false when the
// budget is spent.
func (p *progress) deadline(now time.Time) (time.Time, bool) {
	left := p.timeout - p.waited
	if left <= 0 {
		return time.Time{}, false
	}
	return now.Add(left), true
}

// account records n bytes moved in a wait of d; it reports whether that
// renewed the budget.
func (p *progress) account(n int64, d time.Duration) bool {
	p.moved += n
	p.waited += d
	if p.moved >= ProgressBytes {
		p.moved, p.waited = 0, 0
		return true
	}
	return false
}

// progressConn cuts off a connection whose writes stall: each Write (and
// ReadFrom, which keeps sendfile) runs under a write deadline of the
// budget left. A deadline that passes after the budget was renewed during
// the same call is not the client's fault: the call goes on. Reads are not
// limited here (net/http's idle and header timeouts cover them, and a
// request body is limited by progressBody), since a connection waiting for
// its next request is healthy.
type progressConn struct {
	net.Conn
	w progress // timeout 0: writes are not limited

	// armed is the write deadline set on the connection (UnixNano; 0:
	// none), so that a write re-arms it only when it is too early or too
	// lenient for the budget left: setting a deadline on every write
	// costs more than the write on a fast link.
	armed atomic.Int64

	release func() // gives the listener's slot back; nil without a cap
	once    sync.Once
}

func (c *progressConn) Write(b []byte) (int, error) {
	if c.w.timeout <= 0 {
		return c.Conn.Write(b)
	}
	total := 0
	err := c.limited(func() (int64, bool, error) {
		n, err := c.Conn.Write(b[total:])
		total += n
		return int64(n), total < len(b), err
	})
	return total, err
}

// ReadFrom sends a file with sendfile under the progress rule; anything
// else is copied through Write.
func (c *progressConn) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := c.Conn.(io.ReaderFrom)
	if !ok || (c.w.timeout > 0 && !isFile(r)) {
		return io.Copy(writerOnly{c}, r)
	}
	if c.w.timeout <= 0 {
		return rf.ReadFrom(r)
	}
	var total int64
	err := c.limited(func() (int64, bool, error) {
		// sendfile advances the file's offset (and a LimitedReader's N)
		// by what it sent, so a call cut by the deadline can go on.
		n, err := rf.ReadFrom(r)
		total += n
		return n, true, err
	})
	return total, err
}

// limited runs step under write deadlines of the budget left until it
// succeeds, fails, or is cut by a deadline without renewing the budget.
// step reports the bytes it moved and whether there is more to send.
func (c *progressConn) limited(step func() (n int64, more bool, err error)) error {
	for {
		start := time.Now()
		dl, ok := c.w.deadline(start)
		if !ok {
			return errStalled
		}
		c.arm(dl, c.w.timeout/4)
		n, more, err := step()
		renewed := c.w.account(n, time.Since(start))
		if err != nil && renewed && more && errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		return err
	}
}

// arm makes sure the write deadline is between dl and dl+slack. It sets
// dl+slack: the ideal deadline moves on with the clock between writes, and
// one set at dl would be too early for the next write and set again on
// every write (a timer update each, the most costly part of a small
// response's write).
func (c *progressConn) arm(dl time.Time, slack time.Duration) {
	want := dl.UnixNano()
	if a := c.armed.Load(); a >= want && a <= want+int64(slack) {
		return
	}
	c.SetWriteDeadline(dl.Add(slack))
}

// SetWriteDeadline sets the connection's write deadline and remembers it.
// Under the progress rule, clearing it (as net/http does after every
// request) leaves the one armed: every write sets its own deadline anyway
// when that one is too early, and keeping it spares a timer update on
// both sides of every request of a keep-alive connection.
func (c *progressConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() && c.w.timeout > 0 {
		return nil
	}
	c.remember(t)
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline sets both deadlines and remembers the write one.
func (c *progressConn) SetDeadline(t time.Time) error {
	c.remember(t)
	return c.Conn.SetDeadline(t)
}

func (c *progressConn) remember(t time.Time) {
	if t.IsZero() {
		c.armed.Store(0)
	} else {
		c.armed.Store(t.UnixNano())
	}
}

// isFile reports whether r is what net sends with sendfile: a file, or a
// LimitedReader of one.
func isFile(r io.Reader) bool {
	if lr, ok := r.(*io.LimitedReader); ok {
		r = lr.R
	}
	_, ok := r.(*os.File)
	return ok
}

type writerOnly struct{ io.Writer }

// CloseWrite keeps net/http's graceful close (half-close, then wait) for
// connections it can half-close.
func (c *progressConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// SyscallConn exposes the socket, as *net.TCPConn does.
func (c *progressConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("not a socket")
}

// limitListener accepts at most max connections at once (when max > 0)
// and limits each one's writes by the progress rule (when timeout > 0).
// Accept waits for a slot; the kernel's backlog holds the clients that
// arrive meanwhile.
type limitListener struct {
	net.Listener
	sem     chan struct{} // nil: no cap
	timeout time.Duration
	done    chan struct{}
	once    sync.Once
}

func newLimitListener(ln net.Listener, max int, timeout time.Duration) *limitListener {
	l := &limitListener{Listener: ln, timeout: timeout, done: make(chan struct{})}
	if max > 0 {
		l.sem = make(chan struct{}, max)
	}
	return l
}

func (l *limitListener) Accept() (net.Conn, error) {
	if l.sem != nil {
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		if l.sem != nil {
			<-l.sem
		}
		return nil, err
	}
	pc := &progressConn{Conn: c, w: progress{timeout: l.timeout}}
	if l.sem != nil {
		pc.release = func() { <-l.sem }
	}
	return pc, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Close closes the connection and gives its slot back.
func (c *progressConn) Close() error {
	err := c.Conn.Close()
	if c.release != nil {
		c.once.Do(c.release)
	}
	return err
}

// progressBody limits a request body by the progress rule: each Read runs
// under a read deadline of the budget left, so a body trickling a byte a
// second is cut off, and the handler sees an error (and removes what it was
// writing) instead of holding a descriptor and a temporary file forever.
type progressBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	p    progress
	done bool // EOF or error seen: net/http owns the deadline again
}

func (b *progressBody) Read(buf []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(buf)
	}
	start := time.Now()
	dl, ok := b.p.deadline(start)
	if !ok {
		b.done = true
		return 0, errStalled
	}
	if err := b.rc.SetReadDeadline(dl); err != nil {
		// No deadlines on this connection (not a net.Conn): read as is.
		b.done = true
		return b.ReadCloser.Read(buf)
	}
	n, err := b.ReadCloser.Read(buf)
	b.p.account(int64(n), time.Since(start))
	if err != nil {
		b.done = true
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = errStalled
		}
	}
	return n, err
}
