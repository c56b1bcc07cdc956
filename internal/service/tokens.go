package service

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
)

// Access is what a request may do to a server's data, from least to most.
type Access uint8

const (
	// Read requests change nothing (lookups, downloads, /metrics).
	Read Access = iota
	// Write requests add what other clients will receive (uploads).
	Write
	// Admin requests remove or repair data (trim, gc, forget).
	Admin
)

func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case Admin:
		return "admin"
	}
	return fmt.Sprintf("Access(%d)", uint8(a))
}

// Tokens are a server's secrets by access level. A token grants its level
// and the levels below: the admin token may also write and read, the write
// token may also read.
//
// A level without a token of its own or above is handled so that no client
// can change what another receives:
//   - Read is open to everyone unless Read (or AuthToken) is set.
//   - Write without a Write or Admin token (or AuthToken) is accepted only
//     from loopback clients, unless the Server's OpenWrites says otherwise.
//   - Admin without an Admin token (or AuthToken) is accepted only from
//     loopback clients.
type Tokens struct {
	Read, Write, Admin string
}

// any reports whether any token is set.
func (t Tokens) any() bool { return t.Read != "" || t.Write != "" || t.Admin != "" }

// verdict is the outcome of checking a request's credentials.
type verdict uint8

const (
	allowed verdict = iota
	needToken
	notEnough // a valid token of a lower level
	localOnly // no token guards the level: only loopback clients
)

// check decides whether r may do what need asks, with credential cred
// ("" for none) from a client at remote.
func (s *Server) check(need Access, cred string, remote string) verdict {
	t := s.Tokens
	level := func(tok string) bool { return tok != "" && cred != "" && eq(cred, tok) }
	var accepted []string // tokens of need and above, AuthToken included
	switch need {
	case Read:
		accepted = []string{t.Read, t.Write, t.Admin, s.AuthToken}
	case Write:
		accepted = []string{t.Write, t.Admin, s.AuthToken}
	default:
		accepted = []string{t.Admin, s.AuthToken}
	}
	for _, tok := range accepted {
		if level(tok) {
			return allowed
		}
	}
	guarded := false
	switch need {
	case Read:
		guarded = t.Read != "" || s.AuthToken != ""
	default:
		for _, tok := range accepted {
			guarded = guarded || tok != ""
		}
	}
	if guarded {
		// A valid token of a lower level is told so (403); anything else is
		// asked for the token (401).
		for _, tok := range []string{t.Read, t.Write, t.Admin, s.AuthToken} {
			if level(tok) {
				return notEnough
			}
		}
		return needToken
	}
	if need == Read || need == Write && s.OpenWrites || loopbackRemote(remote) {
		return allowed
	}
	return localOnly
}

func eq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// credential returns the token r carries, as a bearer token or as the
// password of basic auth; "" if none.
func credential(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	if _, pass, ok := r.BasicAuth(); ok {
		return pass
	}
	return ""
}

// loopbackRemote reports whether a request's RemoteAddr is on this
// machine.
func loopbackRemote(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// refuse answers a request that check did not allow.
func (s *Server) refuse(w http.ResponseWriter, v verdict, need Access) {
	token := need.String() + " token"
	if !s.Tokens.any() {
		token = "token" // one token for everything
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	switch v {
	case needToken:
		h.Add("WWW-Authenticate", `Bearer realm="pitstop"`)
		h.Add("WWW-Authenticate", `Basic realm="pitstop", charset="UTF-8"`)
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, "unauthorized: this %s needs the server's %s, as \"Authorization: Bearer TOKEN\" or as the password of basic auth (http://user:TOKEN@host/)\n", needWhat(need), token)
	case notEnough:
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "forbidden: this %s needs the server's %s; the token given is for less\n", needWhat(need), token)
	default:
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "forbidden: this server has no %s token, so it accepts %ss only from its own machine\n", need, needWhat(need))
	}
}

func needWhat(a Access) string {
	switch a {
	case Write:
		return "upload"
	case Admin:
		return "admin request"
	}
	return "request"
}

// ErrEmptyToken is ReadTokenFile's answer to a file with no token in it.
var ErrEmptyToken = errors.New("the token file is empty")

// ReadTokenFile reads a token from a file: its content without surrounding
// white space, which must be a single word. Tokens kept in files (or the
// environment) stay out of `ps`.
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", ErrEmptyToken
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", errors.New("the token file holds more than one word: put only the token in it")
	}
	return tok, nil
}
