// Package buildcache is pitstop's shared Go build cache: the GOCACHEPROG
// helper the go command talks to (Prog), its local directory tier (Local),
// the client of a remote cache server (Client) and that server's
// http.Handler (Server).
//
// The go command sends JSON requests on the helper's stdin and reads JSON
// responses from its stdout (the protocol is cmd/go/internal/cacheprog).
// Every object is stored under its OutputID, the sha256 of its bytes, so
// anything read back from a disk or the network is checked against its name
// before its path is handed to the compiler.
package buildcache

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// Cmd is a GOCACHEPROG command name.
type Cmd string

// The commands pitstop's helper announces.
const (
	CmdGet   Cmd = "get"
	CmdPut   Cmd = "put"
	CmdClose Cmd = "close"
)

// Request is one message from the go command (cacheprog.Request). For a
// put with BodySize > 0 the body follows the JSON line as a base64 JSON
// string; ReadRequest leaves it unread for the caller.
type Request struct {
	ID       int64
	Command  Cmd
	ActionID []byte `json:",omitempty"`
	OutputID []byte `json:",omitempty"`
	BodySize int64  `json:",omitempty"`
}

// Response is one message to the go command (cacheprog.Response).
type Response struct {
	ID            int64      `json:"ID"`
	Err           string     `json:",omitempty"`
	KnownCommands []Cmd      `json:",omitempty"`
	Miss          bool       `json:",omitempty"`
	OutputID      []byte     `json:",omitempty"`
	Size          int64      `json:",omitempty"`
	Time          *time.Time `json:",omitempty"`
	DiskPath      string     `json:",omitempty"`
}

// maxRequestLine bounds one JSON request line; real ones are ~200 bytes.
const maxRequestLine = 1 << 20

// RequestReader reads the go command's request stream.
type RequestReader struct {
	br  *bufio.Reader
	dec []byte // decoded put bodies, bodyChunk*3/4 bytes once a put came
}

// NewRequestReader reads requests from r.
func NewRequestReader(r io.Reader) *RequestReader {
	return &RequestReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// ErrProtocol marks a request stream that does not follow the protocol.
var ErrProtocol = errors.New("GOCACHEPROG protocol error")

// Next reads the next request. It returns io.EOF at a clean end of stream.
// For a put with BodySize > 0 the caller must then call Body before the
// next Next.
func (rr *RequestReader) Next() (*Request, error) {
	line, err := rr.line()
	if err != nil {
		return nil, err
	}
	req := new(Request)
	if err := json.Unmarshal(line, req); err != nil {
		return nil, fmt.Errorf("%w: bad request %.80q: %v", ErrProtocol, line, err)
	}
	if req.BodySize < 0 {
		return nil, fmt.Errorf("%w: negative BodySize %d", ErrProtocol, req.BodySize)
	}
	return req, nil
}

// line returns the next non-empty line without its newline.
func (rr *RequestReader) line() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := rr.br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxRequestLine {
			return nil, fmt.Errorf("%w: request line longer than %d bytes", ErrProtocol, maxRequestLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(bytes.TrimSpace(buf)) != 0 {
				return nil, fmt.Errorf("%w: truncated request %.80q", ErrProtocol, buf)
			}
			return nil, err
		}
		if t := bytes.TrimSpace(buf); len(t) > 0 {
			return t, nil
		}
		buf = buf[:0]
	}
}

// Body copies the base64 body of a put request, exactly size bytes once
// decoded, to w. It fails with ErrProtocol if the stream is truncated or
// not base64. If w fails (a full disk), the rest of the body is still read
// so that the stream stays in step, and the error is a *BodyWriteError.
//
// The body is decoded straight from the reader's buffer into one buffer
// the reader keeps, so a put costs no allocation and reaches w in writes
// of up to 48 KiB.
func (rr *RequestReader) Body(w io.Writer, size int64) error {
	sw := &stickyWriter{w: w}
	if err := rr.body(sw, size); err != nil {
		return err
	}
	if sw.err != nil {
		return &BodyWriteError{Err: sw.err}
	}
	return nil
}

// BodyWriteError is a failure to store a put body that was read in full.
type BodyWriteError struct{ Err error }

func (e *BodyWriteError) Error() string { return "storing body: " + e.Err.Error() }
func (e *BodyWriteError) Unwrap() error { return e.Err }

// stickyWriter remembers the first write error and discards from then on.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err == nil {
		_, s.err = s.w.Write(p)
	}
	return len(p), nil
}

// bodyChunk is how many base64 characters body decodes at a time: a
// multiple of 4, at most the reader's buffer.
const bodyChunk = 64 << 10

func (rr *RequestReader) body(w io.Writer, size int64) error {
	// Skip whitespace up to the opening quote.
	for {
		c, err := rr.br.ReadByte()
		if err != nil {
			return fmt.Errorf("%w: body missing: %v", ErrProtocol, noEOF(err))
		}
		if c == '"' {
			break
		}
		if c != '\n' && c != ' ' && c != '\r' && c != '\t' {
			return fmt.Errorf("%w: body does not start with a JSON string", ErrProtocol)
		}
	}
	if rr.dec == nil {
		rr.dec = make([]byte, base64.StdEncoding.DecodedLen(bodyChunk))
	}
	var (
		n      int64
		carry  [4]byte // characters of a quantum split across reads
		nc     int
		padded bool
	)
	// decode decodes whole quanta. A JSON string holds no raw newline,
	// which Decode would skip: fewer bytes than the quanta promise
	// (padding takes at most 2) mean there was one. A backslash (an
	// escape) is not base64, so Decode refuses it.
	decode := func(src []byte) error {
		m, err := base64.StdEncoding.Decode(rr.dec, src)
		if err == nil && (padded || m+2 < len(src)/4*3) {
			err = errors.New("characters after padding, or a raw newline")
		}
		if err != nil {
			return fmt.Errorf("%w: body: %v", ErrProtocol, err)
		}
		padded = src[len(src)-1] == '='
		if n += int64(m); n > size {
			return fmt.Errorf("%w: body is over %d bytes, BodySize says %d", ErrProtocol, n-int64(m), size)
		}
		w.Write(rr.dec[:m])
		return nil
	}
	for {
		if _, err := rr.br.Peek(1); err != nil {
			return fmt.Errorf("%w: body: %v", ErrProtocol, noEOF(err))
		}
		buf, _ := rr.br.Peek(min(rr.br.Buffered(), bodyChunk))
		end := bytes.IndexByte(buf, '"')
		chunk := buf
		if end >= 0 {
			chunk = buf[:end]
		}
		// Complete a quantum left over from the last read, then decode
		// the whole quanta of this one; keep what is left for the next.
		used := 0
		if nc > 0 {
			used = copy(carry[nc:], chunk)
			if nc += used; nc == 4 {
				if err := decode(carry[:]); err != nil {
					return err
				}
				nc = 0
			}
		}
		whole := used + (len(chunk)-used)/4*4
		if whole > used {
			if err := decode(chunk[used:whole]); err != nil {
				return err
			}
		}
		nc += copy(carry[nc:], chunk[whole:])
		if end >= 0 {
			rr.br.Discard(end + 1)
			if nc != 0 {
				return fmt.Errorf("%w: body: base64 of a length that is not a multiple of 4", ErrProtocol)
			}
			break
		}
		rr.br.Discard(len(chunk))
	}
	if n != size {
		return fmt.Errorf("%w: body is %d bytes, BodySize says %d", ErrProtocol, n, size)
	}
	return nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ResponseWriter writes responses; it is safe for concurrent use.
type ResponseWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewResponseWriter writes responses to w.
func NewResponseWriter(w io.Writer) *ResponseWriter {
	return &ResponseWriter{w: w, buf: make([]byte, 0, 512)}
}

// Write sends one response, a JSON line, in one write.
func (rw *ResponseWriter) Write(res *Response) error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	b, err := appendResponse(rw.buf[:0], res)
	if err != nil {
		return err
	}
	rw.buf = b[:0]
	_, err = rw.w.Write(b)
	return err
}

// appendResponse appends res as one JSON line, as json.Encoder would
// (same field names, omitempty rules and formats), without reflection:
// a warm build sends a thousand of these and waits for each.
func appendResponse(b []byte, res *Response) ([]byte, error) {
	b = append(b, `{"ID":`...)
	b = strconv.AppendInt(b, res.ID, 10)
	if res.Err != "" {
		b = append(b, `,"Err":`...)
		b = appendJSONString(b, res.Err)
	}
	if len(res.KnownCommands) > 0 {
		b = append(b, `,"KnownCommands":[`...)
		for i, c := range res.KnownCommands {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, string(c))
		}
		b = append(b, ']')
	}
	if res.Miss {
		b = append(b, `,"Miss":true`...)
	}
	if len(res.OutputID) > 0 {
		b = append(b, `,"OutputID":"`...)
		b = base64.StdEncoding.AppendEncode(b, res.OutputID)
		b = append(b, '"')
	}
	if res.Size != 0 {
		b = append(b, `,"Size":`...)
		b = strconv.AppendInt(b, res.Size, 10)
	}
	if res.Time != nil {
		b = append(b, `,"Time":`...)
		if y := res.Time.Year(); y >= 0 && y <= 9999 {
			b = append(b, '"')
			b = res.Time.AppendFormat(b, time.RFC3339Nano)
			b = append(b, '"')
		} else {
			t, err := res.Time.MarshalJSON()
			if err != nil {
				return nil, err
			}
			b = append(b, t...)
		}
	}
	if res.DiskPath != "" {
		b = append(b, `,"DiskPath":`...)
		b = appendJSONString(b, res.DiskPath)
	}
	return append(b, '}', '\n'), nil
}

// appendJSONString appends s as a JSON string; plain printable ASCII (every
// path pitstop makes) is copied as is, anything else goes through
// encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
