package ramdisk

import (
	"strings"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/units"
)

// Sizes read through units.ParseSize (tested there); a RAM disk's size
// must be more than 0 and at most SizeLimit, and Format prints it exactly.
func TestConfigSizes(t *testing.T) {
	for in, want := range map[string]uint64{
		"512M": 512 << 20, "2g": 2 << 30, "1.5G": 3 << 29, "64MiB": 64 << 20, "100": 100, "1E": 1 << 60,
	} {
		c, err := ParseConfig([]byte(`path "/x" size=` + in))
		if err != nil || c.Paths[0].Size != want {
			t.Errorf("size=%s: %+v, %v; want %d", in, c, err, want)
			continue
		}
		if got := string(c.Format()); !strings.Contains(got, "size="+units.FormatSize(int64(want))+"\n") {
			t.Errorf("size=%s formats as %q", in, got)
		}
	}
	for _, bad := range []string{"0", "0.1", "-1G", "1e9", "2E", "99999999999T", "1..2G", "NaN"} {
		for _, opt := range []string{"size=" + bad, "size=1M max-size=" + bad} {
			_, err := ParseConfig([]byte(`path "/x" ` + opt))
			if err == nil || !strings.Contains(err.Error(), `bad size "`+bad+`"`) {
				t.Errorf("%s: error %v, want one quoting the bad size", opt, err)
			}
		}
	}
}

const sampleConfig = `# comment
high-water 80
path "/home/pi/go/pkg/mod" size=512M max-size=1G
path "/home/pi/.cache/go-build" size=1G skip-sync
path "/srv/with space" size=100000
`

func TestConfigRoundTrip(t *testing.T) {
	c, err := ParseConfig([]byte(sampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.HighWater != 80 || len(c.Paths) != 3 {
		t.Fatalf("parsed %+v", c)
	}
	want := []Path{
		{Dir: "/home/pi/go/pkg/mod", Size: 512 << 20, MaxSize: 1 << 30},
		{Dir: "/home/pi/.cache/go-build", Size: 1 << 30, SkipSync: true},
		{Dir: "/srv/with space", Size: 100000},
	}
	for i, p := range want {
		if c.Paths[i] != p {
			t.Errorf("path %d = %+v, want %+v", i, c.Paths[i], p)
		}
	}
	c2, err := ParseConfig(c.Format())
	if err != nil {
		t.Fatalf("reparsing %s: %v", c.Format(), err)
	}
	if string(c2.Format()) != string(c.Format()) {
		t.Errorf("round trip changed:\n%s\n%s", c.Format(), c2.Format())
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"path /x size=1M", "double-quoted"},
		{`path "relative" size=1M`, "absolute"},
		{`path "/" size=1M`, "other than /"},
		{`path "/x/../y" size=1M`, "clean"},
		{`path "/x"`, "no size"},
		{`path "/x" size=1M max-size=512K`, "smaller"},
		{`path "/x" size=1M colour=red`, "unknown option"},
		{`path "/x" size=lots`, "bad size"},
		{"path \"/x\" size=1M\npath \"/x\" size=2M", "twice"},
		{"high-water 100", "1 to 99"},
		{"frobnicate yes", "unknown setting"},
	} {
		_, err := ParseConfig([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseConfig(%q) = %v, want an error with %q", tt.in, err, tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), "line ") {
			t.Errorf("error %q does not name the line", err)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(sampleConfig))
	f.Add([]byte("path \"/a\\x00b\" size=1M\n"))
	f.Add([]byte("high-water 5%\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		c2, err := ParseConfig(c.Format())
		if err != nil {
			t.Fatalf("Format output does not parse: %v\n%s", err, c.Format())
		}
		if string(c2.Format()) != string(c.Format()) {
			t.Fatalf("round trip changed")
		}
	})
}

func TestJournalRoundTrip(t *testing.T) {
	ops := []op{
		{K: opMkdir, P: "a", Mode: 0o555, UID: 1000, GID: 1000},
		{K: opFile, P: "a/b.txt", S: "f0"},
		{K: opDel, P: "old"},
		{K: opClean, P: "a", Keep: []string{"b.txt"}},
		{K: opMeta, P: ".", Mode: 0o755, Mt: 1700000000123456789},
		{K: opMeta, P: "a/link", Link: true, Mt: 1},
	}
	h := journalHeader{Gen: 7, Start: time.Unix(1700000000, 0).UTC(), Reason: "test", Files: 1, Bytes: 3}
	h2, ops2, err := parseJournal(encodeJournal(h, ops))
	if err != nil {
		t.Fatal(err)
	}
	if h2.Gen != 7 || h2.Reason != "test" || len(ops2) != len(ops) {
		t.Fatalf("got %+v %+v", h2, ops2)
	}
	for i := range ops {
		if ops[i].K != ops2[i].K || ops[i].P != ops2[i].P || ops[i].Mt != ops2[i].Mt || len(ops[i].Keep) != len(ops2[i].Keep) {
			t.Errorf("op %d: %+v != %+v", i, ops[i], ops2[i])
		}
	}
	// A truncated journal (a torn write) is refused, not half applied.
	full := encodeJournal(h, ops)
	if _, _, err := parseJournal(full[:len(full)-30]); err == nil {
		t.Error("truncated journal accepted")
	}
}

func TestJournalRefusesEscapes(t *testing.T) {
	h := `{"v":1,"gen":1,"ops":1}` + "\n"
	for _, line := range []string{
		`{"k":"del","p":"../etc"}`,
		`{"k":"del","p":"/etc"}`,
		`{"k":"del","p":"."}`,
		`{"k":"file","p":"x","s":"../../x"}`,
		`{"k":"file","p":"x","s":""}`,
		`{"k":"clean","p":"x","keep":["a/b"]}`,
		`{"k":"meta","p":"a//b"}`,
		`{"k":"meta","p":"x","m":65535}`,
		`{"k":"chown","p":"x"}`,
	} {
		if _, _, err := parseJournal([]byte(h + line + "\n")); err == nil {
			t.Errorf("journal op %s accepted", line)
		}
	}
}

func FuzzParseJournal(f *testing.F) {
	f.Add(encodeJournal(journalHeader{Gen: 1}, []op{{K: opFile, P: "a/b", S: "f0"}, {K: opDel, P: "c"}}))
	f.Add([]byte(`{"v":1,"ops":1}` + "\n" + `{"k":"del","p":"../x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, ops, err := parseJournal(data)
		if err != nil {
			return
		}
		for _, o := range ops {
			if !localPath(o.P) {
				t.Fatalf("accepted path %q", o.P)
			}
		}
	})
}
