package tune

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pitstop-go/pitstop/internal/host"
)

// Listener is a process with listening TCP sockets.
type Listener struct {
	PID   int    `json:"pid"`
	Comm  string `json:"comm"`
	Ports []int  `json:"ports"`
}

// ParseProcNetTCP reads /proc/net/tcp or /proc/net/tcp6 and returns the
// socket inode and local port of every listening socket. Lines it cannot
// read are skipped.
func ParseProcNetTCP(data []byte) map[uint64]int {
	out := map[uint64]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) < 10 || f[3] != "0A" { // 0A is TCP_LISTEN
			continue
		}
		i := strings.LastIndexByte(f[1], ':')
		if i < 0 {
			continue
		}
		port, err := strconv.ParseUint(f[1][i+1:], 16, 16)
		if err != nil {
			continue
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil || inode == 0 {
			continue
		}
		out[inode] = int(port)
	}
	return out
}

// Listeners returns the processes that hold listening TCP sockets of the
// reader's network namespace, found through /proc/net/tcp{,6} and the
// socket links in /proc/PID/fd. Processes it may not look into (another
// user's, when not root) are missing.
func Listeners(r *host.Root) ([]Listener, error) {
	socks := map[uint64]int{}
	var firstErr error
	for _, p := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := r.ReadFile(p)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for k, v := range ParseProcNetTCP(b) {
			socks[k] = v
		}
	}
	if len(socks) == 0 {
		return nil, firstErr
	}
	ents, err := r.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []Listener
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fdDir := fmt.Sprintf("/proc/%d/fd", pid)
		fds, err := r.ReadDir(fdDir)
		if err != nil {
			continue
		}
		ports := map[int]bool{}
		for _, fd := range fds {
			l, err := r.Readlink(fdDir + "/" + fd.Name())
			if err != nil {
				continue
			}
			s, ok := strings.CutPrefix(l, "socket:[")
			if !ok {
				continue
			}
			inode, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64)
			if err != nil {
				continue
			}
			if port, ok := socks[inode]; ok {
				ports[port] = true
			}
		}
		if len(ports) == 0 {
			continue
		}
		comm, _ := r.ReadString(fmt.Sprintf("/proc/%d/comm", pid))
		l := Listener{PID: pid, Comm: comm}
		for p := range ports {
			l.Ports = append(l.Ports, p)
		}
		sort.Ints(l.Ports)
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

// restartAdvice says which running processes must restart to see the
// changed keys, and when limits take effect: one note each.
func (t *Tuner) restartAdvice(changed map[string]bool, limits bool) []string {
	var notes []string
	for _, k := range sortedKeys(restartKeys) {
		if !changed[k] {
			continue
		}
		ls, err := Listeners(t.root())
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s changes: restart your servers to see it (%s); listing listening processes failed: %v", k, restartKeys[k], err))
			continue
		}
		if len(ls) == 0 {
			notes = append(notes, fmt.Sprintf("%s changes: no process listens on TCP in this network namespace, nothing to restart", k))
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s changes: restart these to see it (%s):", k, restartKeys[k])
		for _, l := range ls {
			ps := make([]string, len(l.Ports))
			for i, p := range l.Ports {
				ps[i] = strconv.Itoa(p)
			}
			fmt.Fprintf(&b, "\n  pid %d (%s) listening on port %s", l.PID, l.Comm, strings.Join(ps, ", "))
		}
		notes = append(notes, b.String())
	}
	if limits {
		notes = append(notes, "limits: services get them when they (re)start after systemd reloads its configuration; login sessions when the user logs in again")
	}
	return notes
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
