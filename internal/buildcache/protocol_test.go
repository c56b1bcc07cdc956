package buildcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// encodeRequest writes req the way cmd/go/internal/cache/prog.go does: the
// JSON object (json.Encoder adds a newline), another newline, then for a
// body a base64 JSON string and a newline.
func encodeRequest(t testing.TB, w *bytes.Buffer, req Request, body []byte) {
	if err := json.NewEncoder(w).Encode(req); err != nil {
		t.Fatal(err)
	}
	w.WriteByte('\n')
	if len(body) > 0 {
		w.WriteByte('"')
		w.WriteString(base64.StdEncoding.EncodeToString(body))
		w.WriteString("\"\n")
	}
}

func TestRequestReader(t *testing.T) {
	var b bytes.Buffer
	a := bytes.Repeat([]byte{1}, 32)
	bodies := [][]byte{[]byte("x"), []byte("hello, world"), bytes.Repeat([]byte("0123456789"), 100000), nil}
	for i, body := range bodies {
		sum := sha256.Sum256(body)
		encodeRequest(t, &b, Request{ID: int64(i + 1), Command: CmdPut, ActionID: a, OutputID: sum[:], BodySize: int64(len(body))}, body)
	}
	encodeRequest(t, &b, Request{ID: 9, Command: CmdGet, ActionID: a}, nil)
	encodeRequest(t, &b, Request{ID: 10, Command: CmdClose}, nil)

	rr := NewRequestReader(&b)
	for i, body := range bodies {
		req, err := rr.Next()
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if req.ID != int64(i+1) || req.Command != CmdPut || req.BodySize != int64(len(body)) {
			t.Fatalf("request %d = %+v", i, req)
		}
		var got bytes.Buffer
		if req.BodySize > 0 {
			if err := rr.Body(&got, req.BodySize); err != nil {
				t.Fatalf("body %d: %v", i, err)
			}
		}
		if !bytes.Equal(got.Bytes(), body) {
			t.Fatalf("body %d: got %d bytes, want %d", i, got.Len(), len(body))
		}
	}
	for _, want := range []Cmd{CmdGet, CmdClose} {
		req, err := rr.Next()
		if err != nil || req.Command != want {
			t.Fatalf("got %+v, %v; want %s", req, err, want)
		}
	}
	if _, err := rr.Next(); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}
}

func TestRequestReaderBad(t *testing.T) {
	for name, in := range map[string]string{
		"not json":       "hello\n",
		"truncated json": `{"ID":1,"Command":"get"`,
		"negative size":  `{"ID":1,"Command":"put","BodySize":-1}` + "\n",
	} {
		if _, err := NewRequestReader(strings.NewReader(in)).Next(); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: err = %v, want ErrProtocol", name, err)
		}
	}
	for name, tc := range map[string]struct {
		in   string
		size int64
	}{
		"short body":      {`"aGVsbG8="` + "\n", 6},
		"long body":       {`"aGVsbG8="` + "\n", 4},
		"unterminated":    {`"aGVsbG8=`, 5},
		"not base64":      {`"!!!!"` + "\n", 3},
		"not a string":    {"12345\n", 5},
		"escaped":         {`"aGVs\/bG8="` + "\n", 5},
		"missing at eof":  {"", 5},
		"cut mid-stream":  {`"aGVsbG`, 5},
		"space in body":   {"\"aGVs bG8=\"\n", 5},
		"newline in body": {"\"aGVs\nbG8=\"\n", 5},
		"4 newlines":      {"\"aGVs\n\n\n\nbG8=\"\n", 5},
		"after padding":   {`"aGk=aGVsbG8="` + "\n", 7},
		"short quantum":   {`"aGVsbG8"` + "\n", 5},
	} {
		rr := NewRequestReader(strings.NewReader(tc.in))
		if err := rr.Body(io.Discard, tc.size); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: err = %v, want ErrProtocol", name, err)
		}
	}
}

// TestBodyAcrossReads decodes bodies of every length around the decoder's
// chunk and quantum boundaries from readers that hand out one byte, or
// half of what is asked, at a time: a quantum split between two reads
// must decode as if it were not, and the stream stay in step.
func TestBodyAcrossReads(t *testing.T) {
	var sizes []int
	for n := 1; n <= 9; n++ {
		sizes = append(sizes, n)
	}
	for _, c := range []int{bodyChunk / 4 * 3, bodyChunk, 3 * bodyChunk} {
		for d := -4; d <= 4; d++ {
			sizes = append(sizes, c+d)
		}
	}
	wrap := map[string]func(io.Reader) io.Reader{
		"whole": func(r io.Reader) io.Reader { return r }, "one byte": iotest.OneByteReader, "half": iotest.HalfReader,
	}
	for name, wr := range wrap {
		for _, n := range sizes {
			if name == "one byte" && n > 100 {
				continue // a byte a read is slow; the small sizes cover every split
			}
			body := make([]byte, n)
			for i := range body {
				body[i] = byte(i*7 + i/251)
			}
			sum := sha256.Sum256(body)
			var b bytes.Buffer
			encodeRequest(t, &b, Request{ID: 1, Command: CmdPut, ActionID: sum[:], OutputID: sum[:], BodySize: int64(n)}, body)
			encodeRequest(t, &b, Request{ID: 2, Command: CmdClose}, nil)
			rr := NewRequestReader(wr(&b))
			req, err := rr.Next()
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := rr.Body(&got, req.BodySize); err != nil {
				t.Fatalf("%s, %d bytes: %v", name, n, err)
			}
			if !bytes.Equal(got.Bytes(), body) {
				t.Fatalf("%s, %d bytes: body differs", name, n)
			}
			if req, err := rr.Next(); err != nil || req.ID != 2 {
				t.Fatalf("%s, %d bytes: after the body: %+v, %v", name, n, req, err)
			}
		}
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("no space left on device")
	}
	f.n--
	return len(p), nil
}

func TestBodyWriteErrorKeepsStreamInStep(t *testing.T) {
	var b bytes.Buffer
	body := bytes.Repeat([]byte("z"), 300000)
	sum := sha256.Sum256(body)
	encodeRequest(t, &b, Request{ID: 1, Command: CmdPut, ActionID: sum[:], OutputID: sum[:], BodySize: int64(len(body))}, body)
	encodeRequest(t, &b, Request{ID: 2, Command: CmdClose}, nil)
	rr := NewRequestReader(&b)
	req, _ := rr.Next()
	err := rr.Body(&failWriter{n: 1}, req.BodySize)
	var we *BodyWriteError
	if !errors.As(err, &we) {
		t.Fatalf("err = %v, want a BodyWriteError", err)
	}
	if req, err := rr.Next(); err != nil || req.ID != 2 {
		t.Fatalf("after a failed write the stream is out of step: %+v, %v", req, err)
	}
}

func FuzzRequestReader(f *testing.F) {
	var b bytes.Buffer
	sum := sha256.Sum256([]byte("hello"))
	encodeRequest(f, &b, Request{ID: 1, Command: CmdPut, ActionID: sum[:], OutputID: sum[:], BodySize: 5}, []byte("hello"))
	encodeRequest(f, &b, Request{ID: 2, Command: CmdGet, ActionID: sum[:]}, nil)
	f.Add(b.Bytes())
	f.Add([]byte(`{"ID":1,"Command":"put","BodySize":3}` + "\n\"YWJj\"\n"))
	f.Add([]byte(`{"ID":1,"Command":"put","BodySize":9999999999}` + "\n\"YWJj"))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		rr := NewRequestReader(bytes.NewReader(in))
		for range 100 {
			req, err := rr.Next()
			if err != nil {
				return
			}
			if req.BodySize > 0 {
				var got bytes.Buffer
				err := rr.Body(&got, req.BodySize)
				if err != nil {
					return
				}
				if int64(got.Len()) != req.BodySize {
					t.Fatalf("Body accepted %d bytes for BodySize %d", got.Len(), req.BodySize)
				}
			}
		}
	})
}
