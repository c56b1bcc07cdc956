// Command floorprog is the least a GOCACHEPROG helper can do, for
// bench/cache/run.sh to measure the protocol's own floor beside pitstop's
// helper: it answers the go command's gets from a local directory laid out
// as pitstop's local tier (entries a/xx/<hex action>, one line
// "v1 <hex output> <size> <unixnano>"; objects o/xx/<hex output>), with one
// small file read per get and nothing else: no server, no hashing of what
// it hands out, no stat of the object, no use-marking, no eviction.
//
// It is NOT a cache to use: it trusts the directory's bytes blindly. Puts
// are stored (temp file and rename, unverified) so that a build that misses
// still succeeds.
//
//	GOCACHEPROG="floorprog DIR" go build ./...
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type request struct {
	ID       int64
	Command  string
	ActionID []byte
	OutputID []byte
	BodySize int64
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: GOCACHEPROG='floorprog DIR' go build ...")
		os.Exit(2)
	}
	dir := os.Args[1]
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	send := func(b []byte) {
		out.Write(b)
		if err := out.Flush(); err != nil {
			os.Exit(1)
		}
	}
	send([]byte(`{"ID":0,"KnownCommands":["get","put","close"]}` + "\n"))
	var buf [256]byte
	for {
		line, err := in.ReadBytes('\n')
		if err != nil {
			return
		}
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var req request
		if err := json.Unmarshal(line, &req); err != nil {
			fmt.Fprintln(os.Stderr, "floorprog: bad request:", err)
			os.Exit(1)
		}
		b := strconv.AppendInt(append(buf[:0], `{"ID":`...), req.ID, 10)
		switch req.Command {
		case "get":
			a := hex.EncodeToString(req.ActionID)
			if e, ok := readEntry(filepath.Join(dir, "a", a[:2], a)); ok {
				b = append(b, `,"OutputID":"`...)
				b = base64.StdEncoding.AppendEncode(b, e.out)
				b = append(b, `","Size":`...)
				b = strconv.AppendInt(b, e.size, 10)
				b = append(b, `,"Time":"`...)
				b = time.Unix(0, e.ns).AppendFormat(b, time.RFC3339Nano)
				o := hex.EncodeToString(e.out)
				b = append(b, `","DiskPath":`...)
				p, _ := json.Marshal(filepath.Join(dir, "o", o[:2], o))
				b = append(b, p...)
			} else {
				b = append(b, `,"Miss":true`...)
			}
		case "put":
			p, err := put(dir, in, req)
			if err != nil {
				fmt.Fprintln(os.Stderr, "floorprog: put:", err)
				os.Exit(1)
			}
			q, _ := json.Marshal(p)
			b = append(append(b, `,"DiskPath":`...), q...)
		case "close":
			send(append(b, '}', '\n'))
			return
		default:
			b = append(b, `,"Err":"unknown command"`...)
		}
		send(append(b, '}', '\n'))
	}
}

type entry struct {
	out      []byte
	size, ns int64
}

// readEntry reads an entry file with open, read, close: not os.ReadFile,
// whose *os.File adds a poller registration and an fstat.
func readEntry(path string) (entry, bool) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return entry{}, false
	}
	var buf [256]byte
	n, err := syscall.Read(fd, buf[:])
	syscall.Close(fd)
	if err != nil || n <= 0 {
		return entry{}, false
	}
	f := strings.Fields(string(buf[:n]))
	if len(f) < 4 || f[0] != "v1" {
		return entry{}, false
	}
	out, err1 := hex.DecodeString(f[1])
	size, err2 := strconv.ParseInt(f[2], 10, 64)
	ns, err3 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return entry{}, false
	}
	return entry{out, size, ns}, true
}

// put stores a put's object and entry and returns the object's path.
func put(dir string, in *bufio.Reader, req request) (string, error) {
	var body []byte
	if req.BodySize > 0 {
		// The body is a JSON string on a line of its own, after an
		// empty one.
		var line []byte
		for len(strings.TrimSpace(string(line))) == 0 {
			var err error
			if line, err = in.ReadBytes('\n'); err != nil {
				return "", err
			}
		}
		s := strings.Trim(strings.TrimSpace(string(line)), `"`)
		var err error
		if body, err = base64.StdEncoding.DecodeString(s); err != nil {
			return "", err
		}
	}
	o := hex.EncodeToString(req.OutputID)
	a := hex.EncodeToString(req.ActionID)
	op := filepath.Join(dir, "o", o[:2], o)
	if err := write(op, body); err != nil {
		return "", err
	}
	e := fmt.Appendf(nil, "v1 %s %d %d\n", o, len(body), time.Now().UnixNano())
	return op, write(filepath.Join(dir, "a", a[:2], a), e)
}

func write(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.tmp%d", path, os.Getpid())
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
