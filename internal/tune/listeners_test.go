package tune

import (
	"net"
	"os"
	"slices"
	"testing"

	"github.com/pitstop-go/pitstop/internal/host"
)

const procNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41234 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 41299 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 100 0 0 10 0
   3: garbage
`

const procNetTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 0
`

func TestParseProcNetTCP(t *testing.T) {
	got := ParseProcNetTCP([]byte(procNetTCP))
	if len(got) != 1 || got[41234] != 8080 {
		t.Errorf("tcp: %v, want only inode 41234 on port 8080 (established and inode-0 lines skipped)", got)
	}
	if got := ParseProcNetTCP([]byte(procNetTCP6)); got[555] != 631 {
		t.Errorf("tcp6: %v", got)
	}
}

// TestListenersCapture reads a captured /proc with a process holding a
// listening socket.
func TestListenersCapture(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(dir+"/proc/net", 0o755))
	must(os.WriteFile(dir+"/proc/net/tcp", []byte(procNetTCP), 0o644))
	must(os.WriteFile(dir+"/proc/net/tcp6", []byte(procNetTCP6), 0o644))
	must(os.MkdirAll(dir+"/proc/812/fd", 0o755))
	must(os.WriteFile(dir+"/proc/812/comm", []byte("homeapi\n"), 0o644))
	must(os.Symlink("socket:[41234]", dir+"/proc/812/fd/3"))
	must(os.Symlink("socket:[41299]", dir+"/proc/812/fd/4"))
	must(os.Symlink("/dev/null", dir+"/proc/812/fd/0"))
	must(os.MkdirAll(dir+"/proc/900/fd", 0o755))
	must(os.Symlink("pipe:[1]", dir+"/proc/900/fd/1"))
	ls, err := Listeners(host.At(dir))
	must(err)
	if len(ls) != 1 || ls[0].PID != 812 || ls[0].Comm != "homeapi" || !slices.Equal(ls[0].Ports, []int{8080}) {
		t.Errorf("Listeners = %+v", ls)
	}
}

// TestListenersLive finds this test's own listening socket on 127.0.0.1
// in the live /proc.
func TestListenersLive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	ls, err := Listeners(host.Live())
	if err != nil {
		t.Skipf("cannot read /proc/net/tcp here: %v", err)
	}
	for _, l := range ls {
		if l.PID == os.Getpid() {
			if !slices.Contains(l.Ports, port) {
				t.Errorf("own listener %+v lacks port %d", l, port)
			}
			return
		}
	}
	t.Errorf("own pid %d with port %d not among %+v", os.Getpid(), port, ls)
}

func FuzzParseProcNetTCP(f *testing.F) {
	f.Add([]byte(procNetTCP))
	f.Add([]byte(procNetTCP6))
	f.Add([]byte("0: :FFFFF 0 0A a b c d e 18446744073709551615\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for inode, port := range ParseProcNetTCP(b) {
			if inode == 0 || port < 0 || port > 65535 {
				t.Errorf("inode %d port %d", inode, port)
			}
		}
	})
}
